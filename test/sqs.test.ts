/**
 * SQS through the runtime's endpoint, with the real `@aws-sdk/client-sqs` and the AWS CLI, on a runtime of
 * `test/fixtures/queuesAndSecrets`: messages, visibility, redrive to a dead-letter queue, long polling, batches, FIFO
 * deduplication and order, AWS's error codes, local IAM, and queues as EventBridge targets and dead-letter queues.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import { createHash } from "crypto";
import * as path from "path";
import { promisify } from "util";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import * as Sqs from "@aws-sdk/client-sqs";
import { evaluateStack } from "../local/core/evaluate";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { md5OfMessageAttributes } from "../local/services/sqs/queues";
import { TestRuntime, startTestRuntime, until, awsCliEnvironment } from "../local/testing/runtime";

const PROGRAM = path.join(__dirname, "fixtures", "queuesAndSecrets");

async function refusedWith(call: Promise<unknown>, name: string, queryCode?: string): Promise<void> {
    await assert.rejects(call, (error: Error & { Code?: string; Error?: { Code?: string } }) => {
        assert.equal(error.name, name, error.message);
        if (queryCode) assert.equal(error.Error?.Code ?? error.Code, queryCode);
        return true;
    });
}

describe("SQS through the endpoint, on a runtime of test/fixtures/queuesAndSecrets", function () {
    this.timeout(30_000);
    let runtime: TestRuntime;
    let sqs: Sqs.SQSClient;
    let urls: Record<string, string>;

    before(async () => {
        const evaluated = await evaluateStack({ program: PROGRAM, stack: "dev" });
        runtime = await startTestRuntime({ evaluated });
        sqs = new Sqs.SQSClient({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
        // The live URLs name the endpoint (the mocks' name the default port).
        urls = {};
        for (const name of ["work", "workDlq", "orders.fifo", "inbox", "eventsDlq"]) urls[name] = (await sqs.send(new Sqs.GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    });
    after(async () => {
        sqs?.destroy();
        await runtime?.close();
    });

    const receive = (QueueUrl: string, extra: Partial<Sqs.ReceiveMessageRequest> = {}) =>
        sqs.send(new Sqs.ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"], ...extra }));

    it("gives the declared queues their ARN, URL and id, and lists them", async () => {
        const outputs = runtime.stack.outputs;
        assert.equal(outputs.workUrl, "http://127.0.0.1:4566/000000000000/work");
        assert.equal(outputs.workArn, "arn:aws:sqs:us-east-1:000000000000:work");
        assert.equal(urls.work, `${runtime.url}/000000000000/work`);
        const listed = await sqs.send(new Sqs.ListQueuesCommand({ QueueNamePrefix: "work" }));
        assert.deepEqual(listed.QueueUrls, [urls.work, urls.workDlq]);
        const attributes = (await sqs.send(new Sqs.GetQueueAttributesCommand({ QueueUrl: outputs.workUrl as string, AttributeNames: ["All"] }))).Attributes!;
        assert.equal(attributes.QueueArn, outputs.workArn);
        assert.equal(attributes.VisibilityTimeout, "30");
        assert.deepEqual(JSON.parse(attributes.RedrivePolicy!), { deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:workDlq", maxReceiveCount: 2 });
        assert.equal((await sqs.send(new Sqs.GetQueueAttributesCommand({ QueueUrl: urls["orders.fifo"], AttributeNames: ["FifoQueue", "ContentBasedDeduplication"] }))).Attributes?.FifoQueue, "true");
    });

    it("sends with MD5s and attributes, receives with system attributes, counts, deletes", async () => {
        const MessageAttributes = { kind: { DataType: "String", StringValue: "greeting" }, size: { DataType: "Number", StringValue: "3" }, raw: { DataType: "Binary", BinaryValue: new Uint8Array([1, 2, 3]) } };
        const sent = await sqs.send(new Sqs.SendMessageCommand({ QueueUrl: urls.work, MessageBody: "héllo", MessageAttributes }));
        assert.equal(sent.MD5OfMessageBody, createHash("md5").update("héllo").digest("hex"));
        assert.equal(sent.MD5OfMessageAttributes, md5OfMessageAttributes(MessageAttributes));
        // AWS's documented example: the MD5 of one String attribute as the SQS developer guide computes it.
        assert.equal(md5OfMessageAttributes({ a: { DataType: "String", StringValue: "b" } }), createHash("md5").update(Buffer.from([0, 0, 0, 1, 97, 0, 0, 0, 6, ...Buffer.from("String"), 1, 0, 0, 0, 1, 98])).digest("hex"));
        const counts = async () => (await sqs.send(new Sqs.GetQueueAttributesCommand({ QueueUrl: urls.work, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes;
        assert.deepEqual(await counts(), { ApproximateNumberOfMessages: "1", ApproximateNumberOfMessagesNotVisible: "0" });

        const before = Date.now();
        const { Messages } = await receive(urls.work);
        assert.equal(Messages?.length, 1);
        const [message] = Messages!;
        assert.equal(message.Body, "héllo");
        assert.equal(message.MessageId, sent.MessageId);
        assert.equal(message.Attributes?.ApproximateReceiveCount, "1");
        assert.ok(Math.abs(Number(message.Attributes?.SentTimestamp) - before) < 5_000, "SentTimestamp in epoch ms");
        assert.deepEqual(message.MessageAttributes?.kind, { DataType: "String", StringValue: "greeting" });
        assert.deepEqual([...(message.MessageAttributes?.raw.BinaryValue ?? [])], [1, 2, 3]);
        assert.equal(message.MD5OfMessageAttributes, sent.MD5OfMessageAttributes);
        assert.deepEqual(await counts(), { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "1" });
        assert.equal((await receive(urls.work)).Messages, undefined, "in flight: not received again");

        await sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: urls.work, ReceiptHandle: message.ReceiptHandle }));
        assert.deepEqual(await counts(), { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
        await refusedWith(sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: urls.work, ReceiptHandle: "not-a-handle" })), "ReceiptHandleIsInvalid");
    });

    it("makes a message visible again, counts its receives and moves it to the dead-letter queue after maxReceiveCount", async () => {
        const { MessageId } = await sqs.send(new Sqs.SendMessageCommand({ QueueUrl: urls.work, MessageBody: "poison" }));
        for (const count of ["1", "2"]) {
            const [message] = (await receive(urls.work)).Messages!;
            assert.equal(message.Attributes?.ApproximateReceiveCount, count);
            await sqs.send(new Sqs.ChangeMessageVisibilityCommand({ QueueUrl: urls.work, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
        }
        assert.equal((await receive(urls.work)).Messages, undefined, "a third receive moves it instead");
        const [dead] = (await receive(urls.workDlq)).Messages!;
        assert.equal(dead.MessageId, MessageId);
        assert.equal(dead.Body, "poison");
        assert.equal(dead.Attributes?.DeadLetterQueueSourceArn, runtime.stack.outputs.workArn);
        await sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: urls.workDlq, ReceiptHandle: dead.ReceiptHandle }));
        await refusedWith(sqs.send(new Sqs.ChangeMessageVisibilityCommand({ QueueUrl: urls.workDlq, ReceiptHandle: dead.ReceiptHandle, VisibilityTimeout: 5 })), "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight");
    });

    it("long polls: a receive waiting up to WaitTimeSeconds answers as soon as a message arrives", async () => {
        const started = Date.now();
        const waiting = receive(urls.work, { WaitTimeSeconds: 5 });
        setTimeout(() => void sqs.send(new Sqs.SendMessageCommand({ QueueUrl: urls.work, MessageBody: "late" })), 300);
        const { Messages } = await waiting;
        const took = Date.now() - started;
        assert.equal(Messages?.[0].Body, "late");
        assert.ok(took >= 250 && took < 3_000, `answered after ${took} ms`);
        await sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: urls.work, ReceiptHandle: Messages![0].ReceiptHandle }));
        const empty = Date.now();
        assert.equal((await receive(urls.work, { WaitTimeSeconds: 1 })).Messages, undefined);
        assert.ok(Date.now() - empty >= 900, "an empty long poll waits its time out");
    });

    it("sends and deletes in batches, failing bad entries alone and refusing bad batches", async () => {
        const sent = await sqs.send(
            new Sqs.SendMessageBatchCommand({
                QueueUrl: urls.work,
                Entries: [
                    { Id: "a", MessageBody: "one" },
                    { Id: "b", MessageBody: "two", DelaySeconds: 1 },
                    { Id: "c", MessageBody: "three", MessageAttributes: { n: { DataType: "Number", StringValue: "not a number" } } },
                ],
            }),
        );
        assert.deepEqual(sent.Successful?.map((e) => e.Id), ["a", "b"]);
        assert.deepEqual(sent.Failed?.map((e) => [e.Id, e.Code, e.SenderFault]), [["c", "InvalidParameterValue", true]]);
        const delayed = (await sqs.send(new Sqs.GetQueueAttributesCommand({ QueueUrl: urls.work, AttributeNames: ["ApproximateNumberOfMessagesDelayed"] }))).Attributes;
        assert.equal(delayed?.ApproximateNumberOfMessagesDelayed, "1");
        const first = (await receive(urls.work)).Messages!;
        assert.deepEqual(first.map((m) => m.Body), ["one"], "the delayed one is not yet visible");
        const second = await until("the delayed message", async () => (await receive(urls.work)).Messages);
        const deleted = await sqs.send(
            new Sqs.DeleteMessageBatchCommand({ QueueUrl: urls.work, Entries: [...first, ...second].map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle })) }),
        );
        assert.equal(deleted.Successful?.length, 2);
        await refusedWith(sqs.send(new Sqs.SendMessageBatchCommand({ QueueUrl: urls.work, Entries: [] })), "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest");
        await refusedWith(
            sqs.send(new Sqs.SendMessageBatchCommand({ QueueUrl: urls.work, Entries: [{ Id: "x", MessageBody: "1" }, { Id: "x", MessageBody: "2" }] })),
            "BatchEntryIdsNotDistinct",
        );
    });

    it("FIFO: deduplicates by content, keeps each group's order and holds a group while one of its messages is in flight", async () => {
        const fifo = urls["orders.fifo"];
        const one = await sqs.send(new Sqs.SendMessageCommand({ QueueUrl: fifo, MessageBody: "order-1", MessageGroupId: "alice" }));
        const again = await sqs.send(new Sqs.SendMessageCommand({ QueueUrl: fifo, MessageBody: "order-1", MessageGroupId: "alice" }));
        assert.equal(again.MessageId, one.MessageId, "the same body within five minutes is the same message");
        await sqs.send(new Sqs.SendMessageCommand({ QueueUrl: fifo, MessageBody: "order-2", MessageGroupId: "alice" }));
        await sqs.send(new Sqs.SendMessageCommand({ QueueUrl: fifo, MessageBody: "order-3", MessageGroupId: "bob" }));
        const firstPass = (await receive(fifo, { MaxNumberOfMessages: 1 })).Messages!;
        assert.deepEqual(firstPass.map((m) => [m.Body, m.Attributes?.MessageGroupId]), [["order-1", "alice"]]);
        assert.match(firstPass[0].Attributes?.SequenceNumber ?? "", /^\d{20}$/);
        const secondPass = (await receive(fifo)).Messages!;
        assert.deepEqual(secondPass.map((m) => m.Body), ["order-3"], "alice's next waits for order-1");
        await sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: fifo, ReceiptHandle: firstPass[0].ReceiptHandle }));
        assert.deepEqual((await receive(fifo)).Messages?.map((m) => m.Body), ["order-2"]);
        await refusedWith(sqs.send(new Sqs.SendMessageCommand({ QueueUrl: fifo, MessageBody: "x" })), "MissingParameter");
        await sqs.send(new Sqs.PurgeQueueCommand({ QueueUrl: fifo }));
    });

    it("answers AWS's error codes (JSON name and query code) for a missing queue and bad values", async () => {
        const missing = `${runtime.url}/000000000000/nope`;
        await refusedWith(sqs.send(new Sqs.SendMessageCommand({ QueueUrl: missing, MessageBody: "x" })), "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue");
        await refusedWith(sqs.send(new Sqs.GetQueueUrlCommand({ QueueName: "nope" })), "QueueDoesNotExist");
        await refusedWith(receive(urls.work, { MaxNumberOfMessages: 11 }), "InvalidParameterValue");
        await refusedWith(sqs.send(new Sqs.CreateQueueCommand({ QueueName: "work", Attributes: { VisibilityTimeout: "5" } })), "QueueNameExists", "QueueAlreadyExists");
        await refusedWith(sqs.send(new Sqs.CreateQueueCommand({ QueueName: "bad", Attributes: { Colour: "blue" } as Record<string, string> })), "InvalidAttributeName");
        const created = await sqs.send(new Sqs.CreateQueueCommand({ QueueName: "made-over-api", Attributes: { DelaySeconds: "0" } }));
        assert.equal(created.QueueUrl, `${runtime.url}/000000000000/made-over-api`);
        await sqs.send(new Sqs.DeleteQueueCommand({ QueueUrl: created.QueueUrl }));
    });

    it("checks a function's key against its role: sqs:SendMessage on work only", async () => {
        const environment = runtime.services.lambda.functions.get("probe")!.environment;
        const asProbe = new Sqs.SQSClient({
            endpoint: runtime.url,
            region: runtime.stack.region,
            credentials: { accessKeyId: environment.AWS_ACCESS_KEY_ID, secretAccessKey: environment.AWS_SECRET_ACCESS_KEY },
        });
        try {
            await asProbe.send(new Sqs.SendMessageCommand({ QueueUrl: urls.work, MessageBody: "from probe" }));
            await refusedWith(asProbe.send(new Sqs.SendMessageCommand({ QueueUrl: urls.inbox, MessageBody: "x" })), "AccessDeniedException");
            await refusedWith(asProbe.send(new Sqs.PurgeQueueCommand({ QueueUrl: urls.work })), "AccessDeniedException");
            const [message] = (await receive(urls.work)).Messages!;
            assert.equal(message.Attributes?.SenderId, environment.AWS_ACCESS_KEY_ID);
            await sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: urls.work, ReceiptHandle: message.ReceiptHandle }));
        } finally {
            asProbe.destroy();
        }
    });

    it("delivers a rule's events to a queue target, and a failed delivery to the target's dead-letter queue with AWS's attributes", async () => {
        await runtime.clients.events.send(new PutEventsCommand({ Entries: [{ Source: "app", DetailType: "signup", Detail: JSON.stringify({ user: "ann" }) }] }));
        await runtime.idle();
        const [delivered] = (await receive(urls.inbox)).Messages!;
        const event = JSON.parse(delivered.Body!) as { source: string; detail: { user: string }; id: string };
        assert.deepEqual([event.source, event.detail], ["app", { user: "ann" }]);
        const [dead] = (await receive(urls.eventsDlq)).Messages!;
        assert.equal((JSON.parse(dead.Body!) as { id: string }).id, event.id, "the record's body is the event");
        const attributes = Object.fromEntries(Object.entries(dead.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue]));
        assert.equal(attributes.RULE_ARN, runtime.stack.outputs.ruleArn);
        assert.equal(attributes.TARGET_ARN, runtime.stack.outputs.probeArn);
        assert.equal(attributes.ERROR_CODE, "NO_PERMISSIONS", JSON.stringify(attributes));
        assert.ok(attributes.ERROR_MESSAGE, "an error message");
        assert.equal((await receive(urls.eventsDlq)).Messages, undefined, "only the failing target's record");
    });

    it("is driven by the AWS CLI", async function () {
        const env = awsCliEnvironment(runtime);
        const aws = (...args: string[]) => promisify(execFile)("aws", ["--endpoint-url", runtime.url, "--output", "json", ...args], { env }).then((r) => r.stdout);
        try {
            await aws("--version");
        } catch {
            this.skip();
        }
        const sent = JSON.parse(await aws("sqs", "send-message", "--queue-url", urls.work, "--message-body", "from the cli")) as { MessageId: string };
        const received = JSON.parse(await aws("sqs", "receive-message", "--queue-url", urls.work, "--attribute-names", "All")) as { Messages: Array<{ MessageId: string; Body: string; ReceiptHandle: string; Attributes: Record<string, string> }> };
        assert.equal(received.Messages[0].MessageId, sent.MessageId);
        assert.equal(received.Messages[0].Attributes.ApproximateReceiveCount, "1");
        await aws("sqs", "delete-message", "--queue-url", urls.work, "--receipt-handle", received.Messages[0].ReceiptHandle);
        await assert.rejects(aws("sqs", "get-queue-url", "--queue-name", "nope"), /NonExistentQueue|QueueDoesNotExist/);
    });
});
