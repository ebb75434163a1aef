/**
 * What every event a stack's state machines and handlers emit carries in `detail.trace`, so an observer places it
 * in its run and at its producer without guessing from timing. No Pulumi or SDK import: the ASL, the handlers and
 * the observer read the same shape.
 */

export interface TraceDetail {
    /** The run the event belongs to: its execution ARN. */
    correlationId: string;
    /** What emitted it: `<state machine>.<state>` for a step's event, the function's name for a handler's. */
    emitter: string;
    /** The EventBridge id of the event whose handling emitted this one (absent for a state machine's step). */
    causedBy?: string;
    /**
     * When it was emitted, to the millisecond (ISO 8601): `event.time` has whole seconds only. A step's is the time
     * its state was entered (`$$.State.EnteredTime`), a handler's the time it put the event.
     */
    emittedAt?: string;
}

/** `detail.trace` of an event, if it has a well-formed one. */
export function traceOf(detail: unknown): TraceDetail | undefined {
    if (typeof detail !== "object" || detail === null) return undefined;
    const trace = (detail as { trace?: unknown }).trace;
    if (typeof trace !== "object" || trace === null) return undefined;
    const { correlationId, emitter, causedBy, emittedAt } = trace as Record<string, unknown>;
    if (typeof correlationId !== "string" || typeof emitter !== "string") return undefined;
    const found: TraceDetail = { correlationId, emitter };
    if (typeof causedBy === "string") found.causedBy = causedBy;
    if (typeof emittedAt === "string") found.emittedAt = emittedAt;
    return found;
}

/** The run an event belongs to: its trace's correlation id, else a task event's execution id. */
export function correlationIdOf(detail: unknown): string | undefined {
    const traced = traceOf(detail)?.correlationId;
    if (traced) return traced;
    const executionId = typeof detail === "object" && detail !== null ? (detail as { executionId?: unknown }).executionId : undefined;
    return typeof executionId === "string" ? executionId : undefined;
}

/** The trace ASL puts on a step's event: the execution and `<machine>.<state>`, resolved by Step Functions. */
export const STEP_TRACE = {
    "correlationId.$": "$$.Execution.Id",
    "emitter.$": "States.Format('{}.{}', $$.StateMachine.Name, $$.State.Name)",
    "emittedAt.$": "$$.State.EnteredTime",
} as const;
