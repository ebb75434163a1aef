/** The read-side APIs users debug with, over HTTP with the AWS SDK: what the runtime says it serves. */
import { strict as assert } from "assert";
import { ListEventBusesCommand, ListRulesCommand, ListTargetsByRuleCommand, TestEventPatternCommand } from "@aws-sdk/client-eventbridge";
import { DescribeExecutionCommand, ListStateMachinesCommand, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { buildClosureArchive } from "../components/closureArchive";
import { readObjectFactory } from "./fixtures/roleProbe";
import { cookieReport, one } from "../local/testing/stack";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";

const event = (source: string, detailType: string, detail: object = {}) =>
    JSON.stringify({ id: "1", account: "000000000000", source, time: "2026-01-01T00:00:00Z", region: "us-east-1", resources: [], "detail-type": detailType, detail });

describe("apis: EventBridge and Step Functions listings over HTTP", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    before(async () => {
        runtime = await startTestRuntime();
    });
    after(async () => runtime?.close());

    it("TestEventPattern answers with AWS's matching, and InvalidEventPatternException for a bad pattern", async () => {
        const { events } = runtime.clients;
        const rule = JSON.stringify({ source: ["project"], "detail-type": ["start"], detail: { count: [{ numeric: [">", 10] }] } });
        assert.equal((await events.send(new TestEventPatternCommand({ EventPattern: rule, Event: event("project", "start", { count: 11 }) }))).Result, true);
        assert.equal((await events.send(new TestEventPatternCommand({ EventPattern: rule, Event: event("project", "start", { count: 10 }) }))).Result, false);
        assert.equal((await events.send(new TestEventPatternCommand({ EventPattern: rule, Event: event("intruder", "start", { count: 11 }) }))).Result, false);
        await assert.rejects(
            events.send(new TestEventPatternCommand({ EventPattern: JSON.stringify({ source: "project" }), Event: event("project", "start") })),
            (error: Error) => error.name === "InvalidEventPatternException" && /source/.test(error.message),
        );
    });

    it("ListRules and ListTargetsByRule show what the stack declared on the default bus", async () => {
        const { Rules = [] } = await runtime.clients.events.send(new ListRulesCommand({ EventBusName: "default" }));
        assert.deepEqual(
            Rules.map((r) => r.Name),
            ["chargeback-workflowFailed", "chargeback-workflowJob", ...["getMultiple", "postProcessAll", "postProcessSingle", "processSingle", "sideEffect", "workflow-start"].map(cookieReport), "finisher-handlerFailed", "finisher-taskFailed", "finisher-taskFinished", "observability-executionStatus", "observability-handlerFailures", "observability-stackEvents"],
        );
        assert.deepEqual(JSON.parse(Rules.find((r) => r.Name === cookieReport("workflow-start"))!.EventPattern!), { source: ["project"], "detail-type": ["start"] });
        const { Targets = [] } = await runtime.clients.events.send(new ListTargetsByRuleCommand({ Rule: cookieReport("workflow-start"), EventBusName: "default" }));
        assert.deepEqual(Targets.map((t) => t.Arn), [runtime.stack.outputs.workflowArn]);
        const { EventBuses = [] } = await runtime.clients.events.send(new ListEventBusesCommand({}));
        assert.deepEqual(EventBuses.map((b) => b.Name), ["default"]);
    });

    it("ListStateMachines shows the workflow and the finisher with their types", async () => {
        const { stateMachines = [] } = await runtime.clients.sfn.send(new ListStateMachinesCommand({}));
        const byName = Object.fromEntries(stateMachines.map((m) => [m.name, m]));
        const workflow = byName[cookieReport("workflow")];
        assert.equal(workflow.type, "STANDARD");
        assert.equal(workflow.stateMachineArn, runtime.stack.outputs.workflowArn);
        assert.equal(byName.finisher.type, "EXPRESS");
    });

    it("refuses an integration call the machine's role does not allow, as IAM would", async () => {
        const workflowRole = String(one(runtime.stack, "aws:iam/role:Role", cookieReport("workflow")).state.arn);
        const arn = "arn:aws:states:us-east-1:000000000000:stateMachine:emits-elsewhere";
        const definition = (bus: string) => ({
            StartAt: "Emit",
            States: { Emit: { Type: "Task", Resource: "arn:aws:states:::events:putEvents", Parameters: { Entries: [{ EventBusName: bus, Source: "project", DetailType: "x", Detail: {} }] }, End: true } },
        });
        const run = async (bus: string) => {
            runtime.services.states.service.addStateMachine({ arn, name: "emits-elsewhere", type: "STANDARD", roleArn: workflowRole, definition: JSON.stringify(definition(bus)) });
            const { executionArn } = await runtime.clients.sfn.send(new StartExecutionCommand({ stateMachineArn: arn, input: "{}" }));
            await runtime.services.states.service.waitForExecution(executionArn!, 10_000);
            return runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
        };
        assert.equal((await run("default")).status, "SUCCEEDED", "the workflow's role may put events on its own bus");
        const denied = await run("some-other-bus");
        assert.equal(denied.status, "FAILED");
        assert.equal(denied.error, "EventBridge.AccessDeniedException");
        assert.match(denied.cause!, /not authorized to perform: events:PutEvents on resource: arn:aws:events:us-east-1:000000000000:event-bus\/some-other-bus/);
    });

    it("checks each handler's own AWS calls against its role: postProcessSingle may not read objects, processSingle may", async () => {
        const bucket = String(runtime.stack.outputs.bucketName);
        await runtime.clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "probe/secret.json", Body: "{}" }));
        const { files } = await buildClosureArchive(readObjectFactory, { bundleAwsSdk: false, cacheDir: false });
        const probeAs = async (handler: string) => {
            const spec = runtime.services.lambda.functions.get(handler)!;
            await runtime.services.lambda.service.addFunction({ ...spec, name: `probe-${handler}`, arn: `${spec.arn}-probe`, files });
            return runtime.services.lambda.service.invoke(`probe-${handler}`, { bucket, key: "probe/secret.json" });
        };
        const denied = await probeAs(cookieReport("postProcessSingle"));
        assert.equal(denied.functionError?.errorType, "AccessDenied");
        assert.match(denied.functionError!.errorMessage, /not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::cookiereport-results\/probe\/secret.json"/);
        const allowed = await probeAs(cookieReport("processSingle"));
        assert.equal(allowed.functionError, undefined, JSON.stringify(allowed.functionError));
        assert.equal(allowed.payload, "{}");
    });
});
