/** The observability system's plain functions: redaction, what an event is stored as, the API's checks, the timeline. */
import { strict as assert } from "assert";
import type { EventBridgeEvent } from "aws-lambda";
import { redactTaskToken } from "../../protocol/redact";
import { ApiDeps, handleApiRequest, listRuns, resolveExecutionArn } from "./api";
import { inferArchitecture } from "./architecture";
import { redactForStore } from "./redaction";
import { RunSummary, StoredEvent, decodeNext, encodeNext, recordOf } from "./store";
import { HistoryEntry, buildTimeline } from "./timeline";

const EXECUTION = "arn:aws:states:us-east-1:000000000000:execution:cookieReport-workflow:run-1";
const WORKFLOW = "arn:aws:states:us-east-1:000000000000:stateMachine:cookieReport-workflow";
const PRESIGNED = "https://bucket.s3.amazonaws.com/run-1/basic-Ann.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F&X-Amz-Signature=abc123";

function event(id: string, detailType: string, detail: Record<string, unknown>, source = "project"): EventBridgeEvent<string, unknown> {
    return { version: "0", id, "detail-type": detailType, source, account: "000000000000", time: "2026-01-01T00:00:00Z", region: "us-east-1", resources: [], detail };
}

describe("observability: redaction before storing", () => {
    it("fingerprints task tokens stably, strips presigned queries, replaces secret-named members", () => {
        const token = "AAAAKgAAAAIAAAAAAAAAAQ" + "x".repeat(300);
        const redacted = redactForStore({
            taskToken: token,
            url: PRESIGNED,
            password: "hunter2",
            apiKey: 42,
            headers: { Authorization: "AWS4-HMAC-SHA256 Credential=...", "X-Amz-Security-Token": "tok", cookie: "session=1" },
            credentials: { secretAccessKey: "s", region: "us-east-1" },
            numberOfCookiesConsumed: 3,
            input: JSON.stringify({ nested: { clientSecret: "x", taskToken: token } }),
            cause: `failed with token ${token} in the message`,
            tokenNotWaiting: { Error: "Sfn.TaskDoesNotExistException" },
        });
        const text = JSON.stringify(redacted);
        assert.ok(!text.includes(token) && !text.includes("hunter2") && !/X-Amz-Signature=|X-Amz-Credential=/i.test(text));
        assert.equal(redacted.taskToken, redactTaskToken(token));
        assert.ok(redacted.cause.includes(redactTaskToken(token)), "a token in free text gets the same fingerprint");
        assert.ok(redacted.url.startsWith("https://bucket.s3.amazonaws.com/run-1/basic-Ann.json?"), "the object's path is kept");
        assert.equal(redacted.password, "REDACTED");
        assert.equal(redacted.apiKey, "REDACTED");
        assert.deepEqual(redacted.headers, { Authorization: "REDACTED", "X-Amz-Security-Token": "REDACTED", cookie: "REDACTED" });
        assert.deepEqual(redacted.credentials, { secretAccessKey: "REDACTED", region: "us-east-1" });
        assert.equal(redacted.numberOfCookiesConsumed, 3);
        assert.deepEqual(JSON.parse(redacted.input), { nested: { clientSecret: "REDACTED", taskToken: redactTaskToken(token) } });
        assert.deepEqual(redacted.tokenNotWaiting, { Error: "Sfn.TaskDoesNotExistException" });
        assert.deepEqual(redactForStore(redacted), redacted, "redacting twice changes nothing");
    });
});

