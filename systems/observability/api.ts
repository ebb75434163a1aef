/**
 * The observability HTTP API, as a function of an API Gateway payload-2.0 event (no Lambda or SDK setup here: the
 * handler in handlers/api.ts gives it the store and the history reader):
 *
 *   GET /runs?limit=&next=              latest runs first, `limit` (1–100, default 20) a page, `next` from the last page
 *   GET /runs/{executionArnOrName}      the run's events and its execution's history, merged into one timeline
 *   GET /architecture?since=            producers → detail-types → consumers, from the runs started since `since`
 *
 * Answers are JSON; an error is `{ "code", "message" }` with API Gateway's status (400 BadRequestException naming
 * the parameter, 404 NotFoundException).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { Architecture, inferArchitecture } from "./architecture";
import { redactForStore } from "./redaction";
import { EventStore, RunSummary, StoredEvent, decodeNext, encodeNext } from "./store";
import { HistoryEntry, Timeline, buildTimeline } from "./timeline";

export const MAX_RUNS_PAGE = 100;
export const DEFAULT_RUNS_PAGE = 20;
/** The most runs `/architecture` reads (the latest of those since `since`). */
export const MAX_ARCHITECTURE_RUNS = 50;
/** `/architecture` without `since`: the last day. */
const DEFAULT_SINCE_MS = 24 * 3600 * 1000;

export interface ApiDeps {
    store: Pick<EventStore, "listRuns" | "run" | "events">;
    /** The execution's whole history, redacted; undefined when Step Functions no longer has it (or never had). */
    history(executionArn: string): Promise<HistoryEntry[] | undefined>;
    /** The workflow a bare execution name belongs to. */
    workflowArn: string;
    now?: () => number;
}

/** `GET /runs`. */
export interface RunsPage {
    runs: RunSummary[];
    /** Pass as `next` for the following page; absent on the last. */
    next?: string;
}

/** `GET /runs/{executionArnOrName}`. */
export interface RunDetail {
    executionArn: string;
    /** The run as the store knows it; null when no event of it was recorded. */
    run: RunSummary | null;
    /** The stored events, and the `start` that began the execution when it was recorded. */
    events: StoredEvent[];
    /** The execution's history; null when Step Functions does not have it. */
    history: HistoryEntry[] | null;
    timeline: Timeline;
}

export class ApiError extends Error {
    constructor(
        readonly statusCode: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
        // Set again: the function's package (Pulumi's closure serialization) loses what Error's constructor sets.
        this.message = message;
    }
}

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
});

/** An execution ARN, or a name of an execution of the workflow. */
export function resolveExecutionArn(executionArnOrName: string, workflowArn: string): string {
    const decoded = executionArnOrName.includes("%") ? decodeURIComponent(executionArnOrName) : executionArnOrName;
    if (decoded.startsWith("arn:")) {
        if (!/^arn:[^:]+:states:[^:]*:[^:]*:execution:[^:]+:[^:]+$/.test(decoded)) {
            throw new ApiError(400, "BadRequestException", `executionArnOrName ${JSON.stringify(decoded)} is not an execution ARN (arn:aws:states:<region>:<account>:execution:<machine>:<name>)`);
        }
        return decoded;
    }
    if (!/^[A-Za-z0-9_-][^\s:<>{}[\]?*"#%\\^|~`$&,;/]{0,79}$/.test(decoded)) {
        throw new ApiError(400, "BadRequestException", `executionArnOrName ${JSON.stringify(decoded)} is neither an execution ARN nor an execution name`);
    }
    return `${workflowArn.replace(":stateMachine:", ":execution:")}:${decoded}`;
}

export async function listRuns(deps: ApiDeps, query: Record<string, string | undefined>): Promise<RunsPage> {
    const rawLimit = query.limit;
    const limit = rawLimit === undefined || rawLimit === "" ? DEFAULT_RUNS_PAGE : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_PAGE) {
        throw new ApiError(400, "BadRequestException", `limit must be an integer from 1 to ${MAX_RUNS_PAGE}, got ${JSON.stringify(rawLimit)}`);
    }
    let start;
    if (query.next !== undefined && query.next !== "") {
        start = decodeNext(query.next);
        if (!start) throw new ApiError(400, "BadRequestException", "next is not a page token this API issued (pass the `next` of the previous page unchanged)");
    }
    const page = await deps.store.listRuns(limit, start);
    const next = encodeNext(page.next);
    return next ? { runs: page.runs, next } : { runs: page.runs };
}

