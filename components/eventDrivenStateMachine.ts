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
import { AslDefinition, taskStates } from "../protocol/asl";

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
        const putsEvents = definition.apply((d) => taskStates(d).some(({ state }) => String(state.Resource).startsWith("arn:aws:states:::events:putEvents")));

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
            args.bus.startExecutions(`${name}-${ruleName}`, pattern, this.arn, { parent: this });
        }
        this.registerOutputs({ arn: this.arn });
    }
}
