/**
 * The public shapes of the ASL engine: what the host supplies (hooks, context), what it gets back (result,
 * history events), and the error types the engine raises.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The Context object (`$$` in JSONPath, `$states.context` in JSONata), as AWS documents it. */
export interface ContextObject {
    Execution: {
        Id: string;
        Name: string;
        StartTime: string;
        RoleArn: string;
        Input: JsonValue;
        RedriveCount: number;
        RedriveTime?: string;
    };
    StateMachine: { Id: string; Name: string };
    State?: { Name: string; EnteredTime: string; RetryCount: number };
    Task?: { Token: string };
    Map?: { Item: { Index: number; Value: JsonValue } };
}

/** What the host gets to run one Task state's call. */
export interface TaskCall {
    stateName: string;
    resource: string;
    /** The effective parameters (after InputPath/Parameters, or JSONata Arguments). */
    parameters: JsonValue;
    timeoutSeconds?: number;
    heartbeatSeconds?: number;
    /** Present when the resource ends in `.waitForTaskToken`: the token also visible as `$$.Task.Token`. */
    taskToken?: string;
    /** The context object as the state saw it (State, Task and Map members filled in). */
    context: ContextObject;
    /** Aborted when the task times out, the execution stops, or a sibling branch/iteration fails. */
    signal: AbortSignal;
    /** Credentials field of the state, evaluated (JSONata) or as written (JSONPath `RoleArn.$` resolved). */
    credentials?: JsonValue;
    /** Id of this attempt's TaskStarted (LambdaFunctionStarted) event: a host recording events of its own links them to it. */
    startedEventId: number;
}

/** A Step Functions `HistoryEvent`, as the JSON 1.0 protocol carries it (timestamp in epoch seconds). */
export interface HistoryEvent {
    id: number;
    previousEventId: number;
    timestamp: number;
    type: string;
    [detailsField: `${string}EventDetails`]: { [field: string]: JsonValue | undefined } | undefined;
}

/** Where an event happened inside the definition, for progress listeners (not part of AWS's shape). */
export interface EventOrigin {
    stateName?: string;
    /** Index of the Map iteration the event belongs to (innermost). */
    mapIndex?: number;
}

export interface EngineHooks {
    /**
     * Runs a Task state's call; resolves to its result or rejects with an Error whose `name` is the error code
     * (e.g. "States.TaskFailed", "Lambda.ServiceException") and whose message is the cause.
     */
    runTask(call: TaskCall): Promise<unknown>;
    onEvent?(event: HistoryEvent, origin: EventOrigin): void;
    /** Milliseconds since the epoch. */
    now?(): number;
    /** Resolves after `ms`; rejects (any error) or resolves early when `signal` aborts. */
    sleep?(ms: number, signal: AbortSignal): Promise<void>;
    /** A fresh task token for `.waitForTaskToken` resources; a random one when absent. */
    newTaskToken?(call: { stateName: string; resource: string }): string;
    /** Random number in [0, 1) for jitter, States.MathRandom and $random; Math.random when absent. */
    random?(): number;
}

export interface RunOptions {
    context: { Execution: ContextObject["Execution"]; StateMachine: ContextObject["StateMachine"] };
    hooks: EngineHooks;
    /** Aborting it stops the execution (status ABORTED). `signal.reason` may carry `{ error, cause }`. */
    signal?: AbortSignal;
    /** Redrive: start at this top-level state with this input instead of StartAt with the execution input. */
    startAt?: { stateName: string; input: JsonValue };
    /** Number of history events already recorded (a redrive continues the numbering). */
    eventIdOffset?: number;
}

export type ExecutionResult =
    | { status: "SUCCEEDED"; output: JsonValue }
    | { status: "FAILED" | "TIMED_OUT" | "ABORTED"; error?: string; cause?: string; failedState?: string };

/** An error raised inside an execution: `name` is the States error code, `cause` the text AWS shows. */
export class StatesError extends Error {
    /** Top-level state where the failure ended the execution (for redrive). */
    failedState?: string;
    /** For States.QueryEvaluationError: the field whose expression failed (EvaluationFailed's `location`). */
    location?: string;
    constructor(
        /** Undefined only for a Fail state without Error/ErrorPath (AWS invents none). */
        readonly error: string | undefined,
        readonly cause: string | undefined,
    ) {
        super(cause ?? error ?? "");
        this.name = error ?? "StatesError";
    }
}

/** One problem found in a definition, in AWS's diagnostic form. */
export interface DefinitionDiagnostic {
    code: string;
    message: string;
    /** JSON-pointer-like location, e.g. `/States/Foo/Next`. */
    path: string;
}

/** Thrown by validateDefinition; the message reads as AWS's InvalidDefinition message. */
export class InvalidDefinitionError extends Error {
    constructor(readonly diagnostics: DefinitionDiagnostic[]) {
        super(
            `Invalid State Machine Definition: '${diagnostics
                .map((d) => `${d.code}: ${d.message} at ${d.path}`)
                .join(", ")}'`,
        );
        this.name = "InvalidDefinition";
    }
}

export function isPlainObject(value: unknown): value is JsonObject {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** AWS's compact JSON rendering of a value, as it appears in causes and history details. */
export function toJsonText(value: unknown): string {
    return JSON.stringify(value === undefined ? null : value);
}
