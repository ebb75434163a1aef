/**
 * The choreography stack: the "cookie report" workflow, in which a state machine never calls a Lambda. Each
 * step emits an event with a task token and waits; handlers subscribed to the bus do the work and answer
 * with `taskFinished` / `taskFailed`, which the TaskFinisher hands back to the waiting step.
 *
 *   start ──▶ Workflow: GetMultiple ─▶ ProcessMultiple (Map) ─▶ PostProcessAll ─▶ Success
 *                           │ getMultiple    │ processSingle ─▶ processSinglePost   │ processAll
 *                           ▼                ▼                 ▼          ▼          ▼
 *                      getMultiple     processSingle   postProcessSingle sideEffect postProcessAll
 *                           └──────────── taskFinished / taskFailed ──▶ TaskFinisher ──▶ SendTask*
 */
import * as pulumi from "@pulumi/pulumi";
import { Bus } from "./components/bus";
import { AslDefinition, EventDrivenStateMachine, waitForEvent } from "./components/eventDrivenStateMachine";
import { ResultsBucket } from "./components/resultsBucket";
import { TaskFinisher } from "./components/taskFinisher";
import { DetailType } from "./handlers/events";
import { getMultipleFactory } from "./handlers/getMultiple";
import { postProcessAllFactory } from "./handlers/postProcessAll";
import { postProcessSingleFactory } from "./handlers/postProcessSingle";
import { processSingleFactory } from "./handlers/processSingle";
import { sideEffectFactory } from "./handlers/sideEffect";
import { invalidInput, parsePresignExpirySeconds } from "./handlers/validation";

const config = new pulumi.Config("choreography");

