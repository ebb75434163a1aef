/**
 * EventBridge's control plane on the service itself: PutRule, DescribeRule, DeleteRule, EnableRule/DisableRule,
 * PutTargets, RemoveTargets, CreateEventBus, DeleteEventBus, DescribeEventBus, with AWS's answers and errors, the
 * rules they make matching and delivering events, and AWS service events (`aws.*`) that only the runtime can put.
 */
import { strict as assert } from "assert";
import * as eventBridgeSdk from "@aws-sdk/client-eventbridge";
import { AwsError } from "../local/core/awsError";
import { operationsOf } from "../local/core/operations";
import { BusEvent, EventBridgeService, TargetSpec } from "../local/services/events/eventBridge";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";

const ACCOUNT = "000000000000";
const REGION = "us-east-1";
const lambdaArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

function service(checkTarget?: (target: TargetSpec) => string | undefined) {
    const delivered: Array<{ target: string; rule: string; input: string }> = [];
    const events = new EventBridgeService({
        region: REGION,
        accountId: ACCOUNT,
        checkTarget,
        dispatcher: {
            deliver: async (target, rule, input) => {
                delivered.push({ target: target.id, rule: rule.name, input });
            },
        },
    });
    return { events, delivered };
}

/** Asserts `run` throws AWS's error `code`, its message matching `message`. */
function awsError(run: () => unknown, code: string, message: RegExp | string): void {
    assert.throws(run, (error: unknown) => {
        assert.ok(error instanceof AwsError, `not an AwsError: ${String(error)}`);
        assert.equal(error.code, code, error.message);
        if (typeof message === "string") assert.equal(error.message, message);
        else assert.match(error.message, message);
        return true;
    });
}

const put = (events: EventBridgeService, source = "orders", busName?: string, detail: object = { id: 1 }) =>
    events.putEvents({ Entries: [{ Source: source, DetailType: "Order Placed", Detail: JSON.stringify(detail), ...(busName ? { EventBusName: busName } : {}) }] });

