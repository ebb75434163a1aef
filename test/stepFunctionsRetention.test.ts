/**
 * What the offline Step Functions service keeps, and for how long: one file per execution whatever its name,
 * folders and files for their owner only, finished STANDARD executions in memory up to a bound (the rest read back
 * from disk), and EXPRESS executions in a small ring, as AWS keeps none.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AwsError } from "../local/core/awsError";
import { StepFunctionsService, type TaskIntegrations } from "../local/services/stepfunctions/stepFunctions";

const REGION = "us-east-1";
const ACCOUNT = "123456789012";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/sfn`;

const noIntegrations: TaskIntegrations = {
    putEvents: async () => ({ FailedEntryCount: 0, Entries: [] }),
    invokeFunction: async () => null,
    dynamodb: async () => ({}),
};

/** Succeeds with `{echo: <input>}`, or fails with the input's `fail` as its error. */
const ECHO_OR_FAIL = {
    StartAt: "Route",
    States: {
        Route: { Type: "Choice", Choices: [{ Variable: "$.fail", IsPresent: true, Next: "Fail" }], Default: "Echo" },
        Echo: { Type: "Pass", Parameters: { "echo.$": "$" }, End: true },
        Fail: { Type: "Fail", Error: "Told", Cause: "the input said so" },
    },
};

async function expectAwsError(promise: Promise<unknown>, code: string): Promise<void> {
    await assert.rejects(promise, (err: unknown) => err instanceof AwsError && err.code === code);
}

function modeOf(file: string): number {
    return fs.statSync(file).mode & 0o777;
}

