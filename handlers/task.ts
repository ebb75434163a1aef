/**
 * What every handler that answers a task shares, whatever triggered it: its clients (built once per container), and the two ways it answers a waiting
 * task: `finishTask` with a result, or `taskFailed` when the input is at fault.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { Logger } from "@aws-lambda-powertools/logger";
import { TaskAnswer, TaskDetail, TaskFailedDetail, TaskFinishedDetail } from "../protocol/taskToken";
import { correlationIdOf, type TraceDetail } from "../protocol/trace";
import { EventTarget, eventTargetFromEnv, putEvent } from "./events";
import { withRequestCounts } from "./requests";
import { isInvalidInput } from "./validation";

export interface HandlerContext {
    events: EventBridgeClient;
    target: EventTarget;
    logger: Logger;
    /** How this handler's events name their emitter: the function's name (Lambda sets it), else the service name. */
    emitter: string;
}

/** The incoming event as far as tracing needs it. */
export interface TracedEvent {
    id?: string;
    detail?: unknown;
}

/** The trace of the events a handler emits while handling `event`: the same run, this emitter, caused by it. */
export function traceFor(ctx: HandlerContext, event: TracedEvent): TraceDetail {
    const trace: TraceDetail = { correlationId: correlationIdOf(event.detail) ?? "unknown", emitter: ctx.emitter };
    if (event.id) trace.causedBy = event.id;
    return trace;
}

/**
 * What every handler's SDK client is built with. A client lives as long as its container, so each command's
 * middleware stack is resolved once and reused (`cacheMiddleware`) instead of on every call: warm, about a fifth
 * less CPU per PutEvents or PutObject. The SDK allows it when nothing changes a client's middleware per request
 * and no call passes per-request options; and because the cached handler shares one context between concurrent
 * calls, a client must not send to two endpoints at once (two buckets): each S3 client is bound to one bucket
 * (`resultsStoreFromEnv`). Presigning builds its own stack from a copy and is unaffected.
 */
export const SDK_CLIENT_CONFIG = { cacheMiddleware: true } as const;

/** Built once per container by each handler's factory, so warm invocations reuse connections. */
export function createHandlerContext(serviceName: string): HandlerContext {
    return {
        events: new EventBridgeClient(SDK_CLIENT_CONFIG),
        target: eventTargetFromEnv(),
        logger: new Logger({ serviceName }),
        emitter: process.env.AWS_LAMBDA_FUNCTION_NAME || serviceName,
    };
}

export async function finishTask<T>(ctx: HandlerContext, task: TaskDetail, result: T, trace: TraceDetail): Promise<void> {
    const detail: TaskFinishedDetail<T> = { taskToken: task.taskToken, step: task.step, result };
    await putEvent(ctx.events, ctx.target, TaskAnswer.taskFinished, detail, trace);
    ctx.logger.info("task finished", { step: task.step, executionName: task.executionName });
}

/**
 * Runs a step's work for a waiting task. Bad input fails the task at once with a cause that names the step
 * and the field. Any other error is rethrown: Lambda retries the asynchronous invocation twice and then sends
 * the failure to its on-failure destination (the bus), where the TaskFinisher fails the task with it; its message
 * (which becomes the task's cause) first loses any credential of the event (the token, a presigned URL's query).
 * An event without a token cannot be answered; it is logged (its step and which keys it has, not its values: a
 * detail may carry a presigned URL) and dropped rather than retried for nothing. The S3 and DynamoDB requests the
 * work makes are logged for the run's bill (`withRequestCounts`).
 */
export async function withTaskFailure<D extends Partial<TaskDetail>>(
    ctx: HandlerContext,
    event: { id?: string; detail?: D },
    work: (task: D & TaskDetail, trace: TraceDetail) => Promise<void>,
): Promise<void> {
    const detail = event.detail;
    if (!detail || typeof detail.taskToken !== "string" || detail.taskToken === "") {
        ctx.logger.error("event has no detail.taskToken; nothing to answer", describeDetail(detail));
        return;
    }
    const task = { ...detail, step: detail.step ?? "unknown step" } as D & TaskDetail;
    const trace = traceFor(ctx, event);
    await withRequestCounts(ctx.logger, trace.correlationId, async () => {
        try {
            await work(task, trace);
        } catch (error) {
            if (!isInvalidInput(error)) throw withoutCredentials(error, detail);
            const failed: TaskFailedDetail = {
                taskToken: task.taskToken,
                step: task.step,
                error: error.name,
                cause: `${task.step}: ${error.message}`,
            };
            ctx.logger.warn("task failed on its input", { step: task.step, cause: failed.cause });
            await putEvent(ctx.events, ctx.target, TaskAnswer.taskFailed, failed, trace);
        }
    });
}

/** What may be logged about a detail that cannot be answered: its step and the names of its members. */
function describeDetail(detail: unknown): { step?: string; keys: string[] } {
    if (typeof detail !== "object" || detail === null || Array.isArray(detail)) return { keys: [] };
    const step = (detail as { step?: unknown }).step;
    return { ...(typeof step === "string" ? { step } : {}), keys: Object.keys(detail).sort() };
}

/** Presigned URL query parameters that are, or reveal, the signer's credentials. */
const PRESIGNED_QUERY = /[?&](X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=/i;

/**
 * The error with the detail's credentials taken out of its message and stack: the task token and the query of
 * every presigned URL the detail carries (the path, naming the object, is kept). Lambda copies both into the
 * failure record, and the message into the task's cause, which the workflow's execution history and log keep.
 */
function withoutCredentials(error: unknown, detail: object): unknown {
    if (!(error instanceof Error)) return error;
    const secrets: Array<[string, string]> = [];
    for (const value of Object.values(detail)) {
        if (typeof value !== "string" || value === "") continue;
        const query = value.indexOf("?");
        if (!/^https?:\/\//i.test(value) || query < 0 || !PRESIGNED_QUERY.test(value)) continue;
        secrets.push([value.slice(query + 1), "REDACTED"]);
        // A message may quote one parameter alone, decoded or not.
        for (const [name, parameter] of new URLSearchParams(value.slice(query + 1))) {
            if (!/^X-Amz-(Signature|Credential|Security-Token)$/i.test(name) || parameter === "") continue;
            secrets.push([parameter, "REDACTED"], [encodeURIComponent(parameter), "REDACTED"]);
        }
    }
    const token = (detail as { taskToken?: unknown }).taskToken;
    if (typeof token === "string" && token !== "") secrets.push([token, "REDACTED-task-token"]);
    const scrub = (text: string) => secrets.reduce((result, [secret, replacement]) => result.split(secret).join(replacement), text);
    try {
        error.message = scrub(error.message);
        if (error.stack) error.stack = scrub(error.stack);
        return error;
    } catch {
        // A read-only message: rethrow a plain copy rather than the original.
        const copy = new Error(scrub(error.message));
        copy.name = error.name;
        return copy;
    }
}
