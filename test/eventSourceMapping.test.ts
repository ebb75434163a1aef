/**
 * Lambda event source mappings from SQS (local/services/sqs/eventSourceMappings.ts), on a runtime of
 * `test/fixtures/queueConsumer`: the real SDK sends, the serialized consumer handles batches, partial batch failures
 * and failed batches return and end in the dead-letter queue; and the checks AWS makes when a mapping is created.
 */
import { strict as assert } from "assert";
import * as path from "path";
import * as Sqs from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { evaluateStack, type DeclaredResource } from "../local/core/evaluate";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { EVENT_SOURCE_MAPPING, handledMessages, queueMappingOf, type MappingContext } from "../local/services/sqs/eventSourceMappings";
import { TestRuntime, startTestRuntime, until } from "../local/testing/runtime";

const PROGRAM = path.join(__dirname, "fixtures", "queueConsumer");

describe("SQS event source mappings, on a runtime of test/fixtures/queueConsumer", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    let sqs: Sqs.SQSClient;
    let outputs: Record<string, string>;

    before(async () => {
        const evaluated = await evaluateStack({ program: PROGRAM, stack: "dev" });
        runtime = await startTestRuntime({ evaluated });
        sqs = new Sqs.SQSClient({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
        outputs = Object.fromEntries(Object.entries(runtime.stack.outputs).map(([k, v]) => [k, String(v).replace("http://127.0.0.1:4566", runtime.url)]));
    });
    after(async () => {
        sqs?.destroy();
        await runtime?.close();
    });

    const sendJobs = (jobs: object[]) =>
        Promise.all(
            Array.from({ length: Math.ceil(jobs.length / 10) }, (_, i) =>
                sqs.send(new Sqs.SendMessageBatchCommand({ QueueUrl: outputs.jobsUrl, Entries: jobs.slice(i * 10, i * 10 + 10).map((job, j) => ({ Id: String(j), MessageBody: JSON.stringify(job) })) })),
            ),
        );
    const drain = async (queueUrl: string) => {
        const bodies: Array<Record<string, unknown>> = [];
        for (;;) {
            const { Messages = [] } = await sqs.send(new Sqs.ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            if (Messages.length === 0) return bodies;
            for (const m of Messages) {
                bodies.push(JSON.parse(m.Body!) as Record<string, unknown>);
                await sqs.send(new Sqs.DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
            }
        }
    };
    const counts = async (queueUrl: string) => {
        const a = (await sqs.send(new Sqs.GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes!;
        return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
    };

    it("hands every message to the function once, in batches of at most 10, and deletes what it handled", async () => {
        const ids = Array.from({ length: 35 }, (_, i) => `job-${i}`);
        await sendJobs(ids.map((id) => ({ id })));
        await runtime.idle();
        const seen = await drain(outputs.handledUrl);
        assert.deepEqual(seen.map((s) => s.id).sort(), [...ids].sort(), "each job handled exactly once");
        for (const s of seen) {
            assert.ok(Number(s.batch) >= 1 && Number(s.batch) <= 10, `batch of ${String(s.batch)}`);
            assert.equal(s.receiveCount, "1");
            assert.equal(s.eventSource, "aws:sqs");
            assert.equal(s.eventSourceARN, outputs.jobsArn);
            assert.match(String(s.md5OfBody), /^[0-9a-f]{32}$/);
        }
        assert.equal(await counts(outputs.jobsUrl), 0, "nothing left on the queue, in flight or not");
    });

    it("keeps a reported item failure, and a failed batch, on the queue until the redrive policy moves them to the DLQ", async () => {
        await sendJobs([{ id: "ok-1" }, { id: "bad", fail: true }, { id: "ok-2" }]);
        await until("the reported failure reaches jobsDlq", async () => ((await drain(outputs.jobsDlqUrl)).some((b) => b.id === "bad") ? true : undefined), 20_000);
        const handledOk = (await drain(outputs.handledUrl)).map((s) => s.id).sort();
        assert.deepEqual(handledOk, ["ok-1", "ok-2"], "the batch's other items were handled (and deleted) the first time");

        await sendJobs([{ id: "boom", throw: true }]);
        await until("the failed batch reaches jobsDlq", async () => ((await drain(outputs.jobsDlqUrl)).some((b) => b.id === "boom") ? true : undefined), 20_000);
        assert.equal(await counts(outputs.jobsUrl), 0);
    });

    it("serves the mapping as the mock described it", () => {
        const mapping = runtime.stack.resources.find((r) => r.type === EVENT_SOURCE_MAPPING)!;
        assert.match(String(mapping.state.uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(mapping.state.functionArn, runtime.stack.outputs.consumerArn);
        assert.equal(mapping.state.state, "Enabled");
    });
});

describe("SQS event source mappings: what AWS refuses when one is created, and partial batch responses", () => {
    const queueArn = "arn:aws:sqs:us-east-1:000000000000:q";
    const mapping = (inputs: Record<string, unknown>): DeclaredResource => ({
        urn: "urn:pulumi:dev::p::aws:lambda/eventSourceMapping:EventSourceMapping::m",
        type: EVENT_SOURCE_MAPPING,
        name: "m",
        custom: true,
        inputs: { eventSourceArn: queueArn, functionName: "fn", ...inputs },
        state: { uuid: "u" },
    });
    const context = (overrides: Partial<MappingContext> = {}): MappingContext => ({
        functionOf: (reference) => (reference === "fn" ? { arn: "arn:aws:lambda:us-east-1:000000000000:function:fn", role: "role", timeoutSeconds: 3 } : undefined),
        allows: () => true,
        queueByArn: (arn) => (arn === queueArn ? { fifo: false, attributes: { VisibilityTimeout: "30" } } : undefined),
        ...overrides,
    });
    const refused = (inputs: Record<string, unknown>, pattern: RegExp, overrides?: Partial<MappingContext>) =>
        assert.throws(() => queueMappingOf(mapping(inputs), context(overrides)), (error: Error) => {
            assert.match(error.message, pattern);
            return true;
        });

    it("takes a valid mapping with AWS's defaults", () => {
        assert.deepEqual(queueMappingOf(mapping({}), context()), {
            uuid: "u", queueArn, functionArn: "arn:aws:lambda:us-east-1:000000000000:function:fn", batchSize: 10, batchingWindowMs: 0, reportBatchItemFailures: false, pollers: 2,
        });
        assert.equal(queueMappingOf(mapping({ enabled: false }), context()), undefined, "a disabled mapping is checked, not polled");
    });

    it("refuses by name what it does not serve and what AWS refuses", () => {
        refused({ eventSourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/s" }, /from kinesis .* are not served by the local runtime \(SQS queues are\)/);
        refused({ eventSourceArn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x" }, /from dynamodb/);
        refused({ filterCriteria: { filters: [] } }, /filterCriteria is not served/);
        refused({ batchSize: 100 }, /maximumBatchingWindowInSeconds must be at least 1 when batchSize is over 10/);
        refused({ batchSize: 0 }, /batchSize must be between 1 and 10000/);
        refused({ functionResponseTypes: ["Everything"] }, /Everything is not a response type/);
        refused({ scalingConfig: { maximumConcurrency: 1 } }, /maximumConcurrency must be between 2 and 1000/);
        refused({ functionName: "other" }, /the function other does not exist/);
        refused({ eventSourceArn: "arn:aws:sqs:us-east-1:000000000000:missing" }, /the queue .*missing does not exist/);
        refused({}, /Queue visibility timeout: 2 seconds is less than Function timeout: 3 seconds/, { queueByArn: () => ({ fifo: false, attributes: { VisibilityTimeout: "2" } }) });
        refused({}, /role role does not have permissions to call DeleteMessage on SQS/, { allows: (_role, action) => action !== "sqs:DeleteMessage" });
    });

    it("deletes what a partial batch response leaves out, and nothing when the response is malformed", () => {
        const batch = ["a", "b", "c"].map((messageId) => ({ messageId }) as SQSRecord);
        const ids = (records: SQSRecord[]) => records.map((r) => r.messageId);
        assert.deepEqual(ids(handledMessages(batch, { batchItemFailures: [{ itemIdentifier: "b" }] }, true)), ["a", "c"]);
        assert.deepEqual(ids(handledMessages(batch, { batchItemFailures: [] }, true)), ["a", "b", "c"]);
        assert.deepEqual(ids(handledMessages(batch, null, true)), ["a", "b", "c"], "no response: all handled");
        assert.deepEqual(ids(handledMessages(batch, { batchItemFailures: [{ itemIdentifier: "zzz" }] }, true)), [], "an unknown identifier fails the batch");
        assert.deepEqual(ids(handledMessages(batch, { batchItemFailures: [{ itemIdentifier: "" }] }, true)), []);
        assert.deepEqual(ids(handledMessages(batch, { batchItemFailures: [{ itemIdentifier: "b" }] }, false)), ["a", "b", "c"], "without ReportBatchItemFailures the response is not read");
    });
});
