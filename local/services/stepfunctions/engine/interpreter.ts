/**
 * The ASL interpreter: runs a validated definition state by state, in JSONPath or JSONata per state, with
 * workflow variables (scoped per Parallel branch and Map iteration), the Context object, Retry/Catch, task and
 * execution timeouts, and AWS-shaped history events. Task calls go to the host through `hooks.runTask`.
 */
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { evaluateChoiceRule, ChoicePathError, isTimestamp } from "./choice";
import { evaluateIntrinsic, IntrinsicPathNotFound, IntrinsicRuntimeError, looksLikeIntrinsic, parseIntrinsic } from "./intrinsics";
import { evaluateExpression, evaluateTemplate, isJsonataExpression, type JsonataScope } from "./jsonataEval";
import { evaluatePath, parsePath, PathNotFound, writeAtPath, WritePathError, type PathRoots } from "./jsonPath";
import {
    isPlainObject,
    StatesError,
    toJsonText,
    type ContextObject,
    type EngineHooks,
    type EventOrigin,
    type ExecutionResult,
    type HistoryEvent,
    type JsonObject,
    type JsonValue,
    type RunOptions,
} from "./types";
import { validateDefinition } from "./validate";

type Language = "JSONPath" | "JSONata";
const MAX_PAYLOAD_BYTES = 256 * 1024;
/** Errors `States.ALL` does not match (AWS: terminal). */
const TERMINAL_ERRORS = new Set(["States.Runtime", "States.DataLimitExceeded"]);
/** Errors `States.TaskFailed` does not match. */
const TIMEOUT_ERRORS = new Set(["States.Timeout", "States.HeartbeatTimeout"]);
/** The reason a Task's signal aborts with when its TimeoutSeconds pass (the host retires its token as timed out). */
export const TASK_TIMED_OUT = "States.Timeout";

class Scope {
    private readonly vars = new Map<string, JsonValue>();
    constructor(readonly parent?: Scope) {}
    lookup(name: string): { found: boolean; value?: JsonValue } {
        if (this.vars.has(name)) return { found: true, value: this.vars.get(name) };
        return this.parent ? this.parent.lookup(name) : { found: false };
    }
    set(name: string, value: JsonValue): void {
        this.vars.set(name, value);
    }
    flatten(): Record<string, JsonValue> {
        return { ...(this.parent?.flatten() ?? {}), ...Object.fromEntries(this.vars) };
    }
}

interface Lane {
    last: number;
    mapIndex?: number;
}

class Aborted extends Error {}

/** Errors already recorded as EvaluationFailed (a Catch-less failure passes through several states). */
const reported = new WeakSet<StatesError>();

/** What one state's run produces. */
interface StateOutcome {
    output: JsonValue;
    next?: string;
}

interface StateEnv {
    name: string;
    state: JsonObject;
    language: Language;
    input: JsonValue;
    scope: Scope;
    lane: Lane;
    signal: AbortSignal;
    context: ContextObject;
    enteredId: number;
    causePrefix: string;
    /** Variables this state assigns (reported in the Exited event). */
    assigned?: Record<string, JsonValue>;
}

function runtimeError(env: { causePrefix: string }, text: string): StatesError {
    return new StatesError("States.Runtime", `${env.causePrefix} ${text}`);
}

function errorMatches(list: unknown, error: string | undefined, stateType: string): boolean {
    if (!Array.isArray(list)) return false;
    if (error !== undefined && list.includes(error)) return true;
    // AWS: States.Timeout also names a missed heartbeat (States.HeartbeatTimeout is the narrower name).
    if (error === "States.HeartbeatTimeout" && list.includes("States.Timeout")) return true;
    if (list.includes("States.ALL")) return error === undefined || !TERMINAL_ERRORS.has(error);
    if (stateType === "Task" && list.includes("States.TaskFailed")) return !TIMEOUT_ERRORS.has(error ?? "") && (error === undefined || !TERMINAL_ERRORS.has(error));
    return false;
}

function resourceParts(resource: string, region: string): { resourceType: string; resource: string; region: string } {
    const parts = resource.split(":");
    // `arn:aws:states:::aws-sdk:sfn:sendTaskSuccess` is "aws-sdk:sfn" / "sendTaskSuccess"; a pattern suffix stays on
    // the action, `.sync:2` colon included ("states" / "startExecution.sync:2").
    const integration = /^arn:aws[a-z-]*:states:([a-z0-9-]*):[^:]*:(.+?):([^:]+?(?:\.sync:2|\.sync|\.waitForTaskToken)?)$/.exec(resource);
    if (integration && parts[5] !== "activity") return { resourceType: integration[2], resource: integration[3], region: integration[1] || region };
    if (parts[0] === "arn" && parts[2] === "lambda") return { resourceType: "lambda", resource: "invoke", region: parts[3] || region };
    return { resourceType: parts[2] ?? "unknown", resource, region: parts[3] || region };
}

/**
 * The Assign a matched Choice rule applies: the state's own Assign, which AWS applies whichever rule matches, with
 * the rule's Assign over it.
 */
function choiceAssign(state: JsonObject, rule: JsonObject): JsonValue | undefined {
    if (rule.Assign === undefined) return state.Assign;
    if (state.Assign === undefined) return rule.Assign;
    return { ...(state.Assign as JsonObject), ...(rule.Assign as JsonObject) };
}

type Emit = (type: string, details?: Record<string, JsonValue | undefined>) => number;

/**
 * The history events of one Task attempt. AWS records a bare Lambda function ARN as LambdaFunction* events
 * (`resource` the ARN, `input` the payload) and every other resource as Task* events labelled by service.
 */
