/**
 * Step Functions Task integrations contributed by the services through the registry, through a running runtime on
 * its own program (`test/fixtures/integrations`): `aws-sdk:dynamodb:*` and its error names, the optimised
 * `dynamodb:updateItem`, `states:startExecution` in its request-response, `.sync` and `.sync:2` patterns, IAM refusals
 * as the task's failure, and resources the runtime does not serve refused when the machine is created.
 */
import * as assert from "assert";
import * as path from "path";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateStateMachineCommand, DescribeExecutionCommand, ListExecutionsCommand, SFNClient, SFNServiceException, StartExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { LOCAL_CREDENTIALS, Runtime, startRuntime } from "../local/core/runtime";
import { Clients, clientsFor, historyOf } from "../local/testing/runtime";

const PROGRAM = path.join(__dirname, "fixtures", "integrations");

describe("Step Functions integrations from the registry, through the runtime", function () {
    this.timeout(120_000);
    let runtime: Runtime;
    let clients: Clients;
    let sfn: SFNClient;
    let dynamodb: DynamoDBClient;
    const output = (name: string) => String(runtime.stack.outputs[name]);

    before(async () => {
        runtime = await startRuntime({ program: PROGRAM, port: 0 });
        const config = { endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS };
        clients = clientsFor(runtime);
        sfn = clients.sfn;
        dynamodb = new DynamoDBClient(config);
    });
    after(async () => {
        await runtime?.close();
    });

    /** Starts an execution over the API and waits until it is no longer RUNNING. */
    async function run(stateMachineArn: string, input: unknown, name?: string) {
        const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), name }));
        const done = await runtime.services.states.service.waitForExecution(executionArn!, 30_000);
        return sfn.send(new DescribeExecutionCommand({ executionArn: done.executionArn }));
    }

    it("puts with a condition (the second put caught as DynamoDb.ConditionalCheckFailedException), updates and queries DynamoDB", async () => {
        const done = await run(output("itemsArn"), { id: "order-1" });
        assert.equal(done.status, "SUCCEEDED", `${done.error}: ${done.cause}`);
        const result = JSON.parse(done.output ?? "{}");
        assert.equal(result.conflict.Error, "DynamoDb.ConditionalCheckFailedException");
        assert.match(result.conflict.Cause, /conditional request failed/i);
        assert.equal(result.updated.count, "2");
        assert.equal(result.listed.count, 1);
        assert.deepEqual(result.listed.items, [{ pk: { S: "order-1" }, sk: { S: "item" }, count: { N: "2" } }]);
        const stored = await dynamodb.send(new GetItemCommand({ TableName: output("tableName"), Key: { pk: { S: "order-1" }, sk: { S: "item" } } }));
        assert.equal(stored.Item?.count?.N, "2");

        // History names the resources as AWS does: `aws-sdk:dynamodb` / `putItem`, `dynamodb` / `updateItem`.
        const scheduled = (await historyOf({ stack: runtime.stack, clients }, done.executionArn!)).filter((e) => e.type === "TaskScheduled");
        assert.deepEqual(
            scheduled.map((e) => `${e.taskScheduledEventDetails?.resourceType}/${e.taskScheduledEventDetails?.resource}`),
            ["aws-sdk:dynamodb/putItem", "aws-sdk:dynamodb/putItem", "dynamodb/updateItem", "aws-sdk:dynamodb/query"],
        );
    });

    it("fails a task whose role lacks the permission with the integration's AccessDeniedException, naming action and resource", async () => {
        const done = await run(output("readOnlyArn"), {});
        assert.equal(done.status, "FAILED");
        assert.equal(done.error, "DynamoDb.AccessDeniedException");
        assert.match(done.cause ?? "", /dynamodb:PutItem/);
        assert.ok((done.cause ?? "").includes(`table/${output("tableName")}`), done.cause);
    });

    it("runs a child with .sync:2 (Output as JSON) and .sync (Output as text), starts one without waiting, and catches a failed child as States.TaskFailed", async () => {
        const done = await run(output("parentArn"), { n: 21 }, "parent-run");
        assert.equal(done.status, "SUCCEEDED", `${done.error}: ${done.cause}`);
        const result = JSON.parse(done.output ?? "{}");

        assert.equal(result.json.Status, "SUCCEEDED");
        assert.deepEqual(result.json.Output, { doubled: 42, parent: done.executionArn });
        assert.deepEqual(result.json.Input, { n: 21, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: done.executionArn });
        assert.equal(result.json.StateMachineArn, output("childArn"));
        assert.equal(typeof result.json.StartDate, "number");
        assert.ok(result.json.StopDate >= result.json.StartDate);

        assert.equal(typeof result.text.Output, "string");
        assert.deepEqual(JSON.parse(result.text.Output), { doubled: 10, parent: "none" });
        assert.equal(result.text.Name, "parent-run-text");
        assert.equal(result.text.ExecutionArn, output("childArn").replace(":stateMachine:", ":execution:") + ":parent-run-text");

        // Fire and forget: the child's ARN and start, nothing of its outcome.
        assert.deepEqual(Object.keys(result.started).sort(), ["ExecutionArn", "StartDate"]);
        const started = await runtime.services.states.service.waitForExecution(result.started.ExecutionArn, 30_000);
        assert.equal(started.status, "SUCCEEDED");
        assert.equal(started.output, JSON.stringify({ doubled: 2, parent: "none" }));

        assert.equal(result.failure.Error, "States.TaskFailed");
        const childFailure = JSON.parse(result.failure.Cause);
        assert.equal(childFailure.Status, "FAILED");
        assert.equal(childFailure.Error, "Child.Refused");
        assert.equal(childFailure.Cause, "asked to fail");
        assert.equal(result.unexpected, undefined);

        const children = await sfn.send(new ListExecutionsCommand({ stateMachineArn: output("childArn") }));
        assert.equal(children.executions?.filter((e) => e.startDate! >= done.startDate!).length, 4);
    });

    it("stops a .sync child when its parent is stopped", async () => {
        const { stateMachineArn } = await sfn.send(
            new CreateStateMachineCommand({
                name: "impatient",
                roleArn: output("parentRoleArn"),
                definition: JSON.stringify({
                    StartAt: "Run",
                    States: { Run: { Type: "Task", Resource: "arn:aws:states:::states:startExecution.sync:2", Parameters: { StateMachineArn: output("childArn"), Name: "lingering", Input: { n: 1, waitSeconds: 60 } }, End: true } },
                }),
            }),
        );
        const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: "{}" }));
        const childArn = output("childArn").replace(":stateMachine:", ":execution:") + ":lingering";
        const deadline = Date.now() + 10_000;
        while ((await sfn.send(new ListExecutionsCommand({ stateMachineArn: output("childArn") }))).executions?.every((e) => e.executionArn !== childArn)) {
            assert.ok(Date.now() < deadline, "the child never started");
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await sfn.send(new StopExecutionCommand({ executionArn }));
        const child = await runtime.services.states.service.waitForExecution(childArn, 10_000);
        assert.equal(child.status, "ABORTED");
    });

    it("fails a .sync task when the role may start the child but not watch it; request-response needs only StartExecution", async () => {
        const create = (name: string, resource: string) =>
            sfn.send(
                new CreateStateMachineCommand({
                    name,
                    roleArn: output("starterRoleArn"),
                    definition: JSON.stringify({ StartAt: "Run", States: { Run: { Type: "Task", Resource: resource, Parameters: { StateMachineArn: output("childArn"), Input: { n: 1 } }, End: true } } }),
                }),
            );
        const unwatched = await create("unwatched", "arn:aws:states:::states:startExecution.sync");
        const done = await run(unwatched.stateMachineArn!, {});
        assert.equal(done.status, "FAILED");
        assert.equal(done.error, "StepFunctions.AccessDeniedException");
        assert.match(done.cause ?? "", /states:DescribeExecution/);
        const started = await create("started", "arn:aws:states:::states:startExecution");
        assert.equal((await run(started.stateMachineArn!, {})).status, "SUCCEEDED");
    });

    it("fails a task whose role may not start the child with StepFunctions.AccessDeniedException", async () => {
        const { stateMachineArn } = await sfn.send(
            new CreateStateMachineCommand({
                name: "unallowed",
                roleArn: output("childRoleArn"),
                definition: JSON.stringify({
                    StartAt: "Run",
                    States: { Run: { Type: "Task", Resource: "arn:aws:states:::states:startExecution.sync", Parameters: { StateMachineArn: output("childArn"), Input: { n: 1 } }, End: true } },
                }),
            }),
        );
        const done = await run(stateMachineArn!, {});
        assert.equal(done.status, "FAILED");
        assert.equal(done.error, "StepFunctions.AccessDeniedException");
        assert.match(done.cause ?? "", /states:StartExecution/);
    });

    it("refuses, at creation, a machine whose Task calls SQS (not served), naming the state and the resource", async () => {
        const definition = JSON.stringify({ StartAt: "Send", States: { Send: { Type: "Task", Resource: "arn:aws:states:::sqs:sendMessage", Parameters: { QueueUrl: "q", MessageBody: "m" }, End: true } } });
        const refused = await sfn.send(new CreateStateMachineCommand({ name: "sends", roleArn: output("childRoleArn"), definition })).then(
            () => undefined,
            (err: unknown) => err,
        );
        assert.ok(refused instanceof SFNServiceException, `created: ${String(refused)}`);
        assert.equal(refused.name, "InvalidDefinition");
        assert.match(refused.message, /'Send'.*arn:aws:states:::sqs:sendMessage/);
    });

    it("refuses, at creation, a pattern the integration lacks and a waiting pattern in an EXPRESS machine", async () => {
        const create = (name: string, type: "STANDARD" | "EXPRESS", resource: string) =>
            sfn
                .send(
                    new CreateStateMachineCommand({
                        name,
                        type,
                        roleArn: output("childRoleArn"),
                        definition: JSON.stringify({ StartAt: "Call", States: { Call: { Type: "Task", Resource: resource, Parameters: { TableName: "t" }, End: true } } }),
                    }),
                )
                .then(
                    () => undefined,
                    (err: unknown) => err as Error,
                );
        const unpatterned = await create("unpatterned", "STANDARD", "arn:aws:states:::aws-sdk:dynamodb:query.sync");
        assert.equal(unpatterned?.name, "InvalidDefinition");
        assert.match(unpatterned?.message ?? "", /'Call'.*aws-sdk:dynamodb:query\.sync/);
        const express = await create("expressWait", "EXPRESS", "arn:aws:states:::states:startExecution.sync");
        assert.equal(express?.name, "InvalidDefinition");
        assert.match(express?.message ?? "", /Express.*\.sync/);
        const unserved = await create("transaction", "STANDARD", "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems");
        assert.equal(unserved?.name, "InvalidDefinition");
        assert.match(unserved?.message ?? "", /transactWriteItems/);
    });

    it("does not start a program declaring such a machine, naming the state and the resource", async () => {
        await assert.rejects(startRuntime({ program: PROGRAM, port: 0, config: { "integrations:withSqs": "true" } }), /'Send'.*arn:aws:states:::sqs:sendMessage/);
    });
});
