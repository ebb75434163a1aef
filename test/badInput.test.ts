/**
 * Bad input and the security items of issue 4, through the offline runtime's endpoint: events put with the
 * SDK, outcomes read with DescribeExecution and S3 over HTTP, protocol errors with raw `fetch`. Each bad input
 * must fail with an error naming the field, and change nothing it should not.
 */
import { strict as assert } from "assert";
import { randomBytes } from "crypto";
import { ListEventBusesCommand, PutEventsCommand, PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ListExecutionsCommand, SendTaskFailureCommand, SendTaskSuccessCommand, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { scriptedGetMultipleFactory } from "./fixtures/faultyHandlers";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { bucketKeys, replaceHandler, startRun, taskFailures } from "./support/faults";
import { rawCall as rawRequest } from "./support/rawRequest";
import { TestRuntime, executionName, finished, historyOf, newExecutions, putStart, startTestRuntime, waitingTask } from "../local/testing/runtime";
import { cookieReport } from "../local/testing/stack";

/** The error an SDK call rejected with: its name (AWS's code) and message. */
async function rejection(call: Promise<unknown>): Promise<{ name: string; message: string }> {
    try {
        await call;
    } catch (error) {
        return { name: (error as Error).name, message: (error as Error).message };
    }
    throw new Error("the call succeeded");
}

/** A raw request to the endpoint, as a client without an SDK sends it, signed with the runtime's own key. */
const rawCall = (runtime: TestRuntime, target: string, body: string) => rawRequest(runtime.url, target, body, { credentials: LOCAL_CREDENTIALS });

/** The input EventBridge gives the workflow for a `start` event with this detail. */
function startEvent(detail: unknown): string {
    return JSON.stringify({
        version: "0",
        id: randomBytes(8).toString("hex"),
        "detail-type": "start",
        source: "project",
        account: "000000000000",
        time: new Date().toISOString(),
        region: "us-east-1",
        resources: [],
        detail,
    });
}

describe("bad input: refused with an error naming the field, nothing else changed", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    let workflowArn: string;
    const known = new Set<string>();
    /** Executions of the workflow so far, over HTTP. */
    const workflowRuns = async () =>
        (await runtime.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: workflowArn, maxResults: 1000 }))).executions ?? [];
    before(async () => {
        runtime = await startTestRuntime();
        workflowArn = String(runtime.stack.outputs.workflowArn);
        // Answers with the start detail's `names` when it has them, else runs the real getMultiple.
        await replaceHandler(runtime, cookieReport("getMultiple"), scriptedGetMultipleFactory);
    });
    after(async () => runtime?.close());

    it("a start detail that is not a JSON object: PutEvents refuses the entry, and a run given one fails naming detail", async () => {
        const refused = await runtime.clients.events.send(
            new PutEventsCommand({
                Entries: ["[1]", '"x"', "5"].map((Detail) => ({ Source: "project", DetailType: "start", EventBusName: "default", Detail })),
            }),
        );
        assert.equal(refused.FailedEntryCount, 3);
        for (const entry of refused.Entries!) {
            assert.equal(entry.ErrorCode, "MalformedDetail");
            assert.equal(entry.EventId, undefined);
        }
        // Started directly (the console, a script), the run itself rejects the detail.
        const cases: Array<[unknown, string]> = [
            [[1], "GetMultiple: start: detail must be a JSON object, got an array"],
            ["x", 'GetMultiple: start: detail must be a JSON object, got text that is not JSON: "x"'],
            [5, "GetMultiple: start: detail must be a JSON object, got 5"],
        ];
        const started = await Promise.all(
            cases.map(async ([detail]) => (await runtime.clients.sfn.send(new StartExecutionCommand({ stateMachineArn: workflowArn, input: startEvent(detail) }))).executionArn!),
        );
        started.forEach((arn) => known.add(arn));
        for (const [index, [, cause]] of cases.entries()) {
            const execution = await finished(runtime, started[index]);
            assert.deepEqual([execution.status, execution.error, execution.cause], ["FAILED", "InvalidInput", cause]);
        }
    });

    it("count negative, fractional, a string or over 1,000: the run fails naming detail.count; 0 is accepted", async () => {
        const cases: Array<[unknown, string]> = [
            [-1, "-1"],
            [1.5, "1.5"],
            ["5", '"5"'],
            [1001, "1001"],
        ];
        const arns: string[] = [];
        for (const [count] of cases) {
            await putStart(runtime, JSON.stringify({ count }));
            arns.push(...(await newExecutions(runtime, known)));
        }
        for (const [index, [, shown]] of cases.entries()) {
            const execution = await finished(runtime, arns[index]);
            assert.equal(execution.status, "FAILED");
            assert.equal(execution.error, "InvalidInput");
            assert.equal(execution.cause, `GetMultiple: start: detail.count must be an integer from 0 to 1000, got ${shown}`);
            assert.deepEqual(taskFailures(await historyOf(runtime, arns[index])).map((f) => f.stateName), ["GetMultiple"]);
        }
        await putStart(runtime, JSON.stringify({ count: 0 }));
        const [zero] = await newExecutions(runtime, known);
        const execution = await finished(runtime, zero);
        assert.equal(execution.status, "SUCCEEDED", execution.cause);
        assert.equal(JSON.parse(execution.output!).totalCookiesConsumed, 0);
    });

    it("PutEvents: entries missing Source, DetailType or Detail fail one by one, as AWS reports them; the valid entry is delivered", async () => {
        const runsBefore = (await workflowRuns()).length;
        const response = await runtime.clients.events.send(
            new PutEventsCommand({
                Entries: [
                    { DetailType: "start", EventBusName: "default", Detail: "{}" },
                    { Source: "project", EventBusName: "default", Detail: "{}" },
                    { Source: "project", DetailType: "start", EventBusName: "default" },
                    { Source: "project", DetailType: "start", EventBusName: "default", Detail: JSON.stringify({ count: 0 }) },
                ],
            }),
        );
        assert.equal(response.FailedEntryCount, 3);
        assert.equal(response.Entries!.length, 4, "one result per entry, in order");
        assert.deepEqual(
            response.Entries!.slice(0, 3).map((e) => [e.ErrorCode, e.ErrorMessage]),
            [
                ["InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."],
                ["InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."],
                ["InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."],
            ],
        );
        const eventId = response.Entries![3].EventId;
        assert.ok(eventId && !response.Entries![3].ErrorCode);
        assert.ok(runtime.events.some((e) => e.id === eventId), "the valid entry is on the bus");
        const [arn] = await newExecutions(runtime, known);
        assert.equal((await finished(runtime, arn)).status, "SUCCEEDED");
        assert.equal((await workflowRuns()).length, runsBefore + 1, "exactly the valid entry started a run");
    });

    it("PutEvents: more than 10 entries, or more than 256 KB in a call, is refused whole with a ValidationException", async () => {
        const start: PutEventsRequestEntry = { Source: "project", DetailType: "start", EventBusName: "default", Detail: JSON.stringify({ count: 0 }) };
        const seen = runtime.events.length;
        const runsBefore = (await workflowRuns()).length;

        const tooMany = await rejection(runtime.clients.events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => start) })));
        assert.equal(tooMany.name, "ValidationException");
        assert.match(tooMany.message, /'entries' failed to satisfy constraint: Member must have length less than or equal to 10/);

        // EventBridge's size: the UTF-8 bytes of Source + DetailType + Detail (+ Resources, + 14 for Time).
        const padded = (bytes: number): PutEventsRequestEntry => {
            const base = { Source: "project", DetailType: "padding", EventBusName: "default" };
            const overhead = Buffer.byteLength(base.Source + base.DetailType + JSON.stringify({ pad: "" }));
            return { ...base, Detail: JSON.stringify({ pad: "p".repeat(bytes - overhead) }) };
        };
        const oversized = await rejection(runtime.clients.events.send(new PutEventsCommand({ Entries: [start, padded(256 * 1024 + 1)] })));
        assert.equal(oversized.name, "ValidationException");
        assert.equal(oversized.message, "Total size of the entries in the request is over the limit.");
        const summed = await rejection(runtime.clients.events.send(new PutEventsCommand({ Entries: [padded(200 * 1024), padded(100 * 1024)] })));
        assert.equal(summed.name, "ValidationException", "the limit is on the call, not on each entry");

        await runtime.idle();
        assert.equal(runtime.events.length, seen, "no entry of a refused call reached the bus");
        assert.equal((await workflowRuns()).length, runsBefore, "no run started");

        const atLimit = await runtime.clients.events.send(new PutEventsCommand({ Entries: [padded(256 * 1024)] }));
        assert.equal(atLimit.FailedEntryCount, 0, "exactly 256 KB is allowed");
    });

    it("processSingle with an empty, over-long or path-like name fails the step naming the field, writing nothing outside the run's prefix", async () => {
        const cases: Array<[string, RegExp]> = [
            ["", /^ProcessSingle: processSingle detail\.name is required and must be a non-empty string, got ""$/],
            ["n".repeat(257), /^ProcessSingle: name must be at most 256 characters, got 257$/],
            ["../escaped", /^ProcessSingle: name must not contain "\/", "\\" or "\.\.", got "\.\.\/escaped"$/],
            ["nested/name", /^ProcessSingle: name must not contain .*, got "nested\/name"$/],
            ["..", /^ProcessSingle: name must not contain .*, got "\.\."$/],
            ["back\\slash", /^ProcessSingle: name must not contain .*, got "back\\\\slash"$/],
        ];
        const valid = `Valid ${"L".repeat(90)}`;
        const keysBefore = await bucketKeys(runtime);
        // Each name in its own run (through the scripted getMultiple), and a valid one alongside.
        const arns: string[] = [];
        for (const [name] of cases) arns.push(await startRun(runtime, known, { names: [name] }));
        const validRun = await startRun(runtime, known, { names: [valid] });
        for (const [index, [name, cause]] of cases.entries()) {
            const execution = await finished(runtime, arns[index]);
            assert.deepEqual([execution.status, execution.error], ["FAILED", "InvalidInput"], JSON.stringify(name));
            assert.match(execution.cause!, cause);
            assert.deepEqual(taskFailures(await historyOf(runtime, arns[index])).map((f) => [f.stateName, f.type]), [["ProcessSingle", "TaskFailed"]]);
            assert.ok(!runtime.events.some((e) => e["detail-type"] === "processSinglePost" && e.detail.executionId === arns[index]), "nothing was handed on");
        }
        assert.equal((await finished(runtime, validRun)).status, "SUCCEEDED");
        await runtime.idle();
        const prefix = executionName(validRun);
        const written = (await bucketKeys(runtime)).filter((key) => !keysBefore.includes(key));
        assert.deepEqual(written, [`${prefix}/0-cookies.json`, `${prefix}/basic-${valid}.json`, `${prefix}/cookies-${valid}.json`], "only the valid run wrote, under its prefix");
    });

    it("a start event from another source triggers nothing", async () => {
        const runsBefore = (await workflowRuns()).length;
        const response = await runtime.clients.events.send(
            new PutEventsCommand({ Entries: [{ Source: "someone.else", DetailType: "start", EventBusName: "default", Detail: JSON.stringify({ count: 1 }) }] }),
        );
        const eventId = response.Entries![0].EventId;
        assert.ok(eventId, "accepted on the bus");
        await runtime.idle();
        assert.ok(runtime.events.some((e) => e.id === eventId && e.source === "someone.else"));
        assert.equal((await workflowRuns()).length, runsBefore);
    });
});

