/**
 * The Step Functions and EventBridge control planes through the runtime's endpoint, driven with the real AWS SDK v3
 * clients, on a runtime started from a Pulumi program of its own (`test/fixtures/controlPlanes`: a scheduled rule, a
 * rule on the default bus for `aws.states` status changes, a `gate` function, and the roles the machines and targets
 * made here over the API run with). Every machine, alias, bus, rule and target below is created over HTTP.
 */
import { strict as assert } from "assert";
import * as http from "http";
import type { LookupFunction } from "net";
import * as path from "path";
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import * as EventBridge from "@aws-sdk/client-eventbridge";
import * as Sfn from "@aws-sdk/client-sfn";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { evaluateStack } from "../local/core/evaluate";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { TestRuntime, finished, historyOf, startTestRuntime, until } from "../local/testing/runtime";

const PROGRAM = path.join(__dirname, "fixtures", "controlPlanes");
const STATUS_CHANGE = "Step Functions Execution Status Change";

/** A machine whose output names the revision that ran. */
const labelled = (label: string) => JSON.stringify({ StartAt: "Label", States: { Label: { Type: "Pass", Result: { ran: label }, End: true } } });

/** Rejects with the SDK error of this AWS code (the SDK names the error by the code the endpoint sent). */
async function refusedWith(call: Promise<unknown>, code: string, messagePart?: RegExp): Promise<void> {
    await assert.rejects(call, (error: Error) => {
        assert.equal(error.name, code, error.message);
        if (messagePart) assert.match(error.message, messagePart);
        return true;
    });
}