function taskEvents(resource: string, region: string) {
    const lambdaFunction = /^arn:aws[a-z-]*:lambda:/.test(resource);
    const parts = resourceParts(resource, region);
    const base = { resourceType: parts.resourceType, resource: parts.resource };
    return {
        scheduled(emit: Emit, parameters: JsonValue, timeoutSeconds: number | undefined, heartbeatSeconds: number | undefined): void {
            if (lambdaFunction) emit("LambdaFunctionScheduled", { resource, input: toJsonText(parameters), inputDetails: { truncated: false }, timeoutInSeconds: timeoutSeconds });
            else emit("TaskScheduled", { ...base, region: parts.region, parameters: toJsonText(parameters), timeoutInSeconds: timeoutSeconds, heartbeatInSeconds: heartbeatSeconds });
        },
        started(emit: Emit): number {
            return lambdaFunction ? emit("LambdaFunctionStarted") : emit("TaskStarted", base);
        },
        ended(emit: Emit, outcome: "Succeeded" | "Failed" | "TimedOut", details: Record<string, JsonValue | undefined>): void {
            if (lambdaFunction) emit(`LambdaFunction${outcome}`, details);
            else emit(`Task${outcome}`, { ...base, ...details });
        },
    };
}

class Execution {
    private nextId: number;
    private readonly hooks: EngineHooks;
    readonly region: string;

    constructor(
        private readonly definition: JsonObject,
        private readonly options: RunOptions,
    ) {
        this.hooks = options.hooks;
        this.nextId = (options.eventIdOffset ?? 0) + 1;
        this.region = options.context.Execution.Id.split(":")[3] || "us-east-1";
    }

    now(): number {
        return this.hooks.now ? this.hooks.now() : Date.now();
    }
    random(): number {
        return this.hooks.random ? this.hooks.random() : Math.random();
    }
    iso(ms: number): string {
        return new Date(ms).toISOString();
    }

    async sleep(ms: number, signal: AbortSignal): Promise<void> {
        if (signal.aborted) throw new Aborted();
        if (this.hooks.sleep) {
            await this.hooks.sleep(ms, signal);
        } else {
            await new Promise<void>((resolve) => {
                const timer = setTimeout(done, ms);
                function done() {
                    clearTimeout(timer);
                    signal.removeEventListener("abort", done);
                    resolve();
                }
                signal.addEventListener("abort", done, { once: true });
            });
        }
        if (signal.aborted) throw new Aborted();
    }

    emit(lane: Lane, type: string, details?: Record<string, JsonValue | undefined>, stateName?: string): number {
        const id = this.nextId++;
        const event: HistoryEvent = { id, previousEventId: lane.last, timestamp: this.now() / 1000, type };
        if (details) {
            const stateEvent = /^[A-Z][a-z]+State(Entered|Exited)$/.exec(type);
            const field = stateEvent ? `state${stateEvent[1]}EventDetails` : `${type[0].toLowerCase()}${type.slice(1)}EventDetails`;
            event[field as `${string}EventDetails`] = Object.fromEntries(Object.entries(details).filter(([, v]) => v !== undefined));
        }
        lane.last = id;
        const origin: EventOrigin = { stateName, mapIndex: lane.mapIndex };
        this.hooks.onEvent?.(event, origin);
        return id;
    }

    /** emit, bound to one lane and state. */
    emitter(lane: Lane, stateName: string): Emit {
        return (type, details) => this.emit(lane, type, details, stateName);
    }

    async run(input: JsonValue): Promise<ExecutionResult> {
        const root: Lane = { last: this.options.eventIdOffset ?? 0 };
        const controller = new AbortController();
        setMaxListeners(0, controller.signal);
        const outer = this.options.signal;
        const startAt = this.options.startAt;
        if (!startAt) {
            this.emit(root, "ExecutionStarted", {
                input: toJsonText(input),
                inputDetails: { truncated: false },
                roleArn: this.options.context.Execution.RoleArn,
            });
        }
        type Ending = { kind: "done"; output: JsonValue } | { kind: "error"; error: StatesError } | { kind: "timeout" } | { kind: "abort" };
        const endings: Promise<Ending>[] = [];
        const machine = this.runMachine(this.definition, startAt ? startAt.input : input, new Scope(), root, controller.signal, "JSONPath", startAt?.stateName, true).then(
            (output): Ending => ({ kind: "done", output }),
            (error: unknown): Ending => {
                if (error instanceof StatesError) return { kind: "error", error };
                if (error instanceof Aborted) return { kind: "abort" };
                return { kind: "error", error: new StatesError("States.Runtime", `Internal error: ${(error as Error)?.message ?? String(error)}`) };
            },
        );
        endings.push(machine);
        const timerController = new AbortController();
        const timeout = this.definition.TimeoutSeconds;
        if (typeof timeout === "number") {
            endings.push(this.sleep(timeout * 1000, timerController.signal).then(() => ({ kind: "timeout" }) as Ending, () => new Promise<Ending>(() => undefined)));
        }
        let onAbort: (() => void) | undefined;
        if (outer) {
            endings.push(
                new Promise<Ending>((resolve) => {
                    onAbort = () => resolve({ kind: "abort" });
                    if (outer.aborted) onAbort();
                    else outer.addEventListener("abort", onAbort, { once: true });
                }),
            );
        }
        const ending = await Promise.race(endings);
        timerController.abort();
        if (outer && onAbort) outer.removeEventListener("abort", onAbort);
        if (ending.kind !== "done" && ending.kind !== "error") controller.abort();
        switch (ending.kind) {
            case "done":
                this.emit(root, "ExecutionSucceeded", { output: toJsonText(ending.output), outputDetails: { truncated: false } });
                return { status: "SUCCEEDED", output: ending.output };
            case "error": {
                const { error, cause, failedState } = ending.error;
                this.emit(root, "ExecutionFailed", { error, cause });
                return { status: "FAILED", error, cause, failedState };
            }
            case "timeout":
                this.emit(root, "ExecutionTimedOut", { error: "States.Timeout", cause: undefined });
                return { status: "TIMED_OUT", error: "States.Timeout" };
            case "abort": {
                const reason = outer?.reason as { error?: string; cause?: string } | undefined;
                const error = isPlainObject(reason as JsonValue) ? reason?.error : undefined;
                const cause = isPlainObject(reason as JsonValue) ? reason?.cause : undefined;
                this.emit(root, "ExecutionAborted", { error, cause });
                return { status: "ABORTED", error, cause };
            }
        }
    }

