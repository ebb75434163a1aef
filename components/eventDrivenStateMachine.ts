/**
 * EventDrivenStateMachine: a Step Functions state machine that lives on the bus. Events start it, and its
 * steps are events too: a step emits an event carrying a task token and waits until the TaskFinisher hands
 * the token back. It never invokes a Lambda itself.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Bus, EventPattern } from "./bus";
import { Statement, serviceRole } from "./iam";
import { LOG_DELIVERY_ACTIONS } from "./logDelivery";

/** Amazon States Language, loosely typed: the stack writes it, asl-validator checks it in the tests. */
export type AslState = Record<string, unknown>;
export interface AslDefinition {
    Comment?: string;
    StartAt: string;
    TimeoutSeconds?: number;
    States: Record<string, AslState>;
}

export interface WaitForEventArgs {
    /** The state's name; handlers put it in their answers so a failure names its step. */
    step: string;
    busName: string;
    source: string;
    detailType: string;
    /** Detail fields beyond the token and the execution's identity (JSONPath keys end in `.$`). */
    detail: Record<string, unknown>;
    /** Seconds the step may wait for its answer in all. */
    timeoutSeconds: number;
    /** Seconds between heartbeats the handler promises; omit when the handler cannot heartbeat. */
    heartbeatSeconds?: number;
}

export const PUT_EVENTS_WAIT = "arn:aws:states:::events:putEvents.waitForTaskToken";

/**
 * A Task that emits one event and waits for its token (`events:putEvents.waitForTaskToken`). Only STANDARD
 * machines may wait for a token. The timeout is mandatory so no execution waits forever.
 */
export function waitForEvent(args: WaitForEventArgs): AslState {
    return {
        Type: "Task",
        Resource: PUT_EVENTS_WAIT,
        Parameters: {
            Entries: [
                {
                    EventBusName: args.busName,
                    Source: args.source,
                    DetailType: args.detailType,
                    Detail: {
                        "taskToken.$": "$$.Task.Token",
                        step: args.step,
                        "executionId.$": "$$.Execution.Id",
                        "executionName.$": "$$.Execution.Name",
                        ...args.detail,
                    },
                },
            ],
        },
        TimeoutSeconds: args.timeoutSeconds,
        ...(args.heartbeatSeconds ? { HeartbeatSeconds: args.heartbeatSeconds } : {}),
    };
}

/** Every Task state of a definition, Map item processors and Parallel branches included. */
export function taskStates(definition: AslDefinition): Array<[string, AslState]> {
    const found: Array<[string, AslState]> = [];
    for (const [name, state] of Object.entries(definition.States)) {
        if (state.Type === "Task") found.push([name, state]);
        const inner = (state.ItemProcessor ?? state.Iterator) as AslDefinition | undefined;
        if (inner) found.push(...taskStates(inner));
        for (const branch of (state.Branches as AslDefinition[] | undefined) ?? []) found.push(...taskStates(branch));
    }
    return found;
}

export interface EventDrivenStateMachineArgs {
    bus: Bus;
    /** Builds the definition once the bus's name is known. */
    definition: (bus: { name: string; source: string }) => AslDefinition;
    /** STANDARD for machines that wait for task tokens; EXPRESS for short request-response ones. */
    type: "STANDARD" | "EXPRESS";
    /** Events that start an execution (each becomes a rule whose target role may start this machine only). */
    startOn: Record<string, EventPattern>;
    /** Permissions for service integrations other than putting events on the bus (added when the definition does). */
    statements?: pulumi.Input<pulumi.Input<Statement>[]>;
    /** Days its log group keeps execution logs. */
    logRetentionDays: number;
    /** Whether its log holds inputs and outputs (default true); false when they carry credentials (TaskFinisher). */
    includeExecutionData?: boolean;
}


export class EventDrivenStateMachine extends pulumi.ComponentResource {
    public readonly stateMachine: aws.sfn.StateMachine;
    public readonly arn: pulumi.Output<string>;
    public readonly role: aws.iam.Role;

    constructor(name: string, args: EventDrivenStateMachineArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:stepfunctions:EventDrivenStateMachine", name, {}, opts);
        const parent = { parent: this };
        const definition = args.bus.name.apply((busName) => args.definition({ name: busName, source: args.bus.eventSource }));
        const putsEvents = definition.apply((d) => taskStates(d).some(([, s]) => String(s.Resource).startsWith("arn:aws:states:::events:putEvents")));

        const logGroup = new aws.cloudwatch.LogGroup(
            name,
            { name: `/aws/vendedlogs/states/choreography-${pulumi.getStack()}-${name}`, retentionInDays: args.logRetentionDays },
            parent,
        );
        const statements = pulumi.all([putsEvents, args.bus.arn, args.statements ?? []]).apply(([emits, busArn, own]) => {
            const granted: Statement[] = [{ Effect: "Allow", Action: [...LOG_DELIVERY_ACTIONS], Resource: "*" }];
            if (emits) granted.push({ Effect: "Allow", Action: ["events:PutEvents"], Resource: busArn });
            return [...granted, ...(own as Statement[])];
        });
        const { role, policy } = serviceRole(name, "states.amazonaws.com", statements, parent);
        this.role = role;

        this.stateMachine = new aws.sfn.StateMachine(
            name,
            {
                type: args.type,
                roleArn: role.arn,
                definition: definition.apply((d) => JSON.stringify(d)),
                loggingConfiguration: {
                    logDestination: pulumi.interpolate`${logGroup.arn}:*`,
                    includeExecutionData: args.includeExecutionData ?? true,
                    level: args.type === "EXPRESS" ? "ALL" : "ERROR",
                },
            },
            { parent: this, dependsOn: [policy] },
        );
        this.arn = this.stateMachine.arn;
        for (const [ruleName, pattern] of Object.entries(args.startOn)) {
            args.bus.startExecutions(`${name}-${ruleName}`, pattern, this.arn);
        }
        this.registerOutputs({ arn: this.arn });
    }
}
