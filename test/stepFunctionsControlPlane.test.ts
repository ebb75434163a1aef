import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AwsError } from "../local/core/awsError";
import { StepFunctionsService, type ExecutionStatusChangeEvent, type HistoryEvent, type TaskIntegrations } from "../local/services/stepfunctions/stepFunctions";

const REGION = "us-east-1";
const ACCOUNT = "123456789012";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/sfn`;
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/other`;
const MACHINE_PREFIX = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:`;

/** Lambda functions the tests define; each call is counted per function. */
class FakeIntegrations implements TaskIntegrations {
    functions: Record<string, (payload: unknown) => Promise<unknown>> = {};
    calls: Record<string, number> = {};

    async putEvents() {
        return { FailedEntryCount: 0, Entries: [] };
    }

    async invokeFunction(functionArnOrName: string, payload: unknown) {
        // A bare Lambda ARN as Task resource arrives as the ARN; the tests name functions by their short name.
        const functionName = functionArnOrName.replace(/^arn:aws:lambda:[^:]+:\d+:function:/, "");
        this.calls[functionName] = (this.calls[functionName] ?? 0) + 1;
        const fn = this.functions[functionName];
        if (!fn) throw new AwsError("ResourceNotFoundException", `Function not found: ${functionName}`, 404);
        return fn(payload);
    }

    async dynamodb() {
        return {};
    }
}

function lambdaArn(name: string): string {
    return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
}

/** A machine whose output says which revision ran it. */
function passDefinition(label: string): string {
    return JSON.stringify({ StartAt: "Label", States: { Label: { Type: "Pass", Result: { ran: label }, End: true } } });
}

async function expectAwsError(promise: Promise<unknown>, code: string, messagePart?: string): Promise<AwsError> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof AwsError, `expected AwsError ${code}, got ${String(err)}`);
        assert.equal(err.code, code, err.message);
        if (messagePart) assert.ok(err.message.includes(messagePart), `"${err.message}" should mention "${messagePart}"`);
        return err;
    }
    assert.fail(`expected AwsError ${code}`);
}

describe("StepFunctionsService: control plane", function () {
    let integrations: FakeIntegrations;
    let service: StepFunctionsService;
    let statusEvents: ExecutionStatusChangeEvent[];
    let randomValues: number[];

    beforeEach(() => {
        integrations = new FakeIntegrations();
        statusEvents = [];
        randomValues = [];
        service = new StepFunctionsService({
            integrations,
            region: REGION,
            accountId: ACCOUNT,
            onStatusChange: (event) => statusEvents.push(event),
            random: () => randomValues.shift() ?? Math.random(),
        });
    });

    afterEach(async () => {
        await service.close();
    });

    async function run(stateMachineArn: string, input = "{}"): Promise<{ executionArn: string; output: unknown; status: string }> {
        const { executionArn } = await service.startExecution({ stateMachineArn, input });
        const done = await service.waitForExecution(executionArn);
        return { executionArn, status: done.status, output: done.output === undefined ? undefined : JSON.parse(done.output) };
    }

    async function historyOf(executionArn: string): Promise<HistoryEvent[]> {
        return (await service.getExecutionHistory({ executionArn, maxResults: 1000 })).events;
    }

    describe("state machines", () => {
        it("creates, describes, updates with publish and lists versions newest first", async () => {
            const created = await service.createStateMachine({ name: "orders", definition: passDefinition("v1"), roleArn: ROLE, publish: true, versionDescription: "first" });
            assert.equal(created.stateMachineArn, `${MACHINE_PREFIX}orders`);
            assert.equal(created.stateMachineVersionArn, `${MACHINE_PREFIX}orders:1`);
            assert.equal(typeof created.creationDate, "number");

            const described = await service.describeStateMachine({ stateMachineArn: created.stateMachineArn });
            assert.equal(described.name, "orders");
            assert.equal(described.type, "STANDARD");
            assert.equal(described.status, "ACTIVE");
            assert.equal(described.definition, passDefinition("v1"));
            assert.equal(described.roleArn, ROLE);
            assert.deepEqual(described.loggingConfiguration, { level: "OFF", includeExecutionData: false });

            const updated = await service.updateStateMachine({ stateMachineArn: created.stateMachineArn, definition: passDefinition("v2"), roleArn: OTHER_ROLE, publish: true, versionDescription: "second" });
            assert.equal(updated.stateMachineVersionArn, `${MACHINE_PREFIX}orders:2`);
            assert.notEqual(updated.revisionId, described.revisionId, "an update is a new revision");

            const latest = await service.describeStateMachine({ stateMachineArn: created.stateMachineArn });
            assert.equal(latest.definition, passDefinition("v2"));
            assert.equal(latest.roleArn, OTHER_ROLE);
            const first = await service.describeStateMachine({ stateMachineArn: `${MACHINE_PREFIX}orders:1` });
            assert.equal(first.stateMachineArn, `${MACHINE_PREFIX}orders:1`, "a version describes itself by its version ARN");
            assert.equal(first.definition, passDefinition("v1"), "a version keeps the definition it was published with");
            assert.equal(first.roleArn, ROLE);
            assert.equal(first.description, "first");
            assert.equal(first.revisionId, described.revisionId);

            const versions = await service.listStateMachineVersions({ stateMachineArn: created.stateMachineArn });
            assert.deepEqual(versions.stateMachineVersions.map((v) => v.stateMachineVersionArn), [`${MACHINE_PREFIX}orders:2`, `${MACHINE_PREFIX}orders:1`]);

            // Publishing an unchanged revision again returns its version rather than a new number.
            const again = await service.publishStateMachineVersion({ stateMachineArn: created.stateMachineArn });
            assert.equal(again.stateMachineVersionArn, `${MACHINE_PREFIX}orders:2`);
            await expectAwsError(service.publishStateMachineVersion({ stateMachineArn: created.stateMachineArn, description: "other text" }), "ConflictException");
            await expectAwsError(service.publishStateMachineVersion({ stateMachineArn: created.stateMachineArn, revisionId: described.revisionId }), "ConflictException");

            await service.updateStateMachine({ stateMachineArn: created.stateMachineArn, definition: passDefinition("v3") });
            const third = await service.publishStateMachineVersion({ stateMachineArn: created.stateMachineArn, description: "third" });
            assert.equal(third.stateMachineVersionArn, `${MACHINE_PREFIX}orders:3`);

            await service.deleteStateMachineVersion({ stateMachineVersionArn: `${MACHINE_PREFIX}orders:2` });
            await expectAwsError(service.describeStateMachine({ stateMachineArn: `${MACHINE_PREFIX}orders:2` }), "StateMachineDoesNotExist");
            const remaining = await service.listStateMachineVersions({ stateMachineArn: created.stateMachineArn });
            assert.deepEqual(remaining.stateMachineVersions.map((v) => v.stateMachineVersionArn), [`${MACHINE_PREFIX}orders:3`, `${MACHINE_PREFIX}orders:1`]);

            const listed = await service.listStateMachines();
            assert.deepEqual(listed.stateMachines.map((m) => m.name), ["orders"]);
            await service.deleteStateMachine({ stateMachineArn: created.stateMachineArn });
            await expectAwsError(service.describeStateMachine({ stateMachineArn: created.stateMachineArn }), "StateMachineDoesNotExist");
            await expectAwsError(service.describeStateMachine({ stateMachineArn: `${MACHINE_PREFIX}orders:1` }), "StateMachineDoesNotExist", "orders:1");
            assert.deepEqual((await service.listStateMachines()).stateMachines, []);
        });

        it("refuses bad requests with AWS's error codes", async () => {
            await expectAwsError(service.createStateMachine({ name: "bad", definition: "{not json", roleArn: ROLE }), "InvalidDefinition");
            await expectAwsError(service.createStateMachine({ name: "bad", definition: JSON.stringify({ StartAt: "A", States: { A: { Type: "Pass", Next: "Nowhere" } } }), roleArn: ROLE }), "InvalidDefinition", "Nowhere");
            await expectAwsError(service.createStateMachine({ name: "bad name", definition: passDefinition("x"), roleArn: ROLE }), "InvalidName");
            await expectAwsError(service.createStateMachine({ name: "bad", definition: passDefinition("x"), roleArn: "not-a-role" }), "InvalidArn");
            await expectAwsError(service.createStateMachine({ name: "bad", definition: passDefinition("x"), roleArn: ROLE, type: "BATCH" as never }), "ValidationException", "STANDARD, EXPRESS");
            await expectAwsError(service.createStateMachine({ name: "bad", definition: passDefinition("x"), roleArn: ROLE, versionDescription: "no publish" }), "ValidationException", "publish");
            await expectAwsError(service.createStateMachine({ definition: passDefinition("x"), roleArn: ROLE }), "ValidationException", "'name'");

            const created = await service.createStateMachine({ name: "once", definition: passDefinition("x"), roleArn: ROLE });
            const same = await service.createStateMachine({ name: "once", definition: passDefinition("x"), roleArn: ROLE });
            assert.deepEqual(same, created, "creating an identical machine again is idempotent");
            await expectAwsError(service.createStateMachine({ name: "once", definition: passDefinition("y"), roleArn: ROLE }), "StateMachineAlreadyExists");
            await expectAwsError(service.updateStateMachine({ stateMachineArn: created.stateMachineArn }), "MissingRequiredParameter");
            await expectAwsError(service.updateStateMachine({ stateMachineArn: created.stateMachineArn, definition: "[]" }), "InvalidDefinition");
            await expectAwsError(service.updateStateMachine({ stateMachineArn: `${MACHINE_PREFIX}absent`, definition: passDefinition("x") }), "StateMachineDoesNotExist");
            await expectAwsError(service.describeStateMachine({ stateMachineArn: "arn:aws:states:us-east-1:123456789012:activity:x" }), "InvalidArn");
            await expectAwsError(service.startExecution({ stateMachineArn: `${MACHINE_PREFIX}once:7` }), "StateMachineDoesNotExist");
        });

        it("validates definitions: OK, or FAIL with diagnostics in AWS's codes and locations", async () => {
            assert.deepEqual(await service.validateStateMachineDefinition({ definition: passDefinition("x") }), { result: "OK", diagnostics: [], truncated: false });
            const missing = await service.validateStateMachineDefinition({ definition: JSON.stringify({ StartAt: "A", States: { A: { Type: "Pass", Next: "B" } } }) });
            assert.equal(missing.result, "FAIL");
            assert.ok(missing.diagnostics?.some((d) => d.code === "MISSING_TRANSITION_TARGET" && d.severity === "ERROR" && d.message?.includes("B")), JSON.stringify(missing.diagnostics));
            const badType = await service.validateStateMachineDefinition({ definition: JSON.stringify({ StartAt: "A", States: { A: { Type: "Bogus", End: true } } }) });
            assert.equal(badType.result, "FAIL");
            assert.ok(badType.diagnostics?.some((d) => d.code === "SCHEMA_VALIDATION_FAILED" && d.location === "/States/A/Type"), JSON.stringify(badType.diagnostics));
            const duplicateTasks = await service.validateStateMachineDefinition({
                definition: JSON.stringify({
                    StartAt: "Each",
                    States: {
                        Each: { Type: "Map", ItemProcessor: { StartAt: "Call", States: { Call: { Type: "Task", Resource: lambdaArn("f"), End: true } } }, Next: "Call" },
                        Call: { Type: "Task", Resource: lambdaArn("f"), End: true },
                    },
                }),
            });
            // ASL: state names are unique across the whole machine, nested blocks included.
            assert.equal(duplicateTasks.result, "FAIL");
            assert.equal(duplicateTasks.diagnostics?.[0].code, "DUPLICATE_STATE_NAME"); // the code AWS's API reference lists
            assert.match(duplicateTasks.diagnostics?.[0].message ?? "", /Call/);
            const notJson = await service.validateStateMachineDefinition({ definition: "{" });
            assert.equal(notJson.result, "FAIL");
            assert.equal(notJson.diagnostics?.[0].code, "INVALID_JSON_DESCRIPTION");
        });

        it("describes the state machine an execution ran, after the machine changed", async () => {
            const { stateMachineArn } = await service.createStateMachine({ name: "changing", definition: passDefinition("old"), roleArn: ROLE });
            const before = await run(stateMachineArn);
            await service.updateStateMachine({ stateMachineArn, definition: passDefinition("new") });
            const after = await run(stateMachineArn);
            assert.deepEqual(before.output, { ran: "old" });
            assert.deepEqual(after.output, { ran: "new" });
            assert.equal((await service.describeStateMachineForExecution({ executionArn: before.executionArn })).definition, passDefinition("old"));
            const forAfter = await service.describeStateMachineForExecution({ executionArn: after.executionArn });
            assert.equal(forAfter.definition, passDefinition("new"));
            assert.equal(forAfter.stateMachineArn, stateMachineArn);
            assert.equal(forAfter.name, "changing");
            await expectAwsError(service.describeStateMachineForExecution({ executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:changing:nope` }), "ExecutionDoesNotExist");
        });
    });

    describe("versions and aliases", () => {
        it("runs a version's definition when started on its ARN, and says so in DescribeExecution and the history", async () => {
            const { stateMachineArn, stateMachineVersionArn } = await service.createStateMachine({ name: "versioned", definition: passDefinition("one"), roleArn: ROLE, publish: true });
            await service.updateStateMachine({ stateMachineArn, definition: passDefinition("two") });
            const onVersion = await run(stateMachineVersionArn!);
            assert.deepEqual(onVersion.output, { ran: "one" }, "the version's definition ran, not the latest");
            const described = await service.describeExecution({ executionArn: onVersion.executionArn });
            assert.equal(described.stateMachineArn, stateMachineArn);
            assert.equal(described.stateMachineVersionArn, stateMachineVersionArn);
            assert.equal(described.stateMachineAliasArn, undefined);
            const started = (await historyOf(onVersion.executionArn))[0];
            assert.equal(started.executionStartedEventDetails?.stateMachineVersionArn, stateMachineVersionArn);
            assert.equal((await service.describeStateMachineForExecution({ executionArn: onVersion.executionArn })).definition, passDefinition("one"));
            const unversioned = await run(stateMachineArn);
            assert.deepEqual(unversioned.output, { ran: "two" });
            assert.equal((await service.describeExecution({ executionArn: unversioned.executionArn })).stateMachineVersionArn, undefined);
        });

        it("routes an alias's executions to both versions by weight", async () => {
            const { stateMachineArn, stateMachineVersionArn: v1 } = await service.createStateMachine({ name: "canary", definition: passDefinition("one"), roleArn: ROLE, publish: true });
            const { stateMachineVersionArn: v2 } = await service.updateStateMachine({ stateMachineArn, definition: passDefinition("two"), publish: true });
            const routing = [
                { stateMachineVersionArn: v1!, weight: 70 },
                { stateMachineVersionArn: v2!, weight: 30 },
            ];
            const { stateMachineAliasArn } = await service.createStateMachineAlias({ name: "live", description: "canary", routingConfiguration: routing });
            assert.equal(stateMachineAliasArn, `${stateMachineArn}:live`);
            const aliasDescription = await service.describeStateMachineAlias({ stateMachineAliasArn });
            assert.deepEqual(aliasDescription.routingConfiguration, routing);
            assert.equal(aliasDescription.name, "live");
            assert.equal(aliasDescription.description, "canary");

            // Random draws below 0.7 go to version 1, the rest to version 2.
            randomValues = [0.1, 0.69, 0.7, 0.95, 0.3];
            const runs = [];
            for (let i = 0; i < 5; i++) runs.push(await run(stateMachineAliasArn!));
            assert.deepEqual(runs.map((r) => (r.output as { ran: string }).ran), ["one", "one", "two", "two", "one"]);
            for (const [index, execution] of runs.entries()) {
                const described = await service.describeExecution({ executionArn: execution.executionArn });
                assert.equal(described.stateMachineAliasArn, stateMachineAliasArn);
                assert.equal(described.stateMachineVersionArn, index === 2 || index === 3 ? v2 : v1);
            }

            // With Math.random, a 50/50 split over 40 runs reaches both versions (all on one side: 2^-39).
            await service.updateStateMachineAlias({ stateMachineAliasArn, routingConfiguration: [{ stateMachineVersionArn: v1!, weight: 50 }, { stateMachineVersionArn: v2!, weight: 50 }] });
            const seen = new Set<string>();
            for (let i = 0; i < 40; i++) seen.add(((await run(stateMachineAliasArn!)).output as { ran: string }).ran);
            assert.deepEqual([...seen].sort(), ["one", "two"]);

            await service.updateStateMachineAlias({ stateMachineAliasArn, routingConfiguration: [{ stateMachineVersionArn: v2!, weight: 100 }] });
            assert.deepEqual((await run(stateMachineAliasArn!)).output, { ran: "two" });
            assert.deepEqual((await service.listStateMachineAliases({ stateMachineArn })).stateMachineAliases.map((a) => a.stateMachineAliasArn), [stateMachineAliasArn]);
            assert.deepEqual((await service.listStateMachineAliases({ stateMachineArn: v1! })).stateMachineAliases, [], "listing by version shows the aliases routing to it");

            await expectAwsError(service.deleteStateMachineVersion({ stateMachineVersionArn: v2! }), "ConflictException", "live");
            await service.deleteStateMachineAlias({ stateMachineAliasArn });
            await expectAwsError(service.describeStateMachineAlias({ stateMachineAliasArn }), "ResourceNotFound");
            await expectAwsError(service.startExecution({ stateMachineArn: stateMachineAliasArn }), "ResourceNotFound");
            await service.deleteStateMachineVersion({ stateMachineVersionArn: v2! });
        });

        it("lists the executions started through a version or an alias by its ARN", async () => {
            const { stateMachineArn, stateMachineVersionArn: v1 } = await service.createStateMachine({ name: "listed", definition: passDefinition("one"), roleArn: ROLE, publish: true });
            const { stateMachineAliasArn } = await service.createStateMachineAlias({ name: "live", routingConfiguration: [{ stateMachineVersionArn: v1!, weight: 100 }] });
            const plain = await run(stateMachineArn);
            const onVersion = await run(v1!);
            const onAlias = await run(stateMachineAliasArn!);
            const arnsOf = async (arn: string) => (await service.listExecutions({ stateMachineArn: arn })).executions.map((e) => e.executionArn).sort();
            assert.deepEqual(await arnsOf(stateMachineArn), [plain, onVersion, onAlias].map((r) => r.executionArn).sort());
            assert.deepEqual(await arnsOf(v1!), [onVersion, onAlias].map((r) => r.executionArn).sort());
            assert.deepEqual(await arnsOf(stateMachineAliasArn!), [onAlias.executionArn]);
            const item = (await service.listExecutions({ stateMachineArn: stateMachineAliasArn })).executions[0];
            assert.equal(item.stateMachineAliasArn, stateMachineAliasArn);
            assert.equal(item.stateMachineVersionArn, v1);
            await expectAwsError(service.listExecutions({ stateMachineArn: `${stateMachineArn}:5` }), "StateMachineDoesNotExist");
            await expectAwsError(service.listExecutions({ stateMachineArn: `${stateMachineArn}:gone` }), "ResourceNotFound");
        });

        it("refuses routing that AWS refuses", async () => {
            const { stateMachineArn, stateMachineVersionArn: v1 } = await service.createStateMachine({ name: "routes", definition: passDefinition("one"), roleArn: ROLE, publish: true });
            const { stateMachineVersionArn: v2 } = await service.updateStateMachine({ stateMachineArn, definition: passDefinition("two"), publish: true });
            const alias = (routingConfiguration: unknown) => service.createStateMachineAlias({ name: "a", routingConfiguration: routingConfiguration as never });
            await expectAwsError(alias([]), "ValidationException", "between 1 and 2");
            await expectAwsError(alias([{ stateMachineVersionArn: v1, weight: 40 }, { stateMachineVersionArn: v2, weight: 40 }]), "ValidationException", "sum to 80");
            await expectAwsError(alias([{ stateMachineVersionArn: v1, weight: 50 }, { stateMachineVersionArn: v1, weight: 50 }]), "ValidationException", "twice");
            await expectAwsError(alias([{ stateMachineVersionArn: v1, weight: 100.5 }]), "ValidationException", "weight");
            await expectAwsError(alias([{ stateMachineVersionArn: v1, weight: 34 }, { stateMachineVersionArn: v2, weight: 33 }, { stateMachineVersionArn: v2, weight: 33 }]), "ValidationException", "between 1 and 2");
            await expectAwsError(alias([{ stateMachineVersionArn: `${stateMachineArn}:9`, weight: 100 }]), "ResourceNotFound", ":9");
            await expectAwsError(alias([{ stateMachineVersionArn: stateMachineArn, weight: 100 }]), "ValidationException", "version ARN");
            await expectAwsError(service.createStateMachineAlias({ name: "42", routingConfiguration: [{ stateMachineVersionArn: v1!, weight: 100 }] }), "ValidationException", "digits");
            await service.createStateMachineAlias({ name: "a", routingConfiguration: [{ stateMachineVersionArn: v1!, weight: 100 }] });
            await expectAwsError(service.createStateMachineAlias({ name: "a", routingConfiguration: [{ stateMachineVersionArn: v2!, weight: 100 }] }), "ConflictException");
            await expectAwsError(service.updateStateMachineAlias({ stateMachineAliasArn: `${stateMachineArn}:missing`, description: "x" }), "ResourceNotFound");
        });
    });

    describe("StartSyncExecution", () => {
        it("answers an EXPRESS execution's outcome, success or failure, in AWS's shape", async () => {
            const { stateMachineArn } = await service.createStateMachine({
                name: "quick",
                type: "EXPRESS",
                definition: JSON.stringify({
                    StartAt: "Check",
                    States: {
                        Check: { Type: "Choice", Choices: [{ Variable: "$.ok", BooleanEquals: true, Next: "Done" }], Default: "Refuse" },
                        Done: { Type: "Pass", Parameters: { "doubled.$": "States.MathAdd($.n, $.n)" }, End: true },
                        Refuse: { Type: "Fail", Error: "Quick.Refused", Cause: "not ok" },
                    },
                }),
                roleArn: ROLE,
            });
            const ok = await service.startSyncExecution({ stateMachineArn, name: "sync-ok", input: JSON.stringify({ ok: true, n: 21 }) });
            assert.equal(ok.status, "SUCCEEDED");
            assert.deepEqual(JSON.parse(ok.output!), { doubled: 42 });
            assert.deepEqual(ok.outputDetails, { included: true });
            assert.equal(ok.input, JSON.stringify({ ok: true, n: 21 }));
            assert.equal(ok.name, "sync-ok");
            assert.equal(ok.stateMachineArn, stateMachineArn);
            assert.match(ok.executionArn!, new RegExp(`^arn:aws:states:${REGION}:${ACCOUNT}:express:quick:sync-ok:`));
            assert.ok(ok.stopDate! >= ok.startDate!);
            assert.ok(ok.billingDetails!.billedDurationInMilliseconds! >= 100);

            const failed = await service.startSyncExecution({ stateMachineArn, input: JSON.stringify({ ok: false }) });
            assert.equal(failed.status, "FAILED");
            assert.equal(failed.error, "Quick.Refused");
            assert.equal(failed.cause, "not ok");
            assert.equal(failed.output, undefined);
            assert.equal(statusEvents.length, 0, "AWS sends no status-change events for EXPRESS executions");
        });

        it("refuses a STANDARD state machine with StateMachineTypeNotSupported", async () => {
            const { stateMachineArn } = await service.createStateMachine({ name: "slow", definition: passDefinition("x"), roleArn: ROLE });
            await expectAwsError(service.startSyncExecution({ stateMachineArn }), "StateMachineTypeNotSupported", "STANDARD");
            assert.deepEqual((await service.listExecutions({ stateMachineArn })).executions, [], "nothing was started");
        });
    });

    describe("RedriveExecution", () => {
        /** First → Flaky (fails on its first call only) → Last. */
        async function flakyMachine(): Promise<string> {
            let flakyCalls = 0;
            integrations.functions.first = async (payload) => ({ ...(payload as object), first: "done" });
            integrations.functions.flaky = async (payload) => {
                flakyCalls += 1;
                if (flakyCalls === 1) {
                    const error = new Error("downstream unavailable");
                    error.name = "Downstream.Unavailable";
                    throw error;
                }
                return { ...(payload as object), flaky: "done" };
            };
            const { stateMachineArn } = await service.createStateMachine({
                name: "pipeline",
                definition: JSON.stringify({
                    StartAt: "First",
                    States: {
                        First: { Type: "Task", Resource: lambdaArn("first"), Next: "Flaky" },
                        Flaky: { Type: "Task", Resource: lambdaArn("flaky"), Next: "Last" },
                        Last: { Type: "Pass", Parameters: { "input.$": "$", "original.$": "$$.Execution.Input", "redrives.$": "$$.Execution.RedriveCount" }, End: true },
                    },
                }),
                roleArn: ROLE,
            });
            return stateMachineArn;
        }

        it("resumes a failed execution at the failed state; the states that succeeded do not run again", async () => {
            const stateMachineArn = await flakyMachine();
            const { executionArn } = await service.startExecution({ stateMachineArn, name: "order-1", input: JSON.stringify({ order: 1 }) });
            const failed = await service.waitForExecution(executionArn);
            assert.equal(failed.status, "FAILED");
            assert.equal(failed.error, "Downstream.Unavailable");
            const beforeRedrive = await service.describeExecution({ executionArn });
            assert.equal(beforeRedrive.redriveCount, 0);
            assert.equal(beforeRedrive.redriveStatus, "REDRIVABLE");
            const failedHistoryLength = (await historyOf(executionArn)).length;

            const { redriveDate } = await service.redriveExecution({ executionArn, clientToken: "retry-1" });
            assert.equal(typeof redriveDate, "number");
            assert.deepEqual(await service.redriveExecution({ executionArn, clientToken: "retry-1" }), { redriveDate }, "a retried request with the same clientToken is answered as the first");
            const done = await service.waitForExecution(executionArn);
            assert.equal(done.status, "SUCCEEDED", done.cause);
            assert.deepEqual(JSON.parse(done.output!), { input: { order: 1, first: "done", flaky: "done" }, original: { order: 1 }, redrives: 1 });
            assert.deepEqual(integrations.calls, { first: 1, flaky: 2 }, "First ran once; only the failed state ran again");

            const described = await service.describeExecution({ executionArn });
            assert.equal(described.redriveCount, 1);
            assert.equal(described.redriveDate, redriveDate);
            assert.equal(described.redriveStatus, "NOT_REDRIVABLE");
            assert.equal(described.error, undefined, "the earlier failure no longer describes the execution");

            const history = await historyOf(executionArn);
            const resumed = history.slice(failedHistoryLength);
            assert.equal(resumed[0].type, "ExecutionRedriven");
            assert.deepEqual(resumed[0].executionRedrivenEventDetails, { redriveCount: 1 });
            assert.equal(history.filter((e) => e.type === "ExecutionStarted").length, 1, "a redrive starts no second execution");
            const entered = resumed.filter((e) => e.type === "TaskStateEntered" || e.type === "PassStateEntered").map((e) => e.stateEnteredEventDetails?.name);
            assert.deepEqual(entered, ["Flaky", "Last"]);
            assert.deepEqual(JSON.parse(String(resumed.find((e) => e.type === "TaskStateEntered")?.stateEnteredEventDetails?.input)), { order: 1, first: "done" }, "the failed state gets its input again");
            assert.equal(history[history.length - 1].type, "ExecutionSucceeded");
            history.forEach((event, index) => assert.equal(event.id, index + 1));

            await expectAwsError(service.redriveExecution({ executionArn }), "ExecutionNotRedrivable", "SUCCEEDED");
        });

        it("redrives a failed execution read back after a restart, from its file", async () => {
            const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sfn-redrive-"));
            try {
                const definition = JSON.stringify({
                    StartAt: "First",
                    States: { First: { Type: "Task", Resource: lambdaArn("first"), Next: "Flaky" }, Flaky: { Type: "Task", Resource: lambdaArn("flaky"), End: true } },
                });
                const spec = { arn: `${MACHINE_PREFIX}kept`, name: "kept", type: "STANDARD" as const, definition, roleArn: ROLE };
                integrations.functions.first = async () => ({ first: "done" });
                integrations.functions.flaky = async () => {
                    throw new Error("not yet");
                };
                const before = new StepFunctionsService({ integrations, region: REGION, accountId: ACCOUNT, dataDir });
                before.addStateMachine(spec);
                const { executionArn } = await before.startExecution({ stateMachineArn: spec.arn });
                assert.equal((await before.waitForExecution(executionArn)).status, "FAILED");
                await before.close();

                const after = new StepFunctionsService({ integrations, region: REGION, accountId: ACCOUNT, dataDir });
                try {
                    after.addStateMachine(spec);
                    integrations.functions.flaky = async (payload) => ({ ...(payload as object), flaky: "done" });
                    await after.redriveExecution({ executionArn });
                    const done = await after.waitForExecution(executionArn);
                    assert.equal(done.status, "SUCCEEDED", done.cause);
                    assert.deepEqual(JSON.parse(done.output!), { first: "done", flaky: "done" });
                    assert.deepEqual(integrations.calls, { first: 1, flaky: 2 });
                } finally {
                    await after.close();
                }
                const reopened = new StepFunctionsService({ integrations, region: REGION, accountId: ACCOUNT, dataDir });
                try {
                    const described = await reopened.describeExecution({ executionArn });
                    assert.equal(described.status, "SUCCEEDED");
                    assert.equal(described.redriveCount, 1, "the redrive count is kept on disk");
                    assert.equal(typeof described.redriveDate, "number");
                } finally {
                    await reopened.close();
                }
            } finally {
                fs.rmSync(dataDir, { recursive: true, force: true });
            }
        });

        it("redrives an ABORTED execution at the state it was stopped in", async () => {
            let release: (value: unknown) => void = () => undefined;
            integrations.functions.first = async () => ({ step: "first" });
            integrations.functions.wait = async (payload) => {
                if (integrations.calls.wait === 1) return new Promise(() => undefined);
                return new Promise((resolve) => (release = resolve)).then(() => payload);
            };
            const { stateMachineArn } = await service.createStateMachine({
                name: "stoppable",
                definition: JSON.stringify({ StartAt: "First", States: { First: { Type: "Task", Resource: lambdaArn("first"), Next: "Wait" }, Wait: { Type: "Task", Resource: lambdaArn("wait"), End: true } } }),
                roleArn: ROLE,
            });
            const { executionArn } = await service.startExecution({ stateMachineArn });
            const waitCalls = () => integrations.calls.wait ?? 0;
            while (waitCalls() !== 1) await new Promise((resolve) => setTimeout(resolve, 5));
            await service.stopExecution({ executionArn, error: "Operator.Stop" });
            await service.redriveExecution({ executionArn });
            while (waitCalls() !== 2) await new Promise((resolve) => setTimeout(resolve, 5));
            release(undefined);
            const done = await service.waitForExecution(executionArn);
            assert.equal(done.status, "SUCCEEDED", done.cause);
            assert.deepEqual(JSON.parse(done.output!), { step: "first" });
            assert.equal(integrations.calls.first, 1);
        });

        it("refuses what it cannot redrive, by name: running, EXPRESS, and a failure inside a Map", async () => {
            integrations.functions.item = async () => {
                throw new Error("item failed");
            };
            const { stateMachineArn } = await service.createStateMachine({
                name: "mapper",
                definition: JSON.stringify({
                    StartAt: "Each",
                    States: { Each: { Type: "Map", ItemsPath: "$.items", ItemProcessor: { StartAt: "Item", States: { Item: { Type: "Task", Resource: lambdaArn("item"), End: true } } }, End: true } },
                }),
                roleArn: ROLE,
            });
            const failed = await run(stateMachineArn, JSON.stringify({ items: [1, 2] }));
            assert.equal(failed.status, "FAILED");
            await expectAwsError(service.redriveExecution({ executionArn: failed.executionArn }), "ExecutionNotRedrivable", "Map state 'Each'");
            assert.equal((await service.describeExecution({ executionArn: failed.executionArn })).status, "FAILED", "a refused redrive changes nothing");

            const { stateMachineArn: express } = await service.createStateMachine({ name: "fast", type: "EXPRESS", definition: JSON.stringify({ StartAt: "F", States: { F: { Type: "Fail", Error: "E" } } }), roleArn: ROLE });
            const expressRun = await run(express);
            await expectAwsError(service.redriveExecution({ executionArn: expressRun.executionArn }), "ExecutionNotRedrivable", "EXPRESS");

            integrations.functions.hang = async () => new Promise(() => undefined);
            const { stateMachineArn: hanging } = await service.createStateMachine({ name: "hanging", definition: JSON.stringify({ StartAt: "H", States: { H: { Type: "Task", Resource: lambdaArn("hang"), End: true } } }), roleArn: ROLE });
            const { executionArn } = await service.startExecution({ stateMachineArn: hanging });
            await expectAwsError(service.redriveExecution({ executionArn }), "ExecutionNotRedrivable", "RUNNING");
            await expectAwsError(service.redriveExecution({ executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:hanging:none` }), "ExecutionDoesNotExist");
        });
    });

    describe("aws.states status-change events", () => {
        it("reports RUNNING and SUCCEEDED for a STANDARD execution in AWS's detail shape", async () => {
            const { stateMachineArn } = await service.createStateMachine({ name: "events", definition: passDefinition("x"), roleArn: ROLE });
            const { executionArn } = await run(stateMachineArn, JSON.stringify({ a: 1 }));
            assert.deepEqual(statusEvents.map((e) => e.detail.status), ["RUNNING", "SUCCEEDED"]);
            const [running, succeeded] = statusEvents;
            for (const event of statusEvents) {
                assert.equal(event.detailType, "Step Functions Execution Status Change");
                assert.equal(event.source, "aws.states");
                assert.deepEqual(event.resources, [executionArn]);
                assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
            }
            const described = await service.describeExecution({ executionArn });
            assert.deepEqual(running.detail, {
                executionArn,
                stateMachineArn,
                name: described.name,
                status: "RUNNING",
                startDate: described.startDate * 1000,
                stopDate: null,
                input: JSON.stringify({ a: 1 }),
                inputDetails: { included: true },
                output: null,
                outputDetails: null,
                redriveCount: 0,
                redriveDate: null,
                redriveStatus: "NOT_REDRIVABLE",
                redriveStatusReason: "Execution is RUNNING and cannot be redriven",
                error: null,
                cause: null,
            });
            assert.equal(succeeded.detail.stopDate, described.stopDate! * 1000);
            assert.deepEqual(JSON.parse(succeeded.detail.output!), { ran: "x" });
            assert.deepEqual(succeeded.detail.outputDetails, { included: true });
            assert.equal(succeeded.detail.redriveStatusReason, "Execution is SUCCEEDED and cannot be redriven");
        });

        it("reports FAILED, ABORTED, TIMED_OUT, and a redrive's RUNNING with its count", async () => {
            const { stateMachineArn } = await service.createStateMachine({ name: "failing", definition: JSON.stringify({ StartAt: "F", States: { F: { Type: "Fail", Error: "Bad.Thing", Cause: "because" } } }), roleArn: ROLE });
            await run(stateMachineArn);
            const failed = statusEvents.at(-1)!;
            assert.equal(failed.detail.status, "FAILED");
            assert.equal(failed.detail.error, "Bad.Thing");
            assert.equal(failed.detail.cause, "because");
            assert.equal(failed.detail.redriveStatus, "REDRIVABLE");

            integrations.functions.hang = async () => new Promise(() => undefined);
            const { stateMachineArn: hanging } = await service.createStateMachine({ name: "hang", definition: JSON.stringify({ StartAt: "H", States: { H: { Type: "Task", Resource: lambdaArn("hang"), End: true } } }), roleArn: ROLE });
            const { executionArn } = await service.startExecution({ stateMachineArn: hanging });
            await service.stopExecution({ executionArn, error: "Op.Stop", cause: "stopped" });
            assert.deepEqual(statusEvents.slice(-2).map((e) => [e.detail.status, e.detail.error]), [["RUNNING", null], ["ABORTED", "Op.Stop"]]);

            const { stateMachineArn: slow } = await service.createStateMachine({ name: "slow", definition: JSON.stringify({ TimeoutSeconds: 1, StartAt: "W", States: { W: { Type: "Wait", Seconds: 5, End: true } } }), roleArn: ROLE });
            const timedOut = await run(slow);
            assert.equal(timedOut.status, "TIMED_OUT");
            assert.equal(statusEvents.at(-1)!.detail.status, "TIMED_OUT");

            const count = statusEvents.length;
            await service.redriveExecution({ executionArn });
            const redriven = statusEvents[count];
            assert.equal(redriven.detail.status, "RUNNING");
            assert.equal(redriven.detail.redriveCount, 1);
            assert.equal(typeof redriven.detail.redriveDate, "number");
            await service.stopExecution({ executionArn });
            assert.equal(statusEvents.at(-1)!.detail.status, "ABORTED");
            assert.equal(statusEvents.at(-1)!.detail.redriveCount, 1);
        });

        it("names the version and alias an execution started through", async () => {
            const { stateMachineVersionArn } = await service.createStateMachine({ name: "named", definition: passDefinition("x"), roleArn: ROLE, publish: true });
            const { stateMachineAliasArn } = await service.createStateMachineAlias({ name: "prod", routingConfiguration: [{ stateMachineVersionArn: stateMachineVersionArn!, weight: 100 }] });
            await run(stateMachineAliasArn!);
            assert.equal(statusEvents.length, 2);
            for (const event of statusEvents) {
                assert.equal(event.detail.stateMachineVersionArn, stateMachineVersionArn);
                assert.equal(event.detail.stateMachineAliasArn, stateMachineAliasArn);
            }
        });
    });
});