    baseContext(): ContextObject {
        const c = this.options.context;
        return { Execution: { ...c.Execution }, StateMachine: { ...c.StateMachine } };
    }

    async runMachine(machine: JsonObject, input: JsonValue, scope: Scope, lane: Lane, signal: AbortSignal, parentLanguage: Language, startAt: string | undefined, top: boolean): Promise<JsonValue> {
        const language = (machine.QueryLanguage as Language | undefined) ?? parentLanguage;
        const states = machine.States as Record<string, JsonObject>;
        let current = startAt ?? (machine.StartAt as string);
        let value = input;
        for (;;) {
            if (signal.aborted) throw new Aborted();
            const state = states[current];
            if (!state) throw new StatesError("States.Runtime", `The state '${current}' does not exist in the state machine`);
            let outcome: StateOutcome;
            try {
                outcome = await this.runState(current, state, value, scope, lane, signal, (state.QueryLanguage as Language | undefined) ?? language);
            } catch (e) {
                if (top && e instanceof StatesError && e.failedState === undefined) e.failedState = current;
                throw e;
            }
            value = outcome.output;
            if (outcome.next === undefined) return value;
            current = outcome.next;
        }
    }

    roots(env: StateEnv, input: JsonValue, context: ContextObject = env.context): PathRoots {
        return { input, context: context as unknown as JsonValue, variable: (name) => env.scope.lookup(name) };
    }

    jsonataScope(env: StateEnv, extra: { result?: JsonValue; errorOutput?: JsonValue; context?: ContextObject } = {}): JsonataScope {
        const states: JsonataScope["states"] = { input: env.input, context: (extra.context ?? env.context) as unknown as JsonValue };
        if ("result" in extra) states.result = extra.result;
        if ("errorOutput" in extra) states.errorOutput = extra.errorOutput;
        return { states, variables: env.scope.flatten(), random: () => this.random(), causePrefix: env.causePrefix };
    }

    notFound(env: StateEnv, path: string, field: string, input: JsonValue): StatesError {
        return runtimeError(env, `The JSONPath '${path}' specified for the field '${field}' could not be found in the input '${toJsonText(input)}'`);
    }

    /** InputPath/OutputPath/ItemsPath-like selection: undefined keeps the value, null gives {}. */
    selectPath(env: StateEnv, path: unknown, value: JsonValue, field: string): JsonValue {
        if (path === undefined) return value;
        if (path === null) return {};
        try {
            return evaluatePath(path as string, this.roots(env, value));
        } catch (e) {
            if (e instanceof PathNotFound) throw this.notFound(env, path as string, field, value);
            throw e;
        }
    }

    pathOrIntrinsic(env: StateEnv, text: string, field: string, input: JsonValue, context?: ContextObject): JsonValue {
        const roots = this.roots(env, input, context);
        if (looksLikeIntrinsic(text)) {
            try {
                return evaluateIntrinsic(parseIntrinsic(text.trim()), { roots, random: () => this.random() });
            } catch (e) {
                if (e instanceof IntrinsicPathNotFound) throw this.notFound(env, e.pathText, field, input);
                if (e instanceof IntrinsicRuntimeError) throw runtimeError(env, `The function '${text.trim()}' had the following error: ${e.message}`);
                throw e;
            }
        }
        try {
            return evaluatePath(text, roots);
        } catch (e) {
            if (e instanceof PathNotFound) throw this.notFound(env, text, field, input);
            throw e;
        }
    }

    /** A JSONPath payload template: keys ending in `.$` take a path or intrinsic's value. */
    payload(env: StateEnv, template: JsonValue, input: JsonValue, context?: ContextObject): JsonValue {
        if (Array.isArray(template)) return template.map((t) => this.payload(env, t, input, context));
        if (!isPlainObject(template)) return template;
        const out: JsonObject = {};
        for (const [key, value] of Object.entries(template)) {
            if (key.endsWith(".$") && typeof value === "string") out[key.slice(0, -2)] = this.pathOrIntrinsic(env, value, key, input, context);
            else out[key] = this.payload(env, value, input, context);
        }
        return out;
    }

    applyResultPath(env: StateEnv, resultPath: unknown, input: JsonValue, result: JsonValue): JsonValue {
        if (resultPath === undefined) return result;
        if (resultPath === null) return input;
        try {
            return writeAtPath(input, parsePath(resultPath as string), result);
        } catch (e) {
            // The States Language's own error for a ResultPath that cannot be applied (a field of a string, say).
            if (e instanceof WritePathError) throw new StatesError("States.ResultPathMatchFailure", `${env.causePrefix} Unable to apply ResultPath '${resultPath as string}' to input '${toJsonText(input)}'. ${e.message}`);
            throw e;
        }
    }

    /** Evaluates an Assign block (all values from the pre-assignment variables), returning the new bindings. */
    async evaluateAssign(env: StateEnv, assign: unknown, pathInput: JsonValue, jsonata: () => JsonataScope): Promise<Record<string, JsonValue> | undefined> {
        if (!isPlainObject(assign)) return undefined;
        const out: Record<string, JsonValue> = {};
        for (const [key, value] of Object.entries(assign)) {
            if (env.language === "JSONata") out[key] = await evaluateTemplate(value, jsonata(), `Assign/${key}`);
            else if (key.endsWith(".$") && typeof value === "string") out[key.slice(0, -2)] = this.pathOrIntrinsic(env, value, key, pathInput);
            else out[key] = this.payload(env, value, pathInput);
        }
        return out;
    }

