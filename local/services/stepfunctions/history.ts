/**
 * Execution history for the offline Step Functions service: AWS `HistoryEvent` objects, the conversion of
 * `aws-local-stepfunctions`' event log into them, and GetExecutionHistory paging.
 */
import type { StateMachine } from "aws-local-stepfunctions";
import { AwsError } from "../../core/awsError";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
    [key: string]: JsonValue;
}

/** One entry of the library's `eventLogs` (the package does not export the type itself). */
export type LibraryEvent = ReturnType<StateMachine["run"]>["eventLogs"] extends AsyncGenerator<infer E> ? E : never;

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

/** Where an event happened, passed on to progress listeners. */
export interface EventOrigin {
    stateName?: string;
    mapIndex?: number;
}

/** An event before it is numbered. */
export interface NewHistoryEvent {
    type: string;
    details?: EventDetails;
    origin?: EventOrigin;
    /** Milliseconds since the epoch; now when absent. */
    timestampMs?: number;
}

/** What the converter needs to know about the execution besides the event itself. */
export interface ConversionContext {
    roleArn: string;
    /** The execution input exactly as the caller sent it. */
    input: string;
    /** error/cause given to StopExecution, for the ExecutionAborted event. */
    stopDetails(): { error?: string; cause?: string };
    /** A state of the definition by name (any nesting level), to compute the Map length. */
    findState(name: string): JsonObject | undefined;
    /**
     * A redrive resumes an execution whose history already holds ExecutionStarted; the library's run of the
     * resumed part logs one again, which AWS does not show (ExecutionRedriven stands in its place).
     */
    redriven?: boolean;
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

/** Numbers events and keeps their timestamps monotonic (the library stamps events from several lanes). */
export class HistoryRecorder {
    private lastTimestampMs: number;

    constructor(readonly events: HistoryEvent[] = []) {
        const last = events[events.length - 1];
        this.lastTimestampMs = last ? last.timestamp * 1000 : 0;
    }

