/**
 * Bus: the EventBridge bus a choreography runs on, and the one place that subscribes things to it.
 *
 * Every rule it creates matches on `source` as well as `detail-type`, so no other producer on a shared bus
 * (the account's default bus receives every AWS service's events) can trigger this stack.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HandlerFunction, HandlerFunctionArgs } from "./handlerFunction";
import { Statement, serviceRole } from "./iam";

export interface BusArgs {
    /** `default` uses the account's default bus (AWS service events reach only it); any other name creates a bus. */
    busName: string;
    /** The `source` this stack's events carry and its rules require. */
    eventSource: string;
}

/** An EventBridge event pattern; `source` and `detail-type` are required by every rule of this stack. */
export type EventPattern = { source: string[]; "detail-type": string[] } & Record<string, unknown>;

export interface SubscriptionArgs extends Omit<HandlerFunctionArgs, "onFailureDestinationArn"> {
    /** The detail types (from this stack's source) that invoke the handler. */
    detailTypes: string[];
}

export class Bus extends pulumi.ComponentResource {
    /** The bus name to put events on (`default` for the default bus). */
    public readonly name: pulumi.Output<string>;
    public readonly arn: pulumi.Output<string>;
    public readonly eventSource: string;

    constructor(name: string, args: BusArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:events:Bus", name, {}, opts);
        this.eventSource = args.eventSource;
        if (args.busName === "default") {
            const region = aws.getRegionOutput({}, { parent: this });
            const account = aws.getCallerIdentityOutput({}, { parent: this });
            const partition = aws.getPartitionOutput({}, { parent: this });
            this.name = pulumi.output("default");
            this.arn = pulumi.interpolate`arn:${partition.partition}:events:${region.region}:${account.accountId}:event-bus/default`;
        } else {
            const bus = new aws.cloudwatch.EventBus(name, { name: args.busName }, { parent: this });
            this.name = bus.name;
            this.arn = bus.arn;
        }
        this.registerOutputs({ name: this.name, arn: this.arn });
    }

    /** A pattern for this stack's own events of the given detail types. */
    public pattern(detailTypes: string[]): EventPattern {
        return { source: [this.eventSource], "detail-type": detailTypes };
    }

    /**
     * Declares a handler invoked by events of `detailTypes` (children of `opts.parent`, the system that owns them, or
     * of the bus): the function, a rule, its target and the
     * permission for EventBridge to invoke it. The handler may put events on this bus only, learns where
     * through EVENT_BUS and EVENT_SOURCE, and its failed invocations come back to this bus after Lambda's
     * retries, so a waiting task can be failed instead of timing out.
     */
    public subscribe(name: string, args: SubscriptionArgs, opts: { parent?: pulumi.Resource } = {}): HandlerFunction {
        const parent = { parent: opts.parent ?? this };
        const { detailTypes, ...functionArgs } = args;
        const handler = new HandlerFunction(
            name,
            {
                ...functionArgs,
                environment: pulumi.output(args.environment ?? {}).apply((env) => ({
                    ...env,
                    EVENT_BUS: this.name,
                    EVENT_SOURCE: this.eventSource,
                })),
                statements: pulumi
                    .all([args.statements, this.arn])
                    .apply(([own, busArn]): Statement[] => [...own, { Effect: "Allow", Action: ["events:PutEvents"], Resource: busArn }]),
                onFailureDestinationArn: this.arn,
            },
            parent,
        );
        const rule = this.rule(name, this.pattern(detailTypes), parent);
        new aws.cloudwatch.EventTarget(name, { rule: rule.name, eventBusName: this.name, arn: handler.arn }, parent);
        new aws.lambda.Permission(
            name,
            { action: "lambda:InvokeFunction", function: handler.function.name, principal: "events.amazonaws.com", sourceArn: rule.arn },
            parent,
        );
        return handler;
    }

    /**
     * Starts an execution of `stateMachineArn` for every event matching `pattern`, through a role that may
     * start that state machine only. The execution's input is the whole event.
     */
    public startExecutions(name: string, pattern: EventPattern, stateMachineArn: pulumi.Input<string>, opts: { parent?: pulumi.Resource } = {}): aws.cloudwatch.EventRule {
        const parent = { parent: opts.parent ?? this };
        const rule = this.rule(name, pattern, parent);
        const { role, policy } = serviceRole(
            `${name}-target`,
            "events.amazonaws.com",
            [{ Effect: "Allow", Action: ["states:StartExecution"], Resource: stateMachineArn }],
            parent,
        );
        new aws.cloudwatch.EventTarget(
            name,
            { rule: rule.name, eventBusName: this.name, arn: stateMachineArn, roleArn: role.arn },
            { ...parent, dependsOn: [policy] },
        );
        return rule;
    }

    private rule(name: string, pattern: EventPattern, parent: { parent: pulumi.Resource }): aws.cloudwatch.EventRule {
        if (!pattern.source?.length || !pattern["detail-type"]?.length) {
            throw new Error(`rule ${name}: every rule must match on source and detail-type`);
        }
        return new aws.cloudwatch.EventRule(
            name,
            { eventBusName: this.name, eventPattern: pulumi.output(pattern).apply((p) => JSON.stringify(p)) },
            parent,
        );
    }
}