/** An integer setting with bounds, named in the error when it is out of them. */
function integerSetting(key: string, defaultValue: number, min: number, max: number): number {
    const raw = config.get(key);
    const value = raw === undefined ? defaultValue : Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
        throw invalidInput(`choreography:${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
}

/** CloudWatch Logs accepts only these retention periods. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const settings = {
    busName: config.get("busName") ?? "default",
    eventSource: config.get("eventSource") ?? "project",
    mapMaxConcurrency: integerSetting("mapMaxConcurrency", 2, 1, 1000),
    taskTimeoutSeconds: integerSetting("taskTimeoutSeconds", 300, 1, 86400),
    heartbeatSeconds: integerSetting("heartbeatSeconds", 60, 1, 86400),
    executionTimeoutSeconds: integerSetting("executionTimeoutSeconds", 3600, 1, 31536000),
    presignExpirySeconds: parsePresignExpirySeconds("choreography:presignExpirySeconds", config.get("presignExpirySeconds") ?? "300"),
    bucketForceDestroy: config.getBoolean("bucketForceDestroy") ?? false,
    logRetentionDays: integerSetting("logRetentionDays", 14, 1, 3653),
    bundleAwsSdk: config.getBoolean("bundleAwsSdk") ?? false,
};
if (!LOG_RETENTION_DAYS.includes(settings.logRetentionDays)) {
    throw invalidInput(`choreography:logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")} (what CloudWatch Logs accepts), got ${settings.logRetentionDays}`);
}
// The States Language requires a heartbeat shorter than the task's timeout, and a task cannot outlive its execution.
if (settings.heartbeatSeconds >= settings.taskTimeoutSeconds) {
    throw invalidInput(`choreography:heartbeatSeconds (${settings.heartbeatSeconds}) must be less than choreography:taskTimeoutSeconds (${settings.taskTimeoutSeconds})`);
}
if (settings.taskTimeoutSeconds > settings.executionTimeoutSeconds) {
    throw invalidInput(`choreography:taskTimeoutSeconds (${settings.taskTimeoutSeconds}) must not exceed choreography:executionTimeoutSeconds (${settings.executionTimeoutSeconds})`);
}

/** The cookie report: every step an event, every wait bounded by a timeout. */
function cookieReportDefinition(bus: { name: string; source: string }): AslDefinition {
    const event = { busName: bus.name, source: bus.source, timeoutSeconds: settings.taskTimeoutSeconds };
    return {
        Comment: "Cookie report: each step emits an event with a task token and waits for taskFinished/taskFailed.",
        StartAt: "GetMultiple",
        TimeoutSeconds: settings.executionTimeoutSeconds,
        States: {
            GetMultiple: {
                ...waitForEvent({ ...event, step: "GetMultiple", detailType: DetailType.getMultiple, detail: { "input.$": "$.detail" } }),
                ResultSelector: { "names.$": "$.result" },
                ResultPath: "$.getMultiple",
                Next: "ProcessMultiple",
            },
            ProcessMultiple: {
                Type: "Map",
                ItemsPath: "$.getMultiple.names",
                MaxConcurrency: settings.mapMaxConcurrency,
                ItemSelector: { "name.$": "$$.Map.Item.Value" },
                ItemProcessor: {
                    ProcessorConfig: { Mode: "INLINE" },
                    StartAt: "ProcessSingle",
                    States: {
                        ProcessSingle: {
                            ...waitForEvent({ ...event, step: "ProcessSingle", detailType: DetailType.processSingle, detail: { "name.$": "$.name" } }),
                            End: true,
                        },
                    },
                },
                // Each person's result is in S3; carrying 1,000 results in the state would only grow the history.
                ResultPath: null,
                Next: "PostProcessAll",
            },
            PostProcessAll: {
                ...waitForEvent({
                    ...event,
                    step: "PostProcessAll",
                    detailType: DetailType.processAll,
                    detail: { "names.$": "$.getMultiple.names" },
                    heartbeatSeconds: settings.heartbeatSeconds,
                }),
                ResultSelector: { "totalCookiesConsumed.$": "$.result.totalCookiesConsumed", "reportKey.$": "$.result.reportKey" },
                ResultPath: "$.report",
                Next: "Success",
            },
            Success: { Type: "Succeed", OutputPath: "$.report" },
        },
    };
}

const bus = new Bus("bus", { busName: settings.busName, eventSource: settings.eventSource });
const results = new ResultsBucket("results", { forceDestroy: settings.bucketForceDestroy });

const workflow = new EventDrivenStateMachine("workflow", {
    bus,
    type: "STANDARD",
    definition: cookieReportDefinition,
    startOn: { start: bus.pattern([DetailType.start]) },
    logRetentionDays: settings.logRetentionDays,
});

const objects = pulumi.interpolate`${results.arn}/*`;
const handlerDefaults = { logRetentionDays: settings.logRetentionDays, bundleAwsSdk: settings.bundleAwsSdk };
const bucketEnv = { BUCKET: results.name };

/** Handlers that answer a waiting task: their failed invocations fail that task through the TaskFinisher. */
const taskHandlers = [
    bus.subscribe("getMultiple", {
        ...handlerDefaults,
        description: "Answers GetMultiple with the names of the run",
        detailTypes: [DetailType.getMultiple],
        callbackFactory: getMultipleFactory,
        statements: [],
    }),
    bus.subscribe("processSingle", {
        ...handlerDefaults,
        description: "Writes a person's basic profile and passes it on as a presigned URL",
        detailTypes: [DetailType.processSingle],
        callbackFactory: processSingleFactory,
        environment: { ...bucketEnv, PRESIGN_EXPIRY_SECONDS: String(settings.presignExpirySeconds) },
        // GetObject too: a presigned URL carries the signer's permissions.
        statements: [{ Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject"], Resource: objects }],
    }),
    bus.subscribe("postProcessSingle", {
        ...handlerDefaults,
        description: "Adds cookies to a profile read through its presigned URL and finishes the person's task",
        detailTypes: [DetailType.processSinglePost],
        callbackFactory: postProcessSingleFactory,
        environment: bucketEnv,
        statements: [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: objects }],
    }),
    bus.subscribe("postProcessAll", {
        ...handlerDefaults,
        description: "Sums every person's cookies into the run's report",
        detailTypes: [DetailType.processAll],
        callbackFactory: postProcessAllFactory,
        // It heartbeats a few times per HeartbeatSeconds of its step, however many objects it reads.
        environment: { ...bucketEnv, HEARTBEAT_SECONDS: String(settings.heartbeatSeconds) },
        timeoutSeconds: 120,
        statements: [
            { Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: objects },
            { Effect: "Allow", Action: ["states:SendTaskHeartbeat"], Resource: workflow.arn },
        ],
    }),
];

// Off the critical path and answering no task: its failure record must never reach the TaskFinisher, since the
// event it handles carries a person's task token.
bus.subscribe("sideEffect", {
    ...handlerDefaults,
    description: "A side effect of each processed person, off the critical path",
    detailTypes: [DetailType.processSinglePost],
    callbackFactory: sideEffectFactory,
    statements: [],
});

const finisher = new TaskFinisher("finisher", {
    bus,
    stateMachineArns: [workflow.arn],
    handlerArns: taskHandlers.map((h) => h.arn),
    logRetentionDays: settings.logRetentionDays,
});

export const busName = bus.name;
export const eventSource = settings.eventSource;
export const workflowArn = workflow.arn;
export const finisherArn = finisher.arn;
export const bucketName = results.name;
/**
 * Starts a run on this stack, as a user types it in a POSIX shell. The entry is single-quoted so the CLI's
 * shorthand parser sees `Detail="{}"` and reads a string: unquoted, both AWS CLI v1 and v2 read `{}` as a map
 * and refuse the entry before sending it ("Invalid type for parameter Entries[0].Detail").
 */
export const startCommand = bus.name.apply(
    (name) => `aws events put-events --entries 'Source=${settings.eventSource},DetailType=${DetailType.start},EventBusName=${name},Detail="{}"'`,
);
