/**
 * Step Functions' own integrations (`states:startExecution` in its three patterns, `aws-sdk:sfn:sendTask*`), and the
 * adapter that serves a StepFunctionsService built without the runtime (tests) from plain functions. The other
 * services contribute theirs in their own `service.ts`; the engine (stepFunctions.ts) only resolves a Task's
 * resource to one of these at creation, checks its permissions and runs it.
 */
import { randomUUID } from "node:crypto";
import { AwsError } from "../../core/awsError";
import { TaskFailure, type IntegrationCall, type TaskIntegration } from "../../core/registry";
import { dynamoDbIntegrations } from "../dynamodb/service";
import type { PutEventsRequestEntry, PutEventsResponse } from "../events/eventBridge";
import { eventBridgeIntegrations } from "../events/service";
import { lambdaIntegrations } from "../lambda/service";
import type { DescribeExecutionResponse, StepFunctionsService } from "./stepFunctions";

/** Plain functions standing for the other services, for a StepFunctionsService made without the runtime (tests). */
export interface TaskIntegrations {
    /** events:putEvents service integration; returns the PutEvents response ({FailedEntryCount, Entries:[{EventId}|{ErrorCode,ErrorMessage}]}). */
    putEvents(entries: PutEventsRequestEntry[]): Promise<PutEventsResponse>;
    /** Synchronous Lambda invoke for `arn:aws:states:::lambda:invoke` and bare Lambda ARNs; resolves to the function's result, rejects with an Error whose name is the errorType (an AwsError when Lambda refuses). */
    invokeFunction(functionName: string, payload: unknown): Promise<unknown>;
    /** DynamoDB JSON API call (`arn:aws:states:::dynamodb:putItem`, `aws-sdk:dynamodb:*`), action given as "PutItem" etc.; rejects with AwsError. */
    dynamodb(action: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** The integrations the runtime's services would contribute, served by plain functions. */
export function integrationsFromFunctions(functions: TaskIntegrations, region: string, accountId: string): TaskIntegration[] {
    const invoke = async (name: string, payload: unknown) => {
        try {
            return { payload: await functions.invokeFunction(name, payload) };
        } catch (err) {
            if (err instanceof AwsError || !(err instanceof Error)) throw err;
            const trace = err.stack ? err.stack.split("\n").slice(1).map((line) => line.trim()) : [];
            return { functionError: { errorType: err.name, errorMessage: err.message, trace } };
        }
    };
    return [
        ...eventBridgeIntegrations({ region, accountId, putEvents: (entries) => functions.putEvents(entries) }),
        ...lambdaIntegrations({
            region,
            accountId,
            invoke,
            invokeAsync: async (name, payload) => {
                functions.invokeFunction(name, payload).catch((err: unknown) => console.warn(`stepfunctions: async invoke of ${name} failed: ${err instanceof Error ? err.message : String(err)}`));
            },
        }),
        ...dynamoDbIntegrations({ region, accountId, call: (action, params) => functions.dynamodb(action, params) }),
    ];
}

/** What Step Functions' own integrations call on the service. */
export type StatesIntegrationHost = Pick<
    StepFunctionsService,
    "startExecution" | "stopExecution" | "sendTaskSuccess" | "sendTaskFailure" | "sendTaskHeartbeat" | "stateMachineOfToken" | "executionOutcome"
>;

/** The managed rule AWS creates to learn of `.sync` children's ends; the role must be allowed to manage it. */
const SYNC_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule";

export function statesIntegrations(host: StatesIntegrationHost, region: string, accountId: string): TaskIntegration[] {
    return [sendTaskIntegration(host), startExecutionIntegration(host, region, accountId)];
}

/** aws-sdk:sfn:sendTaskSuccess|Failure|Heartbeat: PascalCase parameters, errors `Sfn.<Code>Exception`. */
function sendTaskIntegration(host: StatesIntegrationHost): TaskIntegration {
    const actionOf = (resource: string) => /^arn:aws[a-z-]*:states:::aws-sdk:sfn:(sendTaskSuccess|sendTaskFailure|sendTaskHeartbeat)$/.exec(resource)?.[1];
    const text = (value: unknown) => (value === undefined || typeof value === "string" ? value : JSON.stringify(value));
    return {
        matches: (resource) => actionOf(resource) !== undefined,
        patterns: [""],
        errorService: "Sfn",
        permissions: (call) => {
            const token = membersOf(call).TaskToken;
            const machineArn = typeof token === "string" ? host.stateMachineOfToken(token) : undefined;
            const action = actionOf(call.resource) ?? "";
            // A token that is not waiting has no machine to check against; the call itself then fails as AWS's does.
            return machineArn ? [{ action: `states:${action.charAt(0).toUpperCase()}${action.slice(1)}`, resource: machineArn }] : [];
        },
        run: async (call) => {
            const members = membersOf(call);
            const action = actionOf(call.resource);
            if (action === "sendTaskSuccess") return host.sendTaskSuccess({ taskToken: text(members.TaskToken), output: text(members.Output) });
            if (action === "sendTaskFailure") return host.sendTaskFailure({ taskToken: text(members.TaskToken), error: text(members.Error), cause: text(members.Cause) });
            return host.sendTaskHeartbeat({ taskToken: text(members.TaskToken) });
        },
    };
}

/**
 * The optimised `states:startExecution`: request-response answers `{ExecutionArn, StartDate}` once the child started;
 * `.sync` waits for its end and answers DescribeExecution's shape (PascalCase, `Output` as the child's JSON text),
 * `.sync:2` the same with `Input` and `Output` as JSON; a child that does not succeed fails the task with
 * `States.TaskFailed` and that description as Cause. A parent that stops, times out or fails first stops the child.
 */
function startExecutionIntegration(host: StatesIntegrationHost, region: string, accountId: string): TaskIntegration {
    return {
        matches: (resource) => /^arn:aws[a-z-]*:states:::states:startExecution$/.test(resource),
        patterns: ["", ".sync", ".sync:2", ".waitForTaskToken"],
        errorService: "StepFunctions",
        permissions: (call) => {
            const members = membersOf(call);
            const machineArn = String(members.StateMachineArn ?? "");
            const start = [{ action: "states:StartExecution", resource: machineArn }];
            if (call.pattern !== ".sync" && call.pattern !== ".sync:2") return start;
            // The child's executions by its machine's name (`stateMachine:<name>[:version|alias]`); an unnamed child's
            // name is chosen at start, so the role must allow every execution of that machine.
            const machineName = /:stateMachine:([^:]+)/.exec(machineArn)?.[1] ?? "";
            const name = typeof members.Name === "string" ? members.Name : "*";
            const execution = `arn:aws:states:${region}:${accountId}:execution:${machineName}:${name}`;
            const rule = `arn:aws:events:${region}:${accountId}:rule/${SYNC_RULE}`;
            return [
                ...start,
                { action: "states:DescribeExecution", resource: execution },
                { action: "states:StopExecution", resource: execution },
                ...["events:PutTargets", "events:PutRule", "events:DescribeRule"].map((action) => ({ action, resource: rule })),
            ];
        },
        run: async (call) => {
            const members = membersOf(call);
            const stateMachineArn = members.StateMachineArn;
            if (typeof stateMachineArn !== "string") throw new AwsError("ValidationException", "states:startExecution Parameters must contain StateMachineArn.");
            const input = members.Input === undefined ? "{}" : typeof members.Input === "string" ? members.Input : JSON.stringify(members.Input);
            const name = typeof members.Name === "string" ? members.Name : randomUUID();
            const started = await host.startExecution({ stateMachineArn, name, input });
            if (call.pattern !== ".sync" && call.pattern !== ".sync:2") return { ExecutionArn: started.executionArn, StartDate: epochMillis(started.startDate) };
            const outcome = await host.executionOutcome(started.executionArn, call.signal, () => host.stopExecution({ executionArn: started.executionArn, error: "States.Aborted", cause: `The parent execution's state '${call.stateName}' ended first.` }));
            const description = syncResult(outcome, call.pattern === ".sync:2");
            if (outcome.status !== "SUCCEEDED") throw new TaskFailure("States.TaskFailed", JSON.stringify(description));
            return description;
        },
    };
}

/** DescribeExecution's answer as the `.sync` integrations give it: PascalCase members, dates in epoch milliseconds. */
function syncResult(outcome: DescribeExecutionResponse, parseJson: boolean): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(outcome)) {
        if (value === undefined) continue;
        const member = key.charAt(0).toUpperCase() + key.slice(1);
        if (key === "startDate" || key === "stopDate" || key === "redriveDate") result[member] = epochMillis(Number(value));
        else if ((key === "input" || key === "output") && parseJson && typeof value === "string") result[member] = JSON.parse(value) as unknown;
        else if (typeof value === "object" && value !== null) result[member] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), v]));
        else result[member] = value;
    }
    return result;
}

function epochMillis(epochSeconds: number): number {
    return Math.round(epochSeconds * 1000);
}

function membersOf(call: IntegrationCall): Record<string, unknown> {
    const parameters = call.parameters;
    return typeof parameters === "object" && parameters !== null && !Array.isArray(parameters) ? (parameters as Record<string, unknown>) : {};
}