    commitAssign(env: StateEnv, values: Record<string, JsonValue> | undefined): void {
        if (!values) return;
        for (const [k, v] of Object.entries(values)) {
            if (Buffer.byteLength(JSON.stringify(v)) > MAX_PAYLOAD_BYTES) {
                throw new StatesError("States.DataLimitExceeded", `${env.causePrefix} The variable '${k}' has a size exceeding the maximum number of bytes service limit.`);
            }
            env.scope.set(k, v);
        }
        env.assigned = { ...(env.assigned ?? {}), ...values };
    }

    checkSize(env: StateEnv, output: JsonValue): void {
        if (Buffer.byteLength(JSON.stringify(output ?? null)) > MAX_PAYLOAD_BYTES) {
            throw new StatesError("States.DataLimitExceeded", `The state/task '${env.name}' returned a result with a size exceeding the maximum number of bytes service limit.`);
        }
    }

    async runState(name: string, state: JsonObject, input: JsonValue, scope: Scope, lane: Lane, signal: AbortSignal, language: Language): Promise<StateOutcome> {
        const type = state.Type as string;
        const enteredMs = this.now();
        const enteredId = this.emit(lane, `${type}StateEntered`, { name, input: toJsonText(input), inputDetails: { truncated: false } }, name);
        const context: ContextObject = { ...this.baseContext(), State: { Name: name, EnteredTime: this.iso(enteredMs), RetryCount: 0 } };
        const env: StateEnv = {
            name,
            state,
            language,
            input,
            scope,
            lane,
            signal,
            context,
            enteredId,
            causePrefix: `An error occurred while executing the state '${name}' (entered at the event id #${enteredId}).`,
        };
        try {
            return await this.dispatch(env);
        } catch (e) {
            // AWS records a JSONata failure as an EvaluationFailed event of the state before the execution fails.
            if (e instanceof StatesError && e.error === "States.QueryEvaluationError" && !reported.has(e)) {
                reported.add(e);
                this.emit(lane, "EvaluationFailed", { state: name, error: e.error, cause: e.cause, location: e.location }, name);
            }
            throw e;
        }
    }

    async dispatch(env: StateEnv): Promise<StateOutcome> {
        const { name, state, language, input, lane } = env;
        const type = state.Type as string;
        let outcome: StateOutcome;
        switch (type) {
            case "Pass":
                outcome = await this.runPass(env);
                break;
            case "Choice":
                outcome = await this.runChoice(env);
                break;
            case "Wait":
                outcome = await this.runWait(env);
                break;
            case "Succeed":
                outcome = { output: language === "JSONata" ? await this.jsonataOutput(env, state.Output, input) : this.selectPath(env, state.OutputPath, this.selectPath(env, state.InputPath, input, "InputPath"), "OutputPath") };
                break;
            case "Fail":
                throw await this.failError(env);
            case "Task":
            case "Parallel":
            case "Map":
                outcome = await this.runWithRetry(env);
                break;
            default:
                throw runtimeError(env, `The state type '${type}' is not supported`);
        }
        this.checkSize(env, outcome.output);
        {
            this.emit(
                lane,
                `${type}StateExited`,
                {
                    name,
                    output: toJsonText(outcome.output),
                    outputDetails: { truncated: false },
                    assignedVariables: env.assigned ? Object.fromEntries(Object.entries(env.assigned).map(([k, v]) => [k, toJsonText(v)])) : undefined,
                    assignedVariablesDetails: env.assigned ? { truncated: false } : undefined,
                },
                name,
            );
        }
        if (outcome.next === undefined && state.End !== true && type !== "Succeed" && type !== "Choice") outcome.next = state.Next as string | undefined;
        return outcome;
    }

    async jsonataOutput(env: StateEnv, output: unknown, fallback: JsonValue, extra: { result?: JsonValue; errorOutput?: JsonValue } = {}): Promise<JsonValue> {
        if (output === undefined) return fallback;
        return evaluateTemplate(output, this.jsonataScope(env, extra), "Output");
    }

    /** JSONata Assign and Output see the same (old) variables; assignment happens after both. */
    async finishJsonata(env: StateEnv, assign: unknown, output: unknown, fallback: JsonValue, extra: { result?: JsonValue; errorOutput?: JsonValue } = {}): Promise<JsonValue> {
        const assigned = await this.evaluateAssign(env, assign, null, () => this.jsonataScope(env, extra));
        const out = await this.jsonataOutput(env, output, fallback, extra);
        this.commitAssign(env, assigned);
        return out;
    }

    async runPass(env: StateEnv): Promise<StateOutcome> {
        const { state, input } = env;
        if (env.language === "JSONata") return { output: await this.finishJsonata(env, state.Assign, state.Output, input) };
        const effective = this.selectPath(env, state.InputPath, input, "InputPath");
        const result = state.Result !== undefined ? (state.Result as JsonValue) : state.Parameters !== undefined ? this.payload(env, state.Parameters as JsonValue, effective) : effective;
        const assigned = await this.evaluateAssign(env, state.Assign, result, () => this.jsonataScope(env));
        const withResult = this.applyResultPath(env, state.ResultPath, input, result);
        const output = this.selectPath(env, state.OutputPath, withResult, "OutputPath");
        this.commitAssign(env, assigned);
        return { output };
    }

