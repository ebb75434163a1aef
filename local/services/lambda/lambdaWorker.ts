/**
 * The bootstrap of one Lambda "execution environment": the code that runs inside a `worker_threads` Worker started by
 * `LambdaService` (local/services/lambda/lambda.ts). It plays the part of the nodejs22.x runtime: it loads the function's archive from
 * its task root, answers invocations one at a time with Lambda's handler semantics, formats console output as Lambda
 * does and reports errors in Lambda's `{errorType, errorMessage, trace}` shape.
 *
 * The host does not `require` this file into a Worker: it transforms it with esbuild and starts the Worker with
 * `eval: true`, so the file may import only Node built-ins at run time (types from elsewhere are fine).
 */
import { parentPort, workerData } from "node:worker_threads";
import Module, { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";
import { format } from "node:util";
import { getHeapStatistics } from "node:v8";

/** Lambda's error shape, as in an invocation response or a destination record's `responsePayload`. */
export interface FunctionError {
    errorType: string;
    errorMessage: string;
    trace?: string[];
}

/** What the host hands each Worker at start (`workerData`). */
export interface LambdaWorkerData {
    /** Marks the data as ours, so importing this file anywhere else does nothing. */
    choreographyLambdaWorker: true;
    taskRoot: string;
    handler: string;
    sdkResolveDir: string;
    /** Bare-specifier prefixes the runtime provides when the archive lacks them (`@aws-sdk/`, `@smithy/`). */
    runtimeProvidedPrefixes: string[];
    functionName: string;
    memoryLimitInMB: number;
    logGroupName: string;
    logStreamName: string;
    /** The function's `LoggingConfig.LogFormat`: Lambda writes console output as text lines or as JSON objects. */
    logFormat: "Text" | "JSON";
    /** With the JSON format, console output below this level is dropped (Lambda's `ApplicationLogLevel`, INFO by default). */
    applicationLogLevel: string;
}

/** Host -> worker: run one invocation. */
export interface InvokeMessage {
    type: "invoke";
    requestId: string;
    /** The event as JSON: the handler gets a fresh parse, as it would from the Runtime API. */
    eventJson: string;
    invokedFunctionArn: string;
    timeoutMs: number;
}

/**
 * Worker -> host. `start` marks the end of a cold start's init phase, where the function's timeout begins; a warm
 * Worker's invocation starts when the host dispatches it, so it sends none (one message fewer per invocation).
 */
export type WorkerMessage =
    | { type: "start"; requestId: string; memoryUsedMb: number }
    | { type: "log"; text: string }
    | ({ type: "result"; requestId: string; payloadJson: string } & Measured)
    | ({ type: "result"; requestId: string; error: FunctionError; fatal: boolean } & Measured);

/** What a result reports of its invocation: the handler's own duration and the environment's memory at its end. */
export interface Measured {
    /** Milliseconds around the handler call; absent when the handler never ran (a failed init). */
    durationMs?: number;
    memoryUsedMb: number;
}

/**
 * The memory this environment uses, in MB rounded up: the isolate's heap as V8 commits it, plus what it allocated
 * outside the heap (buffers, malloc). Lambda measures the whole sandbox, the Node.js process included; a Worker shares
 * its process with the runtime, so only its own isolate can be counted, which reads lower than AWS would.
 */
function memoryUsedMb(): number {
    const heap = getHeapStatistics();
    return Math.ceil((heap.total_physical_size + heap.malloced_memory + heap.external_memory) / (1024 * 1024));
}

/** Lambda's application log levels, lowest first (console.trace is TRACE, console.debug DEBUG, ...). */
const LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/** The nodejs runtime's `context` object, less `identity`/`clientContext` which only mobile SDK calls carry. */
interface LambdaContext {
    callbackWaitsForEmptyEventLoop: boolean;
    functionName: string;
    functionVersion: string;
    invokedFunctionArn: string;
    memoryLimitInMB: string;
    awsRequestId: string;
    logGroupName: string;
    logStreamName: string;
    getRemainingTimeInMillis(): number;
    done(error?: unknown, result?: unknown): void;
    succeed(result?: unknown): void;
    fail(error: unknown): void;
}

type Callback = (error?: unknown, result?: unknown) => void;
type Handler = (event: unknown, context: LambdaContext, callback: Callback) => unknown;
type Outcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** Node's CommonJS loader internals we wrap to make resolution behave as in /var/task. */
interface ModuleInternals {
    _nodeModulePaths(from: string): string[];
    _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
}

/**
 * Converts anything thrown or passed to a callback the way the nodejs runtime's `toRapidResponse` does:
 * Errors by name/message/stack lines, other values by `typeof` and `toString()`.
 */
export function toFunctionError(error: unknown): FunctionError {
    if (error instanceof Error || isErrorLike(error)) {
        const e = error as Error;
        return { errorType: e.name, errorMessage: e.message, trace: (e.stack ?? "").split("\n") };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

function isErrorLike(value: unknown): boolean {
    return typeof value === "object" && value !== null && "name" in value && "message" in value && "stack" in value;
}

/** A runtime error such as `Runtime.ImportModuleError`, keeping the cause's stack frames as Lambda's trace does. */
function runtimeError(errorType: string, errorMessage: string, cause?: unknown): FunctionError {
    const frames = cause instanceof Error ? (cause.stack ?? "").split("\n").filter((l) => l.startsWith("    at ")) : [];
    return { errorType, errorMessage, trace: [`${errorType}: ${errorMessage}`, ...frames] };
}

function isInside(file: string, folder: string): boolean {
    return file === folder || file.startsWith(folder + path.sep);
}

/**
 * Lambda resolves a bare `require` from /var/task/node_modules, then the runtime's own node_modules (which holds the
 * SDK). Here: archive modules look only inside the archive (so walking up never reaches a project's node_modules and
 * a package missing from the bundle fails as it would in AWS); SDK packages fall back to `sdkResolveDir`.
 */
function confineResolution(data: LambdaWorkerData): void {
    const loader = Module as unknown as ModuleInternals;
    const nodeModulePaths = loader._nodeModulePaths.bind(loader);
    loader._nodeModulePaths = (from: string) =>
        isInside(from, data.taskRoot) ? nodeModulePaths(from).filter((p) => isInside(p, data.taskRoot)) : nodeModulePaths(from);

    const resolveFilename = loader._resolveFilename.bind(loader);
    const sdkRequire = createRequire(path.join(data.sdkResolveDir, "package.json"));
    loader._resolveFilename = (request, parent, isMain, options) => {
        try {
            return resolveFilename(request, parent, isMain, options);
        } catch (err) {
            if (!data.runtimeProvidedPrefixes.some((prefix) => request.startsWith(prefix))) throw err;
            return sdkRequire.resolve(request);
        }
    };
}

/** Finds the handler module as the runtime does: `dir/file.export.path` -> `dir/file(.js|.cjs)`, nested export. */
function loadHandler(data: LambdaWorkerData): Handler {
    const base = path.basename(data.handler);
    const match = /^([^.]*)\.(.*)$/.exec(base);
    if (!match) throw runtimeError("Runtime.MalformedHandlerName", "Bad handler");
    const [, moduleName, exportPath] = match;
    const modulePath = path.join(data.taskRoot, path.dirname(data.handler), moduleName);
    const exported = exportPath.split(".").reduce<unknown>(
        (obj, key) => (obj !== null && obj !== undefined ? (obj as Record<string, unknown>)[key] : undefined),
        requireUserModule(modulePath, moduleName),
    );
    if (exported === undefined) throw runtimeError("Runtime.HandlerNotFound", `${data.handler} is undefined or not exported`);
    if (typeof exported !== "function") throw runtimeError("Runtime.HandlerNotFound", `${data.handler} is not a function`);
    return exported as Handler;
}

function requireUserModule(modulePath: string, moduleName: string): unknown {
    const file = [".js", ".cjs"].map((ext) => modulePath + ext).find((f) => fs.existsSync(f));
    if (!file) {
        const hint = fs.existsSync(modulePath + ".mjs") ? " (ES module handlers are not supported locally)" : "";
        throw runtimeError("Runtime.ImportModuleError", `Error: Cannot find module '${moduleName}'${hint}`);
    }
    try {
        // Loaded from where Lambda's runtime loads it, so a "Require stack" reads as it does in AWS.
        return createRequire("/var/runtime/index.mjs")(file);
    } catch (err) {
        if (err instanceof SyntaxError) throw runtimeError("Runtime.UserCodeSyntaxError", String(err), err);
        if ((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") {
            throw runtimeError("Runtime.ImportModuleError", String(err), err);
        }
        throw err;
    }
}

/** Routes all console/stdout/stderr output through the port, so it reaches the host in order with the result. */
class LogCapture {
    requestId: string | undefined;
    private partial = "";

    constructor(
        private readonly post: (message: WorkerMessage) => void,
        private readonly data: LambdaWorkerData,
    ) {}

    install(): void {
        const levels = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "TRACE" } as const;
        for (const [method, level] of Object.entries(levels)) {
            console[method as keyof typeof levels] = (...args: unknown[]) => this.record(level, format(...args));
        }
        process.stdout.write = this.rawWriter();
        process.stderr.write = this.rawWriter();
    }

    /**
     * One console call is one log event. Text format: timestamp, request id ("undefined" during init, as in AWS),
     * level, message. JSON format: `{timestamp, level, requestId, message}`, the request id left out during init, and
     * levels below the application log level dropped, as the nodejs runtime does.
     */
    private record(level: string, message: string): void {
        const timestamp = new Date().toISOString();
        if (this.data.logFormat === "JSON") {
            if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(this.data.applicationLogLevel)) return;
            const record: Record<string, string> = { timestamp, level };
            if (this.requestId !== undefined) record.requestId = this.requestId;
            record.message = message;
            this.post({ type: "log", text: JSON.stringify(record) });
            return;
        }
        this.post({ type: "log", text: `${timestamp}\t${this.requestId}\t${level}\t${message}` });
    }

    /** Direct stream writes (the powertools Logger's JSON lines) go out unformatted, each line one event. */
    private rawWriter(): typeof process.stdout.write {
        const write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
            this.partial += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
            const cut = this.partial.lastIndexOf("\n");
            if (cut >= 0) {
                for (const line of this.partial.slice(0, cut).split("\n")) this.post({ type: "log", text: line });
                this.partial = this.partial.slice(cut + 1);
            }
            const callback = rest.find((r): r is () => void => typeof r === "function");
            callback?.();
            return true;
        };
        return write as typeof process.stdout.write;
    }

    flush(): void {
        if (this.partial) this.post({ type: "log", text: this.partial });
        this.partial = "";
    }
}

/**
 * Resolves once nothing but the port to the host keeps the event loop alive: the runtime's
 * `callbackWaitsForEmptyEventLoop`, also used for handlers that return neither a promise nor call back.
 * Unref'd handles (the poll timer, idle keep-alive sockets) do not count, as in Node itself.
 */
function whenEventLoopDrained(): Promise<void> {
    return new Promise((resolve) => {
        const check = (): void => {
            const busy = process.getActiveResourcesInfo().filter((r) => r !== "MessagePort");
            if (busy.length === 0) resolve();
            else setTimeout(check, 5).unref();
        };
        setImmediate(check);
    });
}

function makeContext(data: LambdaWorkerData, message: InvokeMessage, callback: Callback): LambdaContext {
    const deadline = Date.now() + message.timeoutMs;
    return {
        callbackWaitsForEmptyEventLoop: true,
        functionName: data.functionName,
        functionVersion: "$LATEST",
        invokedFunctionArn: message.invokedFunctionArn,
        memoryLimitInMB: String(data.memoryLimitInMB),
        awsRequestId: message.requestId,
        logGroupName: data.logGroupName,
        logStreamName: data.logStreamName,
        getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        done: (error, result) => callback(error, result),
        succeed: (result) => callback(null, result),
        fail: (error) => callback(error ?? "handled"),
    };
}

/** Runs the handler with both the promise and the callback contract; whichever settles first wins. */
function runHandler(handler: Handler, data: LambdaWorkerData, message: InvokeMessage): Promise<Outcome> {
    return new Promise((resolve) => {
        let settled = false;
        let calledBack = false;
        const settle = (outcome: Outcome): void => {
            if (settled) return;
            settled = true;
            resolve(outcome);
        };
        const callback: Callback = (error, result) => {
            calledBack = true;
            const outcome: Outcome = error !== undefined && error !== null ? { ok: false, error } : { ok: true, result };
            if (context.callbackWaitsForEmptyEventLoop) void whenEventLoopDrained().then(() => settle(outcome));
            else settle(outcome);
        };
        const context = makeContext(data, message, callback);
        try {
            const returned = handler(JSON.parse(message.eventJson), context, callback);
            if (isThenable(returned)) {
                returned.then((result) => settle({ ok: true, result }), (error: unknown) => settle({ ok: false, error }));
            } else {
                // A non-async handler's return value is ignored; without a callback the answer is null once idle.
                void whenEventLoopDrained().then(() => calledBack || settle({ ok: true, result: null }));
            }
        } catch (error) {
            settle({ ok: false, error });
        }
    });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
    return typeof value === "object" && value !== null && typeof (value as PromiseLike<unknown>).then === "function";
}

function resultMessage(requestId: string, outcome: Outcome, durationMs: number): WorkerMessage {
    const measured: Measured = { durationMs, memoryUsedMb: memoryUsedMb() };
    if (!outcome.ok) return { type: "result", requestId, error: toFunctionError(outcome.error), fatal: false, ...measured };
    try {
        return { type: "result", requestId, payloadJson: JSON.stringify(outcome.result ?? null), ...measured };
    } catch (error) {
        return { type: "result", requestId, error: toFunctionError(error), fatal: false, ...measured };
    }
}

/** The init phase runs on the first invocation; a failed init ends this environment (the host starts a fresh one). */
function startRuntime(data: LambdaWorkerData, port: NonNullable<typeof parentPort>): void {
    const post = (message: WorkerMessage): void => port.postMessage(message);
    const logs = new LogCapture(post, data);
    logs.install();
    confineResolution(data);
    // As the nodejs runtime does: an unhandled rejection ends the environment with this error type.
    process.on("unhandledRejection", (reason) => {
        const error = new Error(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason));
        error.name = "Runtime.UnhandledPromiseRejection";
        throw error;
    });

    let handler: Handler | undefined;
    port.on("message", (message: InvokeMessage) => {
        const cold = handler === undefined;
        try {
            handler ??= loadHandler(data);
        } catch (error) {
            logs.flush();
            const failure = isFunctionError(error) ? error : toFunctionError(error);
            post({ type: "result", requestId: message.requestId, error: failure, fatal: true, memoryUsedMb: memoryUsedMb() });
            return;
        }
        logs.requestId = message.requestId;
        if (cold) post({ type: "start", requestId: message.requestId, memoryUsedMb: memoryUsedMb() });
        const startedAt = performance.now();
        void runHandler(handler, data, message).then((outcome) => {
            const durationMs = performance.now() - startedAt;
            logs.flush();
            logs.requestId = undefined;
            post(resultMessage(message.requestId, outcome, durationMs));
        });
    });
}

function isFunctionError(value: unknown): value is FunctionError {
    return typeof value === "object" && value !== null && "errorType" in value && "errorMessage" in value;
}

const startData = workerData as Partial<LambdaWorkerData> | null;
if (parentPort && startData?.choreographyLambdaWorker === true) startRuntime(startData as LambdaWorkerData, parentPort);
