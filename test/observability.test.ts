/**
 * The observability system end to end through the offline runtime: real runs of the dev stack, the recorder Lambda
 * storing into the DynamoDB emulator, the API Lambda invoked with API Gateway payload-2.0 events, and the trace CLI's
 * code over HTTP with the AWS SDK. One runtime for the file; its sideEffect handler is made late, so side effects
 * end after their execution.
 */
import { strict as assert } from "assert";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { TestRuntime, executionName, finished, newExecutions, putStart, startTestRuntime } from "../local/testing/runtime";
import { cookieReport } from "../local/testing/stack";
import { traceOf } from "../protocol/trace";
import type { RunDetail, RunsPage } from "../systems/observability/api";
import type { Architecture } from "../systems/observability/architecture";
import { formatTrace } from "../systems/observability/format";
import { type RunCost, parseTraceArgs, trace } from "../systems/observability/trace";
import { lateSideEffectFactory } from "./fixtures/lateSideEffect";
import { replaceHandler } from "./support/faults";

const API = "observability-api";
const NAMES = 3;

/** A payload-2.0 event as API Gateway sends an HTTP API's Lambda proxy integration. */
function apiEvent(routeKey: string, rawPath: string, query: Record<string, string> = {}, pathParameters?: Record<string, string>): APIGatewayProxyEventV2 {
    const rawQueryString = new URLSearchParams(query).toString();
    return {
        version: "2.0",
        routeKey,
        rawPath,
        rawQueryString,
        headers: { host: "observability.local" },
        queryStringParameters: Object.keys(query).length ? query : undefined,
        pathParameters,
        isBase64Encoded: false,
        requestContext: {
            accountId: "000000000000",
            apiId: "local",
            domainName: "observability.local",
            domainPrefix: "observability",
            http: { method: "GET", path: rawPath, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "test" },
            requestId: `r-${Math.random().toString(36).slice(2)}`,
            routeKey,
            stage: "$default",
            time: new Date().toUTCString(),
            timeEpoch: Date.now(),
        },
    };
}

async function callApi<T>(runtime: TestRuntime, event: APIGatewayProxyEventV2): Promise<{ statusCode: number; body: T }> {
    const result = await runtime.services.lambda.service.invoke(API, event);
    if (result.functionError) throw new Error(`api failed: ${JSON.stringify(result.functionError)}`);
    const response = result.payload as APIGatewayProxyStructuredResultV2;
    return { statusCode: response.statusCode ?? 0, body: JSON.parse(String(response.body)) as T };
}

const getRun = (runtime: TestRuntime, idOrName: string) =>
    callApi<RunDetail>(runtime, apiEvent("GET /runs/{executionArnOrName}", `/runs/${idOrName}`, {}, { executionArnOrName: idOrName }));

/** Every event the runtime's buses accepted for a run: those traced to it, its status changes, and its `start`. */
function busEventsOf(runtime: TestRuntime, executionArn: string, startEventId?: string) {
    return runtime.events.filter(
        (e) =>
            traceOf(e.detail)?.correlationId === executionArn ||
            (e.source === "aws.states" && (e.detail as { executionArn?: string }).executionArn === executionArn) ||
            (startEventId !== undefined && e.id === startEventId),
    );
}

