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
import { AslDefinition } from "../protocol/asl";
import { LAMBDA_FAILURE, TOKEN_NOT_WAITING, TaskAnswer } from "../protocol/taskToken";
import { Bus } from "./bus";
import { EventDrivenStateMachine } from "./eventDrivenStateMachine";

export interface TaskFinisherArgs {
    /** The bus the answers arrive on; its rules start the finisher. */
    bus: Bus;
    /** Days its log group keeps execution logs (the only record of an EXPRESS execution in AWS). */
    logRetentionDays: number;
}

/** What a system registers with the finisher. */
export interface TaskAnswering {
    /** State machines whose waiting tasks it may answer: its role may send task results to these only. */
    stateMachineArns: pulumi.Input<string>[];
    /** Handlers that answer those tasks: their failed invocations (Lambda's failure records) fail the task. */
    handlerArns: pulumi.Input<string>[];
}

function sendTask(resource: "sendTaskSuccess" | "sendTaskFailure", parameters: Record<string, string>) {
    return {
        Type: "Task",
        Resource: `arn:aws:states:::aws-sdk:sfn:${resource}`,
        Parameters: parameters,
        Catch: [{ ErrorEquals: [...TOKEN_NOT_WAITING], ResultPath: "$.tokenNotWaiting", Next: "TokenNotWaiting" }],
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

/**
 * One finisher serves every system of a stack: each registers its machines and answering handlers while the program's
 * top level runs (`register`), and the finisher's rule and role are built from all of them once it has run.
 */
export class TaskFinisher extends pulumi.ComponentResource {
    public readonly machine: EventDrivenStateMachine;
    public readonly arn: pulumi.Output<string>;
    private readonly registrations: Array<{ system: string } & TaskAnswering> = [];
    private sealed = false;

    constructor(name: string, args: TaskFinisherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:stepfunctions:TaskFinisher", name, {}, opts);
        const { bus } = args;
        // Registrations close when the program's top level has run: inputs are read then, never before.
        const registered = new Promise<TaskAnswering>((resolve, reject) =>
            setImmediate(() => {
                this.sealed = true;
                const stateMachineArns = this.registrations.flatMap((r) => r.stateMachineArns);
                const handlerArns = this.registrations.flatMap((r) => r.handlerArns);
                if (stateMachineArns.length === 0 || handlerArns.length === 0) {
                    reject(new Error(`TaskFinisher ${name}: no system registered a state machine and a handler with it (register(system, {stateMachineArns, handlerArns}))`));
                } else resolve({ stateMachineArns, handlerArns });
            }),
        );
        const answering = pulumi.output(registered);
        this.machine = new EventDrivenStateMachine(
            name,
            {
                bus,
                type: "EXPRESS",
                definition: taskFinisherDefinition,
                startOn: {
                    taskFinished: bus.pattern([TaskAnswer.taskFinished]),
                    taskFailed: bus.pattern([TaskAnswer.taskFailed]),
                    handlerFailed: {
                        source: [LAMBDA_FAILURE.source],
                        "detail-type": [LAMBDA_FAILURE.detailType],
                        // Only the registered handlers: the record names the function as `<arn>:$LATEST`.
                        detail: {
                            requestContext: {
                                functionArn: answering.handlerArns.apply((arns) => arns.map((arn) => ({ prefix: `${arn}:` }))),
                            },
                        },
                    },
                },
                statements: [
                    {
                        Effect: "Allow",
                        Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
                        Resource: answering.stateMachineArns,
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

    /** Lets the finisher answer `system`'s machines and fail their tasks when its handlers fail. */
    public register(system: string, answering: TaskAnswering): void {
        if (this.sealed) {
            throw new Error(`TaskFinisher: ${system} registered after the program's top level had run; register while constructing the system`);
        }
        this.registrations.push({ system, ...answering });
    }
}
