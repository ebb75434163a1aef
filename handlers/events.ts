/**
 * The one way handlers put events on the bus, whatever triggered them (an EventBridge rule, an SQS batch, an HTTP
 * request): where to put them comes from the environment the Bus component sets.
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { TraceDetail } from "../protocol/trace";

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

/**
 * Puts one event on the bus, its `detail.trace` set to `trace` (the run and this emitter, replacing any trace the
 * detail was copied with), and fails loudly when EventBridge rejects the entry (PutEvents reports per entry).
 */
export async function putEvent(client: EventBridgeClient, target: EventTarget, detailType: string, detail: object, trace: TraceDetail): Promise<string> {
    const response = await client.send(
        new PutEventsCommand({
            Entries: [{ EventBusName: target.busName, Source: target.source, DetailType: detailType, Detail: JSON.stringify({ ...detail, trace: { ...trace, emittedAt: new Date().toISOString() } }) }],
        }),
    );
    const entry = response.Entries?.[0];
    if (!entry || response.FailedEntryCount || !entry.EventId) {
        throw new Error(`PutEvents rejected the ${detailType} event: ${entry?.ErrorCode ?? "no entry"} ${entry?.ErrorMessage ?? ""}`.trim());
    }
    return entry.EventId;
}
