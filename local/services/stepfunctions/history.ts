/**
 * Execution history for the offline Step Functions service: AWS `HistoryEvent` objects as recorded, the engine's
 * events carried into them, and GetExecutionHistory paging.
 */
import { AwsError } from "../../core/awsError";
import type { EventOrigin, HistoryEvent as EngineHistoryEvent } from "./engine";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
    [key: string]: JsonValue;
}

/** The `...EventDetails` member of a history event; `undefined` members are left out of the JSON. */
export type EventDetails = { [field: string]: JsonValue | undefined };

/** A Step Functions `HistoryEvent` as the JSON 1.0 protocol sends it (timestamp in epoch seconds). */
export interface HistoryEvent {
    id: number;
    previousEventId: number;
    timestamp: number;
    type: string;
    [detailsField: `${string}EventDetails`]: EventDetails | undefined;
}

/** An event before it is numbered. */
export interface NewHistoryEvent {
    type: string;
    details?: EventDetails;
    origin?: EventOrigin;
    /** Milliseconds since the epoch; now when absent. */
    timestampMs?: number;
    /** The event this one follows (AWS links events of one state or branch); the one before it when absent. */
    previousEventId?: number;
}

/** What the recorder needs to know about the execution besides the engine's events. */
export interface RecordingContext {
    /** The execution input exactly as the caller sent it (ExecutionStarted shows it so, not re-serialised). */
    input: string;
    /** Shown in ExecutionStarted when the execution was started through a version or an alias, as AWS does. */
    stateMachineVersionArn?: string;
    stateMachineAliasArn?: string;
}

const NOT_TRUNCATED: JsonObject = { truncated: false };

/** AWS names a history event's details after its type, except the `<Type>StateEntered/Exited` family. */
export function detailsFieldFor(type: string): `${string}EventDetails` {
    const stateEvent = /^[A-Z][a-z]+State(Entered|Exited)$/.exec(type);
    if (stateEvent) return `state${stateEvent[1]}EventDetails`;
    return `${type[0].toLowerCase()}${type.slice(1)}EventDetails`;
}

/** Numbers events and keeps their timestamps monotonic (events of concurrent branches arrive interleaved). */
export class HistoryRecorder {
    private lastTimestampMs: number;

    constructor(readonly events: HistoryEvent[] = []) {
        const last = events[events.length - 1];
        this.lastTimestampMs = last ? last.timestamp * 1000 : 0;
    }

    append(event: NewHistoryEvent): HistoryEvent {
        const id = this.events.length + 1;
        this.lastTimestampMs = Math.max(event.timestampMs ?? Date.now(), this.lastTimestampMs);
        const recorded: HistoryEvent = { id, previousEventId: event.previousEventId ?? id - 1, timestamp: this.lastTimestampMs / 1000, type: event.type };
        if (event.details) recorded[detailsFieldFor(event.type)] = dropUndefined(event.details);
        this.events.push(recorded);
        return recorded;
    }

    /** True once the execution's closing event (succeeded, failed, aborted, timed out) is recorded. */
    isClosed(): boolean {
        const last = this.events[this.events.length - 1];
        return last !== undefined && CLOSING_EVENT_TYPES.has(last.type);
    }
}

export const CLOSING_EVENT_TYPES = new Set(["ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"]);

function dropUndefined(details: EventDetails): EventDetails {
    return Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined));
}

/**
 * Carries the engine's events into the history. The service records events of its own between them (TaskSubmitted,
 * ExecutionRedriven), so recorded ids differ from the engine's: previousEventId is translated through the ids each
 * engine event was recorded under.
 */
export class EngineEventRecorder {
    private readonly recordedIds = new Map<number, number>();

    constructor(private readonly context: RecordingContext) {}