describe("StepFunctionsService: what it keeps", function () {
    this.timeout(20_000);
    let dataDir: string;
    const services: StepFunctionsService[] = [];

    function open(options: { dataDir?: string; maxRetainedExecutions?: number; maxRetainedExpressExecutions?: number } = {}): StepFunctionsService {
        const service = new StepFunctionsService({ integrations: noIntegrations, region: REGION, accountId: ACCOUNT, ...options });
        services.push(service);
        return service;
    }

    function addMachine(service: StepFunctionsService, name: string, type: "STANDARD" | "EXPRESS" = "STANDARD"): string {
        const arn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
        service.addStateMachine({ arn, name, type, definition: JSON.stringify(ECHO_OR_FAIL), roleArn: ROLE });
        return arn;
    }

    async function run(service: StepFunctionsService, stateMachineArn: string, input: unknown, name?: string) {
        const { executionArn } = await service.startExecution({ stateMachineArn, input: JSON.stringify(input), name });
        return service.waitForExecution(executionArn, 5000);
    }

    beforeEach(() => {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sfn-retention-"));
    });
    afterEach(async () => {
        await Promise.all(services.splice(0).map((service) => service.close()));
        fs.rmSync(dataDir, { recursive: true, force: true });
    });

    describe("files", () => {
        it("gives every execution a file of its own: names a character substitution would merge all come back after a restart", async () => {
            const first = open({ dataDir });
            const machineName = `M${"x".repeat(79)}`;
            const arn = addMachine(first, machineName);
            // The last is 80 three-byte characters: with the machine's name, an ARN of 370 bytes, past what a file name may hold.
            const names = ["coll!x", "coll@x", "coll_x", "日本", "中国", "語".repeat(80)];
            const before = [];
            for (const [index, name] of names.entries()) {
                before.push(await run(first, arn, index === 1 ? { fail: true, index } : { index, name }, name));
            }
            await first.close();
            const files = fs.readdirSync(path.join(dataDir, "executions"));
            assert.equal(files.length, names.length, "one file per execution");
            for (const file of files) assert.ok(Buffer.byteLength(file) <= 255, `${file} fits a file name`);

            const second = open({ dataDir });
            addMachine(second, machineName);
            for (const [index, name] of names.entries()) {
                const after = await second.describeExecution({ executionArn: before[index].executionArn });
                assert.deepEqual(after, before[index], name);
                assert.equal(after.name, name);
            }
            const failed = await second.describeExecution({ executionArn: before[1].executionArn });
            assert.deepEqual([failed.status, failed.error, JSON.parse(failed.input ?? "null")], ["FAILED", "Told", { fail: true, index: 1 }]);
            const succeeded = await second.describeExecution({ executionArn: before[3].executionArn });
            assert.deepEqual([succeeded.status, JSON.parse(succeeded.output ?? "null")], ["SUCCEEDED", { echo: { index: 3, name: "日本" } }]);
            const listed = await second.listExecutions({ stateMachineArn: arn });
            assert.deepEqual(listed.executions.map((e) => e.name).sort(), [...names].sort());
        });

        it("keeps its folders and files for their owner only (0700, 0600), tightening those an earlier run left open", async () => {
            const executionsDir = path.join(dataDir, "executions");
            fs.mkdirSync(executionsDir, { recursive: true, mode: 0o755 });
            fs.chmodSync(dataDir, 0o755);
            fs.chmodSync(executionsDir, 0o755);
            const service = open({ dataDir });
            const arn = addMachine(service, "Private");
            await run(service, arn, { secret: 1 }, "one");
            const { executionArn: running } = await service.startExecution({ stateMachineArn: arn, input: "{}", name: "two" });
            await service.waitForExecution(running, 5000);
            assert.equal(modeOf(dataDir), 0o700);
            assert.equal(modeOf(executionsDir), 0o700);
            const files = fs.readdirSync(executionsDir);
            assert.equal(files.length, 2);
            for (const file of files) assert.equal(modeOf(path.join(executionsDir, file)), 0o600, file);
        });

        it("reads a file an earlier version wrote (old name, 0644, not redacted): renamed, tightened and redacted", async () => {
            const executionsDir = path.join(dataDir, "executions");
            fs.mkdirSync(executionsDir, { recursive: true });
            const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:Legacy:old@run`;
            const url = "http://127.0.0.1:4566/results/run/basic-Ann.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abcdef0123";
            const input = JSON.stringify({ detail: { taskToken: "t".repeat(64), url } });
            const legacy = {
                version: 1,
                stateMachineType: "STANDARD",
                roleArn: ROLE,
                description: { executionArn, stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:Legacy`, name: "old@run", status: "SUCCEEDED", startDate: 1, stopDate: 2, input, output: "{}" },
                history: [{ id: 1, previousEventId: 0, timestamp: 1, type: "ExecutionStarted", executionStartedEventDetails: { input, roleArn: ROLE } }],
            };
            const oldName = path.join(executionsDir, `${executionArn.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
            fs.writeFileSync(oldName, JSON.stringify(legacy), { mode: 0o644 });
            fs.chmodSync(oldName, 0o644);

            const service = open({ dataDir });
            addMachine(service, "Legacy");
            const described = await service.describeExecution({ executionArn });
            assert.equal(described.status, "SUCCEEDED");
            assert.ok(!described.input?.includes("X-Amz-Signature") && !described.input?.includes("t".repeat(64)), described.input);
            const [file] = fs.readdirSync(executionsDir);
            assert.notEqual(path.join(executionsDir, file), oldName, "renamed to the current scheme");
            assert.equal(modeOf(path.join(executionsDir, file)), 0o600);
            const text = fs.readFileSync(path.join(executionsDir, file), "utf8");
            assert.ok(!text.includes("abcdef0123") && !text.includes("t".repeat(64)), "saved again redacted");
        });
    });

    describe("retention", () => {
        it("keeps maxRetainedExecutions finished STANDARD executions in memory; with a data directory the rest are listed and read from disk", async () => {
            const service = open({ dataDir, maxRetainedExecutions: 3 });
            const arn = addMachine(service, "Bounded");
            const runs = [];
            for (let i = 0; i < 5; i++) runs.push(await run(service, arn, { i }, `run-${i}`));
            assert.deepEqual(service.retainedExecutions(), { running: 0, standard: 3, express: 0, onDiskOnly: 2 });

            const oldest = await service.describeExecution({ executionArn: runs[0].executionArn });
            assert.deepEqual(oldest, runs[0], "answered from its file");
            const history = await service.getExecutionHistory({ executionArn: runs[0].executionArn });
            assert.deepEqual(history.events.map((e) => e.type), ["ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]);
            const listed = await service.listExecutions({ stateMachineArn: arn });
            assert.deepEqual(listed.executions.map((e) => e.name), ["run-4", "run-3", "run-2", "run-1", "run-0"]);
            assert.equal((await service.listExecutions({ stateMachineArn: arn, statusFilter: "SUCCEEDED", maxResults: 4 })).executions.length, 4);
            await expectAwsError(service.startExecution({ stateMachineArn: arn, name: "run-0", input: "{}" }), "ExecutionAlreadyExists");

            // After a restart the most recently finished are the ones in memory.
            await service.close();
            const reopened = open({ dataDir, maxRetainedExecutions: 2 });
            addMachine(reopened, "Bounded");
            assert.deepEqual(reopened.retainedExecutions(), { running: 0, standard: 2, express: 0, onDiskOnly: 3 });
            assert.deepEqual((await reopened.listExecutions({ stateMachineArn: arn })).executions.map((e) => e.name), ["run-4", "run-3", "run-2", "run-1", "run-0"]);
            assert.deepEqual(await reopened.describeExecution({ executionArn: runs[1].executionArn }), runs[1]);
        });

        it("without a data directory, forgets STANDARD executions beyond the bound", async () => {
            const service = open({ maxRetainedExecutions: 2 });
            const arn = addMachine(service, "Forgetful");
            const runs = [];
            for (let i = 0; i < 4; i++) runs.push(await run(service, arn, { i }, `run-${i}`));
            assert.deepEqual(service.retainedExecutions(), { running: 0, standard: 2, express: 0, onDiskOnly: 0 });
            await expectAwsError(service.describeExecution({ executionArn: runs[0].executionArn }), "ExecutionDoesNotExist");
            assert.deepEqual((await service.listExecutions({ stateMachineArn: arn })).executions.map((e) => e.name), ["run-3", "run-2"]);
        });

        it("never drops a running execution to make room", async () => {
            const service = open({ maxRetainedExecutions: 0 });
            const arn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:Waits`;
            service.addStateMachine({ arn, name: "Waits", type: "STANDARD", roleArn: ROLE, definition: JSON.stringify({ StartAt: "W", States: { W: { Type: "Wait", Seconds: 1, End: true } } }) });
            const { executionArn } = await service.startExecution({ stateMachineArn: arn, input: "{}" });
            assert.deepEqual(service.retainedExecutions(), { running: 1, standard: 0, express: 0, onDiskOnly: 0 });
            assert.equal((await service.describeExecution({ executionArn })).status, "RUNNING");
            assert.equal((await service.waitForExecution(executionArn, 5000)).status, "SUCCEEDED");
            assert.deepEqual(service.retainedExecutions(), { running: 0, standard: 0, express: 0, onDiskOnly: 0 });
        });

        it("keeps only the most recent EXPRESS executions, on disk too", async () => {
            const service = open({ dataDir, maxRetainedExpressExecutions: 2 });
            const arn = addMachine(service, "Quick", "EXPRESS");
            const runs = [];
            for (let i = 0; i < 5; i++) runs.push(await run(service, arn, { i }));
            assert.deepEqual(service.retainedExecutions(), { running: 0, standard: 0, express: 2, onDiskOnly: 0 });
            await expectAwsError(service.describeExecution({ executionArn: runs[2].executionArn }), "ExecutionDoesNotExist");
            assert.deepEqual(JSON.parse((await service.describeExecution({ executionArn: runs[4].executionArn })).output ?? "null"), { echo: { i: 4 } });
            assert.deepEqual((await service.listExecutions({ stateMachineArn: arn })).executions.map((e) => e.executionArn), [runs[4].executionArn, runs[3].executionArn]);
            assert.equal(fs.readdirSync(path.join(dataDir, "executions")).length, 2, "the dropped ones' files are gone");
        });

        it("refuses a bound that is not a whole number", () => {
            assert.throws(() => open({ maxRetainedExecutions: -1 }), /maxRetainedExecutions must be a whole number/);
            assert.throws(() => open({ maxRetainedExpressExecutions: 1.5 }), /maxRetainedExpressExecutions must be a whole number/);
        });
    });
});
