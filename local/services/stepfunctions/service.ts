/** Step Functions: the state machines the stack declares, run on the project's own ASL engine (./engine), calling other services. */
import * as stepFunctionsSdk from "@aws-sdk/client-sfn";
import { operationsOf } from "../../core/operations";
import { namedArn, str } from "../../core/naming";
import type { ServiceDefinition, ServiceInstance, TargetKind } from "../../core/registry";
import { requestShapes } from "../../core/requestShapes";
import { StepFunctionsService } from "./stepFunctions";

export interface StatesInstance extends ServiceInstance {
    service: StepFunctionsService;
}

const STATE_MACHINE = "aws:sfn/stateMachine:StateMachine";

export const statesService: ServiceDefinition<StatesInstance> = {
    name: "states",
    signingName: "states",
    // Where executions were kept before the registry, so an existing --data-dir is read back.
    dataFolder: "stepfunctions",
    resourceTypes: {
        [STATE_MACHINE]: { attributes: namedArn((r, name) => `arn:aws:states:${r.region}:${r.accountId}:stateMachine:${name}`) },
    },
    async create(context) {
        const service = new StepFunctionsService({
            region: context.region,
            accountId: context.accountId,
            dataDir: context.dataDir(),
            maxRetainedExecutions: context.options.maxExecutions,
            maxRetainedExpressExecutions: context.options.maxExpressExecutions,
            // The machine's role must allow each call, as IAM would in AWS.
            authorize: (roleArn, action, resource) => context.iam.authorize(roleArn, action, resource),
            // AWS emits these on the default bus for STANDARD executions; users cannot put aws.* sources themselves.
            onStatusChange: (event) => {
                context.service("events").service.putServiceEvent({ Source: event.source, DetailType: event.detailType, Detail: JSON.stringify(event.detail), Resources: event.resources, Time: event.time });
            },
            // Each Task's resource is resolved, when its machine is created, among the integrations every service
            // contributes (Step Functions' own below), in registry order.
            integrations: (resource) => context.integration(resource),
        });
        const stateMachines: TargetKind = {
            description: "state machines",
            matches: (arn) => arn.startsWith("arn:aws:states:"),
            deliver: async ({ targetArn, roleArn, input }) => {
                context.iam.authorize(roleArn, "states:StartExecution", targetArn);
                await service.startExecution({ stateMachineArn: targetArn, input });
            },
        };
        return {
            service,
            routes: {
                json: {
                    targetPrefix: "AWSStepFunctions",
                    contentType: "application/x-amz-json-1.0",
                    checkShape: requestShapes(stepFunctionsSdk),
                    authorize: (accessKeyId, operation, request) => {
                        if (!context.credentials.roleOf(accessKeyId) || !operation.startsWith("SendTask")) return;
                        // A token that is not waiting has no machine to check against; the call then fails as in AWS.
                        const machineArn = service.stateMachineOfToken(str(request.taskToken));
                        if (machineArn) context.iam.authorizeCaller(accessKeyId, `states:${operation}`, machineArn);
                    },
                    operations: operationsOf(stepFunctionsSdk, service),
                },
            },
            targets: [stateMachines],
            integrations: service.ownIntegrations(),
            async provision() {
                for (const machine of context.declared.of(STATE_MACHINE)) {
                    const type = machine.inputs.type === "EXPRESS" ? "EXPRESS" : "STANDARD";
                    service.addStateMachine({
                        arn: str(machine.state.arn),
                        name: str(machine.state.name),
                        type,
                        definition: str(machine.inputs.definition),
                        roleArn: str(machine.inputs.roleArn),
                    });
                    context.serve({
                        service: "states",
                        type: STATE_MACHINE,
                        urn: machine.urn,
                        arn: str(machine.state.arn),
                        name: str(machine.state.name),
                        description: `${type.padEnd(8)} state machine ${str(machine.state.name)}`,
                    });
                }
            },
            close: () => service.close(),
        };
    },
};