describe("EventBridge control plane", () => {
    it("serves each operation under its AWS name (the endpoint finds methods by name)", () => {
        const { events } = service();
        const served = Object.keys(operationsOf(eventBridgeSdk, events));
        for (const operation of ["PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule", "PutTargets", "RemoveTargets", "CreateEventBus", "DeleteEventBus", "DescribeEventBus"]) {
            assert.ok(served.includes(operation), `${operation} is served`);
        }
    });

    describe("PutRule and DescribeRule", () => {
        it("creates a rule and answers its ARN; DescribeRule and ListRules answer what was put", () => {
            const { events } = service();
            const pattern = JSON.stringify({ source: ["orders"] });
            assert.deepEqual(events.putRule({ Name: "orders", EventPattern: pattern, Description: "all orders" }), { RuleArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/orders` });
            assert.deepEqual(events.describeRule({ Name: "orders" }), {
                Name: "orders",
                Arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/orders`,
                EventPattern: pattern,
                State: "ENABLED",
                Description: "all orders",
                EventBusName: "default",
                CreatedBy: ACCOUNT,
            });
            assert.deepEqual(
                events.listRules({}).Rules.map((r) => r.Name),
                ["orders"],
            );
        });

        it("a rule on a custom bus has the bus in its ARN, and is found by the bus's name or ARN", () => {
            const { events } = service();
            const bus = events.createEventBus({ Name: "shop" });
            const { RuleArn } = events.putRule({ Name: "paid", EventBusName: "shop", EventPattern: JSON.stringify({ "detail-type": ["Paid"] }) });
            assert.equal(RuleArn, `arn:aws:events:${REGION}:${ACCOUNT}:rule/shop/paid`);
            assert.equal(events.describeRule({ Name: "paid", EventBusName: bus.EventBusArn }).EventBusName, "shop");
            awsError(() => events.describeRule({ Name: "paid" }), "ResourceNotFoundException", "Rule paid does not exist on EventBus default.");
        });

        it("replaces an existing rule with what the call names, keeping its targets", async () => {
            const { events, delivered } = service();
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["a"] }), Description: "first", State: "DISABLED" });
            events.putTargets({ Rule: "r", Targets: [{ Id: "t", Arn: lambdaArn("t") }] });
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["b"] }) });
            const described = events.describeRule({ Name: "r" });
            assert.equal(described.Description, undefined, "an omitted Description is not kept");
            assert.equal(described.State, "ENABLED", "an omitted State is ENABLED");
            assert.equal(events.listTargetsByRule({ Rule: "r" }).Targets.length, 1);
            put(events, "a");
            put(events, "b");
            await events.idle();
            assert.deepEqual(
                delivered.map((d) => (JSON.parse(d.input) as BusEvent).source),
                ["b"],
            );
        });

        it("refuses what AWS refuses, and a refused update leaves the old rule", () => {
            const { events } = service();
            events.putRule({ Name: "kept", EventPattern: JSON.stringify({ source: ["a"] }) });
            awsError(() => events.putRule({ Name: "x" }), "ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.");
            awsError(() => events.putRule({ Name: "kept", EventPattern: "{not json" }), "InvalidEventPatternException", /Event pattern is not valid/);
            awsError(() => events.putRule({ Name: "kept", EventPattern: JSON.stringify({ source: "a" }) }), "InvalidEventPatternException", /Event pattern is not valid/);
            assert.equal(events.describeRule({ Name: "kept" }).EventPattern, JSON.stringify({ source: ["a"] }));
            awsError(() => events.putRule({ Name: "x", EventBusName: "nowhere", EventPattern: "{}" }), "ResourceNotFoundException", "Event bus nowhere does not exist.");
            awsError(() => events.putRule({ Name: "bad name!", EventPattern: "{}" }), "ValidationException", /at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern/);
            awsError(() => events.putRule({ Name: "x".repeat(65), EventPattern: "{}" }), "ValidationException", /Member must have length less than or equal to 64/);
            awsError(() => events.putRule({ EventPattern: "{}" }), "ValidationException", /Value null at 'name'/);
            awsError(() => events.putRule({ Name: "x", EventPattern: "{}", State: "ON" }), "ValidationException", /at 'state' failed to satisfy constraint: Member must satisfy enum value set/);
            awsError(() => events.putRule({ Name: "x", EventPattern: 5 }), "SerializationException", /EventPattern/);
            awsError(() => events.putRule({ Name: "x", ScheduleExpression: "rate(1 minutes)" }), "ValidationException", /Parameter ScheduleExpression is not valid/);
            events.createEventBus({ Name: "custom" });
            awsError(() => events.putRule({ Name: "x", EventBusName: "custom", ScheduleExpression: "rate(1 minute)" }), "ValidationException", "ScheduleExpression is supported only on the default event bus.");
            assert.deepEqual(
                events.listRules({}).Rules.map((r) => r.Name),
                ["kept"],
                "no refused call made a rule",
            );
        });

        it("a rule may have both a pattern and a schedule", () => {
            const { events } = service();
            events.putRule({ Name: "both", EventPattern: JSON.stringify({ source: ["a"] }), ScheduleExpression: "cron(0 12 * * ? *)" });
            const rule = events.describeRule({ Name: "both" });
            assert.equal(rule.ScheduleExpression, "cron(0 12 * * ? *)");
            assert.equal(rule.EventPattern, JSON.stringify({ source: ["a"] }));
            events.close();
        });
    });

    describe("EnableRule, DisableRule, DeleteRule", () => {
        it("a disabled rule delivers nothing; enabled again it delivers", async () => {
            const { events, delivered } = service();
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["orders"] }) });
            events.putTargets({ Rule: "r", Targets: [{ Id: "t", Arn: lambdaArn("t") }] });
            events.disableRule({ Name: "r" });
            assert.equal(events.describeRule({ Name: "r" }).State, "DISABLED");
            put(events);
            await events.idle();
            assert.equal(delivered.length, 0);
            events.enableRule({ Name: "r" });
            put(events);
            await events.idle();
            assert.equal(delivered.length, 1);
            awsError(() => events.enableRule({ Name: "missing" }), "ResourceNotFoundException", "Rule missing does not exist on EventBus default.");
            awsError(() => events.disableRule({ Name: "r", EventBusName: "nowhere" }), "ResourceNotFoundException", "Event bus nowhere does not exist.");
        });

        it("DeleteRule refuses while targets remain; after RemoveTargets the rule is gone and delivers nothing", async () => {
            const { events, delivered } = service();
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["orders"] }) });
            events.putTargets({ Rule: "r", Targets: [{ Id: "t", Arn: lambdaArn("t") }] });
            awsError(() => events.deleteRule({ Name: "r" }), "ValidationException", "Rule can't be deleted since it has targets.");
            assert.deepEqual(events.removeTargets({ Rule: "r", Ids: ["t", "never-put"] }), { FailedEntryCount: 0, FailedEntries: [] });
            assert.deepEqual(events.deleteRule({ Name: "r" }), {});
            awsError(() => events.describeRule({ Name: "r" }), "ResourceNotFoundException", "Rule r does not exist on EventBus default.");
            assert.deepEqual(events.deleteRule({ Name: "r" }), {}, "deleting a deleted rule succeeds, as on AWS");
            put(events);
            await events.idle();
            assert.equal(delivered.length, 0);
        });
    });

    describe("PutTargets and RemoveTargets", () => {
        it("delivers the event, Input, InputPath or InputTransformer as each target asks; the same Id replaces", async () => {
            const { events, delivered } = service();
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["orders"] }) });
            const answer = events.putTargets({
                Rule: "r",
                Targets: [
                    { Id: "whole", Arn: lambdaArn("whole") },
                    { Id: "constant", Arn: lambdaArn("constant"), Input: '{"fixed":true}' },
                    { Id: "path", Arn: lambdaArn("path"), InputPath: "$.detail" },
                    { Id: "shaped", Arn: lambdaArn("shaped"), RoleArn: `arn:aws:iam::${ACCOUNT}:role/r`, InputTransformer: { InputPathsMap: { order: "$.detail.id" }, InputTemplate: '{"order": <order>}' } },
                ],
            });
            assert.deepEqual(answer, { FailedEntryCount: 0, FailedEntries: [] });
            events.putTargets({ Rule: "r", Targets: [{ Id: "constant", Arn: lambdaArn("constant"), Input: '{"fixed":"again"}' }] });
            put(events, "orders", undefined, { id: 7 });
            await events.idle();
            const byTarget = Object.fromEntries(delivered.map((d) => [d.target, JSON.parse(d.input) as unknown]));
            assert.equal((byTarget.whole as BusEvent).source, "orders");
            assert.deepEqual(byTarget.constant, { fixed: "again" });
            assert.deepEqual(byTarget.path, { id: 7 });
            assert.deepEqual(byTarget.shaped, { order: 7 });
            const listed = events.listTargetsByRule({ Rule: "r" }).Targets;
            assert.equal(listed.length, 4);
            assert.deepEqual(
                listed.find((t) => t.Id === "shaped")?.InputTransformer,
                { InputPathsMap: { order: "$.detail.id" }, InputTemplate: '{"order": <order>}' },
            );
        });

        it("fails, alone, an entry with a member the runtime does not serve or a target it cannot reach", () => {
            const { events } = service((target) => (target.arn.startsWith("arn:aws:sns:") ? `SNS topics are not served by the local runtime: ${target.arn}` : undefined));
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["orders"] }) });
            const answer = events.putTargets({
                Rule: "r",
                Targets: [
                    { Id: "ok", Arn: lambdaArn("ok") },
                    { Id: "fifo", Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:q.fifo`, SqsParameters: { MessageGroupId: "g" } },
                    { Id: "topic", Arn: `arn:aws:sns:${REGION}:${ACCOUNT}:topic` },
                    { Id: "wild", Arn: lambdaArn("wild"), InputPath: "$.detail[*]" },
                ],
            });
            assert.equal(answer.FailedEntryCount, 3);
            assert.deepEqual(
                answer.FailedEntries?.map((f) => [f.TargetId, f.ErrorCode]),
                [
                    ["fifo", "ValidationException"],
                    ["topic", "ValidationException"],
                    ["wild", "ValidationException"],
                ],
            );
            assert.match(answer.FailedEntries?.[0].ErrorMessage ?? "", /SqsParameters is not supported by the local runtime/);
            assert.match(answer.FailedEntries?.[1].ErrorMessage ?? "", /SNS topics are not served/);
            assert.deepEqual(
                events.listTargetsByRule({ Rule: "r" }).Targets.map((t) => t.Id),
                ["ok"],
            );
        });

        it("refuses the whole call as AWS does: a missing rule, bad members, more than one input, over five targets", () => {
            const { events } = service();
            events.putRule({ Name: "r", EventPattern: JSON.stringify({ source: ["orders"] }) });
            awsError(() => events.putTargets({ Rule: "nope", Targets: [{ Id: "t", Arn: lambdaArn("t") }] }), "ResourceNotFoundException", "Rule nope does not exist on EventBus default.");
            awsError(() => events.putTargets({ Rule: "r" }), "ValidationException", /Value null at 'targets'/);
            awsError(() => events.putTargets({ Rule: "r", Targets: [] }), "ValidationException", /at 'targets' failed to satisfy constraint: Member must have length greater than or equal to 1/);
            awsError(() => events.putTargets({ Rule: "r", Targets: [{ Arn: lambdaArn("t") }] }), "ValidationException", /Value null at 'targets.1.member.id'/);
            awsError(() => events.putTargets({ Rule: "r", Targets: [{ Id: "bad id", Arn: lambdaArn("t") }] }), "ValidationException", /at 'targets.1.member.id' failed to satisfy constraint/);
            awsError(() => events.putTargets({ Rule: "r", Targets: [{ Id: "t", Arn: lambdaArn("t"), Input: "{}", InputPath: "$" }] }), "ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided.");
            awsError(() => events.putTargets({ Rule: "r", Targets: [{ Id: "t", Arn: lambdaArn("t"), Input: "{nope" }] }), "ValidationException", /Input is not valid/);
            const six = Array.from({ length: 6 }, (_, i) => ({ Id: `t${i}`, Arn: lambdaArn(`t${i}`) }));
            awsError(() => events.putTargets({ Rule: "r", Targets: six }), "LimitExceededException", "The requested resource exceeds the maximum number allowed.");
            assert.equal(events.listTargetsByRule({ Rule: "r" }).Targets.length, 0, "no refused call put a target");
            awsError(() => events.removeTargets({ Rule: "r" }), "ValidationException", /Value null at 'ids'/);
            awsError(() => events.removeTargets({ Rule: "nope", Ids: ["t"] }), "ResourceNotFoundException", "Rule nope does not exist on EventBus default.");
        });
    });

    describe("CreateEventBus, DescribeEventBus, DeleteEventBus", () => {
        it("creates a bus that takes events; refuses a second bus of the name, and the default", async () => {
            const { events, delivered } = service();
            assert.deepEqual(events.createEventBus({ Name: "shop", Description: "the shop's" }), { EventBusArn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/shop`, Description: "the shop's" });
            awsError(() => events.createEventBus({ Name: "shop" }), "ResourceAlreadyExistsException", "Event bus shop already exists.");
            awsError(() => events.createEventBus({ Name: "default" }), "ResourceAlreadyExistsException", "Event bus default already exists.");
            awsError(() => events.createEventBus({ Name: "aws.partner/x/y", EventSourceName: "aws.partner/x/y" }), "ValidationException", /partner event buses are not supported/);
            awsError(() => events.createEventBus({ Name: "bad name" }), "ValidationException", /at 'name' failed to satisfy constraint/);
            const described = events.describeEventBus({ Name: "shop" });
            assert.equal(described.Arn, `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/shop`);
            assert.equal(described.Description, "the shop's");
            assert.equal(typeof described.CreationTime, "number", "epoch seconds, as the JSON protocol carries timestamps");
            assert.ok(Math.abs((described.CreationTime ?? 0) - Date.now() / 1000) < 60);
            assert.equal(events.describeEventBus({}).Name, "default");
            events.putRule({ Name: "r", EventBusName: "shop", EventPattern: JSON.stringify({ source: ["orders"] }) });
            events.putTargets({ Rule: "r", EventBusName: "shop", Targets: [{ Id: "t", Arn: lambdaArn("t") }] });
            assert.equal(put(events, "orders", "shop").FailedEntryCount, 0);
            await events.idle();
            assert.equal(delivered.length, 1);
        });

        it("the default bus cannot be deleted; a custom bus goes with its rules; events to it then fail", async () => {
            const { events, delivered } = service();
            awsError(() => events.deleteEventBus({ Name: "default" }), "ValidationException", "Cannot delete event bus default.");
            events.createEventBus({ Name: "shop" });
            events.putRule({ Name: "r", EventBusName: "shop", EventPattern: JSON.stringify({ source: ["orders"] }) });
            events.putTargets({ Rule: "r", EventBusName: "shop", Targets: [{ Id: "t", Arn: lambdaArn("t") }] });
            assert.deepEqual(events.deleteEventBus({ Name: "shop" }), {});
            assert.deepEqual(events.deleteEventBus({ Name: "shop" }), {}, "a deleted bus is deleted again without error");
            assert.deepEqual(
                events.listEventBuses({}).EventBuses.map((b) => b.Name),
                ["default"],
            );
            awsError(() => events.describeEventBus({ Name: "shop" }), "ResourceNotFoundException", "Event bus shop does not exist.");
            const answer = put(events, "orders", "shop");
            assert.equal(answer.Entries[0].ErrorCode, "ResourceNotFoundException");
            // A bus of the same name made again starts without the old rules.
            events.createEventBus({ Name: "shop" });
            assert.deepEqual(events.listRules({ EventBusName: "shop" }).Rules, []);
            put(events, "orders", "shop");
            await events.idle();
            assert.equal(delivered.length, 0);
        });
    });

    describe("AWS service events", () => {
        it("PutEvents refuses aws.* sources to callers, entry by entry", () => {
            const { events } = service();
            const answer = events.putEvents({
                Entries: [
                    { Source: "aws.states", DetailType: "Step Functions Execution Status Change", Detail: "{}" },
                    { Source: "orders", DetailType: "Order Placed", Detail: "{}" },
                ],
            });
            assert.equal(answer.FailedEntryCount, 1);
            assert.equal(answer.Entries[0].ErrorCode, "NotAuthorizedForSourceException");
            assert.ok(answer.Entries[1].EventId);
        });

        it("putServiceEvent puts an aws.* event on the default bus, matched by rules there", async () => {
            const { events, delivered } = service();
            events.putRule({ Name: "failures", EventPattern: JSON.stringify({ source: ["aws.states"], detail: { status: ["FAILED"] } }) });
            events.putTargets({ Rule: "failures", Targets: [{ Id: "t", Arn: lambdaArn("t") }] });
            const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:m:e`;
            const sent = events.putServiceEvent({
                Source: "aws.states",
                DetailType: "Step Functions Execution Status Change",
                Detail: { executionArn, status: "FAILED" },
                Resources: [executionArn],
                Time: new Date("2026-03-01T10:00:00.500Z"),
            });
            events.putServiceEvent({ Source: "aws.states", DetailType: "Step Functions Execution Status Change", Detail: JSON.stringify({ executionArn, status: "RUNNING" }) });
            await events.idle();
            assert.equal(delivered.length, 1);
            const event = JSON.parse(delivered[0].input) as BusEvent;
            assert.deepEqual(event, sent);
            assert.equal(event.time, "2026-03-01T10:00:00Z");
            assert.deepEqual(event.resources, [executionArn]);
            assert.equal(event.account, ACCOUNT);
            assert.throws(() => events.putServiceEvent({ Source: "orders", DetailType: "x", Detail: {} }), /not an AWS service's source/);
        });
    });

    describe("through the endpoint, with the AWS SDK", function () {
        this.timeout(60_000);
        let runtime: TestRuntime;
        before(async () => {
            runtime = await startTestRuntime();
        });
        after(async () => runtime?.close());

        it("creates a bus, a rule and a target; describes them; deletes them in AWS's order", async () => {
            const client = runtime.clients.events;
            const bus = await client.send(new eventBridgeSdk.CreateEventBusCommand({ Name: "cp-bus", Description: "control plane" }));
            assert.match(bus.EventBusArn ?? "", /:event-bus\/cp-bus$/);
            const described = await client.send(new eventBridgeSdk.DescribeEventBusCommand({ Name: "cp-bus" }));
            assert.ok(described.CreationTime instanceof Date, "the SDK reads the timestamp");
            assert.ok(Math.abs((described.CreationTime?.getTime() ?? 0) - Date.now()) < 60_000);
            const { RuleArn } = await client.send(new eventBridgeSdk.PutRuleCommand({ Name: "cp-rule", EventBusName: "cp-bus", EventPattern: JSON.stringify({ source: ["cp"] }) }));
            assert.match(RuleArn ?? "", /:rule\/cp-bus\/cp-rule$/);
            const targets = await client.send(
                new eventBridgeSdk.PutTargetsCommand({ Rule: "cp-rule", EventBusName: "cp-bus", Targets: [{ Id: "t", Arn: "arn:aws:lambda:us-east-1:000000000000:function:none" }] }),
            );
            assert.equal(targets.FailedEntryCount, 0);
            await client.send(new eventBridgeSdk.DisableRuleCommand({ Name: "cp-rule", EventBusName: "cp-bus" }));
            assert.equal((await client.send(new eventBridgeSdk.DescribeRuleCommand({ Name: "cp-rule", EventBusName: "cp-bus" }))).State, "DISABLED");
            await assert.rejects(client.send(new eventBridgeSdk.DeleteRuleCommand({ Name: "cp-rule", EventBusName: "cp-bus" })), (error: Error) => {
                assert.equal(error.name, "ValidationException");
                assert.equal(error.message, "Rule can't be deleted since it has targets.");
                return true;
            });
            await client.send(new eventBridgeSdk.RemoveTargetsCommand({ Rule: "cp-rule", EventBusName: "cp-bus", Ids: ["t"] }));
            await client.send(new eventBridgeSdk.DeleteRuleCommand({ Name: "cp-rule", EventBusName: "cp-bus" }));
            await assert.rejects(client.send(new eventBridgeSdk.DescribeRuleCommand({ Name: "cp-rule", EventBusName: "cp-bus" })), { name: "ResourceNotFoundException" });
            await assert.rejects(client.send(new eventBridgeSdk.DeleteEventBusCommand({ Name: "default" })), { name: "ValidationException" });
            await client.send(new eventBridgeSdk.DeleteEventBusCommand({ Name: "cp-bus" }));
            await assert.rejects(client.send(new eventBridgeSdk.CreateEventBusCommand({ Name: "default" })), { name: "ResourceAlreadyExistsException" });
        });
    });
});
