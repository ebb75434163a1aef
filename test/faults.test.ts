/**
 * Faults that must end cleanly (issue 4), driven through the offline runtime's endpoint: handlers replaced in
 * the running runtime by faulty ones (test/fixtures/faultyHandlers.ts, packaged as the stack packages its
 * handlers), runs started with PutEvents, and the outcome read with DescribeExecution, GetExecutionHistory and
 * S3 over HTTP. Every fault runs at once on one runtime, with healthy runs alongside.
 */
import { strict as assert } from "assert";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DescribeExecutionCommand, ListExecutionsCommand } from "@aws-sdk/client-sfn";
import { CookieReport } from "../systems/cookieReport/handlers/postProcessAll";
import { CookieProfile } from "../systems/cookieReport/handlers/postProcessSingle";
import { EvaluatedStack } from "../local/core/evaluate";
import { FAULT, faultyPostProcessSingleFactory, faultyProcessSingleFactory, scriptedGetMultipleFactory, silentPostProcessAllFactory } from "./fixtures/faultyHandlers";
import { busEvent, finisherRunsFor, putTaskFinished, replaceHandler, startRun, taskEvent, taskFailures } from "./support/faults";
import { TestRuntime, executionName, finished, historyOf, readJson, startTestRuntime } from "../local/testing/runtime";
import { cookieReport, stackWith } from "../local/testing/stack";

const TASK_TIMEOUT_S = 8;
const HEARTBEAT_S = 2;
/** History timestamps are whole milliseconds taken around the timers: a timer may look a moment early. */
const CLOCK_SLACK_MS = 50;
const CONFIG = {
    "choreography:taskTimeoutSeconds": String(TASK_TIMEOUT_S),
    "choreography:heartbeatSeconds": String(HEARTBEAT_S),
};

/** One evaluation with these settings, shared by both suites. */
let configured: Promise<EvaluatedStack> | undefined;
function faultStack(): Promise<EvaluatedStack> {
    configured ??= stackWith(CONFIG);
    return configured;
}

/** Asserts a run succeeded with a report of exactly `names`, read from S3. */
async function assertReport(runtime: TestRuntime, executionArn: string, names?: string[]): Promise<CookieReport> {
    const execution = await finished(runtime, executionArn);
    assert.equal(execution.status, "SUCCEEDED", `${execution.error}: ${execution.cause}`);
    const output = JSON.parse(execution.output!) as { reportKey: string; totalCookiesConsumed: number };
    const report = await readJson<CookieReport>(runtime, output.reportKey);
    if (names) assert.deepEqual(report.names, names);
    assert.equal(report.numberOfPeople, report.names.length);
    assert.equal(report.totalCookiesConsumed, output.totalCookiesConsumed);
    return report;
}

/** The Lambda on-failure record a handler's exhausted retries put on the bus for this execution. */
function failureRecordFor(runtime: TestRuntime, executionArn: string) {
    return busEvent(runtime, (e) => {
        const payload = e.detail.requestPayload as { detail?: { executionId?: string } } | undefined;
        return e.source === "lambda" && payload?.detail?.executionId === executionArn;
    });
}

