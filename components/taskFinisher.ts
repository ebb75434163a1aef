/**
 * TaskFinisher: turns answers on the bus into task results. `taskFinished` becomes SendTaskSuccess (the
 * output is the event's detail), `taskFailed` becomes SendTaskFailure with the detail's error and cause, and a
 * handler's failed invocation (Lambda's on-failure record, after its retries) becomes SendTaskFailure naming
 * the step and the handler's error. An answer for a token that is no longer waiting (already answered, timed
 * out, never issued) is caught, recorded as the caught error, and ends the execution cleanly.
 *
 * EXPRESS: each answer is one short request-response call, the kind of work EXPRESS machines are for. Its log
 * (level ALL, the only record AWS keeps of an EXPRESS execution) leaves execution data out: every input holds a
 * task token, and a failure record holds the handler's whole event, presigned URL included. The log still shows
 * each execution's states, the task it answered and any error caught (`Sfn.TaskDoesNotExistException` ...).
 */
import * as pulumi from "@pulumi/pulumi";
import { DetailType } from "../handlers/events";
import { Bus } from "./bus";
import { AslDefinition, EventDrivenStateMachine } from "./eventDrivenStateMachine";

export interface TaskFinisherArgs {
    /** The bus the answers arrive on; its rules start the finisher. */
    bus: Bus;
    /** The state machines whose tasks it may answer; its role may send task results to these only. */
    stateMachineArns: pulumi.Input<string>[];
    /** Handlers whose failed invocations it turns into task failures. */
    handlerArns: pulumi.Input<string>[];
    /** Days its log group keeps execution logs (the only record of an EXPRESS execution in AWS). */
    logRetentionDays: number;
}

/** The detail type and source Lambda gives an asynchronous invocation's failure record on EventBridge. */
export const LAMBDA_FAILURE = { source: "lambda", detailType: "Lambda Function Invocation Result - Failure" } as const;

/** Errors the SDK integration raises when a token is not waiting; recorded, not failed on. */
const TOKEN_NOT_WAITING = ["Sfn.TaskDoesNotExistException", "Sfn.TaskTimedOutException", "Sfn.InvalidTokenException"];

function sendTask(resource: "sendTaskSuccess" | "sendTaskFailure", parameters: Record<string, string>) {
    return {
        Type: "Task",
        Resource: `arn:aws:states:::aws-sdk:sfn:${resource}`,
        Parameters: parameters,
        Catch: [{ ErrorEquals: TOKEN_NOT_WAITING, ResultPath: "$.tokenNotWaiting", Next: "TokenNotWaiting" }],
        End: true,
    };
}

export function taskFinisherDefinition(): AslDefinition {
    return {
        Comment: "Answers waiting tasks from taskFinished / taskFailed events and handler failure records.",
        StartAt: "Route",
        States: {
            Route: {
                Type: "Choice",
                Choices: [
                    { Variable: "$.detail.responsePayload.errorType", IsPresent: true, Next: "SendHandlerFailure" },
                    // Lambda gave up without running the handler (EventAgeExceeded): no response to quote.
                    { Variable: "$.detail.requestContext.condition", IsPresent: true, Next: "SendHandlerNotRun" },
                    { Variable: "$.detail.error", IsPresent: true, Next: "SendTaskFailure" },
                ],
                Default: "SendTaskSuccess",
            },
            SendTaskSuccess: sendTask("sendTaskSuccess", {
                "TaskToken.$": "$.detail.taskToken",
                "Output.$": "States.JsonToString($.detail)",
            }),
            SendTaskFailure: sendTask("sendTaskFailure", {
                "TaskToken.$": "$.detail.taskToken",
                "Error.$": "$.detail.error",
                "Cause.$": "$.detail.cause",
            }),
            SendHandlerFailure: sendTask("sendTaskFailure", {
                "TaskToken.$": "$.detail.requestPayload.detail.taskToken",
                "Error.$": "$.detail.responsePayload.errorType",
                "Cause.$":
                    "States.Format('{} failed after retries: {}', $.detail.requestPayload.detail.step, $.detail.responsePayload.errorMessage)",
            }),
            SendHandlerNotRun: sendTask("sendTaskFailure", {
                "TaskToken.$": "$.detail.requestPayload.detail.taskToken",
                "Error.$": "States.Format('Lambda.{}', $.detail.requestContext.condition)",
                "Cause.$": "States.Format('{} was not run: {}', $.detail.requestPayload.detail.step, $.detail.requestContext.condition)",
            }),
            TokenNotWaiting: { Type: "Pass", End: true },
        },
    };
}

export class TaskFinisher extends pulumi.ComponentResource {
    public readonly machine: EventDrivenStateMachine;
    public readonly arn: pulumi.Output<string>;

    constructor(name: string, args: TaskFinisherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:stepfunctions:TaskFinisher", name, {}, opts);
        const { bus } = args;
        this.machine = new EventDrivenStateMachine(
            name,
            {
                bus,
                type: "EXPRESS",
                definition: taskFinisherDefinition,
                startOn: {
                    taskFinished: bus.pattern([DetailType.taskFinished]),
                    taskFailed: bus.pattern([DetailType.taskFailed]),
                    handlerFailed: {
                        source: [LAMBDA_FAILURE.source],
                        "detail-type": [LAMBDA_FAILURE.detailType],
                        // Only this stack's handlers: the record names the function as `<arn>:$LATEST`.
                        detail: {
                            requestContext: {
                                functionArn: args.handlerArns.map((arn) => ({ prefix: pulumi.interpolate`${arn}:` })),
                            },
                        },
                    },
                },
                statements: [
                    {
                        Effect: "Allow",
                        Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
                        Resource: args.stateMachineArns,
                    },
                ],
                logRetentionDays: args.logRetentionDays,
                includeExecutionData: false,
            },
            { parent: this },
        );
        this.arn = this.machine.arn;
        this.registerOutputs({ arn: this.arn });
    }
}
