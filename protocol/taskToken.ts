/**
 * The task-token protocol every system speaks, defined once: components, handlers, the offline runtime and the
 * policy pack import it. No Pulumi or SDK import, so any of them can.
 *
 * A state machine never calls a handler: a step emits an event carrying a task token and waits. A handler answers
 * with `taskFinished` (the token and its result) or `taskFailed` (the token, the step and the error); a handler's
 * failed invocation reaches the bus as Lambda's failure record. The TaskFinisher turns all three into
 * SendTaskSuccess / SendTaskFailure.
 */
import type { TraceDetail } from "./trace";

/** The detail types of the answers, on the stack's own source. */
export const TaskAnswer = {
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
    /** The run and the step that emitted the event (protocol/trace.ts). */
    trace?: TraceDetail;
}

export interface TaskFinishedDetail<T = unknown> {
    taskToken: string;
    step: string;
    result: T;
    trace?: TraceDetail;
}

export interface TaskFailedDetail {
    taskToken: string;
    step: string;
    error: string;
    cause: string;
    trace?: TraceDetail;
}

/** The detail type and source Lambda gives an asynchronous invocation's failure record on EventBridge. */
export const LAMBDA_FAILURE = { source: "lambda", detailType: "Lambda Function Invocation Result - Failure" } as const;

/** Errors `aws-sdk:sfn:sendTask*` raises when a token is not waiting: an answer that came too late, not a failure. */
export const TOKEN_NOT_WAITING = ["Sfn.TaskDoesNotExistException", "Sfn.TaskTimedOutException", "Sfn.InvalidTokenException"] as const;