describe("faults: handlers that throw, hang or never answer end their run cleanly", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    const known = new Set<string>();
    const runs = {} as Record<"throws" | "hang" | "silent" | "noHeartbeat" | "missing" | "expired" | "healthyNamed" | "healthyRandom", string>;

    before(async () => {
        runtime = await startTestRuntime({ evaluated: await faultStack() });
        await replaceHandler(runtime, cookieReport("getMultiple"), scriptedGetMultipleFactory, { timeoutSeconds: 1 });
        await replaceHandler(runtime, cookieReport("processSingle"), faultyProcessSingleFactory);
        await replaceHandler(runtime, cookieReport("postProcessSingle"), faultyPostProcessSingleFactory);
        await replaceHandler(runtime, cookieReport("postProcessAll"), silentPostProcessAllFactory);
        // Every fault at once, healthy runs in between: each must end on its own, the healthy ones untouched.
        runs.throws = await startRun(runtime, known, { names: [`Ann ${FAULT.throws}`] });
        runs.healthyNamed = await startRun(runtime, known, { names: ["Bob Healthy", "Cy Healthy", "Di Healthy"] });
        runs.hang = await startRun(runtime, known, { fault: "hang" });
        runs.silent = await startRun(runtime, known, { names: [`Eve ${FAULT.silent}`] });
        runs.noHeartbeat = await startRun(runtime, known, { names: [`Fay ${FAULT.noHeartbeat}`] });
        runs.missing = await startRun(runtime, known, { names: [`Gus ${FAULT.missing}`] });
        runs.expired = await startRun(runtime, known, { names: [`Hal ${FAULT.expired}`] });
        runs.healthyRandom = await startRun(runtime, known, { count: 3 });
    });
    after(async () => runtime?.close());

    it("a handler that throws on every attempt fails the run after Lambda's 2 retries, within the task timeout; runs alongside succeed", async () => {
        const execution = await finished(runtime, runs.throws);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "InjectedFault");
        assert.equal(execution.cause, `ProcessSingle failed after retries: injected fault: cannot add cookies for Ann ${FAULT.throws}`);
        const record = await failureRecordFor(runtime, runs.throws);
        assert.equal((record.detail.requestContext as { approximateInvokeCount: number }).approximateInvokeCount, 3, "1 attempt + 2 retries");
        const [failure, ...more] = taskFailures(await historyOf(runtime, runs.throws));
        assert.deepEqual(more, []);
        assert.deepEqual([failure.stateName, failure.type, failure.error, failure.cause], ["ProcessSingle", "TaskFailed", "InjectedFault", execution.cause]);
        assert.ok(failure.waitedMs < TASK_TIMEOUT_S * 1000, `failed after ${failure.waitedMs} ms, within the task's timeout`);

        await assertReport(runtime, runs.healthyNamed, ["Bob Healthy", "Cy Healthy", "Di Healthy"]);
        const random = await assertReport(runtime, runs.healthyRandom);
        assert.equal(random.names.length, 3);
        const profile = await readJson<CookieProfile>(runtime, `${executionName(runs.healthyNamed)}/cookies-Cy Healthy.json`);
        assert.equal(profile.name, "Cy Healthy");
    });

    it("a handler hanging past its 1 s Lambda timeout fails the run with Sandbox.Timedout after retries, before the task timeout", async () => {
        const execution = await finished(runtime, runs.hang);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "Sandbox.Timedout");
        assert.equal(execution.cause, "GetMultiple failed after retries: Task timed out after 1.00 seconds");
        const record = await failureRecordFor(runtime, runs.hang);
        assert.equal((record.detail.requestContext as { approximateInvokeCount: number }).approximateInvokeCount, 3);
        const failures = taskFailures(await historyOf(runtime, runs.hang));
        assert.deepEqual(failures.map((f) => [f.stateName, f.type, f.error]), [["GetMultiple", "TaskFailed", "Sandbox.Timedout"]]);
        const waited = failures[0].waitedMs;
        assert.ok(waited >= 3000 && waited < TASK_TIMEOUT_S * 1000, `failed after ${waited} ms: three attempts of 1 s each, before the task's timeout`);
    });

    it("a handler that never answers: the waiting step times out with States.Timeout at TimeoutSeconds", async () => {
        const execution = await finished(runtime, runs.silent, 30_000);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "States.Timeout");
        const history = await historyOf(runtime, runs.silent);
        const failures = taskFailures(history);
        assert.deepEqual(failures.map((f) => [f.stateName, f.type, f.error]), [["ProcessSingle", "TaskTimedOut", "States.Timeout"]]);
        const waited = failures[0].waitedMs;
        assert.ok(waited >= TASK_TIMEOUT_S * 1000 - CLOCK_SLACK_MS && waited < TASK_TIMEOUT_S * 1000 + 2000, `timed out after ${waited} ms`);
        assert.equal(history.at(-1)?.type, "ExecutionFailed");
    });

    it("a Lambda failure record with no response (the event expired unrun) still fails the waiting step at once", async () => {
        // Started here, not with the others: the record must arrive while the step still waits.
        const notRun = await startRun(runtime, known, { names: [`Ivy ${FAULT.silent}`] });
        const task = await taskEvent(runtime, "processSingle", notRun);
        const functionArn = `${runtime.services.lambda.functions.get(cookieReport("processSingle"))!.arn}:$LATEST`;
        const record = { version: "1.0", requestContext: { requestId: "r-1", functionArn, condition: "EventAgeExceeded", approximateInvokeCount: 0 }, requestPayload: { detail: task.detail } };
        const put = await runtime.clients.events.send(
            new PutEventsCommand({ Entries: [{ Source: "lambda", DetailType: "Lambda Function Invocation Result - Failure", EventBusName: "default", Detail: JSON.stringify(record) }] }),
        );
        assert.equal(put.FailedEntryCount, 0);
        const execution = await finished(runtime, notRun);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "Lambda.EventAgeExceeded");
        assert.equal(execution.cause, "ProcessSingle was not run: EventAgeExceeded");
        const [failure] = taskFailures(await historyOf(runtime, notRun));
        assert.ok(failure.waitedMs < TASK_TIMEOUT_S * 1000, "failed by the record, not by the task timeout");
    });

    it("PostProcessAll without a heartbeat fails with States.HeartbeatTimeout after HeartbeatSeconds", async () => {
        const execution = await finished(runtime, runs.noHeartbeat, 30_000);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "States.HeartbeatTimeout");
        const failures = taskFailures(await historyOf(runtime, runs.noHeartbeat));
        assert.deepEqual(failures.map((f) => [f.stateName, f.type, f.error]), [["PostProcessAll", "TaskTimedOut", "States.HeartbeatTimeout"]]);
        const waited = failures[0].waitedMs;
        assert.ok(waited >= HEARTBEAT_S * 1000 - CLOCK_SLACK_MS && waited < TASK_TIMEOUT_S * 1000, `timed out after ${waited} ms: the heartbeat clock, not the task timeout`);
    });

    it("a per-person object that is gone when read fails ProcessSingle, saying which object and what S3 said", async () => {
        const execution = await finished(runtime, runs.missing);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "InvalidInput");
        assert.match(execution.cause!, new RegExp(`^ProcessSingle: reading the basic profile of Gus ${FAULT.missing}: the presigned URL was refused: 404 NoSuchKey`));
        assert.deepEqual(taskFailures(await historyOf(runtime, runs.missing)).map((f) => [f.stateName, f.type, f.error]), [["ProcessSingle", "TaskFailed", "InvalidInput"]]);
        // sideEffect read the same URL: it drops what it cannot read instead of retrying into the TaskFinisher.
        await runtime.idle();
        assert.equal(runtime.events.filter((e) => e.source === "lambda" && (e.detail.requestPayload as { detail?: { executionId?: string } }).detail?.executionId === runs.missing).length, 0);
    });

    it("a presigned URL that expired before it is used fails ProcessSingle with S3's refusal", async () => {
        const execution = await finished(runtime, runs.expired);
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "InvalidInput");
        assert.match(execution.cause!, new RegExp(`^ProcessSingle: reading the basic profile of Hal ${FAULT.expired}: the presigned URL was refused: 403 AccessDenied \\(Request has expired\\)`));
    });

    it("the same taskFinished delivered twice: one answer counts, the TaskFinisher records the other, the result is unchanged", async () => {
        const duplicate = await startRun(runtime, known, { fault: "silent" });
        const asked = await taskEvent(runtime, "getMultiple", duplicate);
        const taskToken = String(asked.detail.taskToken);
        const answer = { taskToken, step: "GetMultiple", result: ["Dup Ann"] };
        await putTaskFinished(runtime, [answer, answer]);
        const report = await assertReport(runtime, duplicate, ["Dup Ann"]);
        assert.equal(report.numberOfPeople, 1, "the Map ran once");
        const settled = await finished(runtime, duplicate);

        const answered = await finisherRunsFor(runtime, taskToken, 2);
        assert.deepEqual(answered.map((r) => r.status), ["SUCCEEDED", "SUCCEEDED"], "neither finisher execution crashed");
        assert.deepEqual(answered.map((r) => r.output?.tokenNotWaiting?.Error ?? "answered").sort(), ["Sfn.TaskDoesNotExistException", "answered"]);

        // Once more after the run ended, with another result: recorded, nothing changes.
        await putTaskFinished(runtime, [{ ...answer, result: ["Someone Else"] }]);
        const all = await finisherRunsFor(runtime, taskToken, 3);
        assert.equal(all.filter((r) => r.output?.tokenNotWaiting?.Error === "Sfn.TaskDoesNotExistException").length, 2);
        const later = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn: duplicate }));
        assert.equal(later.status, "SUCCEEDED");
        assert.equal(later.output, settled.output);
    });

    it("taskFinished for a timed-out, a never-issued or a malformed token is recorded by the TaskFinisher, which stays healthy", async () => {
        const silent = await finished(runtime, runs.silent);
        assert.equal(silent.error, "States.Timeout");
        const asked = await taskEvent(runtime, "processSingle", runs.silent);
        const timedOut = String(asked.detail.taskToken);
        const neverIssued = randomBytes(48).toString("base64url");
        const malformed = "not-a-task-token";
        await putTaskFinished(runtime, [timedOut, neverIssued, malformed].map((taskToken) => ({ taskToken, step: "ProcessSingle", result: {} })));
        const expected: Array<[string, string]> = [
            [timedOut, "Sfn.TaskTimedOutException"],
            [neverIssued, "Sfn.TaskDoesNotExistException"],
            [malformed, "Sfn.InvalidTokenException"],
        ];
        for (const [token, error] of expected) {
            const [run] = await finisherRunsFor(runtime, token, 1);
            assert.equal(run.status, "SUCCEEDED", `the finisher execution for ${error} ended without crashing`);
            assert.equal(run.output?.tokenNotWaiting?.Error, error);
        }
        const unchanged = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn: runs.silent }));
        assert.deepEqual([unchanged.status, unchanged.error], ["FAILED", "States.Timeout"]);

        const afterwards = await startRun(runtime, known, { names: ["Ivy Afterwards"] });
        await assertReport(runtime, afterwards, ["Ivy Afterwards"]);
    });
});