    /** The event as it is to be recorded (its previousEventId still to be numbered by the HistoryRecorder). */
    convert(event: EngineHistoryEvent): NewHistoryEvent {
        const field = detailsFieldFor(event.type);
        let details = event[field];
        if (event.type === "ExecutionStarted") {
            const { stateMachineVersionArn, stateMachineAliasArn } = this.context;
            details = { ...details, input: this.context.input, inputDetails: NOT_TRUNCATED, stateMachineAliasArn, stateMachineVersionArn };
        }
        return { type: event.type, details, timestampMs: event.timestamp * 1000, previousEventId: this.recordedIdOf(event.previousEventId) };
    }

    /** The engine's event `engineId` was recorded as `recordedId` (or, for TaskSubmitted, is now followed by it). */
    recordedAs(engineId: number, recordedId: number): void {
        this.recordedIds.set(engineId, recordedId);
    }

    /** The recorded id standing for an engine id; 0 (no previous event) for one never recorded. */
    recordedIdOf(engineId: number): number {
        return this.recordedIds.get(engineId) ?? 0;
    }
}

/** A copy of the event with each of its `*EventDetails` replaced by what `change` makes of it. */
export function mapEventDetails(event: HistoryEvent, change: (details: EventDetails) => EventDetails): HistoryEvent {
    const copy: HistoryEvent = { ...event };
    for (const key of Object.keys(copy)) {
        if (!key.endsWith("EventDetails")) continue;
        const field = key as `${string}EventDetails`;
        const details = copy[field];
        if (details) copy[field] = change(details);
    }
    return copy;
}

/** The history events with input/output left out, for `includeExecutionData: false`. */
function withoutExecutionData(event: HistoryEvent): HistoryEvent {
    return mapEventDetails(event, ({ input, inputDetails, output, outputDetails, parameters, ...rest }) => rest);
}

export interface GetExecutionHistoryRequest {
    executionArn?: string;
    maxResults?: number;
    nextToken?: string;
    reverseOrder?: boolean;
    includeExecutionData?: boolean;
}

export interface GetExecutionHistoryResponse {
    events: HistoryEvent[];
    nextToken?: string;
}

/** One page of a history, AWS style: at most `maxResults` (default 100, at most 1000) events after `nextToken`. */
export function pageHistory(executionArn: string, events: readonly HistoryEvent[], request: GetExecutionHistoryRequest): GetExecutionHistoryResponse {
    const ordered = request.reverseOrder ? [...events].reverse() : [...events];
    const scope = `history:${executionArn}:${request.reverseOrder ? "reverse" : "forward"}`;
    const page = paginate(ordered, scope, request.maxResults, request.nextToken);
    const shown = request.includeExecutionData === false ? page.items.map(withoutExecutionData) : page.items;
    return page.nextToken ? { events: shown, nextToken: page.nextToken } : { events: shown };
}

/**
 * Offset pagination with opaque tokens. The token names what it pages over, so a token from one listing
 * replayed against another is rejected as AWS does (`InvalidToken`).
 */
export function paginate<T>(items: readonly T[], scope: string, maxResults: number | undefined, nextToken: string | undefined): { items: T[]; nextToken?: string } {
    if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > 1000)) {
        throw new AwsError("ValidationException", `Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 0 and 1000`);
    }
    const size = maxResults ? maxResults : 100;
    const start = nextToken === undefined || nextToken === null ? 0 : decodePageToken(nextToken, scope);
    const end = start + size;
    return end < items.length ? { items: items.slice(start, end), nextToken: encodePageToken(scope, end) } : { items: items.slice(start) };
}

function encodePageToken(scope: string, offset: number): string {
    return Buffer.from(JSON.stringify({ scope, offset })).toString("base64url");
}

function decodePageToken(token: string, scope: string): number {
    try {
        const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
        if (parsed && typeof parsed === "object" && "scope" in parsed && "offset" in parsed && parsed.scope === scope && Number.isInteger(parsed.offset)) {
            return Number(parsed.offset);
        }
    } catch {
        // fall through to the error below
    }
    throw new AwsError("InvalidToken", `Invalid pagination token: ${token}`);
}