describe("observability: what an event is stored as", () => {
    it("keys two events of the same millisecond apart, under their run", () => {
        const trace = { correlationId: EXECUTION, emitter: "cookieReport-processSingle", causedBy: "e0", emittedAt: "2026-01-01T00:00:00.123Z" };
        const a = recordOf(event("e1", "processSinglePost", { name: "Ann", url: PRESIGNED, trace }));
        const b = recordOf(event("e2", "processSinglePost", { name: "Bob", url: PRESIGNED, trace }));
        assert.equal(a.event.correlationId, EXECUTION);
        assert.notEqual(a.event.sk, b.event.sk);
        assert.equal(a.event.sk, "event#2026-01-01T00:00:00.000Z#2026-01-01T00:00:00.123Z#e1");
        assert.equal(a.event.emitter, "cookieReport-processSingle");
        assert.equal(a.event.causedBy, "e0");
        assert.equal(a.run?.seenAt, "2026-01-01T00:00:00.123Z");
    });

    it("reads a status change's run, start and end, and the event its input is", () => {
        const input = JSON.stringify({ id: "start-1", "detail-type": "start", source: "project", detail: {} });
        const r = recordOf(
            event("s1", "Step Functions Execution Status Change", { executionArn: EXECUTION, stateMachineArn: WORKFLOW, status: "FAILED", startDate: 1767225600000, stopDate: 1767225601500, input, error: "E", cause: "C" }, "aws.states"),
        );
        assert.equal(r.event.emitter, "cookieReport-workflow");
        assert.equal(r.event.causedBy, "start-1");
        assert.equal(r.event.emittedAt, "2026-01-01T00:00:01.500Z");
        assert.deepEqual(r.run?.status, { status: "FAILED", stateMachineArn: WORKFLOW, startedAt: "2026-01-01T00:00:00.000Z", stoppedAt: "2026-01-01T00:00:01.500Z", startEventId: "start-1", error: "E", cause: "C" });
    });

    it("places Lambda's failure record in the run of the event it failed on, and an untraced start on its own", () => {
        const failed = recordOf(
            event(
                "f1",
                "Lambda Function Invocation Result - Failure",
                {
                    timestamp: "2026-01-01T00:00:02.000Z",
                    requestContext: { functionArn: "arn:aws:lambda:us-east-1:000000000000:function:cookieReport-postProcessSingle:$LATEST" },
                    requestPayload: { id: "e1", detail: { taskToken: "t".repeat(64), trace: { correlationId: EXECUTION, emitter: "x" } } },
                    responsePayload: { errorType: "Error", errorMessage: "boom" },
                },
                "lambda",
            ),
        );
        assert.equal(failed.event.correlationId, EXECUTION);
        assert.equal(failed.event.emitter, "cookieReport-postProcessSingle");
        assert.equal(failed.event.causedBy, "e1");
        const start = recordOf(event("start-1", "start", { count: 2 }));
        assert.equal(start.event.correlationId, "event:start-1");
        assert.equal(start.event.emitter, "external:project");
        assert.equal(start.run, undefined);
    });
});

describe("observability: the API's checks", () => {
    const none = async () => undefined;
    const deps = (runs: RunSummary[]): ApiDeps => ({
        workflowArn: WORKFLOW,
        history: none,
        store: {
            listRuns: async (limit) => ({ runs: runs.slice(0, limit), next: runs.length > limit ? { correlationId: { S: "a" }, sk: { S: "run" }, runs: { S: "run" }, startedAt: { S: "t" } } : undefined }),
            run: none,
            events: async () => [],
        },
    });

    it("resolves names to the workflow's executions and refuses what is neither", () => {
        assert.equal(resolveExecutionArn("run-1", WORKFLOW), EXECUTION);
        assert.equal(resolveExecutionArn(encodeURIComponent(EXECUTION), WORKFLOW), EXECUTION);
        assert.throws(() => resolveExecutionArn("arn:aws:states:us-east-1:0:stateMachine:x", WORKFLOW), /not an execution ARN/);
        assert.throws(() => resolveExecutionArn("a b", WORKFLOW), /neither an execution ARN nor an execution name/);
    });

    it("issues an opaque next token it alone accepts, and bounds the page", async () => {
        const run = (n: number): RunSummary => ({ executionArn: `${EXECUTION}${n}`, executionName: `run-1${n}`, status: "SUCCEEDED", startedAt: "t", eventCount: 1 });
        const page = await listRuns(deps([run(1), run(2)]), { limit: "1" });
        assert.equal(page.runs.length, 1);
        assert.ok(page.next && decodeNext(page.next));
        assert.equal(encodeNext(decodeNext(page.next)), page.next);
        assert.equal(decodeNext(Buffer.from(JSON.stringify({ correlationId: "a" })).toString("base64url")), undefined);
        await assert.rejects(listRuns(deps([]), { limit: "101" }), /limit must be an integer from 1 to 100, got "101"/);
        const response = await handleApiRequest(
            { version: "2.0", routeKey: "$default", rawPath: "/nowhere", rawQueryString: "", headers: {}, isBase64Encoded: false, requestContext: { http: { method: "GET" } } } as never,
            deps([]),
        );
        assert.equal(response.statusCode, 404);
        assert.match(String(response.body), /no route GET \/nowhere/);
    });
});