describe("through the endpoint: security and protocol errors", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    let bucket: string;
    before(async () => {
        runtime = await startTestRuntime();
        bucket = String(runtime.stack.outputs.bucketName);
    });
    after(async () => runtime?.close());

    describe("security: task tokens and presigned URLs", () => {
        it("task tokens are unguessable and single-use", async () => {
            const [first, second] = await Promise.all([waitingTask(runtime, "GetMultiple"), waitingTask(runtime, "GetMultiple")]);
            for (const task of [first, second]) {
                assert.match(task.taskToken, /^[A-Za-z0-9_-]{64}$/, "384 random bits, base64url");
                assert.ok(!task.taskToken.includes(task.executionName));
                assert.ok(!Buffer.from(task.taskToken, "base64url").toString("latin1").includes(task.executionName), "the token does not encode the execution");
            }
            assert.notEqual(first.taskToken, second.taskToken);

            const sfn = runtime.clients.sfn;
            await sfn.send(new SendTaskSuccessCommand({ taskToken: first.taskToken, output: JSON.stringify({ result: ["First"] }) }));
            const again = await rejection(sfn.send(new SendTaskSuccessCommand({ taskToken: first.taskToken, output: JSON.stringify({ result: ["Second"] }) })));
            assert.equal(again.name, "TaskDoesNotExist");
            assert.equal((await rejection(sfn.send(new SendTaskFailureCommand({ taskToken: first.taskToken, error: "Late" })))).name, "TaskDoesNotExist");
            const execution = await finished(runtime, first.executionArn);
            assert.equal(execution.status, "SUCCEEDED");
            assert.deepEqual(JSON.parse(execution.output!), { result: ["First"] }, "the second answer changed nothing");

            const guessed = await rejection(sfn.send(new SendTaskSuccessCommand({ taskToken: randomBytes(48).toString("base64url"), output: "{}" })));
            assert.equal(guessed.name, "TaskDoesNotExist");
            const malformed = await rejection(sfn.send(new SendTaskSuccessCommand({ taskToken: "not a token!", output: "{}" })));
            assert.equal(malformed.name, "InvalidToken");
            await sfn.send(new SendTaskFailureCommand({ taskToken: second.taskToken, error: "Done", cause: "cleanup" }));
        });

        it("a presigned URL reads its own object only, and is refused when tampered with or expired", async () => {
            const s3 = runtime.clients.s3;
            await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "security/mine.json", Body: '{"mine":true}' }));
            await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "security/other.json", Body: '{"other":true}' }));
            const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "security/mine.json" }), { expiresIn: 300 }));
            assert.equal(url.origin, runtime.url, "served by the runtime's endpoint");
            const own = await fetch(url);
            assert.equal(own.status, 200);
            assert.deepEqual(await own.json(), { mine: true });

            const otherKey = new URL(url);
            otherKey.pathname = url.pathname.replace("mine.json", "other.json");
            const other = await fetch(otherKey);
            assert.equal(other.status, 403);
            const otherBody = await other.text();
            assert.match(otherBody, /<Code>SignatureDoesNotMatch<\/Code>/);
            assert.ok(!otherBody.includes('"other":true'));

            const signature = url.searchParams.get("X-Amz-Signature")!;
            const tamperedSignature = new URL(url);
            tamperedSignature.searchParams.set("X-Amz-Signature", (signature[0] === "a" ? "b" : "a") + signature.slice(1));
            const longer = new URL(url);
            longer.searchParams.set("X-Amz-Expires", "604800");
            for (const tampered of [tamperedSignature, longer]) {
                const refused = await fetch(tampered);
                assert.equal(refused.status, 403, tampered.search);
                assert.match(await refused.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
            }

            const shortLived = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "security/mine.json" }), { expiresIn: 1 });
            assert.equal((await fetch(shortLived)).status, 200, "valid while it lasts");
            await new Promise((resolve) => setTimeout(resolve, 1200));
            const expired = await fetch(shortLived);
            assert.equal(expired.status, 403);
            assert.match(await expired.text(), /<Code>AccessDenied<\/Code>.*Request has expired/s);
        });
    });

    describe("protocol errors over raw HTTP: AWS's error shapes, and the endpoint keeps serving", () => {
        it("answers an unknown action, malformed JSON and missing required fields with 400 and AWS's __type", async () => {
            const unknown = await rawCall(runtime, "AWSEvents.NoSuchThing", "{}");
            assert.deepEqual([unknown.status, unknown.type], [400, "UnknownOperationException"]);
            const unknownService = await rawCall(runtime, "NoSuchService_2020.DoIt", "{}");
            assert.deepEqual([unknownService.status, unknownService.type], [400, "UnknownOperationException"]);

            for (const target of ["AWSEvents.PutEvents", "AWSStepFunctions.StartExecution"]) {
                const malformed = await rawCall(runtime, target, '{"Entries": [');
                assert.deepEqual([malformed.status, malformed.type], [400, "SerializationException"], target);
            }

            const noArn = await rawCall(runtime, "AWSStepFunctions.StartExecution", JSON.stringify({ input: "{}" }));
            assert.deepEqual([noArn.status, noArn.type], [400, "ValidationException"]);
            assert.match(noArn.message, /Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null/);
            const noEntries = await rawCall(runtime, "AWSEvents.PutEvents", "{}");
            assert.deepEqual([noEntries.status, noEntries.type], [400, "ValidationException"]);
            assert.match(noEntries.message, /'entries'/);

            const buses = await runtime.clients.events.send(new ListEventBusesCommand({}));
            assert.ok(buses.EventBuses?.some((bus) => bus.Name === "default"), "the endpoint still serves");
        });
    });
});