describe("control planes through the endpoint, on a runtime of test/fixtures/controlPlanes", function () {
    this.timeout(30_000);
    let runtime: TestRuntime;
    let sfn: Sfn.SFNClient;
    let events: EventBridge.EventBridgeClient;
    let dynamodb: DynamoDBClient;
    let outputs: Record<string, string>;
    let region: string;
    let account: string;

    before(async () => {
        const evaluated = await evaluateStack({ program: PROGRAM, stack: "dev" });
        runtime = await startTestRuntime({ evaluated });
        ({ sfn, events } = runtime.clients);
        dynamodb = new DynamoDBClient({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
        outputs = Object.fromEntries(Object.entries(runtime.stack.outputs).map(([key, value]) => [key, String(value)]));
        ({ region, accountId: account } = runtime.stack);
    });
    after(async () => {
        dynamodb?.destroy();
        await runtime?.close();
    });

    const machineArnOf = (name: string) => `arn:aws:states:${region}:${account}:stateMachine:${name}`;

    async function createMachine(name: string, definition: string, extra: Partial<Sfn.CreateStateMachineInput> = {}): Promise<Sfn.CreateStateMachineOutput> {
        return sfn.send(new Sfn.CreateStateMachineCommand({ name, definition, roleArn: outputs.machineRoleArn, ...extra }));
    }

    /** Starts an execution over the API and answers it once it has stopped, with its output parsed. */
    async function run(stateMachineArn: string, input: unknown = {}): Promise<{ executionArn: string; status?: string; output: unknown; described: Sfn.DescribeExecutionOutput }> {
        const { executionArn } = await sfn.send(new Sfn.StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }));
        const described = await finished(runtime, executionArn!);
        return { executionArn: executionArn!, status: described.status, output: described.output === undefined ? undefined : JSON.parse(described.output), described };
    }

    async function item(id: string): Promise<Record<string, string> | undefined> {
        const found = await dynamodb.send(new GetItemCommand({ TableName: outputs.tableName, Key: { id: { S: id } } }));
        return found.Item && Object.fromEntries(Object.entries(found.Item).map(([key, value]) => [key, value.S ?? value.N ?? ""]));
    }

    describe("state machines: create, describe, update with publish, versions, validate, delete", () => {
        it("serves each call as AWS answers it", async () => {
            const name = "cp-lifecycle";
            const created = await createMachine(name, labelled("one"));
            assert.equal(created.stateMachineArn, machineArnOf(name));
            assert.ok(created.creationDate instanceof Date && Math.abs(created.creationDate.getTime() - Date.now()) < 60_000, "creationDate read as a Date");
            const stateMachineArn = created.stateMachineArn!;

            const described = await sfn.send(new Sfn.DescribeStateMachineCommand({ stateMachineArn }));
            assert.deepEqual(
                { name: described.name, status: described.status, type: described.type, definition: described.definition, roleArn: described.roleArn },
                { name, status: "ACTIVE", type: "STANDARD", definition: labelled("one"), roleArn: outputs.machineRoleArn },
            );

            const updated = await sfn.send(new Sfn.UpdateStateMachineCommand({ stateMachineArn, definition: labelled("two"), publish: true, versionDescription: "the second" }));
            assert.equal(updated.stateMachineVersionArn, `${stateMachineArn}:1`);
            assert.ok(updated.updateDate instanceof Date);
            assert.ok(updated.revisionId && updated.revisionId !== described.revisionId, "a new revision");

            // A third revision, unpublished, then published by PublishStateMachineVersion with its revision id.
            const third = await sfn.send(new Sfn.UpdateStateMachineCommand({ stateMachineArn, definition: labelled("three") }));
            assert.equal(third.stateMachineVersionArn, undefined, "nothing published without publish: true");
            await refusedWith(sfn.send(new Sfn.PublishStateMachineVersionCommand({ stateMachineArn, revisionId: updated.revisionId })), "ConflictException");
            const published = await sfn.send(new Sfn.PublishStateMachineVersionCommand({ stateMachineArn, revisionId: third.revisionId, description: "the third" }));
            assert.equal(published.stateMachineVersionArn, `${stateMachineArn}:2`);

            const versions = await sfn.send(new Sfn.ListStateMachineVersionsCommand({ stateMachineArn }));
            assert.deepEqual(versions.stateMachineVersions?.map((v) => v.stateMachineVersionArn), [`${stateMachineArn}:2`, `${stateMachineArn}:1`], "newest first");
            const first = await sfn.send(new Sfn.DescribeStateMachineCommand({ stateMachineArn: `${stateMachineArn}:1` }));
            assert.deepEqual([first.definition, first.description], [labelled("two"), "the second"]);
            const second = await sfn.send(new Sfn.DescribeStateMachineCommand({ stateMachineArn: `${stateMachineArn}:2` }));
            assert.deepEqual([second.definition, second.description], [labelled("three"), "the third"]);

            // The machine changes after an execution: DescribeStateMachineForExecution answers what the execution ran.
            const ran = await run(stateMachineArn);
            assert.deepEqual(ran.output, { ran: "three" });
            await sfn.send(new Sfn.UpdateStateMachineCommand({ stateMachineArn, definition: labelled("four") }));
            const forExecution = await sfn.send(new Sfn.DescribeStateMachineForExecutionCommand({ executionArn: ran.executionArn }));
            assert.deepEqual([forExecution.stateMachineArn, forExecution.definition, forExecution.revisionId], [stateMachineArn, labelled("three"), third.revisionId]);
            assert.equal((await sfn.send(new Sfn.DescribeStateMachineCommand({ stateMachineArn }))).definition, labelled("four"));

            const ok = await sfn.send(new Sfn.ValidateStateMachineDefinitionCommand({ definition: labelled("ok"), type: "STANDARD" }));
            assert.deepEqual([ok.result, ok.diagnostics], ["OK", []]);
            const broken = JSON.stringify({ StartAt: "Missing", States: { Here: { Type: "Pass", Next: "Nowhere" } } });
            const fail = await sfn.send(new Sfn.ValidateStateMachineDefinitionCommand({ definition: broken }));
            assert.equal(fail.result, "FAIL");
            assert.ok(fail.diagnostics!.length > 0 && fail.diagnostics!.every((d) => d.severity === "ERROR" && d.code && d.message), JSON.stringify(fail.diagnostics));
            assert.ok(fail.diagnostics!.some((d) => /Missing|Nowhere/.test(d.message!)), `a diagnostic names the missing state: ${JSON.stringify(fail.diagnostics)}`);
            await refusedWith(createMachine("cp-broken", broken), "InvalidDefinition");

            await sfn.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn }));
            await refusedWith(sfn.send(new Sfn.DescribeStateMachineCommand({ stateMachineArn })), "StateMachineDoesNotExist");
            await refusedWith(sfn.send(new Sfn.DescribeStateMachineCommand({ stateMachineArn: `${stateMachineArn}:1` })), "StateMachineDoesNotExist");
            await refusedWith(sfn.send(new Sfn.StartExecutionCommand({ stateMachineArn })), "StateMachineDoesNotExist");
        });
    });

    describe("versions and aliases receiving executions", () => {
        it("runs a version's definition on its ARN, and routes an alias's executions to both of its versions", async () => {
            const created = await createMachine("cp-routed", labelled("blue"), { publish: true, versionDescription: "blue" });
            const stateMachineArn = created.stateMachineArn!;
            const blue = created.stateMachineVersionArn!;
            assert.equal(blue, `${stateMachineArn}:1`);
            const green = (await sfn.send(new Sfn.UpdateStateMachineCommand({ stateMachineArn, definition: labelled("green"), publish: true, versionDescription: "green" }))).stateMachineVersionArn!;
            assert.equal(green, `${stateMachineArn}:2`);
            await sfn.send(new Sfn.UpdateStateMachineCommand({ stateMachineArn, definition: labelled("unpublished") }));

            const onBlue = await run(blue);
            assert.deepEqual(onBlue.output, { ran: "blue" }, "the version's definition, not the machine's latest");
            assert.equal(onBlue.described.stateMachineVersionArn, blue);
            assert.deepEqual((await run(stateMachineArn)).output, { ran: "unpublished" });

            const aliasArn = (
                await sfn.send(
                    new Sfn.CreateStateMachineAliasCommand({
                        name: "live",
                        description: "half and half",
                        routingConfiguration: [
                            { stateMachineVersionArn: blue, weight: 50 },
                            { stateMachineVersionArn: green, weight: 50 },
                        ],
                    }),
                )
            ).stateMachineAliasArn!;
            assert.equal(aliasArn, `${stateMachineArn}:live`);
            const described = await sfn.send(new Sfn.DescribeStateMachineAliasCommand({ stateMachineAliasArn: aliasArn }));
            assert.deepEqual(
                { name: described.name, description: described.description, routing: described.routingConfiguration },
                { name: "live", description: "half and half", routing: [{ stateMachineVersionArn: blue, weight: 50 }, { stateMachineVersionArn: green, weight: 50 }] },
            );
            const listed = await sfn.send(new Sfn.ListStateMachineAliasesCommand({ stateMachineArn }));
            assert.deepEqual(listed.stateMachineAliases?.map((a) => a.stateMachineAliasArn), [aliasArn]);

            // 24 executions at 50/50: all on one version has odds of 2 in 16.7 million.
            const runs = await Promise.all(Array.from({ length: 24 }, () => run(aliasArn)));
            const ranOn = new Map<string, string>();
            for (const { output, described: execution } of runs) {
                assert.equal(execution.status, "SUCCEEDED");
                assert.equal(execution.stateMachineAliasArn, aliasArn);
                const label = (output as { ran: string }).ran;
                assert.equal(execution.stateMachineVersionArn, label === "blue" ? blue : green, "the version named is the one whose definition ran");
                ranOn.set(label, execution.stateMachineVersionArn!);
            }
            assert.deepEqual([...ranOn.keys()].sort(), ["blue", "green"], "both versions received executions");
            const throughAlias = await sfn.send(new Sfn.ListExecutionsCommand({ stateMachineArn: aliasArn, maxResults: 100 }));
            assert.equal(throughAlias.executions?.length, 24);

            await sfn.send(new Sfn.UpdateStateMachineAliasCommand({ stateMachineAliasArn: aliasArn, routingConfiguration: [{ stateMachineVersionArn: green, weight: 100 }] }));
            const afterUpdate = await sfn.send(new Sfn.DescribeStateMachineAliasCommand({ stateMachineAliasArn: aliasArn }));
            assert.deepEqual(afterUpdate.routingConfiguration, [{ stateMachineVersionArn: green, weight: 100 }]);
            assert.equal(afterUpdate.description, "half and half", "an update naming no description keeps it");
            const allGreen = await Promise.all(Array.from({ length: 6 }, () => run(aliasArn)));
            assert.deepEqual(allGreen.map((r) => (r.output as { ran: string }).ran), Array(6).fill("green"));
            await refusedWith(sfn.send(new Sfn.DeleteStateMachineVersionCommand({ stateMachineVersionArn: green })), "ConflictException");

            await sfn.send(new Sfn.DeleteStateMachineAliasCommand({ stateMachineAliasArn: aliasArn }));
            await refusedWith(sfn.send(new Sfn.DescribeStateMachineAliasCommand({ stateMachineAliasArn: aliasArn })), "ResourceNotFound");
            await refusedWith(sfn.send(new Sfn.StartExecutionCommand({ stateMachineArn: aliasArn })), "ResourceNotFound");
            assert.deepEqual((await sfn.send(new Sfn.ListStateMachineAliasesCommand({ stateMachineArn }))).stateMachineAliases, []);
            await sfn.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn }));
        });
    });

    describe("StartSyncExecution on an EXPRESS machine", () => {
        /*
         * The SDK sends StartSyncExecution (and TestState) to the `sync-` host prefix: with
         * `endpoint: "http://localhost:4566"` it connects to `sync-localhost:4566`, which does not resolve, and with
         * `http://127.0.0.1:4566` it fails on `sync-127.0.0.1`. A user of the offline runtime gives the SFN client
         * `disableHostPrefix: true` (or makes `sync-<host>` resolve to the endpoint, e.g. a hosts-file line). The
         * endpoint routes by the signature's scope and X-Amz-Target, so it serves the call under either host.
         */
        let stateMachineArn: string;
        before(async () => {
            stateMachineArn = (
                await createMachine(
                    "cp-express",
                    JSON.stringify({
                        StartAt: "Check",
                        States: {
                            Check: { Type: "Choice", Choices: [{ Variable: "$.fail", IsPresent: true, Next: "Refuse" }], Default: "Add" },
                            Add: { Type: "Pass", Parameters: { "sum.$": "States.MathAdd($.a, $.b)" }, End: true },
                            Refuse: { Type: "Fail", Error: "Refused", Cause: "asked to fail" },
                        },
                    }),
                    { type: "EXPRESS" },
                )
            ).stateMachineArn!;
        });

        it("answers the outcome with disableHostPrefix: true, success or failure", async () => {
            const client = new Sfn.SFNClient({ endpoint: runtime.url, region, credentials: LOCAL_CREDENTIALS, disableHostPrefix: true });
            try {
                const ok = await client.send(new Sfn.StartSyncExecutionCommand({ stateMachineArn, name: "sum", input: JSON.stringify({ a: 2, b: 3 }) }));
                assert.equal(ok.status, "SUCCEEDED");
                assert.deepEqual(JSON.parse(ok.output!), { sum: 5 });
                assert.match(ok.executionArn!, new RegExp(`^arn:aws:states:${region}:${account}:express:cp-express:sum:`));
                assert.ok(ok.startDate instanceof Date && ok.stopDate instanceof Date);
                const failed = await client.send(new Sfn.StartSyncExecutionCommand({ stateMachineArn, input: JSON.stringify({ fail: true }) }));
                assert.deepEqual([failed.status, failed.error, failed.cause, failed.output], ["FAILED", "Refused", "asked to fail", undefined]);
                const standard = await createMachine("cp-not-express", labelled("standard"));
                await refusedWith(client.send(new Sfn.StartSyncExecutionCommand({ stateMachineArn: standard.stateMachineArn })), "StateMachineTypeNotSupported");
                await client.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn: standard.stateMachineArn }));
            } finally {
                client.destroy();
            }
        });

        it("serves the call sent to the sync- host prefix, when that host reaches the endpoint", async () => {
            // Every name resolves to the loopback address here, so the SDK's `sync-localhost` reaches the endpoint.
            const lookup: LookupFunction = (_hostname, options, callback) => {
                if (options.all) (callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: "127.0.0.1", family: 4 }]);
                else callback(null, "127.0.0.1", 4);
            };
            const agent = new http.Agent({ lookup } as http.AgentOptions);
            const hosts: string[] = [];
            const client = new Sfn.SFNClient({
                endpoint: runtime.url.replace("127.0.0.1", "localhost"),
                region,
                credentials: LOCAL_CREDENTIALS,
                requestHandler: new NodeHttpHandler({ httpAgent: agent }),
            });
            client.middlewareStack.add(
                (next) => async (args) => {
                    const request = args.request as { hostname?: string };
                    if (request.hostname) hosts.push(request.hostname);
                    return next(args);
                },
                { step: "finalizeRequest", name: "recordHost" },
            );
            try {
                const ok = await client.send(new Sfn.StartSyncExecutionCommand({ stateMachineArn, input: JSON.stringify({ a: 40, b: 2 }) }));
                assert.deepEqual([ok.status, JSON.parse(ok.output!)], ["SUCCEEDED", { sum: 42 }]);
                assert.deepEqual(hosts, ["sync-localhost"], "the SDK sent it to the sync- host");
            } finally {
                client.destroy();
                agent.destroy();
            }
        });
    });

    describe("RedriveExecution", () => {
        it("resumes a failed execution at the failed state, which then succeeds; the state before it does not run again", async () => {
            const key = `order-${Date.now()}`;
            const stateMachineArn = (
                await createMachine(
                    "cp-redrive",
                    JSON.stringify({
                        StartAt: "Tally",
                        States: {
                            // Counts its own runs in the table: a second run would show as runs = 2.
                            Tally: {
                                Type: "Task",
                                Resource: "arn:aws:states:::dynamodb:updateItem",
                                Parameters: {
                                    TableName: outputs.tableName,
                                    Key: { id: { "S.$": "States.Format('tally#{}', $.key)" } },
                                    UpdateExpression: "ADD runs :one",
                                    ExpressionAttributeValues: { ":one": { N: "1" } },
                                },
                                ResultPath: null,
                                Next: "Gate",
                            },
                            // Fails with GateClosed until the table holds gate#<key>.
                            Gate: { Type: "Task", Resource: outputs.gateArn, Next: "Done" },
                            Done: { Type: "Pass", Parameters: { "gate.$": "$.gate", "redrives.$": "$$.Execution.RedriveCount" }, End: true },
                        },
                    }),
                )
            ).stateMachineArn!;
            const first = await run(stateMachineArn, { key });
            assert.equal(first.status, "FAILED");
            assert.equal(first.described.error, "GateClosed");
            assert.match(first.described.cause ?? "", new RegExp(`gate ${key} is closed`));
            assert.deepEqual(await item(`tally#${key}`), { id: `tally#${key}`, runs: "1" });
            assert.equal(first.described.redriveStatus, "REDRIVABLE");
            const failedHistoryLength = (await historyOf(runtime, first.executionArn)).length;

            await dynamodb.send(new PutItemCommand({ TableName: outputs.tableName, Item: { id: { S: `gate#${key}` } } }));
            const redriven = await sfn.send(new Sfn.RedriveExecutionCommand({ executionArn: first.executionArn }));
            assert.ok(redriven.redriveDate instanceof Date);
            const done = await finished(runtime, first.executionArn);
            assert.equal(done.status, "SUCCEEDED", done.cause);
            assert.deepEqual(JSON.parse(done.output!), { gate: "open", redrives: 1 });
            assert.equal(done.redriveCount, 1);
            assert.deepEqual(await item(`tally#${key}`), { id: `tally#${key}`, runs: "1" }, "Tally did not run again");

            const history = await historyOf(runtime, first.executionArn);
            const resumed = history.slice(failedHistoryLength);
            assert.equal(resumed[0].type, "ExecutionRedriven");
            const entered = (events: Sfn.HistoryEvent[]) => events.filter((e) => e.type?.endsWith("StateEntered")).map((e) => e.stateEnteredEventDetails?.name);
            assert.deepEqual(entered(resumed), ["Gate", "Done"], "resumed at the failed state");
            assert.deepEqual(entered(history), ["Tally", "Gate", "Gate", "Done"]);
            assert.equal(history.filter((e) => e.type === "ExecutionStarted").length, 1);
            assert.equal(history.at(-1)?.type, "ExecutionSucceeded");
            await refusedWith(sfn.send(new Sfn.RedriveExecutionCommand({ executionArn: first.executionArn })), "ExecutionNotRedrivable");
            await sfn.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn }));
        });
    });

    describe("aws.states status-change events on the default bus", () => {
        /** The event the program's executionStatus rule delivered to recordStatusChange, read from the table. */
        const statusEvent = (executionArn: string, status: string) =>
            until(`${status} of ${executionArn}`, async () => {
                const found = await item(`status#${executionArn}#${status}`);
                return found && (JSON.parse(found.event) as { source: string; "detail-type": string; account: string; region: string; resources: string[]; detail: Record<string, unknown> });
            });
        const DETAIL_KEYS = ["cause", "error", "executionArn", "input", "inputDetails", "name", "output", "outputDetails", "redriveCount", "redriveDate", "redriveStatus", "redriveStatusReason", "startDate", "stateMachineArn", "status", "stopDate"];

        it("reach the program's rule: RUNNING and SUCCEEDED, and FAILED for a failing execution, in AWS's detail shape", async () => {
            const succeeding = (await createMachine("cp-observed", labelled("observed"))).stateMachineArn!;
            const failing = (await createMachine("cp-failing", JSON.stringify({ StartAt: "Break", States: { Break: { Type: "Fail", Error: "Broken", Cause: "on purpose" } } }))).stateMachineArn!;
            const ok = await run(succeeding, { order: 7 });
            const bad = await run(failing);
            assert.deepEqual([ok.status, bad.status], ["SUCCEEDED", "FAILED"]);

            const running = await statusEvent(ok.executionArn, "RUNNING");
            assert.deepEqual(
                { source: running.source, detailType: running["detail-type"], account: running.account, region: running.region, resources: running.resources },
                { source: "aws.states", detailType: STATUS_CHANGE, account, region, resources: [ok.executionArn] },
            );
            assert.deepEqual(Object.keys(running.detail).sort(), DETAIL_KEYS);
            const startDate = ok.described.startDate!.getTime();
            assert.deepEqual(running.detail, {
                executionArn: ok.executionArn,
                stateMachineArn: succeeding,
                name: ok.executionArn.split(":").at(-1),
                status: "RUNNING",
                startDate,
                stopDate: null,
                input: JSON.stringify({ order: 7 }),
                inputDetails: { included: true },
                output: null,
                outputDetails: null,
                redriveCount: 0,
                redriveDate: null,
                redriveStatus: "NOT_REDRIVABLE",
                redriveStatusReason: running.detail.redriveStatusReason,
                error: null,
                cause: null,
            });
            assert.equal(typeof running.detail.redriveStatusReason, "string");

            const succeeded = await statusEvent(ok.executionArn, "SUCCEEDED");
            assert.deepEqual(Object.keys(succeeded.detail).sort(), DETAIL_KEYS);
            assert.deepEqual(
                [succeeded.detail.status, succeeded.detail.startDate, succeeded.detail.stopDate, succeeded.detail.output, succeeded.detail.outputDetails, succeeded.detail.error],
                ["SUCCEEDED", startDate, ok.described.stopDate!.getTime(), JSON.stringify({ ran: "observed" }), { included: true }, null],
            );

            await statusEvent(bad.executionArn, "RUNNING");
            const failed = await statusEvent(bad.executionArn, "FAILED");
            assert.deepEqual(
                [failed.detail.status, failed.detail.error, failed.detail.cause, failed.detail.output, failed.detail.redriveStatus, failed.detail.stateMachineArn],
                ["FAILED", "Broken", "on purpose", null, "REDRIVABLE", failing],
            );
            assert.equal(typeof failed.detail.stopDate, "number");
            assert.equal(await item(`status#${bad.executionArn}#SUCCEEDED`), undefined, "no SUCCEEDED for the failed one");
            await sfn.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn: succeeding }));
            await sfn.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn: failing }));
        });
    });

    describe("the program's scheduled rule", () => {
        it("fires on its rate(1 minute) in the running runtime, and its function records the Scheduled Event", async () => {
            const rule = await events.send(new EventBridge.DescribeRuleCommand({ Name: outputs.everyMinuteName }));
            assert.deepEqual([rule.ScheduleExpression, rule.State, rule.EventPattern, rule.Arn], ["rate(1 minute)", "ENABLED", undefined, outputs.everyMinuteArn]);
            const scheduler = runtime.services.events.service;
            // The runtime has no option to run its schedules on another clock, and a real minute is longer than this
            // suite may take: the served rule's schedule is asked what is due, as its timer asks when it fires.
            assert.deepEqual(scheduler.tickSchedules(Date.now()), [], "the first minute since the runtime started has not passed");
            const fired = scheduler.tickSchedules(Date.now() + 60_000);
            assert.equal(fired.length, 1);
            assert.deepEqual([fired[0].source, fired[0]["detail-type"], fired[0].resources], ["aws.events", "Scheduled Event", [outputs.everyMinuteArn]]);
            const recorded = await until("the tick's record", () => item(`tick#${fired[0].id}`));
            assert.deepEqual(recorded, { id: `tick#${fired[0].id}`, rule: outputs.everyMinuteArn, time: fired[0].time, detailType: "Scheduled Event" });

            // Disabled over the API, the rule does not fire; enabled again it does.
            await events.send(new EventBridge.DisableRuleCommand({ Name: outputs.everyMinuteName }));
            assert.deepEqual(scheduler.tickSchedules(Date.now() + 10 * 60_000), []);
            await events.send(new EventBridge.EnableRuleCommand({ Name: outputs.everyMinuteName }));
            const again = scheduler.tickSchedules(Date.now() + 2 * 60_000);
            assert.equal(again.length, 1);
            await until("the second tick's record", () => item(`tick#${again[0].id}`));
            const ticks = await dynamodb.send(new ScanCommand({ TableName: outputs.tableName, FilterExpression: "begins_with(id, :tick)", ExpressionAttributeValues: { ":tick": { S: "tick#" } } }));
            assert.equal(ticks.Count, 2, "one record per fire");
        });
    });

    describe("EventBridge rules, targets and buses over the API", () => {
        it("a rule put over the API delivers PutEvents' event to a machine; disable, enable, remove, delete", async () => {
            const target = (await createMachine("cp-order-target", JSON.stringify({ StartAt: "Take", States: { Take: { Type: "Pass", Parameters: { "orderId.$": "$.detail.orderId", "source.$": "$.source" }, End: true } } })))
                .stateMachineArn!;
            const bus = await events.send(new EventBridge.CreateEventBusCommand({ Name: "cp-orders" }));
            assert.equal(bus.EventBusArn, `arn:aws:events:${region}:${account}:event-bus/cp-orders`);
            const pattern = JSON.stringify({ source: ["cp.shop"], "detail-type": ["orderPlaced"] });
            const put = await events.send(new EventBridge.PutRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders", EventPattern: pattern, Description: "orders to the machine" }));
            assert.equal(put.RuleArn, `arn:aws:events:${region}:${account}:rule/cp-orders/cp-order-placed`);
            await refusedWith(
                events.send(new EventBridge.PutTargetsCommand({ Rule: "cp-order-placed", EventBusName: "cp-orders", Targets: [{ Id: "machine", Arn: target }] })),
                "ValidationException",
                new RegExp(`^RoleArn is required for target ${target}\\.$`),
            );
            const targets = await events.send(
                new EventBridge.PutTargetsCommand({ Rule: "cp-order-placed", EventBusName: "cp-orders", Targets: [{ Id: "machine", Arn: target, RoleArn: outputs.ruleTargetRoleArn }] }),
            );
            assert.deepEqual([targets.FailedEntryCount, targets.FailedEntries], [0, []]);
            const described = await events.send(new EventBridge.DescribeRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" }));
            assert.deepEqual(
                { name: described.Name, arn: described.Arn, bus: described.EventBusName, state: described.State, pattern: described.EventPattern, description: described.Description },
                { name: "cp-order-placed", arn: put.RuleArn, bus: "cp-orders", state: "ENABLED", pattern, description: "orders to the machine" },
            );
            const listed = await events.send(new EventBridge.ListTargetsByRuleCommand({ Rule: "cp-order-placed", EventBusName: "cp-orders" }));
            assert.deepEqual(listed.Targets?.map((t) => [t.Id, t.Arn, t.RoleArn]), [["machine", target, outputs.ruleTargetRoleArn]]);

            const place = async (orderId: string) => {
                const answer = await events.send(new EventBridge.PutEventsCommand({ Entries: [{ EventBusName: "cp-orders", Source: "cp.shop", DetailType: "orderPlaced", Detail: JSON.stringify({ orderId }) }] }));
                assert.equal(answer.FailedEntryCount, 0, JSON.stringify(answer.Entries));
                await runtime.idle();
            };
            const outputsOfTarget = async () => {
                const { executions } = await sfn.send(new Sfn.ListExecutionsCommand({ stateMachineArn: target }));
                return Promise.all((executions ?? []).map(async (e) => JSON.parse((await finished(runtime, e.executionArn!)).output ?? "null") as { orderId: string }));
            };

            await place("o-1");
            assert.deepEqual(await outputsOfTarget(), [{ orderId: "o-1", source: "cp.shop" }]);

            await events.send(new EventBridge.DisableRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" }));
            assert.equal((await events.send(new EventBridge.DescribeRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" }))).State, "DISABLED");
            await place("o-2");
            assert.deepEqual(await outputsOfTarget(), [{ orderId: "o-1", source: "cp.shop" }], "a disabled rule delivers nothing");

            await events.send(new EventBridge.EnableRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" }));
            await place("o-3");
            assert.deepEqual((await outputsOfTarget()).map((o) => o.orderId).sort(), ["o-1", "o-3"]);

            await refusedWith(events.send(new EventBridge.DeleteRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" })), "ValidationException", /has targets/);
            const removed = await events.send(new EventBridge.RemoveTargetsCommand({ Rule: "cp-order-placed", EventBusName: "cp-orders", Ids: ["machine"] }));
            assert.equal(removed.FailedEntryCount, 0);
            await place("o-4");
            assert.equal((await outputsOfTarget()).length, 2, "a rule without targets delivers nothing");
            await events.send(new EventBridge.DeleteRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" }));
            await refusedWith(events.send(new EventBridge.DescribeRuleCommand({ Name: "cp-order-placed", EventBusName: "cp-orders" })), "ResourceNotFoundException");

            await events.send(new EventBridge.DeleteEventBusCommand({ Name: "cp-orders" }));
            await refusedWith(events.send(new EventBridge.DescribeEventBusCommand({ Name: "cp-orders" })), "ResourceNotFoundException");
            const afterDelete = await events.send(new EventBridge.PutEventsCommand({ Entries: [{ EventBusName: "cp-orders", Source: "cp.shop", DetailType: "orderPlaced", Detail: "{}" }] }));
            assert.equal(afterDelete.FailedEntryCount, 1, "a deleted bus takes no events");
            await sfn.send(new Sfn.DeleteStateMachineCommand({ stateMachineArn: target }));
        });
    });
});