export async function getRun(deps: ApiDeps, executionArnOrName: string): Promise<RunDetail> {
    const executionArn = resolveExecutionArn(executionArnOrName, deps.workflowArn);
    const [run, events, history] = await Promise.all([deps.store.run(executionArn), deps.store.events(executionArn), deps.history(executionArn)]);
    if (!run && events.length === 0 && !history) {
        throw new ApiError(404, "NotFoundException", `no run ${executionArn}: no event of it is stored and Step Functions has no such execution`);
    }
    // The event that started it belongs to no run when it is put: it is stored on its own and named by the run.
    if (run?.startEventId && !events.some((e) => e.id === run.startEventId)) events.unshift(...(await deps.store.events(`event:${run.startEventId}`)));
    return { executionArn, run: run ?? null, events, history: history ?? null, timeline: buildTimeline(executionArn, events, history ?? [], run) };
}

export async function architecture(deps: ApiDeps, query: Record<string, string | undefined>): Promise<Architecture> {
    const now = (deps.now ?? Date.now)();
    const raw = query.since;
    const sinceMs = raw === undefined || raw === "" ? now - DEFAULT_SINCE_MS : Date.parse(raw);
    if (Number.isNaN(sinceMs)) throw new ApiError(400, "BadRequestException", `since must be an ISO 8601 time (2026-01-01T00:00:00Z), got ${JSON.stringify(raw)}`);
    const since = new Date(sinceMs).toISOString();
    const { runs } = await deps.store.listRuns(MAX_ARCHITECTURE_RUNS, undefined, since);
    const events = (await Promise.all(runs.map((r) => deps.store.events(r.executionArn)))).flat();
    const starts = await Promise.all(runs.filter((r) => r.startEventId).map((r) => deps.store.events(`event:${r.startEventId}`)));
    return inferArchitecture([...starts.flat(), ...events], since, runs.length);
}

/** Routes by the route key API Gateway matched, else (a `$default` route) by method and path. */
export async function handleApiRequest(event: APIGatewayProxyEventV2, deps: ApiDeps): Promise<APIGatewayProxyStructuredResultV2> {
    const method = event.requestContext?.http?.method ?? "GET";
    const path = event.rawPath ?? "/";
    const query = event.queryStringParameters ?? {};
    try {
        if (method !== "GET") throw new ApiError(405, "MethodNotAllowedException", `${method} ${path}: this API answers GET only`);
        if (event.routeKey === "GET /runs" || path === "/runs" || path === "/runs/") return json(200, await listRuns(deps, query));
        const runMatch = /^\/runs\/(.+)$/.exec(path);
        if (event.routeKey === "GET /runs/{executionArnOrName}" || runMatch) {
            const id = event.pathParameters?.executionArnOrName ?? runMatch?.[1];
            if (!id) throw new ApiError(400, "BadRequestException", "executionArnOrName is required: GET /runs/{executionArnOrName}");
            return json(200, await getRun(deps, id));
        }
        if (event.routeKey === "GET /architecture" || path === "/architecture") return json(200, await architecture(deps, query));
        throw new ApiError(404, "NotFoundException", `no route GET ${path} (GET /runs, GET /runs/{executionArnOrName}, GET /architecture)`);
    } catch (error) {
        if (error instanceof ApiError) return json(error.statusCode, { code: error.code, message: error.message });
        throw error;
    }
}

/** What the API shows of a history event: its type, ids, time, state, error and cause, a task's parameters; redacted. */
export function historyEntryOf(event: HistoryEvent): HistoryEntry {
    const entry: HistoryEntry = { id: event.id ?? 0, type: event.type ?? "Unknown", timestamp: (event.timestamp ?? new Date(0)).toISOString() };
    if (event.previousEventId !== undefined) entry.previousEventId = event.previousEventId;
    const state = event.stateEnteredEventDetails ?? event.stateExitedEventDetails;
    if (state?.name) entry.stateName = state.name;
    for (const [key, value] of Object.entries(event)) {
        if (!key.endsWith("EventDetails") || typeof value !== "object" || value === null) continue;
        const details = value as { error?: unknown; cause?: unknown };
        if (typeof details.error === "string") entry.error = details.error;
        if (typeof details.cause === "string") entry.cause = details.cause;
    }
    const scheduled = event.taskScheduledEventDetails;
    if (scheduled) {
        entry.resource = `${scheduled.resourceType}:${scheduled.resource}`;
        if (scheduled.parameters) entry.parameters = scheduled.parameters;
    }
    return redactForStore(entry);
}
