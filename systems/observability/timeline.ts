/**
 * A run's timeline, from its stored events and its execution's history, as plain functions (the API, the CLI and
 * the web page show the same thing):
 *
 * - **entries**: every event and history entry once, in causal order (an event after the one it was caused by, a
 *   history entry after the previous one), ties broken by time;
 * - **bars**: each wait (a step's event to the end of its task, which the history records) and each handler
 *   invocation (from the event it handled to the last event it emitted, or Lambda's failure record), each with its
 *   start, end and duration; a handler whose work answers no task is a side effect, and a bar that ended after the
 *   execution did is marked so;
 * - **critical path**: walking back from the execution's end, the wait that ended last, the handlers that answered
 *   it back to its step's event, then the wait that ended last before that step began, and so on;
 * - **failure**: for a run that did not succeed, the failing step, its handler and the cause.
 *
 * Nothing is inferred from timing that the events say outright: an invocation is known by `trace.causedBy`, a
 * wait's answer by its task token's fingerprint.
 */
import { LAMBDA_FAILURE, TaskAnswer } from "../../protocol/taskToken";
import { EXECUTION_STATUS_CHANGE, RunSummary, STATES_SOURCE, StoredEvent } from "./store";
import { tokenFingerprint } from "./redaction";

/** One entry of an execution's history, as the API returns it (credentials redacted). */
export interface HistoryEntry {
    id: number;
    previousEventId?: number;
    type: string;
    /** ms ISO 8601. */
    timestamp: string;
    /** The state entered or exited, for `*StateEntered` / `*StateExited`. */
    stateName?: string;
    error?: string;
    cause?: string;
    /** A task's resource (`events:putEvents.waitForTaskToken`) and parameters, for TaskScheduled. */
    resource?: string;
    parameters?: string;
}

export type TimelineEntry = { kind: "event"; at: string; event: StoredEvent } | { kind: "history"; at: string; history: HistoryEntry };

export type BarOutcome = "succeeded" | "failed" | "timedOut" | "open";

export interface Bar {
    /** `wait:<step event id>`, `handler:<function>:<handled event id>` or `execution:<arn>`. */
    id: string;
    kind: "execution" | "wait" | "handler";
    /** The step (`<machine>.<state>`), the function's name, or the state machine's name. */
    label: string;
    /** ms ISO 8601. */
    start: string;
    end: string;
    durationMs: number;
    /** The event that opened the bar: the step's event, the event the handler handled. */
    startEventId?: string;
    /** The events that closed it: the task's answer, what the handler emitted. */
    endEventIds: string[];
    outcome: BarOutcome;
    /** A handler whose work answers no task (nothing waits for it). */
    sideEffect: boolean;
    /** It ended after the execution did. */
    afterExecutionEnd: boolean;
    critical: boolean;
    error?: string;
    cause?: string;
}

export interface Failure {
    /** The failing step (`<machine>.<state>`), or the last state entered when no task failed. */
    step?: string;
    /** The handler whose answer (`taskFailed`, or Lambda's failure record) failed it. */
    handler?: string;
    error?: string;
    cause?: string;
    /** The answer's event id. */
    eventId?: string;
}

export interface Timeline {
    executionArn: string;
    status: string | null;
    startedAt?: string;
    stoppedAt?: string;
    durationMs?: number;
    entries: TimelineEntry[];
    bars: Bar[];
    /** Bar ids, first to last. */
    criticalPath: string[];
    failure?: Failure;
}

const ms = (iso: string): number => Date.parse(iso);
const isoMs = (n: number): string => new Date(n).toISOString();
/** When an event happened as precisely as it says: its emittedAt, else its whole-second time. */
export const atOf = (event: StoredEvent): string => event.emittedAt ?? event.time;

