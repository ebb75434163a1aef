/**
 * What every handler shares: its clients (built once per container), and the two ways it answers a waiting
 * task: `finishTask` with a result, or `taskFailed` when the input is at fault.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { Logger } from "@aws-lambda-powertools/logger";
import { DetailType, EventTarget, TaskDetail, TaskFailedDetail, TaskFinishedDetail, eventTargetFromEnv, putTaskEvent } from "./events";
import { isInvalidInput } from "./validation";

export interface HandlerContext {
    events: EventBridgeClient;
    target: EventTarget;
    logger: Logger;
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
    };
}

export async function finishTask<T>(ctx: HandlerContext, task: TaskDetail, result: T): Promise<void> {
    const detail: TaskFinishedDetail<T> = { taskToken: task.taskToken, step: task.step, result };
    await putTaskEvent(ctx.events, ctx.target, DetailType.taskFinished, detail);
    ctx.logger.info("task finished", { step: task.step, executionName: task.executionName });
}

/**
 * Runs a step's work for a waiting task. Bad input fails the task at once with a cause that names the step
 * and the field. Any other error is rethrown: Lambda retries the asynchronous invocation twice and then sends
 * the failure to its on-failure destination (the bus), where the TaskFinisher fails the task with it.
 * An event without a token cannot be answered; it is logged and dropped rather than retried for nothing.
 */
export async function withTaskFailure<D extends Partial<TaskDetail>>(
    ctx: HandlerContext,
    detail: D | undefined,
    work: (task: D & TaskDetail) => Promise<void>,
): Promise<void> {
    if (!detail || typeof detail.taskToken !== "string" || detail.taskToken === "") {
        ctx.logger.error("event has no detail.taskToken; nothing to answer", { detail });
        return;
    }
    const task = { ...detail, step: detail.step ?? "unknown step" } as D & TaskDetail;
    try {
        await work(task);
    } catch (error) {
        if (!isInvalidInput(error)) throw error;
        const failed: TaskFailedDetail = {
            taskToken: task.taskToken,
            step: task.step,
            error: error.name,
            cause: `${task.step}: ${error.message}`,
        };
        ctx.logger.warn("task failed on its input", { step: task.step, cause: failed.cause });
        await putTaskEvent(ctx.events, ctx.target, DetailType.taskFailed, failed);
    }
}
