/**
 * The Amazon States Language as this project writes and reads it: the types, the one walker over Task states (used
 * by components, tests and the policy pack), and the builder of a step that emits an event and waits for its token.
 * No Pulumi or SDK import.
 */
import { STEP_TRACE } from "./trace";

/** A state, loosely typed: the stack writes it, asl-validator and the policy pack check it. */
export type AslState = Record<string, unknown>;

export interface AslDefinition {
    Comment?: string;
    StartAt: string;
    TimeoutSeconds?: number;
    States: Record<string, AslState>;
}

/** A Task state with where it sits, e.g. `States.ProcessMultiple.ItemProcessor.States.ProcessSingle`. */
export interface LocatedTask {
    name: string;
    state: AslState;
    at: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Every Task state of a definition, Map item processors (and the older `Iterator`) and Parallel branches included.
 * Reads any JSON: what is not a state block is skipped, so a policy can walk a definition it has not validated.
 */
export function taskStates(definition: unknown, path = ""): LocatedTask[] {
    const found: LocatedTask[] = [];
    const states = isObject(definition) ? definition.States : undefined;
    if (!isObject(states)) return found;
    for (const [name, state] of Object.entries(states)) {
        if (!isObject(state)) continue;
        const at = `${path}States.${name}`;
        if (state.Type === "Task") found.push({ name, state, at });
        for (const key of ["ItemProcessor", "Iterator"]) {
            if (isObject(state[key])) found.push(...taskStates(state[key], `${at}.${key}.`));
        }
        const branches = Array.isArray(state.Branches) ? state.Branches : [];
        branches.forEach((branch, i) => found.push(...taskStates(branch, `${at}.Branches[${i}].`)));
    }
    return found;
}

export const PUT_EVENTS_WAIT = "arn:aws:states:::events:putEvents.waitForTaskToken";

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

/**
 * A Task that emits one event and waits for its token (`events:putEvents.waitForTaskToken`), its detail a
 * `TaskDetail`. Only STANDARD machines may wait for a token. The timeout is mandatory so no execution waits forever.
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
                        trace: STEP_TRACE,
                        ...args.detail,
                    },
                },
            ],
        },
        TimeoutSeconds: args.timeoutSeconds,
        ...(args.heartbeatSeconds ? { HeartbeatSeconds: args.heartbeatSeconds } : {}),
    };
}
