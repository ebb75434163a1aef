/**
 * CookieReport: the "cookie report" workflow, in which a state machine never calls a Lambda. Each step emits an event
 * with a task token and waits; handlers subscribed to the bus do the work and answer with `taskFinished` /
 * `taskFailed`, which the stack's TaskFinisher hands back to the waiting step.
 *
 *   start ──▶ Workflow: GetMultiple ─▶ ProcessMultiple (Map) ─▶ PostProcessAll ─▶ Success
 *                           │ getMultiple    │ processSingle ─▶ processSinglePost   │ processAll
 *                           ▼                ▼                 ▼          ▼          ▼
 *                      getMultiple     processSingle   postProcessSingle sideEffect postProcessAll
 *                           └──────────── taskFinished / taskFailed ──▶ TaskFinisher ──▶ SendTask*
 *
 * Every child is named from the component's name (`<name>-workflow`, `<name>-processSingle` ...), so two systems may
 * each have a handler called `notify`.
 */
import * as pulumi from "@pulumi/pulumi";
import type { SubscriptionArgs } from "../../components/bus";
import { EventDrivenStateMachine } from "../../components/eventDrivenStateMachine";
import { ResultsBucket } from "../../components/resultsBucket";
import type { CookieReportSettings } from "../../settings";
import type { Platform } from "../platform";
import { cookieReportDefinition } from "./definition";
import { DetailType } from "./events";
import { getMultipleFactory } from "./handlers/getMultiple";
import { postProcessAllFactory } from "./handlers/postProcessAll";
import { postProcessSingleFactory } from "./handlers/postProcessSingle";
import { processSingleFactory } from "./handlers/processSingle";
import { sideEffectFactory } from "./handlers/sideEffect";

export interface CookieReportArgs {
    /** The bus, the TaskFinisher it registers with, and the handlers' common settings. */
    platform: Platform;
    /** Timeouts, Map concurrency, presigned URL lifetime and the bucket's deletion rule. */
    settings: CookieReportSettings;
}

export class CookieReport extends pulumi.ComponentResource {
    public readonly workflowArn: pulumi.Output<string>;
    public readonly bucketName: pulumi.Output<string>;
    /** The `aws events put-events` command that starts a run. */
    public readonly startCommand: pulumi.Output<string>;

    constructor(name: string, args: CookieReportArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:systems:CookieReport", name, {}, opts);
        const { platform, settings } = args;
        const { bus } = platform;
        const parent = { parent: this };
        const child = (suffix: string) => `${name}-${suffix}`;

        const results = new ResultsBucket(child("results"), { forceDestroy: settings.bucketForceDestroy }, parent);
        const workflow = new EventDrivenStateMachine(
            child("workflow"),
            {
                bus,
                type: "STANDARD",
                definition: (on) => cookieReportDefinition(on, settings),
                startOn: { start: bus.pattern([DetailType.start]) },
                logRetentionDays: platform.logRetentionDays,
            },
            parent,
        );

        const objects = pulumi.interpolate`${results.arn}/*`;
        const bucketEnv = { BUCKET: results.name };
        const subscribe = (handler: string, subscription: Omit<SubscriptionArgs, keyof Platform["handlerDefaults"]>) =>
            bus.subscribe(child(handler), { ...platform.handlerDefaults, ...subscription }, { parent: this });

        /** Handlers that answer a waiting task: their failed invocations fail that task through the TaskFinisher. */
        const taskHandlers = [
            subscribe("getMultiple", {
                description: "Answers GetMultiple with the names of the run",
                detailTypes: [DetailType.getMultiple],
                callbackFactory: getMultipleFactory,
                statements: [],
            }),
            subscribe("processSingle", {
                description: "Writes a person's basic profile and passes it on as a presigned URL",
                detailTypes: [DetailType.processSingle],
                callbackFactory: processSingleFactory,
                environment: { ...bucketEnv, PRESIGN_EXPIRY_SECONDS: String(settings.presignExpirySeconds) },
                // GetObject too: a presigned URL carries the signer's permissions.
                statements: [{ Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject"], Resource: objects }],
            }),
            subscribe("postProcessSingle", {
                description: "Adds cookies to a profile read through its presigned URL and finishes the person's task",
                detailTypes: [DetailType.processSinglePost],
                callbackFactory: postProcessSingleFactory,
                environment: bucketEnv,
                statements: [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: objects }],
            }),
            subscribe("postProcessAll", {
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

        // Off the critical path and answering no task: it is not registered with the TaskFinisher, so its failure
        // record never fails a person's task (the event it handles carries that task's token).
        subscribe("sideEffect", {
            description: "A side effect of each processed person, off the critical path",
            detailTypes: [DetailType.processSinglePost],
            callbackFactory: sideEffectFactory,
            statements: [],
        });

        platform.taskFinisher().register(name, { stateMachineArns: [workflow.arn], handlerArns: taskHandlers.map((h) => h.arn) });

        this.workflowArn = workflow.arn;
        this.bucketName = results.name;
        this.startCommand = bus.name.apply(
            // Single-quoted so the CLI's shorthand parser sees `Detail="{}"` and reads a string: unquoted, AWS CLI v1
            // and v2 read `{}` as a map and refuse the entry ("Invalid type for parameter Entries[0].Detail").
            (busName) => `aws events put-events --entries 'Source=${bus.eventSource},DetailType=${DetailType.start},EventBusName=${busName},Detail="{}"'`,
        );
        this.registerOutputs({ workflowArn: this.workflowArn, bucketName: this.bucketName, startCommand: this.startCommand });
    }
}