    async runChoice(env: StateEnv): Promise<StateOutcome> {
        const { state, input } = env;
        const rules = state.Choices as JsonObject[];
        if (env.language === "JSONata") {
            for (let i = 0; i < rules.length; i++) {
                const rule = rules[i];
                const condition = typeof rule.Condition === "boolean" ? rule.Condition : await evaluateExpression(rule.Condition as string, this.jsonataScope(env), `Choices[${i}]/Condition`);
                if (typeof condition !== "boolean") {
                    throw new StatesError("States.QueryEvaluationError", `${env.causePrefix} The JSONata expression '${(rule.Condition as string).slice(2, -2).trim()}' specified for the field 'Condition' returned a non-boolean value: ${toJsonText(condition)}`);
                }
                if (condition) {
                    const output = await this.finishJsonata(env, choiceAssign(state, rule), rule.Output ?? state.Output, input);
                    return { output, next: rule.Next as string };
                }
            }
            if (state.Default === undefined) throw new StatesError("States.NoChoiceMatched", `${env.causePrefix} No Matches!`);
            return { output: await this.finishJsonata(env, state.Assign, state.Output, input), next: state.Default as string };
        }
        const effective = this.selectPath(env, state.InputPath, input, "InputPath");
        const roots = this.roots(env, effective);
        for (const rule of rules) {
            let matched: boolean;
            try {
                matched = evaluateChoiceRule(rule, roots);
            } catch (e) {
                if (e instanceof ChoicePathError) throw runtimeError(env, e.message);
                throw e;
            }
            if (matched) {
                const assigned = await this.evaluateAssign(env, choiceAssign(state, rule), effective, () => this.jsonataScope(env));
                const output = this.selectPath(env, state.OutputPath, effective, "OutputPath");
                this.commitAssign(env, assigned);
                return { output, next: rule.Next as string };
            }
        }
        if (state.Default === undefined) throw new StatesError("States.NoChoiceMatched", `${env.causePrefix} No Matches!`);
        const assigned = await this.evaluateAssign(env, state.Assign, effective, () => this.jsonataScope(env));
        const output = this.selectPath(env, state.OutputPath, effective, "OutputPath");
        this.commitAssign(env, assigned);
        return { output, next: state.Default as string };
    }

