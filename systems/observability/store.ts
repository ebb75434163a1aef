/**
 * The observability store: what one recorded event becomes (pure: `recordOf`), the DynamoDB items that hold it, and
 * the reads the API makes. One table:
 *
 *   event items   correlationId = the run (execution ARN)    sk = `event#<event.time>#<emittedAt|->#<event.id>`
 *   run items     correlationId = the run                     sk = `run`, with `runs` = "run" and `startedAt`, the
 *                                                             runs index's keys (latest runs first)
 *   loose events  correlationId = `event:<event.id>`          an event that belongs to no run when it is put (the
 *                                                             user's `start`): the run it started names it
 *                                                             (`startEventId`, from its execution's input)
 *
 * An EventBridge id is unique, so two events in the same millisecond are two items. Every item has `expiresAt`
 * (epoch seconds), the table's TTL attribute.
 */
import {
    AttributeValue,
    ConditionalCheckFailedException,
    DynamoDBClient,
    GetItemCommand,
    PutItemCommand,
    QueryCommand,
    UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { EventBridgeEvent } from "aws-lambda";
import { LAMBDA_FAILURE } from "../../protocol/taskToken";
import { traceOf, correlationIdOf } from "../../protocol/trace";
import { redactForStore } from "./redaction";

export const RUNS_INDEX = "runs";
/** The runs index's one partition: every run item has `runs` = this. */
export const RUNS_PARTITION = "run";
export const RUN_SK = "run";
export const EVENT_SK_PREFIX = "event#";
/** The detail-type of Step Functions' execution status events (source aws.states). */
export const EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change";
export const STATES_SOURCE = "aws.states";
/** How an event with no trace names its emitter: `external:<source>`. */
export const EXTERNAL_PREFIX = "external:";
/** DynamoDB's item limit is 400 KB; a bigger detail is stored cut, saying so. */
const MAX_DETAIL_CHARS = 300_000;

/** An event as stored and as the API returns it. */
export interface StoredEvent {
    /** The run: its execution ARN (or `event:<id>` for an event of no run). */
    correlationId: string;
    /** The item's sort key: the event's place in its run. */
    sk: string;
    /** The EventBridge event id. */
    id: string;
    /** `event.time` (whole seconds, ISO 8601). */
    time: string;
    /** `detail.trace.emittedAt` (milliseconds), or the time Step Functions gives for a status change. */
    emittedAt?: string;
    detailType: string;
    source: string;
    /** `<machine>.<state>`, a function's name, or a state machine's name for a status change. */
    emitter: string;
    /** The EventBridge id of the event whose handling emitted this one. */
    causedBy?: string;
    /** The event's detail with every credential redacted. */
    detail: unknown;
}

/** A run as the runs index lists it. */
export interface RunSummary {
    executionArn: string;
    executionName: string;
    stateMachineArn?: string;
    /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED; null until Step Functions' status event is recorded. */
    status: string | null;
    /** The earliest time known for the run (its execution's startDate once recorded), ms ISO 8601. */
    startedAt: string;
    stoppedAt?: string;
    error?: string;
    cause?: string;
    /** The id of the event that started the execution (read from its input). */
    startEventId?: string;
    /** How many events the store holds for the run. */
    eventCount: number;
}

/** What recording one event changes on its run item. */
export interface RunUpdate {
    executionArn: string;
    /** When the event shows the run to have been under way: a candidate for the run's start. */
    seenAt: string;
    status?: { status: string; stateMachineArn: string; startedAt: string; stoppedAt?: string; error?: string; cause?: string; startEventId?: string };
}

export interface RecordedEvent {
    event: StoredEvent;
    /** Absent for an event of no run. */
    run?: RunUpdate;
}

/** ms since the epoch, or an ISO string, as ISO 8601 with milliseconds. */
function isoOf(value: unknown): string | undefined {
    if (typeof value === "number" && Number.isFinite(value)) return new Date(value).toISOString();
    if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return new Date(Date.parse(value)).toISOString();
    return undefined;
}

function asObject(value: unknown): Record<string, unknown> | undefined {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

/** The last `:`-separated part of an ARN: a state machine's, an execution's name. Lambda's `...:function:name:$LATEST` gives its name. */
export function nameOfArn(arn: string): string {
    const lambda = /:function:([^:]+)/.exec(arn);
    if (lambda) return lambda[1];
    return arn.slice(arn.lastIndexOf(":") + 1);
}

/** The id of the EventBridge event an execution's input is (a rule's target passes the whole event). */
function inputEventId(input: unknown): string | undefined {
    if (typeof input !== "string") return undefined;
    try {
        const parsed = asObject(JSON.parse(input) as unknown);
        return parsed && typeof parsed["detail-type"] === "string" ? str(parsed.id) : undefined;
    } catch {
        return undefined;
    }
}

/** A regular expression, not a Set: Pulumi's closure serialization turns a captured Set into a plain object. */
const TERMINAL = /^(?:SUCCEEDED|FAILED|TIMED_OUT|ABORTED)$/;

/** What one delivered event is stored as, and what it tells of its run; the detail redacted first. */
export function recordOf(event: EventBridgeEvent<string, unknown>): RecordedEvent {
    const detail = asObject(event.detail) ?? {};
    let correlationId: string | undefined;
    let emitter: string;
    let causedBy: string | undefined;
    let emittedAt: string | undefined;
    let status: RunUpdate["status"];
    if (event.source === STATES_SOURCE && event["detail-type"] === EXECUTION_STATUS_CHANGE) {
        correlationId = str(detail.executionArn);
        const stateMachineArn = str(detail.stateMachineArn) ?? "";
        emitter = nameOfArn(stateMachineArn);
        const startedAt = isoOf(detail.startDate) ?? isoOf(event.time)!;
        const stoppedAt = isoOf(detail.stopDate);
        const state = str(detail.status) ?? "UNKNOWN";
        emittedAt = TERMINAL.test(state) ? (stoppedAt ?? isoOf(event.time)) : startedAt;
        causedBy = inputEventId(detail.input);
        status = { status: state, stateMachineArn, startedAt, stoppedAt, startEventId: causedBy };
        const redacted = redactForStore({ error: detail.error, cause: detail.cause });
        if (typeof redacted.error === "string") status.error = redacted.error;
        if (typeof redacted.cause === "string") status.cause = redacted.cause;
    } else if (event.source === LAMBDA_FAILURE.source && event["detail-type"] === LAMBDA_FAILURE.detailType) {
        // Lambda's on-failure record: the function could not handle `requestPayload`, the event of some run.
        const request = asObject(detail.requestPayload);
        correlationId = correlationIdOf(request?.detail);
        emitter = nameOfArn(str(asObject(detail.requestContext)?.functionArn) ?? "lambda");
        causedBy = str(request?.id);
        emittedAt = isoOf(detail.timestamp);
    } else {
        const trace = traceOf(detail);
        correlationId = correlationIdOf(detail);
        // An event with no trace came from outside the stack's code (a user's `start`): named by its source.
        emitter = trace?.emitter ?? `${EXTERNAL_PREFIX}${event.source}`;
        causedBy = trace?.causedBy;
        emittedAt = trace?.emittedAt ? isoOf(trace.emittedAt) : undefined;
    }
    const time = isoOf(event.time) ?? new Date().toISOString();
    const stored: StoredEvent = {
        correlationId: correlationId ?? `event:${event.id}`,
        sk: `${EVENT_SK_PREFIX}${time}#${emittedAt ?? "-"}#${event.id}`,
        id: event.id,
        time,
        detailType: event["detail-type"],
        source: event.source,
        emitter,
        detail: redactForStore(event.detail),
    };
    if (emittedAt) stored.emittedAt = emittedAt;
    if (causedBy) stored.causedBy = causedBy;
    if (!correlationId) return { event: stored };
    return { event: stored, run: { executionArn: correlationId, seenAt: status?.startedAt ?? emittedAt ?? time, status } };
}

// ─── Items ────────────────────────────────────────────────────────────────────────────────────────────────

type Item = Record<string, AttributeValue>;

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

export function eventItem(event: StoredEvent, expiresAt: number): Item {
    let detail = JSON.stringify(event.detail ?? null);
    if (detail.length > MAX_DETAIL_CHARS) detail = JSON.stringify({ truncated: true, characters: detail.length, start: detail.slice(0, 1000) });
    const item: Item = {
        correlationId: S(event.correlationId),
        sk: S(event.sk),
        id: S(event.id),
        time: S(event.time),
        detailType: S(event.detailType),
        source: S(event.source),
        emitter: S(event.emitter),
        detail: S(detail),
        expiresAt: N(expiresAt),
    };
    if (event.emittedAt) item.emittedAt = S(event.emittedAt);
    if (event.causedBy) item.causedBy = S(event.causedBy);
    return item;
}

const s = (item: Item, name: string): string | undefined => item[name]?.S;

export function eventOfItem(item: Item): StoredEvent {
    const event: StoredEvent = {
        correlationId: s(item, "correlationId")!,
        sk: s(item, "sk")!,
        id: s(item, "id")!,
        time: s(item, "time")!,
        detailType: s(item, "detailType")!,
        source: s(item, "source")!,
        emitter: s(item, "emitter")!,
        detail: JSON.parse(s(item, "detail") ?? "null") as unknown,
    };
    const emittedAt = s(item, "emittedAt");
    const causedBy = s(item, "causedBy");
    if (emittedAt) event.emittedAt = emittedAt;
    if (causedBy) event.causedBy = causedBy;
    return event;
}

export function runOfItem(item: Item): RunSummary {
    const executionArn = s(item, "correlationId")!;
    const run: RunSummary = {
        executionArn,
        executionName: nameOfArn(executionArn),
        status: s(item, "status") ?? null,
        startedAt: s(item, "startedAt")!,
        eventCount: Number(item.eventCount?.N ?? 0),
    };
    for (const key of ["stateMachineArn", "stoppedAt", "error", "cause", "startEventId"] as const) {
        const value = s(item, key);
        if (value !== undefined) run[key] = value;
    }
    return run;
}

/** A page position for the API: opaque to clients (base64url of the index's LastEvaluatedKey). */
export function encodeNext(key: Item | undefined): string | undefined {
    if (!key) return undefined;
    const plain = Object.fromEntries(Object.entries(key).map(([k, v]) => [k, v.S ?? ""]));
    return Buffer.from(JSON.stringify(plain)).toString("base64url");
}

/** The LastEvaluatedKey a `next` token stands for; undefined when it is not one this API issued. */
export function decodeNext(next: string): Item | undefined {
    try {
        const plain = asObject(JSON.parse(Buffer.from(next, "base64url").toString("utf8")) as unknown);
        const keys = ["correlationId", "sk", "runs", "startedAt"];
        if (!plain || Object.keys(plain).length !== keys.length || !keys.every((k) => typeof plain[k] === "string")) return undefined;
        return Object.fromEntries(keys.map((k) => [k, S(plain[k] as string)]));
    } catch {
        return undefined;
    }
}

// ─── The store over DynamoDB ──────────────────────────────────────────────────────────────────────────────

function isFailedCondition(error: unknown): boolean {
    return error instanceof ConditionalCheckFailedException || (error as { name?: string } | undefined)?.name === "ConditionalCheckFailedException";
}

export class EventStore {
    constructor(
        private readonly client: DynamoDBClient,
        private readonly tableName: string,
        private readonly ttlSeconds: number,
    ) {}

    /**
     * Stores one event and updates its run: the event item, the run's counters, its status, its start. EventBridge
     * delivers at least once: an event already stored (same id, so same key) is left as it is and counted once.
     * Returns whether the event was new.
     */
    async record(record: RecordedEvent, now = Date.now()): Promise<boolean> {
        const expiresAt = Math.floor(now / 1000) + this.ttlSeconds;
        try {
            await this.client.send(
                new PutItemCommand({ TableName: this.tableName, Item: eventItem(record.event, expiresAt), ConditionExpression: "attribute_not_exists(sk)" }),
            );
        } catch (error) {
            if (isFailedCondition(error)) return false;
            throw error;
        }
        const run = record.run;
        if (!run) return true;
        const Key = { correlationId: S(run.executionArn), sk: S(RUN_SK) };
        await this.client.send(
            new UpdateItemCommand({
                TableName: this.tableName,
                Key,
                UpdateExpression: "SET #runs = :runs, expiresAt = :expiresAt, startedAt = if_not_exists(startedAt, :seenAt) ADD eventCount :one",
                ExpressionAttributeNames: { "#runs": "runs" },
                ExpressionAttributeValues: { ":runs": S(RUNS_PARTITION), ":expiresAt": N(expiresAt), ":seenAt": S(run.seenAt), ":one": N(1) },
            }),
        );
        // An earlier sighting moves the start back (events may be delivered out of order).
        await this.ignoringFailedCondition(
            new UpdateItemCommand({
                TableName: this.tableName,
                Key,
                UpdateExpression: "SET startedAt = :seenAt",
                ConditionExpression: "startedAt > :seenAt",
                ExpressionAttributeValues: { ":seenAt": S(run.seenAt) },
            }),
        );
        const status = run.status;
        if (!status) return true;
        const values: Record<string, AttributeValue> = { ":status": S(status.status), ":machine": S(status.stateMachineArn) };
        // Every name through a placeholder: `status` and `error` are among DynamoDB's reserved words.
        const names: Record<string, string> = { "#status": "status", "#stateMachineArn": "stateMachineArn" };
        const sets = ["#status = :status", "#stateMachineArn = :machine"];
        for (const key of ["stoppedAt", "error", "cause", "startEventId"] as const) {
            const value = status[key];
            if (value !== undefined) {
                values[`:${key}`] = S(value);
                names[`#${key}`] = key;
                sets.push(`#${key} = :${key}`);
            }
        }
        // RUNNING never overwrites an end that was delivered first.
        const running = status.status === "RUNNING";
        await this.ignoringFailedCondition(
            new UpdateItemCommand({
                TableName: this.tableName,
                Key,
                UpdateExpression: `SET ${sets.join(", ")}`,
                ConditionExpression: running ? "attribute_not_exists(#status) OR #status = :status" : undefined,
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
            }),
        );
        return true;
    }

    private async ignoringFailedCondition(command: UpdateItemCommand): Promise<void> {
        try {
            await this.client.send(command);
        } catch (error) {
            if (!isFailedCondition(error)) throw error;
        }
    }

    /** Latest runs first, `limit` of them, from the page `next` names. */
    async listRuns(limit: number, next?: Item, since?: string): Promise<{ runs: RunSummary[]; next?: Item }> {
        const values: Record<string, AttributeValue> = { ":runs": S(RUNS_PARTITION) };
        if (since) values[":since"] = S(since);
        const page = await this.client.send(
            new QueryCommand({
                TableName: this.tableName,
                IndexName: RUNS_INDEX,
                KeyConditionExpression: since ? "#runs = :runs AND startedAt >= :since" : "#runs = :runs",
                ExpressionAttributeNames: { "#runs": "runs" },
                ExpressionAttributeValues: values,
                ScanIndexForward: false,
                Limit: limit,
                ExclusiveStartKey: next,
            }),
        );
        return { runs: (page.Items ?? []).map(runOfItem), next: page.LastEvaluatedKey };
    }

    async run(executionArn: string): Promise<RunSummary | undefined> {
        const found = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { correlationId: S(executionArn), sk: S(RUN_SK) } }));
        return found.Item ? runOfItem(found.Item) : undefined;
    }

    /** Every event of a correlation id, in sort-key order, all pages. */
    async events(correlationId: string): Promise<StoredEvent[]> {
        const events: StoredEvent[] = [];
        let start: Item | undefined;
        do {
            const page = await this.client.send(
                new QueryCommand({
                    TableName: this.tableName,
                    KeyConditionExpression: "correlationId = :id AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues: { ":id": S(correlationId), ":prefix": S(EVENT_SK_PREFIX) },
                    ExclusiveStartKey: start,
                }),
            );
            events.push(...(page.Items ?? []).map(eventOfItem));
            start = page.LastEvaluatedKey;
        } while (start);
        return events;
    }
}