/** Waits until the store holds every bus event of the run (the recorder is invoked asynchronously). */
async function recorded(runtime: TestRuntime, executionArn: string): Promise<RunDetail> {
    const deadline = Date.now() + 20_000;
    for (;;) {
        const { statusCode, body } = await getRun(runtime, executionArn);
        const expected = busEventsOf(runtime, executionArn, body.run?.startEventId ?? undefined);
        const stored = new Set(body.events.map((e) => e.id));
        if (statusCode === 200 && body.run?.status && body.run.status !== "RUNNING" && expected.every((e) => stored.has(e.id))) return body;
        if (Date.now() > deadline) throw new Error(`the store has ${stored.size} of ${expected.length} events of ${executionArn}; run ${JSON.stringify(body.run)}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

describe("observability: every event of a run recorded, redacted, and served as one timeline", function () {
    this.timeout(90_000);
    let runtime: TestRuntime;
    const known = new Set<string>();
    let succeeded: string;
    let failed: string;
    let ok: RunDetail;
    let bad: RunDetail;

    before(async () => {
        runtime = await startTestRuntime();
        await replaceHandler(runtime, cookieReport("sideEffect"), lateSideEffectFactory);
        await putStart(runtime, JSON.stringify({ count: NAMES }));
        [succeeded] = await newExecutions(runtime, known);
        // An input at fault: getMultiple answers taskFailed at once and the execution fails at GetMultiple.
        await putStart(runtime, JSON.stringify({ count: -1 }));
        [failed] = await newExecutions(runtime, known);
        assert.equal((await finished(runtime, succeeded)).status, "SUCCEEDED");
        assert.equal((await finished(runtime, failed)).status, "FAILED");
        // The late side effects end after the execution: wait for all of them before reading the store.
        const deadline = Date.now() + 30_000;
        const sideEffectsDone = () => runtime.events.filter((e) => e["detail-type"] === "sideEffectDone" && traceOf(e.detail)?.correlationId === succeeded).length;
        while (sideEffectsDone() < NAMES) {
            if (Date.now() > deadline) throw new Error(`${sideEffectsDone()} of ${NAMES} side effects done`);
            await new Promise((r) => setTimeout(r, 100));
        }
        ok = await recorded(runtime, succeeded);
        bad = await recorded(runtime, failed);
    });

    after(async () => runtime?.close());

    it("lists every event of a run exactly once, in causal order, its start included", () => {
        const expected = busEventsOf(runtime, succeeded, ok.run!.startEventId);
        const listed = ok.timeline.entries.flatMap((e) => (e.kind === "event" ? [e.event.id] : []));
        assert.equal(listed.length, new Set(listed).size, "no event twice");
        assert.deepEqual([...listed].sort(), expected.map((e) => e.id).sort());
        assert.ok(expected.some((e) => e["detail-type"] === "start"), "the start that began it");
        const position = new Map(listed.map((id, i) => [id, i]));
        for (const entry of ok.timeline.entries) {
            if (entry.kind !== "event" || !entry.event.causedBy || !position.has(entry.event.causedBy)) continue;
            assert.ok(position.get(entry.event.causedBy)! < position.get(entry.event.id)!, `${entry.event.detailType} after the event that caused it`);
        }
        // The history is merged in, in its own order.
        const historyIds = ok.timeline.entries.flatMap((e) => (e.kind === "history" ? [e.history.id] : []));
        assert.ok(historyIds.length > 10);
        assert.deepEqual(historyIds, [...historyIds].sort((a, b) => a - b));
    });

    it("has one bar per handler invocation and per wait, side effects marked, late ones after the execution's end", () => {
        const count = (kind: string, label: string) => ok.timeline.bars.filter((b) => b.kind === kind && b.label === label).length;
        assert.equal(count("wait", cookieReport("workflow.GetMultiple")), 1);
        assert.equal(count("wait", cookieReport("workflow.ProcessSingle")), NAMES);
        assert.equal(count("wait", cookieReport("workflow.PostProcessAll")), 1);
        for (const [handler, n] of [["getMultiple", 1], ["processSingle", NAMES], ["postProcessSingle", NAMES], ["sideEffect", NAMES], ["postProcessAll", 1]] as const) {
            assert.equal(count("handler", cookieReport(handler)), n, handler);
        }
        // Every handler invocation is one the bus saw: a handled event and what its handler emitted.
        const handlerEmitted = busEventsOf(runtime, succeeded).filter((e) => traceOf(e.detail)?.causedBy);
        const invocations = new Set(handlerEmitted.map((e) => `handler:${traceOf(e.detail)!.emitter}:${traceOf(e.detail)!.causedBy}`));
        assert.deepEqual(ok.timeline.bars.filter((b) => b.kind === "handler").map((b) => b.id).sort(), [...invocations].sort());
        for (const b of ok.timeline.bars.filter((b) => b.kind === "handler")) {
            assert.equal(b.sideEffect, b.label === cookieReport("sideEffect"), `${b.label} side effect`);
            assert.equal(b.afterExecutionEnd, b.label === cookieReport("sideEffect"), `${b.label} after the end (the fixture delays side effects)`);
            assert.equal(b.durationMs, Date.parse(b.end) - Date.parse(b.start));
        }
        // The critical path: the first wait, its handler, ..., the last handler; no side effect on it.
        const path = ok.timeline.criticalPath.map((id) => ok.timeline.bars.find((b) => b.id === id)!);
        assert.equal(path[0].label, cookieReport("workflow.GetMultiple"));
        assert.equal(path.at(-1)!.label, cookieReport("postProcessAll"));
        assert.ok(path.some((b) => b.label === cookieReport("processSingle")) && path.some((b) => b.label === cookieReport("postProcessSingle")));
        assert.ok(path.every((b) => !b.sideEffect));
        assert.equal(path.filter((b) => b.label === cookieReport("workflow.ProcessSingle")).length >= 1, true);
    });

    it("points a failed run's trace at the failing step, its handler and the cause", () => {
        assert.equal(bad.timeline.status, "FAILED");
        const failure = bad.timeline.failure!;
        assert.equal(failure.step, cookieReport("workflow.GetMultiple"));
        assert.equal(failure.handler, cookieReport("getMultiple"));
        assert.match(failure.cause ?? "", /GetMultiple: .*count/);
        const text = formatTrace(bad);
        assert.match(text, new RegExp(`FAILED at ${cookieReport("workflow.GetMultiple")} \\(answered by ${cookieReport("getMultiple")}\\)`));
        assert.ok(text.includes(failure.cause!));
        assert.match(text, /── Cost of the run ──/);
    });

    it("stores no task token and no presigned URL query in any item (a scan of the whole table)", async () => {
        const dynamodb = new DynamoDBClient({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
        const texts: string[] = [];
        let start: Record<string, import("@aws-sdk/client-dynamodb").AttributeValue> | undefined;
        do {
            const page = await dynamodb.send(new ScanCommand({ TableName: String(runtime.stack.outputs.observabilityTableName), ExclusiveStartKey: start }));
            texts.push(...(page.Items ?? []).map((item) => JSON.stringify(item)));
            start = page.LastEvaluatedKey;
        } while (start);
        const tokens = new Set(runtime.events.flatMap((e) => (typeof (e.detail as { taskToken?: unknown }).taskToken === "string" ? [(e.detail as { taskToken: string }).taskToken] : [])));
        const urls = runtime.events.flatMap((e) => (typeof (e.detail as { url?: unknown }).url === "string" ? [(e.detail as { url: string }).url] : []));
        assert.ok(tokens.size >= 2 * NAMES && urls.length >= NAMES, "the runs carried tokens and presigned URLs");
        assert.ok(texts.length > 20);
        for (const text of texts) {
            for (const token of tokens) assert.ok(!text.includes(token), "a task token is stored");
            assert.doesNotMatch(text, /X-Amz-(Signature|Credential|Security-Token)/i);
        }
        // What is kept still follows the run: fingerprints and the URL's object path.
        assert.ok(texts.some((t) => /REDACTED-task-token-[0-9a-f]{16}/.test(t)));
        assert.ok(texts.some((t) => t.includes(`/${executionName(succeeded)}/basic-`)));
    });

    it("pages the runs latest first with an opaque next token, and refuses a bad limit or token by name", async () => {
        const first = await callApi<RunsPage>(runtime, apiEvent("GET /runs", "/runs", { limit: "1" }));
        assert.equal(first.statusCode, 200);
        assert.equal(first.body.runs.length, 1);
        assert.equal(first.body.runs[0].executionArn, failed, "the later run first");
        assert.ok(first.body.next);
        const second = await callApi<RunsPage>(runtime, apiEvent("GET /runs", "/runs", { limit: "1", next: first.body.next! }));
        assert.equal(second.body.runs[0].executionArn, succeeded);
        assert.ok(second.body.runs[0].startedAt <= first.body.runs[0].startedAt);
        assert.equal(second.body.runs[0].status, "SUCCEEDED");
        const all = await callApi<RunsPage>(runtime, apiEvent("GET /runs", "/runs"));
        assert.deepEqual(all.body.runs.map((r) => r.executionArn), [failed, succeeded]);
        const badLimit = await callApi<{ code: string; message: string }>(runtime, apiEvent("GET /runs", "/runs", { limit: "0" }));
        assert.equal(badLimit.statusCode, 400);
        assert.match(badLimit.body.message, /^limit must be/);
        const badNext = await callApi<{ code: string; message: string }>(runtime, apiEvent("GET /runs", "/runs", { next: "not-a-token" }));
        assert.equal(badNext.statusCode, 400);
        assert.match(badNext.body.message, /^next is not/);
    });

    it("resolves a bare execution name to the workflow's execution, and answers 404 for an unknown run", async () => {
        const byName = await getRun(runtime, executionName(succeeded));
        assert.equal(byName.statusCode, 200);
        assert.equal(byName.body.executionArn, succeeded);
        assert.deepEqual(byName.body.events.map((e) => e.id), ok.events.map((e) => e.id));
        const missing = await getRun(runtime, "no-such-run");
        assert.equal(missing.statusCode, 404);
        assert.equal((missing.body as unknown as { code: string }).code, "NotFoundException");
    });

    it("infers the architecture: producers → detail-types → consumers, from causedBy", async () => {
        const { statusCode, body } = await callApi<Architecture>(runtime, apiEvent("GET /architecture", "/architecture", { since: new Date(Date.now() - 3600_000).toISOString() }));
        assert.equal(statusCode, 200);
        assert.equal(body.runs, 2);
        const has = (from: string, to: string, via: string) => body.edges.some((e) => e.from === from && e.to === to && e.via === via);
        const type = (t: string) => `detailType:project:${t}`;
        const emitter = (e: string) => `emitter:${e}`;
        assert.ok(has(type("start"), emitter(cookieReport("workflow")), "executionInput"));
        assert.ok(has(emitter(cookieReport("workflow.ProcessSingle")), type("processSingle"), "emits"));
        assert.ok(has(type("processSingle"), emitter(cookieReport("processSingle")), "causedBy"));
        assert.ok(has(type("processSinglePost"), emitter(cookieReport("postProcessSingle")), "causedBy"));
        assert.ok(has(type("processSinglePost"), emitter(cookieReport("sideEffect")), "causedBy"));
        assert.ok(has(type("taskFinished"), emitter(cookieReport("workflow.ProcessSingle")), "taskToken"));
        for (const handler of ["getMultiple", "processSingle", "postProcessSingle", "sideEffect", "postProcessAll"]) {
            assert.equal(body.nodes.find((n) => n.id === emitter(cookieReport(handler)))?.kind, "function", handler);
        }
        assert.equal(body.nodes.find((n) => n.id === emitter("external:project"))?.kind, "external");
    });

    it("npm run trace's code prints the run over HTTP with the SDK, by name, as text and as JSON", async () => {
        const text = await trace(parseTraceArgs([executionName(succeeded), "--endpoint", runtime.url]));
        assert.match(text, new RegExp(`^Run ${executionName(succeeded)}  SUCCEEDED`));
        assert.match(text, /Critical path \(\d+ bars\): wait cookieReport-workflow\.GetMultiple/);
        assert.match(text, /Side effects after the execution ended: cookieReport-sideEffect/);
        assert.match(text, /── Cost of the run ──\nthis layout/);
        const json = JSON.parse(await trace(parseTraceArgs([succeeded, "--json", "--endpoint", runtime.url]))) as RunDetail & { cost: RunCost };
        assert.equal(json.executionArn, succeeded);
        // The run's bill (systems/observability/cost.test.ts checks its counts): its transitions are the history's.
        const transitions = json.cost.bill.lines.find((l) => l.price === "stepFunctions.standardStateTransition")?.quantity;
        assert.equal(transitions, (json.history ?? []).filter((e) => e.type.endsWith("StateEntered")).length);
        assert.ok(json.cost.originalLayout.totalUsd > json.cost.bill.totalUsd, "the original layout's STANDARD finisher costs more");
        assert.deepEqual(json.timeline.criticalPath, ok.timeline.criticalPath);
        assert.throws(() => parseTraceArgs([]), /execution ARN or name is required/);
        assert.throws(() => parseTraceArgs(["x", "--bogus"]), /unknown option --bogus/);
    });
});