describe("observability: timeline and architecture", () => {
    const token1 = redactTaskToken("one");
    const token2 = redactTaskToken("two");
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const stored = (id: string, detailType: string, emitter: string, ms: number, detail: Record<string, unknown> = {}, causedBy?: string): StoredEvent => ({
        correlationId: EXECUTION,
        sk: `event#${at(ms)}#${id}`,
        id,
        time: at(0),
        emittedAt: at(ms),
        detailType,
        source: "project",
        emitter,
        ...(causedBy ? { causedBy } : {}),
        detail,
    });
    // Step A waits for handler a; step B for b, which hands on to c; d is a side effect of b's event, late.
    const events = [
        stored("b1", "stepB", "wf.B", 110, { taskToken: token2 }),
        stored("a1", "stepA", "wf.A", 0, { taskToken: token1 }),
        stored("a2", "taskFinished", "fn-a", 100, { taskToken: token1 }, "a1"),
        stored("b2", "handedOn", "fn-b", 150, {}, "b1"),
        stored("b3", "taskFinished", "fn-c", 300, { taskToken: token2 }, "b2"),
        stored("d1", "sideDone", "fn-d", 500, {}, "b2"),
    ];
    const history: HistoryEntry[] = [
        { id: 1, type: "ExecutionStarted", timestamp: at(0) },
        { id: 2, previousEventId: 1, type: "TaskScheduled", timestamp: at(0), parameters: JSON.stringify({ Detail: { taskToken: token1 } }) },
        { id: 3, previousEventId: 2, type: "TaskSucceeded", timestamp: at(105) },
        { id: 4, previousEventId: 3, type: "TaskScheduled", timestamp: at(110), parameters: JSON.stringify({ Detail: { taskToken: token2 } }) },
        { id: 5, previousEventId: 4, type: "TaskSucceeded", timestamp: at(310) },
        { id: 6, previousEventId: 5, type: "ExecutionSucceeded", timestamp: at(320) },
    ];

    it("orders causally, bars each wait and invocation, marks the late side effect, finds the critical path", () => {
        const t = buildTimeline(EXECUTION, events, history);
        const order = t.entries.flatMap((e) => (e.kind === "event" ? [e.event.id] : []));
        assert.deepEqual(order, ["a1", "a2", "b1", "b2", "b3", "d1"]);
        const bar = (id: string) => t.bars.find((b) => b.id === id)!;
        assert.deepEqual([bar("wait:a1").durationMs, bar("wait:b1").durationMs], [105, 200]);
        assert.equal(bar("handler:fn-c:b2").durationMs, 150);
        assert.equal(bar("handler:fn-d:b2").sideEffect, true);
        assert.equal(bar("handler:fn-d:b2").afterExecutionEnd, true);
        assert.equal(bar("handler:fn-b:b1").sideEffect, false, "it leads to an answer");
        assert.deepEqual(t.criticalPath, ["wait:a1", "handler:fn-a:a1", "wait:b1", "handler:fn-b:b1", "handler:fn-c:b2"]);
        assert.equal(t.durationMs, 320);
        assert.equal(t.failure, undefined);
    });

    it("names the failing step, its handler and cause", () => {
        const failing = [...events.slice(0, 4), stored("b3", "taskFailed", "fn-c", 300, { taskToken: token2, error: "Bad", cause: "B: bad input" }, "b2")];
        const failedHistory = [...history.slice(0, 4), { id: 5, previousEventId: 4, type: "TaskFailed", timestamp: at(310), error: "Bad", cause: "B: bad input" }, { id: 6, type: "ExecutionFailed", timestamp: at(320), error: "Bad", cause: "B: bad input" }];
        const t = buildTimeline(EXECUTION, failing, failedHistory);
        assert.equal(t.status, "FAILED");
        assert.deepEqual(t.failure, { step: "wf.B", handler: "fn-c", eventId: "b3", error: "Bad", cause: "B: bad input" });
    });

    it("infers producers → detail-types → consumers from causedBy and answers from their tokens", () => {
        const a = inferArchitecture(events, at(0), 1);
        const edges = a.edges.map((e) => `${e.from} ${e.via} ${e.to}`);
        assert.ok(edges.includes("emitter:wf.A emits detailType:project:stepA"));
        assert.ok(edges.includes("detailType:project:stepA causedBy emitter:fn-a"));
        assert.ok(edges.includes("detailType:project:handedOn causedBy emitter:fn-d"));
        assert.ok(edges.includes("detailType:project:taskFinished taskToken emitter:wf.B"));
        assert.equal(a.nodes.find((n) => n.id === "emitter:wf")?.kind, "stateMachine");
        assert.equal(a.nodes.find((n) => n.id === "emitter:wf.A")?.kind, "step");
    });
});