    async runWait(env: StateEnv): Promise<StateOutcome> {
        const { state, input } = env;
        const jsonata = env.language === "JSONata";
        const effective = jsonata ? input : this.selectPath(env, state.InputPath, input, "InputPath");
        let untilMs: number;
        const evalField = async (field: "Seconds" | "Timestamp"): Promise<JsonValue> =>
            jsonata && isJsonataExpression(state[field]) ? evaluateExpression(state[field] as string, this.jsonataScope(env), field) : (state[field] as JsonValue);
        if (state.Seconds !== undefined || state.SecondsPath !== undefined) {
            const seconds = state.Seconds !== undefined ? await evalField("Seconds") : this.pathOrIntrinsic(env, state.SecondsPath as string, "SecondsPath", effective);
            if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 0) {
                const text = `The ${state.Seconds !== undefined ? "Seconds" : "SecondsPath"} field must be a non-negative integer, got ${toJsonText(seconds)}`;
                throw jsonata ? new StatesError("States.QueryEvaluationError", `${env.causePrefix} ${text}`) : runtimeError(env, text);
            }
            untilMs = this.now() + seconds * 1000;
        } else {
            const stamp = state.Timestamp !== undefined ? await evalField("Timestamp") : this.pathOrIntrinsic(env, state.TimestampPath as string, "TimestampPath", effective);
            // Only an RFC3339 timestamp (uppercase T and Z) is one; Date.parse alone would take "2020-01-01" or "Jan 1 2020".
            const ms = isTimestamp(stamp) ? Date.parse(stamp) : NaN;
            if (Number.isNaN(ms)) {
                const text = `The ${state.Timestamp !== undefined ? "Timestamp" : "TimestampPath"} field must be an ISO-8601 timestamp, got ${toJsonText(stamp)}`;
                throw jsonata ? new StatesError("States.QueryEvaluationError", `${env.causePrefix} ${text}`) : runtimeError(env, text);
            }
            untilMs = ms;
        }
        const delay = untilMs - this.now();
        if (delay > 0) await this.sleep(delay, env.signal);
        if (jsonata) return { output: await this.finishJsonata(env, state.Assign, state.Output, input) };
        const assigned = await this.evaluateAssign(env, state.Assign, effective, () => this.jsonataScope(env));
        const output = this.selectPath(env, state.OutputPath, effective, "OutputPath");
        this.commitAssign(env, assigned);
        return { output };
    }

    async failError(env: StateEnv): Promise<StatesError> {
        const { state, input } = env;
        const text = async (field: "Error" | "Cause"): Promise<string | undefined> => {
            const pathField = `${field}Path`;
            let value: JsonValue | undefined;
            if (state[field] !== undefined) {
                value = env.language === "JSONata" ? await evaluateTemplate(state[field], this.jsonataScope(env), field) : (state[field] as JsonValue);
            } else if (state[pathField] !== undefined) {
                value = this.pathOrIntrinsic(env, state[pathField] as string, pathField, input);
            } else return undefined;
            if (typeof value !== "string") {
                const why = `The value of the field '${state[field] !== undefined ? field : pathField}' must be a string, got ${toJsonText(value)}`;
                throw env.language === "JSONata" ? new StatesError("States.QueryEvaluationError", `${env.causePrefix} ${why}`) : runtimeError(env, why);
            }
            return value;
        };
        const error = await text("Error");
        const cause = await text("Cause");
        return new StatesError(error, cause);
    }

    /** Task, Parallel and Map: the attempt, Retry, then Catch. */
    async runWithRetry(env: StateEnv): Promise<StateOutcome> {
        const { state } = env;
        const retriers = (state.Retry as JsonObject[] | undefined) ?? [];
        const counts = retriers.map(() => 0);
        let retryCount = 0;
        for (;;) {
            env.context.State!.RetryCount = retryCount;
            try {
                return await this.attempt(env);
            } catch (e) {
                if (!(e instanceof StatesError)) throw e;
                if (env.signal.aborted) throw new Aborted();
                const index = retriers.findIndex((r) => errorMatches(r.ErrorEquals, e.error, state.Type as string));
                if (index >= 0) {
                    const r = retriers[index];
                    const maxAttempts = (r.MaxAttempts as number | undefined) ?? 3;
                    if (counts[index] < maxAttempts) {
                        const interval = (r.IntervalSeconds as number | undefined) ?? 1;
                        const backoff = (r.BackoffRate as number | undefined) ?? 2;
                        let delay = interval * Math.pow(backoff, counts[index]);
                        if (typeof r.MaxDelaySeconds === "number") delay = Math.min(delay, r.MaxDelaySeconds);
                        if (r.JitterStrategy === "FULL") delay = this.random() * delay;
                        counts[index]++;
                        retryCount++;
                        await this.sleep(delay * 1000, env.signal);
                        continue;
                    }
                }
                return this.catchError(env, e);
            }
        }
    }

    async catchError(env: StateEnv, e: StatesError): Promise<StateOutcome> {
        const { state, input } = env;
        const catchers = (state.Catch as JsonObject[] | undefined) ?? [];
        const catcher = catchers.find((c) => errorMatches(c.ErrorEquals, e.error, state.Type as string));
        if (!catcher) throw e;
        const errorOutput: JsonObject = {};
        if (e.error !== undefined) errorOutput.Error = e.error;
        if (e.cause !== undefined) errorOutput.Cause = e.cause;
        if (env.language === "JSONata") {
            const output = await this.finishJsonata(env, catcher.Assign, catcher.Output, errorOutput, { errorOutput });
            return { output, next: catcher.Next as string };
        }
        const assigned = await this.evaluateAssign(env, catcher.Assign, errorOutput, () => this.jsonataScope(env));
        const output = this.applyResultPath(env, catcher.ResultPath, input, errorOutput);
        this.commitAssign(env, assigned);
        return { output, next: catcher.Next as string };
    }

    async attempt(env: StateEnv): Promise<StateOutcome> {
        const { state, input } = env;
        const type = state.Type as string;
        const jsonata = env.language === "JSONata";
        const effective = jsonata ? input : this.selectPath(env, state.InputPath, input, "InputPath");
        let result: JsonValue;
        if (type === "Task") result = await this.runTask(env, effective);
        else if (type === "Parallel") result = await this.runParallel(env, effective);
        else result = await this.runMap(env, effective);
        if (jsonata) return { output: await this.finishJsonata(env, state.Assign, state.Output, result, { result }) };
        const selected = state.ResultSelector !== undefined ? this.payload(env, state.ResultSelector as JsonValue, result) : result;
        const assigned = await this.evaluateAssign(env, state.Assign, selected, () => this.jsonataScope(env));
        const withResult = this.applyResultPath(env, state.ResultPath, input, selected);
        const output = this.selectPath(env, state.OutputPath, withResult, "OutputPath");
        this.commitAssign(env, assigned);
        return { output };
    }

    /** TimeoutSeconds/HeartbeatSeconds, or their Path forms, or JSONata expressions. */
    async secondsField(env: StateEnv, field: "TimeoutSeconds" | "HeartbeatSeconds", effective: JsonValue): Promise<number | undefined> {
        const { state } = env;
        let value: JsonValue | undefined;
        if (state[field] !== undefined) {
            value = env.language === "JSONata" && isJsonataExpression(state[field]) ? await evaluateExpression(state[field] as string, this.jsonataScope(env), field) : (state[field] as JsonValue);
        } else if (state[`${field}Path`] !== undefined) {
            value = this.pathOrIntrinsic(env, state[`${field}Path`] as string, `${field}Path`, effective);
        } else return undefined;
        if (typeof value !== "number" || !Number.isInteger(value) || value <= 0 || value > 99999999) {
            const text = `The value of the field '${state[field] !== undefined ? field : `${field}Path`}' must be a positive integer, got ${toJsonText(value)}`;
            throw env.language === "JSONata" ? new StatesError("States.QueryEvaluationError", `${env.causePrefix} ${text}`) : runtimeError(env, text);
        }
        return value;
    }

    async runTask(env: StateEnv, effective: JsonValue): Promise<JsonValue> {
        const { state, lane, name } = env;
        const resource = state.Resource as string;
        const waitsForToken = resource.endsWith(".waitForTaskToken");
        const context: ContextObject = { ...env.context, State: { ...env.context.State! } };
        let taskToken: string | undefined;
        if (waitsForToken) {
            taskToken = this.hooks.newTaskToken ? this.hooks.newTaskToken({ stateName: name, resource }) : randomBytes(48).toString("base64url");
            context.Task = { Token: taskToken };
        }
        const taskEnv = { ...env, context };
        let parameters: JsonValue;
        let credentials: JsonValue | undefined;
        if (env.language === "JSONata") {
            parameters = state.Arguments !== undefined ? await evaluateTemplate(state.Arguments, this.jsonataScope(taskEnv), "Arguments") : effective;
            if (state.Credentials !== undefined) credentials = await evaluateTemplate(state.Credentials, this.jsonataScope(taskEnv), "Credentials");
        } else {
            parameters = state.Parameters !== undefined ? this.payload(taskEnv, state.Parameters as JsonValue, effective) : effective;
            if (state.Credentials !== undefined) credentials = this.payload(taskEnv, state.Credentials as JsonValue, effective);
        }
        if (Buffer.byteLength(JSON.stringify(parameters ?? null)) > MAX_PAYLOAD_BYTES) {
            throw new StatesError("States.DataLimitExceeded", `The state/task '${name}' has an input with a size exceeding the maximum number of bytes service limit.`);
        }
        const timeoutSeconds = await this.secondsField(taskEnv, "TimeoutSeconds", effective);
        const heartbeatSeconds = await this.secondsField(taskEnv, "HeartbeatSeconds", effective);
        const events = taskEvents(resource, this.region);
        events.scheduled(this.emitter(lane, name), parameters, timeoutSeconds, heartbeatSeconds);
        const startedEventId = events.started(this.emitter(lane, name));
        const controller = new AbortController();
        const onParentAbort = () => controller.abort();
        env.signal.addEventListener("abort", onParentAbort, { once: true });
        const timerController = new AbortController();
        let onAbortedRace: (() => void) | undefined;
        try {
            const call = Promise.resolve()
                .then(() =>
                    this.hooks.runTask({
                        stateName: name,
                        resource,
                        parameters,
                        timeoutSeconds,
                        heartbeatSeconds,
                        taskToken,
                        context,
                        signal: controller.signal,
                        credentials,
                        startedEventId,
                    }),
                )
                .then(
                    (value) => ({ ok: true as const, value }),
                    (error: unknown) => ({ ok: false as const, error }),
                );
            const racers: Promise<{ ok: true; value: unknown } | { ok: false; error: unknown } | { timeout: true }>[] = [call];
            if (timeoutSeconds !== undefined) racers.push(this.sleep(timeoutSeconds * 1000, timerController.signal).then(() => ({ timeout: true as const }), () => new Promise<never>(() => undefined)));
            const aborted = new Promise<{ aborted: true }>((resolve) => {
                if (env.signal.aborted) resolve({ aborted: true });
                onAbortedRace = () => resolve({ aborted: true });
                env.signal.addEventListener("abort", onAbortedRace, { once: true });
            });
            const outcome = await Promise.race([...racers, aborted]);
            if ("aborted" in outcome) throw new Aborted();
            if ("timeout" in outcome) {
                controller.abort(TASK_TIMED_OUT);
                events.ended(this.emitter(lane, name), "TimedOut", { error: "States.Timeout", cause: undefined });
                throw new StatesError("States.Timeout", undefined);
            }
            if (!outcome.ok) {
                if (env.signal.aborted) throw new Aborted();
                const err = outcome.error as { name?: unknown; message?: unknown } | undefined;
                const error = typeof err?.name === "string" && err.name !== "Error" ? err.name : "States.TaskFailed";
                const cause = typeof err?.message === "string" ? err.message : err === undefined ? undefined : String(err);
                events.ended(this.emitter(lane, name), TIMEOUT_ERRORS.has(error) ? "TimedOut" : "Failed", { error, cause });
                throw new StatesError(error, cause);
            }
            const value = outcome.value === undefined ? null : (JSON.parse(JSON.stringify(outcome.value)) as JsonValue);
            if (Buffer.byteLength(JSON.stringify(value)) > MAX_PAYLOAD_BYTES) {
                events.ended(this.emitter(lane, name), "Failed", { error: "States.DataLimitExceeded", cause: `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit.` });
                throw new StatesError("States.DataLimitExceeded", `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit.`);
            }
            events.ended(this.emitter(lane, name), "Succeeded", { output: toJsonText(value), outputDetails: { truncated: false } });
            return value;
        } finally {
            timerController.abort();
            env.signal.removeEventListener("abort", onParentAbort);
            if (onAbortedRace) env.signal.removeEventListener("abort", onAbortedRace);
        }
    }

    /** Runs child machines concurrently; the first failure aborts the others. */
    async runChildren<T>(env: StateEnv, count: number, maxConcurrency: number, run: (index: number, signal: AbortSignal) => Promise<T>, onFailure?: (index: number, error: StatesError) => boolean): Promise<T[]> {
        const controller = new AbortController();
        // Every running iteration's task listens on this signal: many listeners are expected, not a leak.
        setMaxListeners(0, controller.signal);
        const onParentAbort = () => controller.abort();
        env.signal.addEventListener("abort", onParentAbort, { once: true });
        const results: T[] = new Array<T>(count);
        let next = 0;
        let failure: unknown;
        const worker = async () => {
            while (failure === undefined && next < count && !controller.signal.aborted) {
                const index = next++;
                try {
                    results[index] = await run(index, controller.signal);
                } catch (e) {
                    if (failure !== undefined || controller.signal.aborted) return;
                    let error = e;
                    if (e instanceof StatesError && onFailure) {
                        try {
                            if (onFailure(index, e)) continue;
                        } catch (thresholdError) {
                            error = thresholdError;
                        }
                    }
                    failure = error;
                    controller.abort();
                    return;
                }
            }
        };
        const workers = Math.max(1, Math.min(count, maxConcurrency > 0 ? maxConcurrency : count));
        try {
            await Promise.all(Array.from({ length: workers }, worker));
        } finally {
            env.signal.removeEventListener("abort", onParentAbort);
        }
        if (env.signal.aborted) throw new Aborted();
        if (failure !== undefined) throw failure;
        return results;
    }

    async runParallel(env: StateEnv, effective: JsonValue): Promise<JsonValue> {
        const { state, lane, name } = env;
        const branchInput =
            env.language === "JSONata"
                ? state.Arguments !== undefined
                    ? await evaluateTemplate(state.Arguments, this.jsonataScope(env), "Arguments")
                    : env.input
                : state.Parameters !== undefined
                  ? this.payload(env, state.Parameters as JsonValue, effective)
                  : effective;
        const branches = state.Branches as JsonObject[];
        const startedId = this.emit(lane, "ParallelStateStarted", undefined, name);
        try {
            const results = await this.runChildren(env, branches.length, 0, (i, signal) =>
                this.runMachine(branches[i], branchInput, new Scope(env.scope), { last: startedId, mapIndex: lane.mapIndex }, signal, env.language, undefined, false),
            );
            this.emit(lane, "ParallelStateSucceeded", undefined, name);
            return results;
        } catch (e) {
            if (e instanceof StatesError) this.emit(lane, "ParallelStateFailed", { error: e.error, cause: e.cause }, name);
            else if (e instanceof Aborted) this.emit(lane, "ParallelStateAborted", undefined, name);
            throw e;
        }
    }

    async numberSetting(env: StateEnv, field: string, effective: JsonValue, check: (n: number) => boolean, what: string): Promise<number | undefined> {
        const { state } = env;
        let value: JsonValue;
        let source = field;
        if (state[field] !== undefined) {
            value = env.language === "JSONata" && isJsonataExpression(state[field]) ? await evaluateExpression(state[field] as string, this.jsonataScope(env), field) : (state[field] as JsonValue);
        } else if (state[`${field}Path`] !== undefined) {
            source = `${field}Path`;
            value = this.pathOrIntrinsic(env, state[source] as string, source, effective);
        } else return undefined;
        if (typeof value !== "number" || !check(value)) {
            const text = `The value of the field '${source}' must be ${what}, got ${toJsonText(value)}`;
            throw env.language === "JSONata" ? new StatesError("States.QueryEvaluationError", `${env.causePrefix} ${text}`) : runtimeError(env, text);
        }
        return value;
    }

    async runMap(env: StateEnv, effective: JsonValue): Promise<JsonValue> {
        const { state, lane, name } = env;
        const jsonata = env.language === "JSONata";
        let items: JsonValue;
        if (jsonata) items = state.Items !== undefined ? await evaluateTemplate(state.Items, this.jsonataScope(env), "Items") : env.input;
        else items = state.ItemsPath === undefined ? effective : this.pathOrIntrinsic(env, state.ItemsPath as string, "ItemsPath", effective);
        if (!Array.isArray(items)) {
            const field = jsonata ? "Items" : "ItemsPath";
            const text = `The ${field} field must evaluate to a JSON array, got ${toJsonText(items)}`;
            throw jsonata ? new StatesError("States.QueryEvaluationError", `${env.causePrefix} ${text}`) : runtimeError(env, `Invalid path '${(state.ItemsPath as string | undefined) ?? "$"}': ${text}`);
        }
        const maxConcurrency = (await this.numberSetting(env, "MaxConcurrency", effective, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer")) ?? 0;
        const toleratedCount = await this.numberSetting(env, "ToleratedFailureCount", effective, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer");
        const toleratedPercentage = await this.numberSetting(env, "ToleratedFailurePercentage", effective, (n) => n >= 0 && n <= 100, "a number from 0 to 100");
        const processor = (state.ItemProcessor ?? state.Iterator) as JsonObject;
        const selector = state.ItemSelector ?? state.Parameters;
        const list = items;
        const startedId = this.emit(lane, "MapStateStarted", { length: list.length }, name);
        let failed = 0;
        const tolerant = toleratedCount !== undefined || toleratedPercentage !== undefined;
        const errorOutputs = new Map<number, JsonObject>();
        try {
            const results = await this.runChildren(
                env,
                list.length,
                maxConcurrency,
                async (index, signal) => {
                    const iterationLane: Lane = { last: startedId, mapIndex: index };
                    this.emit(iterationLane, "MapIterationStarted", { name, index }, name);
                    const itemContext: ContextObject = { ...env.context, Map: { Item: { Index: index, Value: list[index] } } };
                    let itemInput: JsonValue = list[index];
                    if (selector !== undefined) {
                        itemInput = jsonata ? await evaluateTemplate(selector, this.jsonataScope(env, { context: itemContext }), "ItemSelector") : this.payload(env, selector as JsonValue, effective, itemContext);
                    }
                    try {
                        const output = await this.runMachine(processor, itemInput, new Scope(env.scope), iterationLane, signal, env.language, undefined, false);
                        this.emit(iterationLane, "MapIterationSucceeded", { name, index }, name);
                        return output;
                    } catch (e) {
                        if (e instanceof Aborted || signal.aborted) {
                            this.emit(iterationLane, "MapIterationAborted", { name, index }, name);
                            throw e instanceof Aborted ? e : new Aborted();
                        }
                        this.emit(iterationLane, "MapIterationFailed", { name, index }, name);
                        throw e;
                    }
                },
                tolerant
                    ? (index, error) => {
                          failed++;
                          const out: JsonObject = {};
                          if (error.error !== undefined) out.Error = error.error;
                          if (error.cause !== undefined) out.Cause = error.cause;
                          errorOutputs.set(index, out);
                          const overCount = toleratedCount !== undefined && failed > toleratedCount;
                          const overPercentage = toleratedPercentage !== undefined && (failed / list.length) * 100 > toleratedPercentage;
                          if (overCount || overPercentage) {
                              throw new StatesError("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded");
                          }
                          return true;
                      }
                    : undefined,
            );
            for (const [index, out] of errorOutputs) results[index] = out;
            this.emit(lane, "MapStateSucceeded", undefined, name);
            return results as JsonValue[];
        } catch (e) {
            if (e instanceof StatesError) this.emit(lane, "MapStateFailed", { error: e.error, cause: e.cause }, name);
            else if (e instanceof Aborted) this.emit(lane, "MapStateAborted", undefined, name);
            throw e;
        }
    }
}

/**
 * Runs one execution of a definition to its end. The definition is validated first (an invalid one throws
 * InvalidDefinitionError); failures inside the run come back as FAILED with AWS's error and cause.
 */
export async function runExecution(definition: unknown, input: JsonValue, options: RunOptions): Promise<ExecutionResult> {
    validateDefinition(definition);
    return new Execution(definition as JsonObject, options).run(input);
}
