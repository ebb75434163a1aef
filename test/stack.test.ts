/** The resource graph the stack declares, evaluated under Pulumi's mocks. */
import { strict as assert } from "assert";
import validateAsl = require("asl-validator");
import { AslDefinition, AslState, PUT_EVENTS_WAIT, taskStates } from "../protocol/asl";
import { EvaluatedStack } from "../local/core/evaluate";
import { COOKIE_REPORT, cookieReport, devStack, list, ofType, one, parentOf, stackWith, statementsOf } from "../local/testing/stack";

const T = {
    bus: "choreography:events:Bus",
    system: "choreography:systems:CookieReport",
    handler: "choreography:lambda:HandlerFunction",
    machine: "choreography:stepfunctions:EventDrivenStateMachine",
    finisher: "choreography:stepfunctions:TaskFinisher",
    bucketComponent: "choreography:storage:ResultsBucket",
    fn: "aws:lambda/function:Function",
    sfn: "aws:sfn/stateMachine:StateMachine",
    rule: "aws:cloudwatch/eventRule:EventRule",
    target: "aws:cloudwatch/eventTarget:EventTarget",
    permission: "aws:lambda/permission:Permission",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    bucket: "aws:s3/bucket:Bucket",
};
const SYSTEM = COOKIE_REPORT;
const of = cookieReport;
/** S3 bucket names are lower case: Pulumi lowers the logical name it derives them from. */
const BUCKET_NAME = of("results").toLowerCase();
const HANDLERS = ["getMultiple", "processSingle", "postProcessSingle", "sideEffect", "postProcessAll"].map(of);

function definitionOf(stack: EvaluatedStack, name: string): AslDefinition {
    return JSON.parse(String(one(stack, T.sfn, name).inputs.definition)) as AslDefinition;
}

/** The actions a role's inline policy allows, by resource. */
function grants(stack: EvaluatedStack, roleName: string): Map<string, string[]> {
    const byAction = new Map<string, string[]>();
    for (const s of statementsOf(one(stack, T.rolePolicy, roleName).inputs.policy)) {
        assert.equal(s.Effect, "Allow");
        for (const action of list(s.Action)) byAction.set(action, [...(byAction.get(action) ?? []), ...list(s.Resource)]);
    }
    return byAction;
}

