/**
 * The cost of a run: the arithmetic against hand-computed values for a small synthetic record set, and the bills of
 * a 20-name and a 1,000-name cookie report, whose counts are checked against the execution history and the
 * runtime's own invocation records, counted independently of the collector.
 */
import assert from "node:assert/strict";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { LOCAL_CREDENTIALS } from "../../local/core/runtime";
import { finished, historyOf, newExecutions, putStart, startTestRuntime, type TestRuntime } from "../../local/testing/runtime";
import { billOf, collectRunRecords, eventBridgeChunks, expressBilling, formatBill, originalLayoutBill, parseLambdaReport, PRICES, standardTransitions, type Bill, type RunRecords } from "./cost";
import { OBSERVER_FUNCTION_PREFIX, parseTraceArgs, trace, type RunCost } from "./trace";

const entered = (type: string): HistoryEvent => ({ type }) as HistoryEvent;

describe("cost of a run: the arithmetic", () => {
    it("counts transitions as states entered plus Task retries", () => {
        const history = ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskFailed", "TaskScheduled", "TaskSucceeded", "TaskStateExited", "MapStateEntered", "PassStateEntered", "PassStateEntered", "SucceedStateEntered", "ExecutionSucceeded"].map(entered);
        assert.equal(standardTransitions(history), 5 + 1);
    });

    it("sizes events in 64 KB chunks, bills EXPRESS in 100 ms and 64 MB steps, reads both REPORT formats", () => {
        assert.equal(eventBridgeChunks({ source: "project", detailType: "x", detail: "{}" }), 1);
        assert.equal(eventBridgeChunks({ source: "p", detailType: "t", detail: "x".repeat(65536 - 2) }), 1);
        assert.equal(eventBridgeChunks({ source: "p", detailType: "t", detail: "x".repeat(65536 - 1) }), 2);
        assert.equal(eventBridgeChunks({ source: "p", detailType: "t", detail: "x".repeat(65536 - 15), hasTime: true }), 2);
        const t = new Date(0);
        assert.deepEqual(expressBilling({ executionArn: "a", startDate: t, stopDate: new Date(30), statesEntered: 2, failurePath: false }), { durationMs: 100, memoryMb: 64 });
        assert.deepEqual(expressBilling({ executionArn: "a", startDate: t, stopDate: new Date(101), statesEntered: 2, failurePath: false }), { durationMs: 200, memoryMb: 64 });
        assert.deepEqual(expressBilling({ executionArn: "a", startDate: t, stopDate: t, billedDurationMs: 300, billedMemoryMb: 65, statesEntered: 2, failurePath: false }), { durationMs: 300, memoryMb: 128 });
        assert.deepEqual(parseLambdaReport("REPORT RequestId: r1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB"), {
            requestId: "r1", durationMs: 12.34, billedDurationMs: 13, memorySizeMb: 128, maxMemoryUsedMb: 70,
        });
        const json = JSON.stringify({ time: "x", type: "platform.report", record: { requestId: "r2", metrics: { durationMs: 1.5, billedDurationMs: 152, memorySizeMB: 256, maxMemoryUsedMB: 30, initDurationMs: 150.1 }, status: "success" } });
        assert.equal(parseLambdaReport(json)?.billedDurationMs, 152);
        assert.equal(parseLambdaReport("START RequestId: r1 Version: $LATEST"), undefined);
    });

    it("prices a small synthetic run to the hand-computed figures, and the original layout beside it", () => {
        const records: RunRecords = {
            standardHistories: [["TaskStateEntered", "TaskScheduled", "PassStateEntered", "SucceedStateEntered"].map(entered)],
            expressExecutions: [
                { executionArn: "f1", startDate: new Date(0), stopDate: new Date(150), statesEntered: 3, failurePath: false },
                { executionArn: "f2", startDate: new Date(0), stopDate: new Date(50), statesEntered: 4, failurePath: true },
            ],
            publishedEvents: [
                { source: "project", detailType: "a", detail: "{}" },
                { source: "project", detailType: "taskFailed", detail: "x".repeat(70_000), failurePath: true },
            ],
            lambdaReports: [
                { requestId: "1", durationMs: 99.2, billedDurationMs: 100, memorySizeMb: 256 },
                { requestId: "2", durationMs: 1000, billedDurationMs: 1000, memorySizeMb: 1024 },
            ],
            requests: { s3: { tier1: 10, tier2: 100 }, dynamodb: { requests: 9, readRequestUnits: 4, writeRequestUnits: 8, unitsNotReported: 0 } },
        };
        const bill = billOf(records);
        const byItem = Object.fromEntries(bill.lines.map((l) => [l.price, l]));
        assert.equal(byItem["stepFunctions.standardStateTransition"].quantity, 3);
        assert.equal(byItem["stepFunctions.expressRequest"].quantity, 2);
        // (200 ms + 100 ms) at 64 MB = 0.0625 GB x 0.3 s
        assert.ok(Math.abs(byItem["stepFunctions.expressGbSecond"].quantity - 0.01875) < 1e-12);
        assert.equal(byItem["eventBridge.customEvent"].quantity, 3);
        // 0.25 GB x 0.1 s + 1 GB x 1 s
        assert.ok(Math.abs(byItem["lambda.gbSecondX86"].quantity - 1.025) < 1e-12);
        const expected =
            3 * 0.000025 + 2 * 0.000001 + 0.01875 * 0.00001667 + 3 * 0.000001 + 2 * 0.0000002 + 1.025 * 0.0000166667 + 10 * 0.000005 + 100 * 0.0000004 + 8 * 0.000000625 + 4 * 0.000000125;
        assert.ok(Math.abs(bill.totalUsd - expected) < 1e-15, `${bill.totalUsd} vs ${expected}`);
        assert.deepEqual(bill.notCounted, []);

        const original = originalLayoutBill(records);
        const o = Object.fromEntries(original.lines.map((l) => [l.price, l]));
        assert.equal(o["stepFunctions.standardStateTransition"].quantity, 3 + 3, "the workflow's 3 and the successful finisher execution's 3 states");
        assert.equal(o["stepFunctions.expressRequest"].quantity, 0);
        assert.equal(o["eventBridge.customEvent"].quantity, 1, "no failure path: its event left out");
        assert.ok(formatBill(bill).some((text) => text.includes("total")));
    });

    it("names where each price comes from and when it was read", () => {
        for (const [key, price] of Object.entries(PRICES)) {
            assert.match(price.source, /^https:\/\//, key);
            assert.match(price.checked, /^\d{4}-\d{2}-\d{2}$/, key);
            assert.ok(price.usd > 0, key);
        }
    });
});

describe("cost of a run: cookie reports on the offline runtime", function () {
    this.timeout(180_000);
    let runtime: TestRuntime;
    before(async () => {
        // A 1,000-name run has 1,002 finisher executions: keep them all to count them.
        runtime = await startTestRuntime({ config: { "choreography:mapMaxConcurrency": "40" }, maxExpressExecutions: 5_000 });
    });
    after(async () => runtime?.close());

    for (const names of [20, 1000]) {
        it(`bills a ${names}-name run with the counts its history and the runtime's invocation records give`, async () => {
            await runtime.idle();
            // The run's own functions: the observer's (trace leaves them out) trail the run and are its own cost.
            const ownInvocations = () =>
                Object.entries(runtime.services.lambda.service.stats().invocationsByFunction)
                    .filter(([name]) => !name.startsWith(OBSERVER_FUNCTION_PREFIX))
                    .reduce((n, [, count]) => n + count, 0);
            const invocationsBefore = ownInvocations();
            const eventsBefore = runtime.events.length;
            const from = new Date();
            const known = new Set<string>();
            await putStart(runtime, JSON.stringify({ count: names }));
            const [executionArn] = await newExecutions(runtime, known);
            assert.equal((await finished(runtime, executionArn, 120_000)).status, "SUCCEEDED");
            await runtime.idle();
            const to = new Date();
            const invocations = ownInvocations() - invocationsBefore;

            const config = { endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS };
            const records = await collectRunRecords({
                sfn: runtime.clients.sfn,
                logs: new CloudWatchLogsClient(config),
                dynamodb: new DynamoDBClient(config),
                tableName: runtime.stack.outputs.observabilityTableName === undefined ? undefined : String(runtime.stack.outputs.observabilityTableName),
                executionArn,
                finisherArn: String(runtime.stack.outputs.finisherArn),
                logGroups: [...runtime.services.lambda.functions.values()].filter((spec) => !spec.name.startsWith(OBSERVER_FUNCTION_PREFIX)).map((spec) => spec.logGroupName ?? `/aws/lambda/${spec.name}`),
                from,
                to,
            });
            const bill = billOf(records);
            const quantity = (price: string) => bill.lines.find((l) => l.price === price)?.quantity;

            // Independently: the history's states entered (no retries on a clean run) and the runtime's invocation count.
            const history = await historyOf(runtime, executionArn, false);
            assert.equal(quantity("stepFunctions.standardStateTransition"), history.filter((e) => e.type?.endsWith("StateEntered")).length);
            assert.ok((quantity("stepFunctions.standardStateTransition") ?? 0) > names, "each Map iteration's states counted");
            assert.equal(quantity("lambda.request"), invocations, "one REPORT per invocation the runtime recorded");
            // Every task answered through taskFinished: one finisher request each, all still listed (this runtime keeps
            // 5,000 finished EXPRESS executions, a 1,000-name run makes 1,002).
            const answered = history.filter((e) => e.type === "TaskSucceeded").length;
            assert.equal(answered, names + 2, "GetMultiple, one per name, PostProcessAll");
            assert.deepEqual(records.gaps?.filter((gap) => gap.startsWith("finisher executions")), [], "no finisher execution lost");
            assert.equal(quantity("stepFunctions.expressRequest"), answered);
            // The original layout bills each of them as the STANDARD transitions it made, instead of a request.
            const finisherStates = records.expressExecutions.reduce((n, e) => n + e.statesEntered, 0);
            assert.ok(finisherStates >= 2 * answered, "each finisher execution enters Route and SendTaskSuccess at least");
            // The run's custom events as the bus accepted them (in-process), against what the collector found.
            const busEvents = runtime.events.slice(eventsBefore).filter((e) => !e.source.startsWith("aws.") && (e.detail as { trace?: { correlationId?: string } })?.trace?.correlationId === executionArn);
            if (records.publishedEvents.length > 0) assert.equal(quantity("eventBridge.customEvent"), busEvents.length);
            // S3 requests the handlers logged, against what the runtime's S3 received under the run's prefix.
            const executionName = executionArn.split(":").pop()!;
            const received = Object.entries(runtime.services.s3.emulator().requestCounts())
                .filter(([prefix]) => prefix.endsWith(`/${executionName}`))
                .map(([, kinds]) => kinds);
            const receivedOf = (...kinds: string[]) => received.reduce((n, byKind) => n + kinds.reduce((m, kind) => m + (byKind[kind] ?? 0), 0), 0);
            assert.equal(quantity("s3.tier1Request"), receivedOf("PUT", "POST", "LIST"), "S3 PUT/POST/LIST requests");
            assert.equal(quantity("s3.tier2Request"), receivedOf("GET", "HEAD"), "S3 GET/HEAD requests");
            assert.equal(quantity("s3.tier1Request"), 2 * names + 1, "a basic and a cookies file per name, and the report");
            assert.equal(quantity("s3.tier2Request"), 3 * names, "each basic file read by postProcessSingle and the side effect, each cookies file by postProcessAll");
            assert.equal(quantity("dynamodb.writeRequestUnit"), 0, "the cookie report uses no DynamoDB");
            const original = originalLayoutBill(records);
            const originalQuantity = (price: string) => original.lines.find((l) => l.price === price)?.quantity;
            assert.equal(originalQuantity("stepFunctions.standardStateTransition"), (quantity("stepFunctions.standardStateTransition") ?? 0) + finisherStates);
            assert.equal(originalQuantity("stepFunctions.expressRequest"), 0);
            console.log([...formatBill(bill, `${names}-name run`), ...formatBill(original, `${names}-name run, original layout`)].join("\n"));
            assert.ok(bill.totalUsd > 0);

            // npm run trace's code finds the same records by itself (finisher, log groups, window) and bills them alike.
            const traced = JSON.parse(await trace(parseTraceArgs([executionArn, "--json", "--endpoint", runtime.url]))) as { cost: RunCost };
            const tracedQuantity = (b: Bill, price: string) => b.lines.find((l) => l.price === price)?.quantity;
            for (const price of ["stepFunctions.standardStateTransition", "stepFunctions.expressRequest", "lambda.request", "eventBridge.customEvent", "s3.tier1Request", "s3.tier2Request"]) {
                assert.equal(tracedQuantity(traced.cost.bill, price), quantity(price), `trace's ${price}`);
                assert.equal(tracedQuantity(traced.cost.originalLayout, price), originalQuantity(price), `trace's original layout ${price}`);
            }
            if (names <= 20) {
                const text = await trace(parseTraceArgs([executionArn, "--endpoint", runtime.url]));
                assert.match(text, /── Cost of the run ──\nthis layout \(us-east-1 list prices/);
                assert.match(text, /the original layout \(STANDARD finisher, no failure path\), same records/);
                assert.match(text, /this layout \$\d+\.\d{6} vs the original layout \$\d+\.\d{6}/);
            }
        });
    }
});
