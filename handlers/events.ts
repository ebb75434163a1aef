/**
 * The events that make up the choreography, and the one way handlers put them on the bus.
 *
 * A state machine never calls a handler: it emits an event carrying a task token and waits. A handler answers
 * with `taskFinished` (the token and its result) or `taskFailed` (the token, the step and the error); the
 * TaskFinisher turns those into SendTaskSuccess / SendTaskFailure.
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";

/** Detail types used on the bus. `start` comes from users (`aws events put-events`), the rest from the stack. */
export const DetailType = {
    start: "start",
    getMultiple: "getMultiple",
    processSingle: "processSingle",
    processSinglePost: "processSinglePost",
    processAll: "processAll",
    sideEffectDone: "sideEffectDone",
    taskFinished: "taskFinished",
    taskFailed: "taskFailed",
} as const;

/** What every event emitted by a waiting task carries, so the answer can find its way back. */
export interface TaskDetail {
    taskToken: string;
    /** The state that is waiting, named in failures so the execution's cause says where it failed. */
    step: string;
    executionId: string;
    executionName: string;
}

export interface GetMultipleDetail extends TaskDetail {
    /** The `start` event's detail, as it arrived. */
    input: unknown;
}
export interface ProcessSingleDetail extends TaskDetail {
    name: string;
}
export interface ProcessSinglePostDetail extends ProcessSingleDetail {
    /** Presigned GET URL of the person's basic profile. */
    url: string;
}
export interface ProcessAllDetail extends TaskDetail {
    names: string[];
}
export interface SideEffectDoneDetail {
    executionName: string;
    name: string;
    company: string;
}
export interface TaskFinishedDetail<T = unknown> {
    taskToken: string;
    step: string;
    result: T;
}
export interface TaskFailedDetail {
    taskToken: string;
    step: string;
    error: string;
    cause: string;
}

/** The bus and source a handler publishes to; the Bus component sets both variables on every handler. */
export interface EventTarget {
    busName: string;
    source: string;
}

export function eventTargetFromEnv(env: NodeJS.ProcessEnv = process.env): EventTarget {
    const busName = env.EVENT_BUS;
    const source = env.EVENT_SOURCE;
    if (!busName || !source) {
        throw new Error("EVENT_BUS and EVENT_SOURCE must be set (the Bus component sets them on its handlers)");
    }
    return { busName, source };
}

/** Puts one event on the bus and fails loudly when EventBridge rejects the entry (PutEvents reports per entry). */
export async function putTaskEvent(
    client: EventBridgeClient,
    target: EventTarget,
    detailType: string,
    detail: object,
): Promise<string> {
    const response = await client.send(
        new PutEventsCommand({
            Entries: [{ EventBusName: target.busName, Source: target.source, DetailType: detailType, Detail: JSON.stringify(detail) }],
        }),
    );
    const entry = response.Entries?.[0];
    if (!entry || response.FailedEntryCount || !entry.EventId) {
        throw new Error(`PutEvents rejected the ${detailType} event: ${entry?.ErrorCode ?? "no entry"} ${entry?.ErrorMessage ?? ""}`.trim());
    }
    return entry.EventId;
}