describe("faults: the runtime stopped in the middle of runs and started again on the same data", function () {
    this.timeout(60_000);
    let dataDir: string;
    const opened: TestRuntime[] = [];
    before(() => {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "choreography-restart-"));
    });
    after(async () => {
        await Promise.all(opened.splice(0).map((r) => r.close()));
        fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("keeps stored objects and finished executions, and reports the runs that were in flight ABORTED", async () => {
        const evaluated = await faultStack();
        const first = await startTestRuntime({ evaluated, dataDir });
        opened.push(first);
        await replaceHandler(first, cookieReport("getMultiple"), scriptedGetMultipleFactory);
        await replaceHandler(first, cookieReport("postProcessSingle"), faultyPostProcessSingleFactory);
        const known = new Set<string>();
        const done = await startRun(first, known, { names: ["Kept Kim"] });
        const report = await assertReport(first, done, ["Kept Kim"]);
        const doneBefore = await finished(first, done);
        // One run waiting on GetMultiple, one inside the Map: both in flight when the runtime stops.
        const atStart = await startRun(first, known, { fault: "silent" });
        await taskEvent(first, "getMultiple", atStart);
        const inMap = await startRun(first, known, { names: [`Stuck ${FAULT.silent}`] });
        await taskEvent(first, "processSinglePost", inMap);
        await first.idle();
        for (const arn of [atStart, inMap]) {
            assert.equal((await first.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }))).status, "RUNNING");
        }
        await opened.splice(opened.indexOf(first), 1)[0].close();

        const second = await startTestRuntime({ evaluated, dataDir });
        opened.push(second);
        assert.notEqual(second.url, first.url);
        const doneAfter = await second.clients.sfn.send(new DescribeExecutionCommand({ executionArn: done }));
        assert.equal(doneAfter.status, "SUCCEEDED");
        assert.equal(doneAfter.output, doneBefore.output);
        const { reportKey } = JSON.parse(doneAfter.output!) as { reportKey: string };
        assert.deepEqual(await readJson<CookieReport>(second, reportKey), report);
        assert.equal((await readJson<CookieProfile>(second, `${executionName(done)}/cookies-Kept Kim.json`)).name, "Kept Kim");
        assert.equal((await readJson<{ name: string }>(second, `${executionName(inMap)}/basic-Stuck ${FAULT.silent}.json`)).name, `Stuck ${FAULT.silent}`);

        for (const arn of [atStart, inMap]) {
            const aborted = await second.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
            assert.equal(aborted.status, "ABORTED", arn);
            assert.match(aborted.cause ?? "", /stopped while the execution was running/);
            assert.equal((await historyOf(second, arn)).at(-1)?.type, "ExecutionAborted");
        }
        const listed = await second.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: String(second.stack.outputs.workflowArn) }));
        assert.deepEqual(
            (listed.executions ?? []).map((e) => [e.executionArn, e.status]).sort(),
            [[done, "SUCCEEDED"], [atStart, "ABORTED"], [inMap, "ABORTED"]].sort(),
        );

        // The restarted runtime runs new work (with the stack's own handlers again).
        const fresh = new Set<string>(known);
        const again = await startRun(second, fresh, { count: 1 });
        await assertReport(second, again);
    });
});
