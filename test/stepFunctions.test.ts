import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AwsError } from "../local/core/awsError";
import { redactTaskToken } from "../protocol/redact";
import { StepFunctionsService, type ExecutionProgress, type HistoryEvent, type PutEventsEntry, type TaskIntegrations } from "../local/services/stepfunctions/stepFunctions";

const REGION = "us-east-1";
const ACCOUNT = "123456789012";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/sfn`;

/** Test doubles for the integrations (not for the library): each test decides how "EventBridge" answers. */
class FakeIntegrations implements TaskIntegrations {
    readonly sent: PutEventsEntry[] = [];
    onPutEvents: (entries: PutEventsEntry[]) => void = () => undefined;
    failEntries = false;
    functions: Record<string, (payload: unknown) => Promise<unknown>> = {};
    dynamoCalls: Array<{ action: string; params: Record<string, unknown> }> = [];

    async putEvents(entries: PutEventsEntry[]) {
        this.sent.push(...entries);
        if (this.failEntries) return { FailedEntryCount: 1, Entries: entries.map(() => ({ ErrorCode: "InternalFailure", ErrorMessage: "bus exploded" })) };
        this.onPutEvents(entries);
        return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `event-${this.sent.length}-${i}` })) };
    }

    async invokeFunction(functionName: string, payload: unknown) {
        const fn = this.functions[functionName];
        if (!fn) throw new AwsError("ResourceNotFoundException", `Function not found: ${functionName}`, 404);
        return fn(payload);
    }

    async dynamodb(action: string, params: Record<string, unknown>) {
        this.dynamoCalls.push({ action, params });
        if (params.TableName === "missing") throw new AwsError("ResourceNotFoundException", "Requested resource not found");
        return action === "GetItem" ? { Item: { pk: { S: "1" } } } : {};
    }
}

function detailOf(entry: PutEventsEntry): Record<string, unknown> {
    return JSON.parse(entry.Detail ?? "{}") as Record<string, unknown>;
}

function tokenOf(entry: PutEventsEntry): string {
    const token = detailOf(entry).taskToken;
    assert.equal(typeof token, "string");
    return token as string;
}

async function expectAwsError(promise: Promise<unknown>, code: string): Promise<AwsError> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof AwsError, `expected AwsError ${code}, got ${String(err)}`);
        assert.equal(err.code, code, err.message);
        return err;
    }
    assert.fail(`expected AwsError ${code}`);
}

function types(events: HistoryEvent[]): string[] {
    return events.map((event) => event.type);
}

function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const poll = () => {
            if (condition()) resolve();
            else if (Date.now() - started > timeoutMs) reject(new Error("condition not met in time"));
            else setTimeout(poll, 5);
        };
        poll();
    });
}

/** A Task state that publishes one event carrying the task token, then waits for it. */
function callbackTask(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        Type: "Task",
        Resource: "arn:aws:states:::events:putEvents.waitForTaskToken",
        Parameters: {
            Entries: [
                {
                    Source: "test.orders",
                    DetailType: "ApprovalRequested",
                    EventBusName: "orders",
                    Detail: { "orderId.$": "$.orderId", "taskToken.$": "$$.Task.Token", "executionId.$": "$$.Execution.Id" },
                },
            ],
        },
        ...extra,
    };
}

describe("StepFunctionsService", function () {
    this.timeout(10_000);
    let integrations: FakeIntegrations;
    let service: StepFunctionsService;
    const services: StepFunctionsService[] = [];

    function newService(dataDir?: string): StepFunctionsService {
        const created = new StepFunctionsService({ integrations, region: REGION, accountId: ACCOUNT, dataDir });
        services.push(created);
        return created;
    }

    function addMachine(name: string, definition: object, type: "STANDARD" | "EXPRESS" = "STANDARD", target = service): string {
        const arn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
        target.addStateMachine({ arn, name, type, definition: JSON.stringify(definition), roleArn: ROLE });
        return arn;
    }

    async function runToEnd(stateMachineArn: string, input: unknown, name?: string) {
        const { executionArn } = await service.startExecution({ stateMachineArn, input: JSON.stringify(input), name });
        return service.waitForExecution(executionArn, 5000);
    }

    async function historyOf(executionArn: string): Promise<HistoryEvent[]> {
        return (await service.getExecutionHistory({ executionArn, maxResults: 1000 })).events;
    }

    beforeEach(() => {
        integrations = new FakeIntegrations();
        service = newService();
    });

    afterEach(async () => {
        await Promise.all(services.splice(0).map((created) => created.close()));
    });

    describe("waitForTaskToken", () => {
        it("publishes the token with the event and continues with SendTaskSuccess's output", async () => {
            const arn = addMachine("Approval", { StartAt: "Ask", States: { Ask: callbackTask({ ResultPath: "$.answer", End: true }) } });
            integrations.onPutEvents = (entries) => {
                const token = tokenOf(entries[0]);
                setImmediate(() => void service.sendTaskSuccess({ taskToken: token, output: JSON.stringify({ approved: true }) }));
            };
            const { executionArn } = await service.startExecution({ stateMachineArn: arn, input: JSON.stringify({ orderId: "o-1" }) });
            const done = await service.waitForExecution(executionArn, 3000);

            assert.equal(done.status, "SUCCEEDED");
            assert.deepEqual(JSON.parse(done.output ?? "null"), { orderId: "o-1", answer: { approved: true } });
            const [entry] = integrations.sent;
            assert.equal(entry.Source, "test.orders");
            assert.equal(entry.EventBusName, "orders");
            assert.deepEqual(entry.Resources, [executionArn, arn], "AWS appends the execution and state machine ARNs");
            const detail = detailOf(entry);
            assert.equal(detail.orderId, "o-1");
            assert.equal(detail.executionId, executionArn);
            assert.match(tokenOf(entry), /^[A-Za-z0-9_-]{64}$/);

            const events = await historyOf(executionArn);
            assert.deepEqual(types(events), [
                "ExecutionStarted",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSubmitted",
                "TaskSucceeded",
                "TaskStateExited",
                "ExecutionSucceeded",
            ]);
            events.forEach((event, i) => {
                assert.equal(event.id, i + 1);
                assert.equal(event.previousEventId, i);
                assert.equal(typeof event.timestamp, "number");
            });
            const scheduled = events[2].taskScheduledEventDetails;
            assert.equal(scheduled?.resourceType, "events");
            assert.equal(scheduled?.resource, "putEvents.waitForTaskToken");
            assert.equal(scheduled?.region, REGION);
            assert.ok(!String(scheduled?.parameters).includes(tokenOf(entry)), "the recorded parameters do not carry the token");
            assert.ok(String(scheduled?.parameters).includes(redactTaskToken(tokenOf(entry))), "they carry its fingerprint instead");
            assert.deepEqual(JSON.parse(String(events[5].taskSucceededEventDetails?.output)), { approved: true });
            assert.equal(events[0].executionStartedEventDetails?.roleArn, ROLE);
        });

        it("runs callback tasks inside a Map with MaxConcurrency, including answers that arrive before putEvents returns", async () => {
            const arn = addMachine("Fanout", {
                StartAt: "Each",
                States: {
                    Each: {
                        Type: "Map",
                        ItemsPath: "$.items",
                        MaxConcurrency: 2,
                        ItemSelector: { "orderId.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index" },
                        ItemProcessor: {
                            StartAt: "Ask",
                            States: {
                                Ask: callbackTask({
                                    Parameters: {
                                        Entries: [
                                            {
                                                Source: "test.orders",
                                                DetailType: "ItemApproval",
                                                Detail: { "orderId.$": "$.orderId", "taskToken.$": "$$.Task.Token", "batch.$": "$$.Execution.Input.batch" },
                                            },
                                        ],
                                    },
                                    ResultSelector: { "orderId.$": "$.orderId", "ok.$": "$.ok" },
                                    End: true,
                                }),
                            },
                        },
                        End: true,
                    },
                },
            });
            let outstanding = 0;
            let maxOutstanding = 0;
            integrations.onPutEvents = (entries) => {
                const detail = detailOf(entries[0]);
                const answer = () => {
                    outstanding--;
                    void service.sendTaskSuccess({ taskToken: tokenOf(entries[0]), output: JSON.stringify({ orderId: detail.orderId, ok: true, batch: detail.batch }) });
                };
                outstanding++;
                maxOutstanding = Math.max(maxOutstanding, outstanding);
                // Even items answer synchronously, before putEvents has even returned to the state machine.
                if (detail.orderId === "a" || detail.orderId === "c" || detail.orderId === "e") answer();
                else setTimeout(answer, 20);
            };
            const progress: ExecutionProgress[] = [];
            service.onProgress((p) => progress.push(p));

            const done = await runToEnd(arn, { batch: "B-7", items: ["a", "b", "c", "d", "e"] });

            assert.equal(done.status, "SUCCEEDED", done.cause);
            assert.deepEqual(JSON.parse(done.output ?? "null"), ["a", "b", "c", "d", "e"].map((orderId) => ({ orderId, ok: true })));
            assert.ok(maxOutstanding <= 2, `at most 2 items in flight, saw ${maxOutstanding}`);
            assert.deepEqual(
                integrations.sent.map((entry) => detailOf(entry).batch),
                ["B-7", "B-7", "B-7", "B-7", "B-7"],
                "$$.Execution.Input inside an iteration is the execution's input, not the item",
            );

            const events = await historyOf(done.executionArn);
            const names = types(events);
            assert.equal(events.find((e) => e.type === "MapStateStarted")?.mapStateStartedEventDetails?.length, 5);
            assert.equal(names.filter((t) => t === "MapIterationStarted").length, 5);
            assert.equal(names.filter((t) => t === "MapIterationSucceeded").length, 5);
            assert.equal(names.filter((t) => t === "TaskSucceeded").length, 5);
            const exited = names.indexOf("MapStateExited");
            assert.ok(names.lastIndexOf("MapIterationSucceeded") < exited, "iterations finish before the Map exits");
            assert.equal(names[exited - 1], "MapStateSucceeded");
            const iterations = progress.filter((p) => p.type === "MapIterationSucceeded" && p.executionArn === done.executionArn);
            assert.deepEqual(iterations.map((p) => p.mapIndex).sort(), [0, 1, 2, 3, 4]);
            assert.ok(iterations.every((p) => p.stateName === "Each"));
        });

        it("fails the execution with SendTaskFailure's error and cause", async () => {
            const arn = addMachine("Rejecting", { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            integrations.onPutEvents = (entries) => setImmediate(() => void service.sendTaskFailure({ taskToken: tokenOf(entries[0]), error: "Order.Rejected", cause: "credit check failed" }));

            const done = await runToEnd(arn, { orderId: "o-2" });

            assert.equal(done.status, "FAILED");
            assert.equal(done.error, "Order.Rejected");
            assert.equal(done.cause, "credit check failed");
            const events = await historyOf(done.executionArn);
            const failed = events.find((e) => e.type === "TaskFailed");
            assert.deepEqual(failed?.taskFailedEventDetails, { resourceType: "events", resource: "putEvents.waitForTaskToken", error: "Order.Rejected", cause: "credit check failed" });
            assert.deepEqual(events[events.length - 1].executionFailedEventDetails, { error: "Order.Rejected", cause: "credit check failed" });
        });

        it("times out after TimeoutSeconds with States.Timeout; the token then answers TaskTimedOut", async () => {
            const arn = addMachine("Slow", { StartAt: "Ask", States: { Ask: callbackTask({ TimeoutSeconds: 1, End: true }) } });
            const started = Date.now();
            const done = await runToEnd(arn, { orderId: "o-3" });

            assert.ok(Date.now() - started >= 950);
            assert.equal(done.status, "FAILED");
            assert.equal(done.error, "States.Timeout");
            const events = await historyOf(done.executionArn);
            assert.ok(types(events).includes("TaskTimedOut"));
            assert.equal(events.find((e) => e.type === "TaskScheduled")?.taskScheduledEventDetails?.timeoutInSeconds, 1);
            await expectAwsError(service.sendTaskSuccess({ taskToken: tokenOf(integrations.sent[0]), output: "{}" }), "TaskTimedOut");
        });

        it("does not let States.TaskFailed catch a timeout, as in AWS", async () => {
            const arn = addMachine("SlowCaught", {
                StartAt: "Ask",
                States: {
                    Ask: callbackTask({
                        TimeoutSeconds: 1,
                        Catch: [
                            { ErrorEquals: ["States.TaskFailed"], ResultPath: "$.caught", Next: "Wrong" },
                            { ErrorEquals: ["States.Timeout"], ResultPath: "$.caught", Next: "Right" },
                        ],
                        End: true,
                    }),
                    Wrong: { Type: "Fail", Error: "WrongCatcher" },
                    Right: { Type: "Succeed" },
                },
            });
            const done = await runToEnd(arn, { orderId: "o-4" });
            assert.equal(done.status, "SUCCEEDED", `${done.error}: ${done.cause}`);
            assert.equal(JSON.parse(done.output ?? "{}").caught.Error, "States.Timeout");
        });

        it("fails with States.HeartbeatTimeout when heartbeats stop", async () => {
            const arn = addMachine("Quiet", { StartAt: "Ask", States: { Ask: callbackTask({ HeartbeatSeconds: 1, TimeoutSeconds: 5, End: true }) } });
            const done = await runToEnd(arn, { orderId: "o-5" });

            assert.equal(done.status, "FAILED");
            assert.equal(done.error, "States.HeartbeatTimeout");
            const events = await historyOf(done.executionArn);
            assert.equal(events.find((e) => e.type === "TaskScheduled")?.taskScheduledEventDetails?.heartbeatInSeconds, 1);
            assert.equal(events.find((e) => e.type === "TaskTimedOut")?.taskTimedOutEventDetails?.error, "States.HeartbeatTimeout");
            await expectAwsError(service.sendTaskHeartbeat({ taskToken: tokenOf(integrations.sent[0]) }), "TaskTimedOut");
        });

        it("keeps a task alive past HeartbeatSeconds while heartbeats arrive", async () => {
            const arn = addMachine("Chatty", { StartAt: "Ask", States: { Ask: callbackTask({ HeartbeatSeconds: 1, TimeoutSeconds: 5, End: true }) } });
            const { executionArn } = await service.startExecution({ stateMachineArn: arn, input: JSON.stringify({ orderId: "o-6" }) });
            await until(() => integrations.sent.length === 1);
            const token = tokenOf(integrations.sent[0]);
            for (let i = 0; i < 4; i++) {
                await new Promise((resolve) => setTimeout(resolve, 400));
                assert.deepEqual(await service.sendTaskHeartbeat({ taskToken: token }), {});
            }
            await service.sendTaskSuccess({ taskToken: token, output: '"done"' });
            const done = await service.waitForExecution(executionArn, 2000);
            assert.equal(done.status, "SUCCEEDED");
            assert.equal(done.output, '"done"');
        });

        it("treats tokens as single-use and rejects unknown or malformed ones", async () => {
            const arn = addMachine("Once", { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            const { executionArn } = await service.startExecution({ stateMachineArn: arn, input: JSON.stringify({ orderId: "o-7" }) });
            await until(() => integrations.sent.length === 1);
            const token = tokenOf(integrations.sent[0]);

            await expectAwsError(service.sendTaskSuccess({ taskToken: token, output: "{not json" }), "InvalidOutput");
            await expectAwsError(service.sendTaskSuccess({ taskToken: token, output: JSON.stringify("x".repeat(262_145)) }), "ValidationException");
            await service.sendTaskSuccess({ taskToken: token, output: '{"first":true}' });
            await expectAwsError(service.sendTaskSuccess({ taskToken: token, output: '{"second":true}' }), "TaskDoesNotExist");
            await expectAwsError(service.sendTaskFailure({ taskToken: token, error: "Late" }), "TaskDoesNotExist");
            const done = await service.waitForExecution(executionArn, 2000);
            assert.equal(done.output, '{"first":true}');

            await expectAwsError(service.sendTaskSuccess({ taskToken: randomBytes(48).toString("base64url"), output: "{}" }), "TaskDoesNotExist");
            await expectAwsError(service.sendTaskSuccess({ taskToken: "not a token!", output: "{}" }), "InvalidToken");
            await expectAwsError(service.sendTaskHeartbeat({ taskToken: "" }), "ValidationException");
        });

        it("fails the state with EventBridge.FailedEntry when PutEvents reports a failed entry", async () => {
            const arn = addMachine("BusDown", { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            integrations.failEntries = true;
            const done = await runToEnd(arn, { orderId: "o-8" });
            assert.equal(done.status, "FAILED");
            assert.equal(done.error, "EventBridge.FailedEntry");
            assert.match(done.cause ?? "", /InternalFailure \(bus exploded\)/);
        });
    });

    describe("aws-sdk:sfn integration", () => {
        it("lets an EXPRESS finisher complete a waiting execution and Catch Sfn.TaskDoesNotExistException", async () => {
            const finisher = addMachine(
                "Finisher",
                {
                    StartAt: "Complete",
                    States: {
                        Complete: {
                            Type: "Task",
                            Resource: "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess",
                            Parameters: { "TaskToken.$": "$.token", "Output.$": "States.JsonToString($.result)" },
                            Catch: [{ ErrorEquals: ["Sfn.TaskDoesNotExistException"], ResultPath: "$.error", Next: "AlreadyDone" }],
                            ResultPath: null,
                            End: true,
                        },
                        AlreadyDone: { Type: "Pass", Parameters: { "alreadyDone": true, "error.$": "$.error.Error" }, End: true },
                    },
                },
                "EXPRESS",
            );
            const waiting = addMachine("Waiting", { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            const result = { text: 'say "hi"\\ \n then leave', n: 1 };
            const finisherRuns: string[] = [];
            integrations.onPutEvents = (entries) => {
                const input = JSON.stringify({ token: tokenOf(entries[0]), result });
                setImmediate(async () => {
                    for (let i = 0; i < 2; i++) {
                        const { executionArn } = await service.startExecution({ stateMachineArn: finisher, input });
                        finisherRuns.push(executionArn);
                        await service.waitForExecution(executionArn, 2000);
                    }
                });
            };

            const done = await runToEnd(waiting, { orderId: "o-9" });
            assert.equal(done.status, "SUCCEEDED");
            assert.deepEqual(JSON.parse(done.output ?? "null"), result, "States.JsonToString keeps quotes, backslashes and newlines");

            await until(() => finisherRuns.length === 2);
            const first = await service.waitForExecution(finisherRuns[0], 2000);
            const second = await service.waitForExecution(finisherRuns[1], 2000);
            assert.match(first.executionArn, /:express:Finisher:/);
            assert.equal(first.status, "SUCCEEDED");
            assert.equal(second.status, "SUCCEEDED");
            assert.deepEqual(JSON.parse(second.output ?? "null"), { alreadyDone: true, error: "Sfn.TaskDoesNotExistException" });
            const events = await historyOf(second.executionArn);
            const failed = events.find((e) => e.type === "TaskFailed")?.taskFailedEventDetails;
            assert.equal(failed?.resourceType, "aws-sdk:sfn");
            assert.equal(failed?.resource, "sendTaskSuccess");
        });
    });

    describe("other integrations", () => {
        it("wraps lambda:invoke results like AWS, passes bare Lambda ARNs through, and names function errors by errorType", async () => {
            integrations.functions = {
                double: async (payload) => ({ value: (payload as { n: number }).n * 2 }),
                [`arn:aws:lambda:${REGION}:${ACCOUNT}:function:plusOne`]: async (payload) => ({ value: (payload as { value: number }).value + 1 }),
                broken: async () => {
                    const error = new Error("no stock");
                    error.name = "OutOfStock";
                    throw error;
                },
            };
            const arn = addMachine("Lambdas", {
                StartAt: "Double",
                States: {
                    Double: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", Parameters: { FunctionName: "double", "Payload.$": "$" }, ResultSelector: { "value.$": "$.Payload.value", "status.$": "$.StatusCode" }, Next: "PlusOne" },
                    PlusOne: { Type: "Task", Resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:plusOne`, ResultPath: "$.plusOne", Next: "Broken" },
                    Broken: {
                        Type: "Task",
                        Resource: "arn:aws:states:::lambda:invoke",
                        Parameters: { FunctionName: "broken", Payload: {} },
                        Catch: [{ ErrorEquals: ["OutOfStock"], ResultPath: "$.failure", Next: "Done" }],
                        End: true,
                    },
                    Done: { Type: "Succeed" },
                },
            });
            const done = await runToEnd(arn, { n: 21 });
            assert.equal(done.status, "SUCCEEDED", done.cause);
            const output = JSON.parse(done.output ?? "{}");
            assert.equal(output.value, 42);
            assert.equal(output.status, 200);
            assert.deepEqual(output.plusOne, { value: 43 });
            assert.equal(output.failure.Error, "OutOfStock");
            assert.equal(JSON.parse(output.failure.Cause).errorMessage, "no stock");
            const names = types(await historyOf(done.executionArn));
            assert.ok(names.includes("LambdaFunctionScheduled") && names.includes("LambdaFunctionSucceeded"));
        });

        it("calls DynamoDB with the API action name and surfaces its errors as DynamoDB.<Code>", async () => {
            const arn = addMachine("Dynamo", {
                StartAt: "Put",
                States: {
                    Put: { Type: "Task", Resource: "arn:aws:states:::dynamodb:putItem", Parameters: { TableName: "orders", Item: { pk: { "S.$": "$.id" } } }, ResultPath: null, Next: "Get" },
                    Get: { Type: "Task", Resource: "arn:aws:states:::dynamodb:getItem", Parameters: { TableName: "missing", Key: { pk: { S: "1" } } }, End: true },
                },
            });
            const done = await runToEnd(arn, { id: "1" });
            assert.deepEqual(integrations.dynamoCalls[0], { action: "PutItem", params: { TableName: "orders", Item: { pk: { S: "1" } } } });
            assert.equal(integrations.dynamoCalls[1].action, "GetItem");
            assert.equal(done.status, "FAILED");
            assert.equal(done.error, "DynamoDB.ResourceNotFoundException");
        });

        it("refuses a machine whose Task resource is not served, naming the state and the resource", () => {
            const definition = { StartAt: "Send", States: { Send: { Type: "Task", Resource: "arn:aws:states:::sqs:sendMessage", Parameters: { QueueUrl: "q", MessageBody: "m" }, End: true } } };
            assert.throws(() => addMachine("Unsupported", definition), /'Send'.*arn:aws:states:::sqs:sendMessage/);
            assert.throws(
                () => addMachine("Unpatterned", { StartAt: "Put", States: { Put: { Type: "Task", Resource: "arn:aws:states:::dynamodb:putItem.sync", Parameters: {}, End: true } } }),
                /'Put'.*dynamodb:putItem\.sync.*request-response only/,
            );
        });
    });

    describe("executions", () => {
        it("fills the context object", async () => {
            const arn = addMachine("Context", {
                StartAt: "Look",
                States: {
                    Look: {
                        Type: "Pass",
                        Parameters: {
                            "id.$": "$$.Execution.Id",
                            "name.$": "$$.Execution.Name",
                            "start.$": "$$.Execution.StartTime",
                            "input.$": "$$.Execution.Input",
                            "machine.$": "$$.StateMachine.Id",
                            "machineName.$": "$$.StateMachine.Name",
                            "greeting.$": "States.Format('order {} by {}', $.id, $$.Execution.Name)",
                        },
                        End: true,
                    },
                },
            });
            const done = await runToEnd(arn, { id: 5 }, "run-1");
            const output = JSON.parse(done.output ?? "{}");
            assert.equal(output.id, done.executionArn);
            assert.equal(output.name, "run-1");
            assert.equal(new Date(output.start).getTime(), done.startDate * 1000);
            assert.deepEqual(output.input, { id: 5 });
            assert.equal(output.machine, arn);
            assert.equal(output.machineName, "Context");
            assert.equal(output.greeting, "order 5 by run-1");
        });

        it("validates StartExecution like AWS", async () => {
            const arn = addMachine("Simple", { StartAt: "Done", States: { Done: { Type: "Pass", End: true } } });
            await expectAwsError(service.startExecution({ stateMachineArn: arn, name: "has space" }), "InvalidName");
            await expectAwsError(service.startExecution({ stateMachineArn: arn, input: "{oops" }), "InvalidExecutionInput");
            // Nesting the interpreter would overflow its stack on is refused by name, not run into a RangeError.
            const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
            await expectAwsError(service.startExecution({ stateMachineArn: arn, input: deep }), "InvalidExecutionInput");
            assert.equal((await runToEnd(arn, JSON.parse(`${"[".repeat(900)}${"]".repeat(900)}`), "deep-but-allowed")).status, "SUCCEEDED");
            await expectAwsError(service.startExecution({ stateMachineArn: `${arn}Nope` }), "StateMachineDoesNotExist");
            await expectAwsError(service.startExecution({ stateMachineArn: "arn:aws:sqs:us-east-1:1:queue" }), "InvalidArn");
            await expectAwsError(service.describeExecution({ executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:Simple:none` }), "ExecutionDoesNotExist");
            const done = await runToEnd(arn, { a: 1 }, "unique");
            assert.equal(done.status, "SUCCEEDED");
            await expectAwsError(service.startExecution({ stateMachineArn: arn, name: "unique", input: '{"a":1}' }), "ExecutionAlreadyExists");
        });

        it("returns the running execution when StartExecution repeats its name and input", async () => {
            const arn = addMachine("Idempotent", { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            const first = await service.startExecution({ stateMachineArn: arn, name: "same", input: '{"orderId":"x"}' });
            const again = await service.startExecution({ stateMachineArn: arn, name: "same", input: '{"orderId":"x"}' });
            assert.deepEqual(again, first);
            await expectAwsError(service.startExecution({ stateMachineArn: arn, name: "same", input: '{"orderId":"y"}' }), "ExecutionAlreadyExists");
        });

        it("rejects definitions that reuse a state name anywhere in the machine, as the States Language requires", () => {
            const task = { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", Parameters: { FunctionName: "f" }, End: true };
            assert.throws(
                () => addMachine("Dup", { StartAt: "Work", States: { Work: { Type: "Parallel", Branches: [{ StartAt: "Call", States: { Call: task } }, { StartAt: "Call", States: { Call: task } }], End: true } } }),
                /Call/,
            );
        });

        it("times out an execution after the machine's TimeoutSeconds", async () => {
            const arn = addMachine("Deadline", { TimeoutSeconds: 1, StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            const done = await runToEnd(arn, { orderId: "o-10" });
            assert.equal(done.status, "TIMED_OUT");
            const events = await historyOf(done.executionArn);
            assert.equal(events[events.length - 1].type, "ExecutionTimedOut");
            await expectAwsError(service.sendTaskSuccess({ taskToken: tokenOf(integrations.sent[0]), output: "{}" }), "TaskDoesNotExist");
        });

        it("stops an execution: ABORTED, ExecutionAborted with error and cause, tokens retired", async () => {
            const arn = addMachine("Stoppable", { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } });
            const { executionArn } = await service.startExecution({ stateMachineArn: arn, input: JSON.stringify({ orderId: "o-11" }) });
            await until(() => integrations.sent.length === 1);

            const stopped = await service.stopExecution({ executionArn, error: "Operator.Cancelled", cause: "customer called" });
            const described = await service.describeExecution({ executionArn });
            assert.equal(described.status, "ABORTED");
            assert.equal(described.stopDate, stopped.stopDate);
            assert.equal(described.error, "Operator.Cancelled");
            const events = await historyOf(executionArn);
            assert.deepEqual(events[events.length - 1].executionAbortedEventDetails, { error: "Operator.Cancelled", cause: "customer called" });
            assert.ok(!types(events).includes("TaskFailed"), "abandoned tasks are not reported as failures");
            await expectAwsError(service.sendTaskSuccess({ taskToken: tokenOf(integrations.sent[0]), output: "{}" }), "TaskDoesNotExist");
            assert.deepEqual(await service.stopExecution({ executionArn }), stopped, "stopping again changes nothing");
        });

        it("lists state machines and executions, newest first, with status filters and paging", async () => {
            const arn = addMachine("Listed", { StartAt: "Done", States: { Done: { Type: "Pass", End: true } } });
            addMachine("Other", { StartAt: "Done", States: { Done: { Type: "Pass", End: true } } }, "EXPRESS");
            const machines = await service.listStateMachines({});
            assert.deepEqual(
                machines.stateMachines.map((m) => [m.name, m.type]),
                [
                    ["Listed", "STANDARD"],
                    ["Other", "EXPRESS"],
                ],
            );
            for (const name of ["one", "two", "three"]) await runToEnd(arn, {}, name);
            const firstPage = await service.listExecutions({ stateMachineArn: arn, maxResults: 2 });
            assert.equal(firstPage.executions.length, 2);
            const secondPage = await service.listExecutions({ stateMachineArn: arn, maxResults: 2, nextToken: firstPage.nextToken });
            assert.equal(secondPage.nextToken, undefined);
            assert.deepEqual([...firstPage.executions, ...secondPage.executions].map((e) => e.name), ["three", "two", "one"]);
            assert.equal((await service.listExecutions({ stateMachineArn: arn, statusFilter: "RUNNING" })).executions.length, 0);
            await expectAwsError(service.listExecutions({ stateMachineArn: arn, nextToken: "garbage" }), "InvalidToken");
        });
    });

    describe("history", () => {
        it("pages forwards and backwards", async () => {
            const arn = addMachine("Steps", {
                StartAt: "A",
                States: { A: { Type: "Pass", Next: "B" }, B: { Type: "Pass", Next: "C" }, C: { Type: "Wait", Seconds: 0, Next: "D" }, D: { Type: "Succeed" } },
            });
            const done = await runToEnd(arn, { x: 1 });
            const all = await historyOf(done.executionArn);
            assert.deepEqual(types(all), [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "PassStateEntered",
                "PassStateExited",
                "WaitStateEntered",
                "WaitStateExited",
                "SucceedStateEntered",
                "SucceedStateExited",
                "ExecutionSucceeded",
            ]);

            const paged: HistoryEvent[] = [];
            let nextToken: string | undefined;
            do {
                const page = await service.getExecutionHistory({ executionArn: done.executionArn, maxResults: 3, nextToken });
                assert.ok(page.events.length <= 3);
                paged.push(...page.events);
                nextToken = page.nextToken;
            } while (nextToken);
            assert.deepEqual(paged, all);

            const reversed = await service.getExecutionHistory({ executionArn: done.executionArn, maxResults: 4, reverseOrder: true });
            assert.deepEqual(reversed.events.map((e) => e.id), [10, 9, 8, 7]);
            const rest = await service.getExecutionHistory({ executionArn: done.executionArn, reverseOrder: true, nextToken: reversed.nextToken });
            assert.deepEqual(rest.events.map((e) => e.id), [6, 5, 4, 3, 2, 1]);
            await expectAwsError(service.getExecutionHistory({ executionArn: done.executionArn, nextToken: reversed.nextToken }), "InvalidToken");

            const bare = await service.getExecutionHistory({ executionArn: done.executionArn, includeExecutionData: false });
            assert.equal(bare.events[1].stateEnteredEventDetails?.input, undefined);
            assert.equal(bare.events[1].stateEnteredEventDetails?.name, "A");
        });
    });

    describe("persistence", () => {
        let dataDir: string;
        beforeEach(() => {
            dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sfn-test-"));
        });
        afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

        it("keeps finished executions and marks interrupted ones ABORTED on the next start", async () => {
            const definition = { StartAt: "Ask", States: { Ask: callbackTask({ End: true }) } };
            const first = newService(dataDir);
            service = first;
            const arn = addMachine("Durable", definition, "STANDARD", first);
            integrations.onPutEvents = (entries) => {
                if (detailOf(entries[0]).orderId === "finish-me") setImmediate(() => void first.sendTaskSuccess({ taskToken: tokenOf(entries[0]), output: '{"ok":1}' }));
            };
            const finished = await runToEnd(arn, { orderId: "finish-me" }, "finished");
            const finishedHistory = await historyOf(finished.executionArn);
            const { executionArn: runningArn } = await first.startExecution({ stateMachineArn: arn, name: "interrupted", input: JSON.stringify({ orderId: "hang" }) });
            await until(() => integrations.sent.length === 2);
            await first.close();

            const files = fs.readdirSync(path.join(dataDir, "executions"));
            assert.equal(files.length, 2);

            const second = newService(dataDir);
            service = second;
            addMachine("Durable", definition, "STANDARD", second);
            const reloaded = await second.describeExecution({ executionArn: finished.executionArn });
            assert.deepEqual(reloaded, finished);
            assert.deepEqual(await historyOf(finished.executionArn), finishedHistory);

            const interrupted = await second.describeExecution({ executionArn: runningArn });
            assert.equal(interrupted.status, "ABORTED");
            assert.equal(interrupted.cause, "offline runtime stopped while the execution was running");
            assert.ok(interrupted.stopDate !== undefined);
            const events = await historyOf(runningArn);
            assert.equal(events[0].type, "ExecutionStarted");
            assert.equal(events[events.length - 1].type, "ExecutionAborted");
            const listed = await second.listExecutions({ stateMachineArn: arn });
            assert.deepEqual(listed.executions.map((e) => [e.name, e.status]), [
                ["interrupted", "ABORTED"],
                ["finished", "SUCCEEDED"],
            ]);
            await expectAwsError(second.sendTaskSuccess({ taskToken: tokenOf(integrations.sent[1]), output: "{}" }), "TaskDoesNotExist");

            // The ABORTED state is itself saved, so a third start does not append another event.
            const third = newService(dataDir);
            service = third;
            assert.deepEqual(await historyOf(runningArn), events);
        });
    });
});
