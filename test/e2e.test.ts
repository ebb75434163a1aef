/**
 * End to end through the offline runtime: the real ASL, the serialized handler archives, the S3 emulator,
 * driven over HTTP by the AWS SDK and by the real AWS CLI.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import { promisify } from "util";
import { GetExecutionHistoryCommand } from "@aws-sdk/client-sfn";
import { CookieReport } from "../systems/cookieReport/handlers/postProcessAll";
import { CookieProfile } from "../systems/cookieReport/handlers/postProcessSingle";
import { TestRuntime, executionName, finished, newExecutions, putStart, readJson, startTestRuntime, awsCliEnvironment } from "../local/testing/runtime";
import { cookieReport } from "../local/testing/stack";

const run = promisify(execFile);

/** Checks a finished run the way a user would: the report's total is the sum of the per-person files. */
async function checkReport(runtime: TestRuntime, executionArn: string, expectedPeople?: number): Promise<CookieReport> {
    const execution = await finished(runtime, executionArn);
    assert.equal(execution.status, "SUCCEEDED", `${execution.error}: ${execution.cause}`);
    const output = JSON.parse(execution.output!) as { totalCookiesConsumed: number; reportKey: string };
    const name = executionName(executionArn);
    assert.equal(output.reportKey, `${name}/0-cookies.json`);
    const report = await readJson<CookieReport>(runtime, output.reportKey);
    if (expectedPeople !== undefined) assert.equal(report.names.length, expectedPeople);
    assert.equal(report.numberOfPeople, report.names.length);
    assert.equal(new Set(report.names).size, report.names.length, "names are distinct");
    let sum = 0;
    for (const person of report.names) {
        const profile = await readJson<CookieProfile>(runtime, `${name}/cookies-${person}.json`);
        assert.equal(profile.name, person);
        assert.ok(profile.company && profile.city, "the profile written by processSingle came through the presigned URL");
        sum += profile.numberOfCookiesConsumed;
    }
    assert.equal(report.totalCookiesConsumed, sum);
    assert.equal(output.totalCookiesConsumed, sum);
    return report;
}

function sideEffectsOf(runtime: TestRuntime, executionArn: string): string[] {
    const name = executionName(executionArn);
    return runtime.events.filter((e) => e["detail-type"] === "sideEffectDone" && e.detail.executionName === name).map((e) => String(e.detail.name));
}

describe("e2e: the cookie report through the offline runtime", function () {
    this.timeout(120_000);
    let runtime: TestRuntime;
    const known = new Set<string>();
    before(async () => {
        runtime = await startTestRuntime();
    });
    after(async () => runtime?.close());

    it("runs a start event from the SDK to a correct report, with one side effect per name", async () => {
        await putStart(runtime, JSON.stringify({ count: 6 }));
        const [arn] = await newExecutions(runtime, known);
        const report = await checkReport(runtime, arn, 6);
        await runtime.idle();
        assert.deepEqual(sideEffectsOf(runtime, arn).sort(), [...report.names].sort());

        const history = await runtime.clients.sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000 }));
        const types = (history.events ?? []).map((e) => e.type);
        assert.equal(types[0], "ExecutionStarted");
        assert.equal(types.at(-1), "ExecutionSucceeded");
        assert.equal(types.filter((t) => t === "MapIterationSucceeded").length, 6);
    });

    it("gives every event of a run, side effects included, the run's execution ARN and its emitter", async () => {
        await putStart(runtime, JSON.stringify({ count: 3 }));
        const [arn] = await newExecutions(runtime, known);
        await checkReport(runtime, arn, 3);
        await runtime.idle();
        const name = executionName(arn);
        // Every event of the run but `start` (a user's) and aws.states status changes (AWS's, which name the run themselves).
        const ofRun = runtime.events.filter((e) => e.source === "project" && e["detail-type"] !== "start" && JSON.stringify(e.detail).includes(name));
        const emitters = new Map<string, Set<string>>();
        for (const event of ofRun) {
            const trace = (event.detail as { trace?: { correlationId?: string; emitter?: string; causedBy?: string } }).trace;
            assert.equal(trace?.correlationId, arn, `${event["detail-type"]} carries the run's execution ARN`);
            assert.ok(trace?.emitter, `${event["detail-type"]} names its emitter`);
            assert.ok(Math.abs(Date.parse(String((trace as { emittedAt?: string }).emittedAt)) - Date.parse(event.time)) < 2000, `${event["detail-type"]} says when it was emitted, to the millisecond`);
            emitters.set(event["detail-type"], (emitters.get(event["detail-type"]) ?? new Set()).add(trace.emitter));
        }
        // Steps' events are emitted by the workflow's states; the others by the handlers that handled an event.
        assert.deepEqual([...(emitters.get("processSingle") ?? [])], [`${cookieReport("workflow")}.ProcessSingle`]);
        assert.deepEqual([...(emitters.get("processSinglePost") ?? [])], [cookieReport("processSingle")]);
        assert.deepEqual([...(emitters.get("sideEffectDone") ?? [])], [cookieReport("sideEffect")]);
        assert.deepEqual([...(emitters.get("taskFinished") ?? [])].sort(), [cookieReport("getMultiple"), cookieReport("postProcessAll"), cookieReport("postProcessSingle")].sort());
        const ids = new Set(runtime.events.map((e) => e.id));
        for (const event of ofRun.filter((e) => !String((e.detail as { trace: { emitter: string } }).trace.emitter).includes("."))) {
            const causedBy = (event.detail as { trace: { causedBy?: string } }).trace.causedBy;
            assert.ok(causedBy && ids.has(causedBy), `${event["detail-type"]} names the event whose handling emitted it`);
        }
    });

    it("processes a random 0 to 20 names when start carries no count (the seed's Detail={})", async () => {
        await putStart(runtime, "{}");
        const [arn] = await newExecutions(runtime, known);
        const report = await checkReport(runtime, arn);
        assert.ok(report.names.length <= 20);
    });

    it("runs the stack's startCommand output with the real AWS CLI, then describe-execution and s3 cp", async function () {
        const cli = ["/usr/bin/aws", "/usr/local/bin/aws"].find((p) => fs.existsSync(p));
        if (!cli) {
            console.log("      skipped: the AWS CLI is not installed here (.ci/run installs it with apt-get install awscli)");
            this.skip();
        }
        const env = awsCliEnvironment(runtime);
        const seed = String(runtime.stack.outputs.startCommand).replace(/^aws /, `${cli} --endpoint-url ${runtime.url} `);
        const put = await run("bash", ["-c", seed], { env });
        assert.equal(JSON.parse(put.stdout).FailedEntryCount, 0);

        const [arn] = await newExecutions(runtime, known);
        await finished(runtime, arn);
        const described = JSON.parse(
            (await run(cli!, ["--endpoint-url", runtime.url, "stepfunctions", "describe-execution", "--execution-arn", arn], { env })).stdout,
        ) as { status: string; output: string };
        assert.equal(described.status, "SUCCEEDED");
        const { reportKey, totalCookiesConsumed } = JSON.parse(described.output) as { reportKey: string; totalCookiesConsumed: number };
        const copied = await run(cli!, ["--endpoint-url", runtime.url, "s3", "cp", `s3://${String(runtime.stack.outputs.bucketName)}/${reportKey}`, "-"], { env });
        const report = JSON.parse(copied.stdout) as CookieReport;
        assert.equal(report.totalCookiesConsumed, totalCookiesConsumed);
        await checkReport(runtime, arn);
    });
});