    append(event: NewHistoryEvent): HistoryEvent {
        const id = this.events.length + 1;
        this.lastTimestampMs = Math.max(event.timestampMs ?? Date.now(), this.lastTimestampMs);
        const recorded: HistoryEvent = { id, previousEventId: id - 1, timestamp: this.lastTimestampMs / 1000, type: event.type };
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

function toJsonText(value: unknown): string {
    return JSON.stringify(value ?? null);
}

function textOrUndefined(value: unknown): string | undefined {
    if (value === undefined || value === null || value === "") return undefined;
    return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Turns the library's events into AWS history events. Stateful because AWS reports Map/Parallel success as its own
 * event before `...StateExited`, which must not appear when the state failed and was caught.
 */
export class LibraryEventConverter {
    private readonly failedStates = new Set<string>();

    constructor(private readonly context: ConversionContext) {}

    convert(event: LibraryEvent): NewHistoryEvent[] {
        const at = { timestampMs: event.timestamp };
        switch (event.type) {
            case "ExecutionStarted": {
                if (this.context.redriven) return [];
                const { stateMachineVersionArn, stateMachineAliasArn } = this.context;
                return [{ ...at, type: "ExecutionStarted", details: { input: this.context.input, inputDetails: NOT_TRUNCATED, roleArn: this.context.roleArn, stateMachineAliasArn, stateMachineVersionArn } }];
            }
            case "ExecutionSucceeded":
                return [{ ...at, type: "ExecutionSucceeded", details: { output: toJsonText(event.output), outputDetails: NOT_TRUNCATED } }];
            case "ExecutionFailed":
                return [{ ...at, type: "ExecutionFailed", details: { error: textOrUndefined(event.Error), cause: textOrUndefined(event.Cause) } }];
            case "ExecutionAborted":
                return [{ ...at, type: "ExecutionAborted", details: this.context.stopDetails() }];
            case "ExecutionTimeout":
                return [{ ...at, type: "ExecutionTimedOut", details: { error: "States.Timeout", cause: "The execution ran longer than the state machine's TimeoutSeconds." } }];
            case "StateEntered":
                return this.stateEntered(event, at.timestampMs);
            case "StateExited":
                return this.stateExited(event, at.timestampMs);
            case "StateFailed":
                return this.stateFailed(event, at.timestampMs);
            case "MapIterationStarted":
            case "MapIterationSucceeded":
            case "MapIterationFailed": {
                const origin = { stateName: event.parentState.name, mapIndex: event.index };
                return [{ ...at, type: event.type, details: { name: event.parentState.name, index: event.index }, origin }];
            }
            default:
                // StateRetried/StateCaught and ParallelBranch* have no AWS counterpart: AWS shows a retry as a new
                // TaskScheduled and a catch as the state's exit.
                return [];
        }
    }

    private stateKey(name: string, index: number | undefined): string {
        return `${name}#${index ?? ""}`;
    }

    private stateEntered(event: Extract<LibraryEvent, { type: "StateEntered" }>, timestampMs: number): NewHistoryEvent[] {
        const { name, type, input } = event.state;
        const origin = { stateName: name, mapIndex: event.index };
        this.failedStates.delete(this.stateKey(name, event.index));
        const entered: NewHistoryEvent = { timestampMs, type: `${type}StateEntered`, details: { name, input: toJsonText(input), inputDetails: NOT_TRUNCATED }, origin };
        if (type === "Map") return [entered, { timestampMs, type: "MapStateStarted", details: { length: this.mapLength(name, input) }, origin }];
        if (type === "Parallel") return [entered, { timestampMs, type: "ParallelStateStarted", origin }];
        return [entered];
    }

    private stateExited(event: Extract<LibraryEvent, { type: "StateExited" }>, timestampMs: number): NewHistoryEvent[] {
        const { name, type, output } = event.state;
        const origin = { stateName: name, mapIndex: event.index };
        const exited: NewHistoryEvent = { timestampMs, type: `${type}StateExited`, details: { name, output: toJsonText(output), outputDetails: NOT_TRUNCATED }, origin };
        const failed = this.failedStates.delete(this.stateKey(name, event.index));
        if ((type === "Map" || type === "Parallel") && !failed) return [{ timestampMs, type: `${type}StateSucceeded`, origin }, exited];
        return [exited];
    }

    private stateFailed(event: Extract<LibraryEvent, { type: "StateFailed" }>, timestampMs: number): NewHistoryEvent[] {
        const { name, type } = event.state;
        this.failedStates.add(this.stateKey(name, event.index));
        // Only Map and Parallel have a "failed" state event in AWS; a Task's failure is its TaskFailed event.
        if (type !== "Map" && type !== "Parallel") return [];
        return [{ timestampMs, type: `${type}StateFailed`, origin: { stateName: name, mapIndex: event.index } }];
    }

    /** The number of items the Map iterates, when its InputPath/ItemsPath are plain dotted paths. */
    private mapLength(stateName: string, input: unknown): number | undefined {
        const state = this.context.findState(stateName);
        const inputPath = state?.InputPath;
        const itemsPath = state?.ItemsPath;
        const effective = typeof inputPath === "string" ? resolveSimplePath(inputPath, input) : input;
        const items = typeof itemsPath === "string" ? resolveSimplePath(itemsPath, effective) : effective;
        return Array.isArray(items) ? items.length : undefined;
    }
}

/** Resolves `$`, `$.a.b` and `$.a[0]`; anything fancier yields undefined (it is only used for display). */
export function resolveSimplePath(path: string, value: unknown): unknown {
    if (!/^\$((\.[A-Za-z_][\w-]*)|(\[\d+\]))*$/.test(path)) return undefined;
    let current: unknown = value;
    for (const segment of path.slice(1).match(/\.[^.[]+|\[\d+\]/g) ?? []) {
        if (current === null || typeof current !== "object") return undefined;
        const key = segment.startsWith("[") ? Number(segment.slice(1, -1)) : segment.slice(1);
        current = (current as Record<string | number, unknown>)[key];
    }
    return current;
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