describe("stack: resource graph", () => {
    let stack: EvaluatedStack;
    before(async () => {
        stack = await devStack();
    });

    it("declares each component once under the right parent", () => {
        assert.equal(parentOf(one(stack, T.bus, "bus")), undefined);
        const system = `${T.system}::${SYSTEM}`;
        assert.equal(parentOf(one(stack, T.system, SYSTEM)), undefined);
        assert.equal(parentOf(one(stack, T.bucketComponent, of("results"))), system);
        assert.equal(parentOf(one(stack, T.machine, of("workflow"))), system);
        assert.equal(parentOf(one(stack, T.finisher, "finisher")), undefined);
        assert.equal(parentOf(one(stack, T.machine, "finisher")), `${T.finisher}::finisher`);
        // The dev stack deploys the observability system (its recorder, its API's and its live API's functions) and the chargeback
        // system (its webhook and its report's function) too.
        assert.deepEqual(ofType(stack, T.handler).map((h) => h.name).sort(), [...HANDLERS, "observability-api", "observability-live", "observability-page", "observability-recorder", "chargeback-report", "chargeback-webhook"].sort());
        for (const name of HANDLERS) {
            // The system owns its handlers, rules, targets and permissions; the bus only places them on itself.
            assert.equal(parentOf(one(stack, T.handler, name)), system);
            assert.equal(parentOf(one(stack, T.rule, name)), system);
            assert.equal(parentOf(one(stack, T.fn, name)), `${T.handler}::${name}`);
            assert.equal(parentOf(one(stack, T.role, name)), `${T.handler}::${name}`);
        }
        assert.equal(parentOf(one(stack, T.sfn, of("workflow"))), `${T.machine}::${of("workflow")}`);
        assert.equal(parentOf(one(stack, T.sfn, "finisher")), `${T.machine}::finisher`);
        for (const type of ["aws:s3/bucket:Bucket", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "aws:s3/bucketPolicy:BucketPolicy"]) {
            assert.equal(parentOf(one(stack, type, of("results"))), `${T.bucketComponent}::${of("results")}`);
        }
        // Five cookie report handlers and six of their rules, the finisher's three rules; the observability system's four
        // functions and three rules; the chargeback's two functions, its workflow and two rules.
        assert.equal(ofType(stack, T.fn).length, 11);
        assert.equal(ofType(stack, T.sfn).length, 3);
        assert.equal(ofType(stack, T.bucket).length, 1);
        assert.equal(ofType(stack, T.rule).length, 14);
        for (const name of ["observability-recorder", "observability-api", "observability-live", "observability-page"]) assert.equal(parentOf(one(stack, T.handler, name)), "choreography:systems:Observability::observability");
        for (const name of ["chargeback-webhook", "chargeback-report"]) assert.equal(parentOf(one(stack, T.handler, name)), "choreography:systems:Chargeback::chargeback");
        assert.equal(ofType(stack, "aws:cloudwatch/eventBus:EventBus").length, 0, "the dev stack uses the default bus");
    });

    it("gives every rule the pattern of its subscription, always with source and detail-type", () => {
        const patterns = Object.fromEntries(ofType(stack, T.rule).map((r) => [r.name, JSON.parse(String(r.inputs.eventPattern))]));
        const own = (detailType: string) => ({ source: ["project"], "detail-type": [detailType] });
        assert.deepEqual(patterns, {
            [of("getMultiple")]: own("getMultiple"),
            [of("processSingle")]: own("processSingle"),
            [of("postProcessSingle")]: own("processSinglePost"),
            [of("sideEffect")]: own("processSinglePost"),
            [of("postProcessAll")]: own("processAll"),
            [of("workflow-start")]: own("start"),
            "finisher-taskFinished": own("taskFinished"),
            "finisher-taskFailed": own("taskFailed"),
            "finisher-handlerFailed": {
                source: ["lambda"],
                "detail-type": ["Lambda Function Invocation Result - Failure"],
                detail: {
                    requestContext: {
                        // sideEffect answers no task: its failures must not fail one.
                        functionArn: HANDLERS.filter((h) => h !== of("sideEffect")).map((h) => ({ prefix: `arn:aws:lambda:us-east-1:000000000000:function:${h}:` })),
                    },
                },
            },
            // The observability system's capture: every detail-type of the stack, failures on its events, the workflow's status.
            "observability-stackEvents": {
                source: ["project"],
                "detail-type": ["getMultiple", "processAll", "processSingle", "processSinglePost", "sideEffectDone", "start", "taskFailed", "taskFinished"],
            },
            "observability-handlerFailures": {
                source: ["lambda"],
                "detail-type": ["Lambda Function Invocation Result - Failure"],
                detail: { requestPayload: { source: ["project"] } },
            },
            "observability-executionStatus": {
                source: ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                detail: { stateMachineArn: ["arn:aws:states:us-east-1:000000000000:stateMachine:cookieReport-workflow"] },
            },
            // The chargeback's start per delivery, and its failed executions (to its dead-letter queue).
            "chargeback-workflowJob": { source: ["github.webhook"], "detail-type": ["workflow_job"] },
            "chargeback-workflowFailed": {
                source: ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                detail: { stateMachineArn: ["arn:aws:states:us-east-1:000000000000:stateMachine:chargeback-workflow"], status: ["FAILED", "TIMED_OUT", "ABORTED"] },
            },
        });
        for (const rule of ofType(stack, T.rule)) assert.equal(rule.inputs.eventBusName, "default");
    });

    it("targets handlers through a permission scoped to the rule, and machines through a role scoped to the machine", () => {
        for (const name of HANDLERS) {
            const target = one(stack, T.target, name);
            assert.equal(target.inputs.arn, one(stack, T.fn, name).state.arn);
            assert.equal(target.inputs.roleArn, undefined);
            const permission = one(stack, T.permission, name);
            assert.equal(permission.inputs.principal, "events.amazonaws.com");
            assert.equal(permission.inputs.sourceArn, one(stack, T.rule, name).state.arn);
            assert.equal(permission.inputs.function, name);
        }
        const machineTargets: Record<string, string> = {
            [of("workflow-start")]: of("workflow"),
            "finisher-taskFinished": "finisher",
            "finisher-taskFailed": "finisher",
            "finisher-handlerFailed": "finisher",
        };
        for (const [targetName, machine] of Object.entries(machineTargets)) {
            const target = one(stack, T.target, targetName);
            const machineArn = one(stack, T.sfn, machine).state.arn;
            assert.equal(target.inputs.arn, machineArn);
            const role = `${targetName}-target`;
            assert.equal(target.inputs.roleArn, one(stack, T.role, role).state.arn);
            assert.deepEqual([...grants(stack, role)], [["states:StartExecution", [machineArn]]]);
        }
    });

    it("runs each handler on nodejs22.x with the bus's EVENT_BUS and EVENT_SOURCE and only the settings it reads", () => {
        const extra: Record<string, Record<string, string>> = {
            [of("getMultiple")]: {},
            [of("processSingle")]: { BUCKET: BUCKET_NAME, PRESIGN_EXPIRY_SECONDS: "300" },
            [of("postProcessSingle")]: { BUCKET: BUCKET_NAME },
            [of("sideEffect")]: {},
            [of("postProcessAll")]: { BUCKET: BUCKET_NAME, HEARTBEAT_SECONDS: "60" },
        };
        for (const name of HANDLERS) {
            const fn = one(stack, T.fn, name).inputs;
            assert.equal(fn.runtime, "nodejs22.x");
            assert.equal(fn.handler, "__index.handler");
            assert.deepEqual((fn.environment as { variables: Record<string, string> }).variables, { EVENT_BUS: "default", EVENT_SOURCE: "project", ...extra[name] }, name);
            assert.deepEqual(fn.loggingConfig, { logFormat: "JSON", logGroup: `/choreography/dev/${name}` });
        }
    });

    it("runs the workflow as STANDARD and the finisher as EXPRESS, both logged", () => {
        assert.equal(one(stack, T.sfn, of("workflow")).inputs.type, "STANDARD");
        assert.equal(one(stack, T.sfn, "finisher").inputs.type, "EXPRESS");
        for (const name of [of("workflow"), "finisher"]) {
            const logging = one(stack, T.sfn, name).inputs.loggingConfiguration as { logDestination: string; includeExecutionData: boolean };
            assert.match(logging.logDestination, /^arn:aws:logs:.*:log-group:\/aws\/vendedlogs\/states\/.*:\*$/);
            // The finisher's inputs hold task tokens and failure records (presigned URLs): its log leaves data out.
            assert.equal(logging.includeExecutionData, name === of("workflow"), name);
        }
    });

    it("exports the bus, machines, bucket and the exact command that starts a run", () => {
        const { observabilityApiUrl, observabilityLiveUrl, observabilityPageUrl, chargebackApiUrl, chargebackWebhookUrl, chargebackWebhookSecretArn, ...outputs } = stack.outputs;
        // An API's URL is the runtime's endpoint and the API's id (the API Gateway service's mock picks it).
        for (const url of [observabilityApiUrl, chargebackApiUrl]) assert.match(String(url), /^http:\/\/127\.0\.0\.1:4566\/_apis\/[a-z0-9]+$/);
        assert.equal(chargebackWebhookUrl, `${chargebackApiUrl}/github/webhook`);
        assert.equal(observabilityPageUrl, `${observabilityApiUrl}/`);
        assert.match(String(observabilityLiveUrl), /^ws:\/\/127\.0\.0\.1:4566\/_apis\/[a-z0-9]+\/live$/);
        // Secrets Manager appends six random characters to a secret's name in its ARN.
        assert.match(String(chargebackWebhookSecretArn), /^arn:aws:secretsmanager:us-east-1:000000000000:secret:chargeback-webhookSecret-[A-Za-z0-9]{6}$/);
        assert.deepEqual(outputs, {
            busName: "default",
            eventSource: "project",
            deployedSystems: ["cookieReport", "observability", "chargeback"],
            chargebackTableName: "chargeback-jobs",
            chargebackWorkflowArn: "arn:aws:states:us-east-1:000000000000:stateMachine:chargeback-workflow",
            chargebackDeadLetterQueueUrl: "http://127.0.0.1:4566/000000000000/chargeback-deadLetters",
            observabilityTableName: "observability-events",
            workflowArn: "arn:aws:states:us-east-1:000000000000:stateMachine:cookieReport-workflow",
            finisherArn: "arn:aws:states:us-east-1:000000000000:stateMachine:finisher",
            bucketName: BUCKET_NAME,
            startCommand: `aws events put-events --entries 'Source=project,DetailType=start,EventBusName=default,Detail="{}"'`,
        });
    });

    it("keeps the results bucket private, encrypted, TLS-only, with forceDestroy from config", async () => {
        const access = one(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", of("results")).inputs;
        for (const flag of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(access[flag], true, flag);
        const sse = one(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", of("results")).inputs;
        assert.deepEqual((sse.rules as Array<{ applyServerSideEncryptionByDefault: unknown }>)[0].applyServerSideEncryptionByDefault, { sseAlgorithm: "AES256" });
        const policy = JSON.parse(String(one(stack, "aws:s3/bucketPolicy:BucketPolicy", of("results")).inputs.policy));
        assert.deepEqual(policy.Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
        assert.equal(policy.Statement[0].Effect, "Deny");
        assert.equal(one(stack, T.bucket, of("results")).inputs.forceDestroy, true);
        const kept = await stackWith({ "choreography:bucketForceDestroy": "false" });
        assert.equal(one(kept, T.bucket, of("results")).inputs.forceDestroy, false);
    });
});

describe("stack: config", () => {
    it("takes the Map's MaxConcurrency from config", async () => {
        assert.equal(definitionOf(await devStack(), of("workflow")).States.ProcessMultiple.MaxConcurrency, 2);
        const wide = await stackWith({ "choreography:mapMaxConcurrency": "40" });
        assert.equal(definitionOf(wide, of("workflow")).States.ProcessMultiple.MaxConcurrency, 40);
    });

    it("takes timeouts and heartbeat from config", async () => {
        const stack = await stackWith({ "choreography:taskTimeoutSeconds": "42", "choreography:heartbeatSeconds": "7" });
        const tasks = Object.fromEntries(taskStates(definitionOf(stack, of("workflow"))).map((t) => [t.name, t.state]));
        for (const name of ["GetMultiple", "ProcessSingle", "PostProcessAll"]) assert.equal(tasks[name].TimeoutSeconds, 42, name);
        assert.equal(tasks.PostProcessAll.HeartbeatSeconds, 7);
        const env = (one(stack, T.fn, of("postProcessAll")).inputs.environment as { variables: Record<string, string> }).variables;
        assert.equal(env.HEARTBEAT_SECONDS, "7", "its handler heartbeats by the step's HeartbeatSeconds");
    });

    it("creates its own bus when busName is not default, and every rule uses it", async () => {
        const stack = await stackWith({ "choreography:busName": "orders" });
        const bus = one(stack, "aws:cloudwatch/eventBus:EventBus", "bus");
        assert.equal(bus.inputs.name, "orders");
        assert.equal(parentOf(bus), `${T.bus}::bus`);
        // Except the rules for Step Functions' status events (observability's, chargeback's failures): AWS puts them on
        // the default bus only.
        const statusRules = ["observability-executionStatus", "chargeback-workflowFailed"];
        for (const rule of ofType(stack, T.rule)) assert.equal(rule.inputs.eventBusName, statusRules.includes(rule.name) ? "default" : "orders", rule.name);
        assert.equal(stack.outputs.startCommand, `aws events put-events --entries 'Source=project,DetailType=start,EventBusName=orders,Detail="{}"'`);
        const handlerRole = grants(stack, of("getMultiple"));
        assert.deepEqual(handlerRole.get("events:PutEvents"), ["arn:aws:events:us-east-1:000000000000:event-bus/orders"]);
    });

    it("refuses a presign expiry over 15 minutes, naming the setting", async () => {
        await assert.rejects(stackWith({ "choreography:presignExpirySeconds": "901" }), (error: Error) => {
            assert.match(error.message, /choreography:presignExpirySeconds must be an integer from 1 to 900 seconds \(15 minutes\), got "901"/);
            return true;
        });
    });

    it("refuses settings AWS would refuse at deploy time, naming the keys", async () => {
        await assert.rejects(
            stackWith({ "choreography:heartbeatSeconds": "300" }),
            /choreography:heartbeatSeconds \(300\) must be less than choreography:taskTimeoutSeconds \(300\)/,
        );
        await assert.rejects(stackWith({ "choreography:logRetentionDays": "10" }), /choreography:logRetentionDays must be one of 1, 3, 5, 7, 14,.* got 10/);
        await assert.rejects(
            stackWith({ "choreography:taskTimeoutSeconds": "4000" }),
            /choreography:taskTimeoutSeconds \(4000\) must not exceed choreography:executionTimeoutSeconds \(3600\)/,
        );
    });

    it("refuses a Map concurrency that is not a positive integer, naming the setting", async () => {
        await assert.rejects(stackWith({ "choreography:mapMaxConcurrency": "two" }), /choreography:mapMaxConcurrency must be an integer/);
    });
});

describe("stack: state machine definitions", () => {
    let stack: EvaluatedStack;
    before(async () => {
        stack = await devStack();
    });

    for (const name of [of("workflow"), "finisher"]) {
        it(`${name} passes asl-validator`, () => {
            const result = validateAsl(structuredClone(definitionOf(stack, name)));
            assert.deepEqual(result.errors, []);
            assert.equal(result.isValid, true);
        });
    }

    it("passes the task token in every waiting task's event detail and bounds every wait", () => {
        const waiting = taskStates(definitionOf(stack, of("workflow"))).filter((t) => t.state.Resource === PUT_EVENTS_WAIT);
        assert.deepEqual(waiting.map((t) => t.name), ["GetMultiple", "ProcessSingle", "PostProcessAll"]);
        for (const { name, state } of waiting) {
            const entries = (state.Parameters as { Entries: Array<{ Detail: Record<string, unknown>; EventBusName: string; Source: string }> }).Entries;
            assert.equal(entries.length, 1);
            assert.equal(entries[0].Detail["taskToken.$"], "$$.Task.Token", name);
            assert.equal(entries[0].Detail.step, name);
            assert.equal(entries[0].EventBusName, "default");
            assert.equal(entries[0].Source, "project");
            assert.equal(typeof state.TimeoutSeconds, "number", `${name} has TimeoutSeconds`);
        }
        const finisherTasks = taskStates(definitionOf(stack, "finisher"));
        assert.ok(finisherTasks.every((t) => !String(t.state.Resource).endsWith(".waitForTaskToken")), "EXPRESS cannot wait for tokens");
    });

    it("maps over the names, discarding per-person results", () => {
        const map = definitionOf(stack, of("workflow")).States.ProcessMultiple as AslState;
        assert.equal(map.Type, "Map");
        assert.equal(map.ItemsPath, "$.getMultiple.names");
        assert.equal(map.ResultPath, null);
        assert.equal(definitionOf(stack, of("workflow")).States.GetMultiple.ResultPath, "$.getMultiple");
    });
});

describe("stack: IAM", () => {
    let stack: EvaluatedStack;
    before(async () => {
        stack = await devStack();
    });

    it("uses no wildcard action anywhere and attaches no managed policy", () => {
        for (const policy of ofType(stack, T.rolePolicy)) {
            for (const s of statementsOf(policy.inputs.policy)) {
                for (const action of list(s.Action)) assert.ok(!action.includes("*"), `${policy.name}: ${action}`);
            }
        }
        assert.equal(ofType(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, 0);
        for (const role of ofType(stack, T.role)) assert.equal(role.inputs.managedPolicyArns, undefined);
    });

    it("gives each handler only its own actions, on its own resources", () => {
        const bus = "arn:aws:events:us-east-1:000000000000:event-bus/default";
        const objects = `arn:aws:s3:::${BUCKET_NAME}/*`;
        const logs = (name: string) => [`arn:aws:logs:us-east-1:000000000000:log-group:/choreography/dev/${name}:*`];
        const expected: Record<string, Record<string, string[]>> = {
            [of("getMultiple")]: { "events:PutEvents": [bus] },
            [of("processSingle")]: { "s3:PutObject": [objects], "s3:GetObject": [objects], "events:PutEvents": [bus] },
            [of("postProcessSingle")]: { "s3:PutObject": [objects], "events:PutEvents": [bus] },
            [of("sideEffect")]: { "events:PutEvents": [bus] },
            [of("postProcessAll")]: {
                "s3:GetObject": [objects],
                "s3:PutObject": [objects],
                "states:SendTaskHeartbeat": [one(stack, T.sfn, of("workflow")).state.arn as string],
                "events:PutEvents": [bus],
            },
        };
        for (const [name, own] of Object.entries(expected)) {
            const actual = Object.fromEntries(grants(stack, name));
            assert.deepEqual(actual, { "logs:CreateLogStream": logs(name), "logs:PutLogEvents": logs(name), ...own }, name);
            assert.deepEqual(JSON.parse(String(one(stack, T.role, name).inputs.assumeRolePolicy)).Statement[0].Principal, { Service: "lambda.amazonaws.com" });
        }
    });

    it("lets the finisher answer this stack's workflow only, and the workflow put events on its bus only", () => {
        const workflowArn = one(stack, T.sfn, of("workflow")).state.arn;
        const finisher = grants(stack, "finisher");
        assert.deepEqual(finisher.get("states:SendTaskSuccess"), [workflowArn]);
        assert.deepEqual(finisher.get("states:SendTaskFailure"), [workflowArn]);
        assert.equal(finisher.get("events:PutEvents"), undefined, "the finisher emits no events");
        const workflow = grants(stack, of("workflow"));
        assert.deepEqual(workflow.get("events:PutEvents"), ["arn:aws:events:us-east-1:000000000000:event-bus/default"]);
        assert.equal(workflow.get("states:SendTaskSuccess"), undefined);
        assert.equal(workflow.get("lambda:InvokeFunction"), undefined, "the workflow never calls a Lambda");
    });

    it("sends each handler's failed invocations to the bus after two retries", () => {
        for (const name of HANDLERS) {
            const config = one(stack, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", name).inputs;
            assert.equal(config.maximumRetryAttempts, 2);
            assert.deepEqual(config.destinationConfig, { onFailure: { destination: "arn:aws:events:us-east-1:000000000000:event-bus/default" } });
        }
    });
});