function asObject(value: unknown): Record<string, unknown> | undefined {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** The fingerprint of the task token an event carries (a step's event, an answer) or, for a failure record, of the event it failed on. */
export function tokenOf(event: StoredEvent): string | undefined {
    const detail = asObject(event.detail);
    const direct = detail?.taskToken;
    if (typeof direct === "string") return tokenFingerprint(direct);
    if (event.source === LAMBDA_FAILURE.source) {
        const inner = asObject(asObject(detail?.requestPayload)?.detail);
        if (typeof inner?.taskToken === "string") return tokenFingerprint(inner.taskToken);
    }
    return undefined;
}

const isStatusChange = (e: StoredEvent): boolean => e.source === STATES_SOURCE && e.detailType === EXECUTION_STATUS_CHANGE;
const isFailureRecord = (e: StoredEvent): boolean => e.source === LAMBDA_FAILURE.source && e.detailType === LAMBDA_FAILURE.detailType;
const isAnswer = (e: StoredEvent): boolean => e.detailType === TaskAnswer.taskFinished || e.detailType === TaskAnswer.taskFailed || isFailureRecord(e);
/** A step's event: emitted by `<machine>.<state>` with a task token, waiting for its answer. */
const isStepEvent = (e: StoredEvent): boolean => !isAnswer(e) && !isStatusChange(e) && e.emitter.includes(".") && tokenOf(e) !== undefined;

// ─── Causal order ─────────────────────────────────────────────────────────────────────────────────────────

/**
 * A binary min-heap of indices, ordered by `before`. A closure rather than a class: the API's function is packaged by
 * Pulumi's closure serialization, which drops a class's field initializers.
 */
function minHeap(before: (a: number, b: number) => boolean) {
    const a: number[] = [];
    return {
        size: () => a.length,
        push(item: number): void {
            a.push(item);
            for (let i = a.length - 1; i > 0; ) {
                const parent = (i - 1) >> 1;
                if (!before(a[i], a[parent])) break;
                [a[i], a[parent]] = [a[parent], a[i]];
                i = parent;
            }
        },
        pop(): number {
            const top = a[0];
            const last = a.pop()!;
            if (a.length) {
                a[0] = last;
                for (let i = 0; ; ) {
                    const l = 2 * i + 1;
                    const r = l + 1;
                    let m = i;
                    if (l < a.length && before(a[l], a[m])) m = l;
                    if (r < a.length && before(a[r], a[m])) m = r;
                    if (m === i) break;
                    [a[i], a[m]] = [a[m], a[i]];
                    i = m;
                }
            }
            return top;
        },
    };
}

/**
 * Every event (once, by id) and history entry, each after what caused it: an event after the event it names in
 * `causedBy` (when that is in the run), an answer after the step event with its token, a history entry after the
 * previous one; among those free to go next, the earliest first.
 */
export function causalOrder(events: StoredEvent[], history: HistoryEntry[]): TimelineEntry[] {
    const unique = [...new Map(events.map((e) => [e.id, e])).values()];
    const entries: TimelineEntry[] = [
        ...unique.map((event): TimelineEntry => ({ kind: "event", at: atOf(event), event })),
        ...[...history].sort((a, b) => a.id - b.id).map((h): TimelineEntry => ({ kind: "history", at: h.timestamp, history: h })),
    ];
    const index = new Map(unique.map((e, i) => [e.id, i]));
    const stepByToken = new Map<string, number>();
    unique.forEach((e, i) => {
        if (isStepEvent(e)) stepByToken.set(tokenOf(e)!, i);
    });
    const after: number[][] = entries.map(() => []);
    const waitingFor = entries.map(() => 0);
    const depend = (before: number | undefined, then: number) => {
        if (before === undefined || before === then) return;
        after[before].push(then);
        waitingFor[then]++;
    };
    unique.forEach((e, i) => {
        depend(e.causedBy ? index.get(e.causedBy) : undefined, i);
        if (isAnswer(e)) depend(stepByToken.get(tokenOf(e) ?? ""), i);
    });
    for (let i = unique.length + 1; i < entries.length; i++) depend(i - 1, i);
    const key = entries.map((e) => ms(e.at));
    // At the same millisecond a history entry goes first: a step's event carries its state's entry time, but is put
    // once the state has been entered and its task scheduled.
    const historyFirst = (i: number) => (entries[i].kind === "history" ? 0 : 1);
    const heap = minHeap((a, b) => key[a] < key[b] || (key[a] === key[b] && (historyFirst(a) < historyFirst(b) || (historyFirst(a) === historyFirst(b) && a < b))));
    entries.forEach((_, i) => waitingFor[i] === 0 && heap.push(i));
    const ordered: TimelineEntry[] = [];
    const placed = entries.map(() => false);
    while (heap.size()) {
        const i = heap.pop();
        placed[i] = true;
        ordered.push(entries[i]);
        for (const next of after[i]) if (--waitingFor[next] === 0) heap.push(next);
    }
    // A cycle (a causedBy pointing at a later event: clocks or a forged trace) cannot be ordered causally: by time.
    entries.forEach((e, i) => !placed[i] && ordered.push(e));
    return ordered;
}

// ─── Bars ─────────────────────────────────────────────────────────────────────────────────────────────────

/** The task each TaskScheduled began, by the token fingerprint in its parameters, and how it ended. */
function taskEnds(history: HistoryEntry[]): Map<string, HistoryEntry> {
    const byId = new Map(history.map((h) => [h.id, h]));
    const children = new Map<number, HistoryEntry[]>();
    for (const h of history) {
        if (h.previousEventId !== undefined) children.set(h.previousEventId, [...(children.get(h.previousEventId) ?? []), h]);
    }
    const ends = new Map<string, HistoryEntry>();
    for (const scheduled of history) {
        if (scheduled.type !== "TaskScheduled" || !scheduled.parameters) continue;
        const token = /REDACTED-task-token-[0-9a-f]{16}/.exec(scheduled.parameters)?.[0];
        if (!token) continue;
        // Follow the task's own chain (TaskStarted, TaskSubmitted, ...) to its end.
        let current: HistoryEntry | undefined = scheduled;
        for (let hops = 0; current && hops < 10; hops++) {
            if (current.type === "TaskSucceeded" || current.type === "TaskFailed" || current.type === "TaskTimedOut") break;
            current = (children.get(current.id) ?? []).find((c) => c.type.startsWith("Task"));
        }
        if (current && current !== scheduled && byId.has(current.id)) ends.set(token, current);
    }
    return ends;
}

function bar(kind: Bar["kind"], id: string, label: string, start: number, end: number, rest: Partial<Bar> = {}): Bar {
    return {
        id,
        kind,
        label,
        start: isoMs(start),
        end: isoMs(end),
        durationMs: Math.max(0, end - start),
        endEventIds: [],
        outcome: "succeeded",
        sideEffect: false,
        afterExecutionEnd: false,
        critical: false,
        ...rest,
    };
}

/** What a run's history says of its execution. */
function executionOf(history: HistoryEntry[], run: RunSummary | undefined) {
    const started = history.find((h) => h.type === "ExecutionStarted");
    const ended = history.find((h) => /^Execution(Succeeded|Failed|TimedOut|Aborted)$/.test(h.type));
    const statusOfEnd: Record<string, string> = { ExecutionSucceeded: "SUCCEEDED", ExecutionFailed: "FAILED", ExecutionTimedOut: "TIMED_OUT", ExecutionAborted: "ABORTED" };
    return {
        status: ended ? statusOfEnd[ended.type] : started ? "RUNNING" : (run?.status ?? null),
        startedAt: started?.timestamp ?? run?.startedAt,
        stoppedAt: ended?.timestamp ?? run?.stoppedAt,
        error: ended?.error ?? run?.error,
        cause: ended?.cause ?? run?.cause,
    };
}

export function buildTimeline(executionArn: string, events: StoredEvent[], history: HistoryEntry[], run?: RunSummary): Timeline {
    const entries = causalOrder(events, history);
    const unique = entries.flatMap((e) => (e.kind === "event" ? [e.event] : []));
    const byId = new Map(unique.map((e) => [e.id, e]));
    const execution = executionOf(history, run);
    const stop = execution.stoppedAt ? ms(execution.stoppedAt) : undefined;
    const lastSeen = Math.max(...entries.map((e) => ms(e.at)), execution.startedAt ? ms(execution.startedAt) : 0);

    // Handler invocations: the events one function emitted while handling one event, or its failure record.
    const invocations = new Map<string, StoredEvent[]>();
    for (const e of unique) {
        if (!e.causedBy || isStatusChange(e) || isStepEvent(e)) continue;
        const key = `handler:${e.emitter}:${e.causedBy}`;
        invocations.set(key, [...(invocations.get(key) ?? []), e]);
    }
    const handlerBars = new Map<string, Bar>();
    /** Which handler bar emitted an event. */
    const emittedBy = new Map<string, Bar>();
    for (const [id, emitted] of invocations) {
        const handled = byId.get(emitted[0].causedBy!);
        const end = Math.max(...emitted.map((e) => ms(atOf(e))));
        const start = handled ? ms(atOf(handled)) : Math.min(...emitted.map((e) => ms(atOf(e))));
        const failed = emitted.find((e) => isFailureRecord(e) || e.detailType === TaskAnswer.taskFailed);
        const failure = asObject(failed?.detail);
        const response = asObject(failure?.responsePayload);
        const b = bar("handler", id, emitted[0].emitter, start, Math.max(start, end), {
            startEventId: emitted[0].causedBy,
            endEventIds: emitted.map((e) => e.id),
            outcome: failed ? "failed" : "succeeded",
        });
        const error = failure?.error ?? response?.errorType;
        const cause = failure?.cause ?? response?.errorMessage;
        if (typeof error === "string") b.error = error;
        if (typeof cause === "string") b.cause = cause;
        handlerBars.set(id, b);
        for (const e of emitted) emittedBy.set(e.id, b);
    }

    // Waits: a step's event to its task's end in the history, else to its answer, else still open.
    const ends = taskEnds(history);
    const answersByToken = new Map<string, StoredEvent[]>();
    for (const e of unique) if (isAnswer(e) && tokenOf(e)) answersByToken.set(tokenOf(e)!, [...(answersByToken.get(tokenOf(e)!) ?? []), e]);
    const waitBars: Bar[] = [];
    /** The answer that ended each wait. */
    const answerOf = new Map<string, StoredEvent>();
    for (const step of unique.filter(isStepEvent)) {
        const token = tokenOf(step)!;
        const ended = ends.get(token);
        const answers = answersByToken.get(token) ?? [];
        // The answer the task took: the taskFinished / taskFailed, else the failure record of a registered handler,
        // which is the one that came before the task ended.
        const endAt = ended ? ms(ended.timestamp) : undefined;
        const answer =
            answers.find((a) => !isFailureRecord(a) && (endAt === undefined || ms(atOf(a)) <= endAt)) ??
            answers.filter((a) => endAt === undefined || ms(atOf(a)) <= endAt).pop();
        const outcome: BarOutcome = ended
            ? ended.type === "TaskSucceeded"
                ? "succeeded"
                : ended.type === "TaskTimedOut"
                  ? "timedOut"
                  : "failed"
            : answer
              ? answer.detailType === TaskAnswer.taskFinished
                  ? "succeeded"
                  : "failed"
              : "open";
        const end = endAt ?? (answer ? ms(atOf(answer)) : (stop ?? lastSeen));
        const b = bar("wait", `wait:${step.id}`, step.emitter, ms(atOf(step)), Math.max(ms(atOf(step)), end), {
            startEventId: step.id,
            endEventIds: answer ? [answer.id] : [],
            outcome,
        });
        if (ended?.error) b.error = ended.error;
        if (ended?.cause) b.cause = ended.cause;
        if (answer) answerOf.set(b.id, answer);
        waitBars.push(b);
    }

    // A handler answers a task when an event it emitted is an answer a wait took, or a handler it caused does so.
    const answering = new Set<Bar>();
    for (const answer of answerOf.values()) {
        for (let b = emittedBy.get(answer.id); b && !answering.has(b); b = b.startEventId ? emittedBy.get(b.startEventId) : undefined) answering.add(b);
    }
    for (const b of handlerBars.values()) b.sideEffect = !answering.has(b);

    const bars: Bar[] = [];
    if (execution.startedAt) {
        const machine = unique.find(isStatusChange)?.emitter ?? executionArn.split(":").slice(-2, -1)[0] ?? "execution";
        bars.push(
            bar("execution", `execution:${executionArn}`, machine, ms(execution.startedAt), stop ?? lastSeen, {
                outcome: execution.status === "SUCCEEDED" ? "succeeded" : execution.status === "TIMED_OUT" ? "timedOut" : execution.status === "RUNNING" || execution.status === null ? "open" : "failed",
                error: execution.error,
                cause: execution.cause,
                startEventId: run?.startEventId,
            }),
        );
    }
    bars.push(...waitBars, ...handlerBars.values());
    if (stop !== undefined) for (const b of bars) b.afterExecutionEnd = b.kind !== "execution" && ms(b.end) > stop;
    const executionFirst = (b: Bar) => (b.kind === "execution" ? 0 : 1);
    bars.sort((a, b) => executionFirst(a) - executionFirst(b) || ms(a.start) - ms(b.start) || ms(b.end) - ms(a.end) || a.id.localeCompare(b.id));

    const criticalPath = criticalPathOf(waitBars, answerOf, emittedBy, stop ?? lastSeen);
    const critical = new Set(criticalPath);
    for (const b of bars) b.critical = critical.has(b.id) || (b.kind === "execution" && criticalPath.length > 0);

    const timeline: Timeline = { executionArn, status: execution.status, entries, bars, criticalPath };
    if (execution.startedAt) timeline.startedAt = execution.startedAt;
    if (execution.stoppedAt) {
        timeline.stoppedAt = execution.stoppedAt;
        if (execution.startedAt) timeline.durationMs = ms(execution.stoppedAt) - ms(execution.startedAt);
    }
    if (execution.status && execution.status !== "SUCCEEDED" && execution.status !== "RUNNING") {
        timeline.failure = failureOf(waitBars, answerOf, history, execution);
    }
    return timeline;
}

/** Walking back from `end`: the wait that ended last, its answering handlers back to its step, then the wait before. */
function criticalPathOf(waits: Bar[], answerOf: Map<string, StoredEvent>, emittedBy: Map<string, Bar>, end: number): string[] {
    const path: string[] = [];
    const used = new Set<string>();
    let before = end;
    for (;;) {
        const last = waits.filter((w) => !used.has(w.id) && ms(w.end) <= before).sort((a, b) => ms(b.end) - ms(a.end) || ms(b.start) - ms(a.start))[0];
        if (!last) break;
        used.add(last.id);
        const chain: string[] = [];
        const answer = answerOf.get(last.id);
        const seen = new Set<Bar>();
        for (let h = answer ? emittedBy.get(answer.id) : undefined; h && !seen.has(h); h = h.startEventId ? emittedBy.get(h.startEventId) : undefined) {
            seen.add(h);
            chain.unshift(h.id);
            if (h.startEventId === last.startEventId) break;
        }
        path.unshift(last.id, ...chain);
        before = ms(last.start);
    }
    return path;
}

function failureOf(
    waits: Bar[],
    answerOf: Map<string, StoredEvent>,
    history: HistoryEntry[],
    execution: { error?: string; cause?: string },
): Failure {
    const failed = waits.filter((w) => w.outcome === "failed" || w.outcome === "timedOut").sort((a, b) => ms(b.end) - ms(a.end))[0];
    const failure: Failure = {};
    if (failed) {
        failure.step = failed.label;
        const answer = answerOf.get(failed.id);
        if (answer && failed.outcome === "failed") {
            failure.handler = answer.emitter;
            failure.eventId = answer.id;
        }
        failure.error = failed.error ?? execution.error;
        failure.cause = failed.cause ?? execution.cause;
    } else {
        const entered = history.filter((h) => h.type.endsWith("StateEntered")).pop();
        if (entered?.stateName) failure.step = entered.stateName;
        failure.error = execution.error;
        failure.cause = execution.cause;
    }
    return failure;
}
