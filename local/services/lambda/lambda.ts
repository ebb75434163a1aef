/**
 * The offline runtime's Lambda service: runs each Function's deployment archive (the files Pulumi produced, entry
 * `__index.js`) in `worker_threads` Workers that stand in for Lambda execution environments: one small warm pool per
 * function, each Worker with the function's own environment variables, module state and heap limit.
 *
 * Invocations follow Lambda: `invoke` is RequestResponse, `invokeAsync` is the Event type EventBridge uses (queued,
 * retried on error, then sent to the on-failure destination). The runtime side lives in local/lambdaWorker.ts.
 */
import { RUNTIME_PROVIDED_SCOPES } from "../../../components/closureArchive";
import { Worker } from "node:worker_threads";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { transformSync } from "esbuild";
import { AwsError } from "../../core/awsError";
import { toFunctionError } from "./lambdaWorker";
import type { FunctionError, InvokeMessage, LambdaWorkerData, WorkerMessage } from "./lambdaWorker";

export type { FunctionError } from "./lambdaWorker";

export interface FunctionSpec {
    name: string;
    arn: string;
    /** `file.export`, for example `__index.handler`: the file (without `.js`) in the archive and its export. */
    handler: string;
    timeoutSeconds: number;
    memorySizeMb: number;
    /** The stack's declared variables; the service adds the AWS_* settings Lambda sets. */
    environment: Record<string, string>;
    /** Archive contents, relative path -> content. */
    files: Record<string, string | Uint8Array>;
    /** Retries of a failed asynchronous invocation; AWS's default is 2. */
    maximumRetryAttempts?: number;
    /** The asynchronous on-failure destination (the stack sends these to EventBridge). */
    onFailure?: (record: AsyncInvocationRecord) => Promise<void>;
    /** The execution role's ARN, as declared (GetFunction / ListFunctions report it). */
    role?: string;
    /** The declared runtime, for example `nodejs22.x` (reported only: every function runs on this Node.js). */
    runtime?: string;
    description?: string;
    /** AWS's default is `["x86_64"]`. */
    architectures?: string[];
    /** `LoggingConfig.LogGroup`: where Lambda writes the function's logs; `/aws/lambda/<name>` by default. */
    logGroupName?: string;
    /** `LoggingConfig.LogFormat`: `Text` (default) or `JSON` (system lines as `platform.*` records, console output as objects). */
    logFormat?: "Text" | "JSON";
    /** `LoggingConfig.ApplicationLogLevel`, with the JSON format (INFO by default). */
    applicationLogLevel?: string;
    /** `LoggingConfig.SystemLogLevel`, with the JSON format (INFO by default): DEBUG and INFO keep the platform lines, WARN and above drop them. */
    systemLogLevel?: string;
}

/** One log event of an execution environment, as Lambda sends it to CloudWatch Logs. */
export interface FunctionLogEvent {
    functionName: string;
    logGroupName: string;
    /** The environment's stream: `YYYY/MM/DD/[$LATEST]<32 hex>`. */
    logStreamName: string;
    /** When the line was produced (ms since the epoch). */
    timestamp: number;
    message: string;
}

/** What the service knows of a function's deployed code, for GetFunction / ListFunctions. */
export interface DeployedFunction {
    spec: FunctionSpec;
    /** Base64 SHA-256 over the archive's files (sorted paths and contents), not of a zip: stable for the same code. */
    codeSha256: string;
    /** Bytes of the archive's files, unzipped. */
    codeSize: number;
    /** When `addFunction` last took this function's code, in Lambda's format `2024-01-31T12:00:00.000+0000`. */
    lastModified: string;
    /** Changes with every code update, as Lambda's RevisionId. */
    revisionId: string;
}

/** The record Lambda sends to an asynchronous invocation's destination. */
export interface AsyncInvocationRecord {
    version: "1.0";
    timestamp: string;
    requestContext: {
        requestId: string;
        functionArn: string;
        condition: "RetriesExhausted" | "EventAgeExceeded";
        approximateInvokeCount: number;
    };
    requestPayload: unknown;
    responseContext: { statusCode: number; executedVersion: string; functionError: "Unhandled" | "Handled" };
    responsePayload: FunctionError;
}

export interface InvokeResult {
    /** The handler's result as JSON would carry it (`null` for undefined); absent when the function failed. */
    payload?: unknown;
    functionError?: FunctionError;
    /** The invocation's log lines (START, console output, END, REPORT), untruncated, joined by newlines. */
    logs: string;
}

export interface LambdaServiceOptions {
    /** Where archives are written, one folder per function (bare requires never look above an archive's folder). */
    workDir: string;
    /** AWS_REGION, AWS_ENDPOINT_URL, credentials ... given to every function. */
    baseEnvironment: Record<string, string>;
    /** A folder whose node_modules provides @aws-sdk/* and @smithy/*, as the nodejs22.x runtime does. */
    sdkResolveDir: string;
    /**
     * Warm Workers per function at most; invocations beyond wait in a queue. Default 2: each Worker is a V8 isolate
     * that loads and JIT-compiles the function (and the SDK) on its own, so on a machine of few cores more Workers
     * mostly add compilation and colder code; the CPU, not the number of environments, bounds throughput.
     */
    maxWorkersPerFunction?: number;
    /**
     * A function's first Worker starts with its first invocation; another only once a warm Worker is busy and the
     * oldest queued invocation has waited this long (default 1,000 ms). A queue that keeps moving never waits that
     * long, so a CPU-bound function stays on one isolate instead of compiling the same code in a second one on the
     * same cores; a hung or slow handler does hold the queue up, and then a second Worker keeps it moving. A Worker
     * still initialising does not count (its init is bounded by Lambda's 10 s init timeout).
     */
    scaleOutAfterMs?: number;
    /** Waits between asynchronous attempts (the last repeats). AWS waits ~1 and ~2 minutes; default [100, 200]. */
    retryDelaysMs?: number[];
    /** Receives every log line of every invocation, with the function's name. */
    log?: (fn: string, line: string) => void;
    /** Receives every log event as Lambda would send it to CloudWatch Logs (its group and the environment's stream). */
    logEvent?: (event: FunctionLogEvent) => void;
}

export interface LambdaStats {
    /** Executions of function code, retries included (CloudWatch's `Invocations`). */
    invocations: number;
    /** Executions that ended in a function error, timeouts and crashes included (CloudWatch's `Errors`). */
    errors: number;
    timeouts: number;
    /** `invocations` by function name. */
    invocationsByFunction: Record<string, number>;
}

const DEFAULT_WORKERS = 2;
const DEFAULT_SCALE_OUT_AFTER_MS = 1000;
const DEFAULT_RETRY_DELAYS_MS = [100, 200];
const DEFAULT_RETRY_ATTEMPTS = 2;
/** Lambda's limit on the init phase (loading the handler module), separate from the function's timeout. */
const INIT_TIMEOUT_MS = 10_000;
const SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;
/** Raised from 256 KB to 1 MB by AWS in 2025. */
const ASYNC_PAYLOAD_LIMIT = 1024 * 1024;
/** Packages the nodejs22.x runtime provides when an archive leaves them out (esbuild `external`). */
const RUNTIME_PROVIDED_PREFIXES = RUNTIME_PROVIDED_SCOPES.map((scope) => `${scope}/`);
const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** One execution of the function code, as the pool reports it. */
interface Attempt {
    payload?: unknown;
    functionError?: FunctionError;
    lines: string[];
    timedOut: boolean;
}

interface Job {
    requestId: string;
    eventJson: string;
    invokedFunctionArn: string;
    done(attempt: Attempt): void;
    abort(error: Error): void;
}

/** A Job on a Worker. `startedAt` is when the handler starts: at dispatch on a warm Worker, at `start` after a cold init. */
interface Running {
    job: Job;
    lines: string[];
    dispatchedAt: number;
    /** The Worker had not initialised yet: the REPORT line then carries an Init Duration. */
    cold: boolean;
    startedAt?: number;
    timer?: NodeJS.Timeout;
}

/** One execution environment. */
interface Slot {
    worker: Worker;
    logStreamName: string;
    /** The most memory the environment reported using so far (Lambda's Max Memory Used is the environment's peak). */
    maxMemoryUsedMb: number;
    /** When the Worker finished its init; unset while it initialises. */
    warmAt?: number;
    dead: boolean;
    running?: Running;
}

/** How a job ended; `timedOut` marks Sandbox.Timedout for the stats and the REPORT line. */
type Ending = ({ payloadJson: string } | { error: FunctionError; timedOut?: boolean }) & { durationMs?: number };

/** What a pool needs from its service. */
interface PoolContext {
    options: LambdaServiceOptions;
    maxWorkers: number;
    scaleOutAfterMs: number;
    log: (fn: string, line: string) => void;
    logEvent?: (event: FunctionLogEvent) => void;
    record: (functionName: string, attempt: Attempt) => void;
}

/**
 * The heap sizes the nodejs runtime's bootstrap gives V8 for a function's memory: a tenth of it as new space
 * (`--max-semi-space-size` = half of that), the rest as old space. V8's young generation holds two semi-spaces and
 * an equally sized large-object space, hence three semi-spaces here.
 */
export function lambdaHeapLimits(memorySizeMb: number): { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number } {
    const newSpaceMb = Math.floor(memorySizeMb / 10);
    const semiSpaceMb = Math.floor(newSpaceMb / 2);
    return { maxOldGenerationSizeMb: memorySizeMb - newSpaceMb, maxYoungGenerationSizeMb: 3 * semiSpaceMb };
}

let compiledWorker: string | undefined;

/** The worker bootstrap is TypeScript; Workers cannot load it, so it is compiled once and started with `eval`. */
function workerSource(): string {
    compiledWorker ??= transformSync(fs.readFileSync(path.join(__dirname, "lambdaWorker.ts"), "utf8"), {
        loader: "ts",
        format: "cjs",
        target: "node20",
        sourcefile: "lambdaWorker.ts",
    }).code;
    return compiledWorker;
}

function round2(value: number): number {
    return Math.round(value * 100) / 100;
}

function timeoutMessage(seconds: number): string {
    return `Task timed out after ${seconds.toFixed(2)} seconds`;
}

/** Mirrors Lambda's log stream names: `2024/01/31/[$LATEST]<32 hex>`, one per execution environment. */
function newLogStreamName(): string {
    const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/");
    return `${day}/[$LATEST]${randomBytes(16).toString("hex")}`;
}

/** An invocation waiting for a Worker, and since when. */
interface Queued {
    job: Job;
    queuedAt: number;
}

/** The Workers of one function: started on demand up to the limit, kept warm, replaced when they die. */
class FunctionPool {
    private readonly slots = new Set<Slot>();
    private queue: Queued[] = [];
    private retired = false;
    /** Set while queued work waits for the threshold after which another Worker starts. */
    private scaleOutTimer?: NodeJS.Timeout;

    constructor(
        readonly spec: FunctionSpec,
        private readonly taskRoot: string,
        private readonly context: PoolContext,
    ) {}

    /** `queuedAt` carries over the wait of a job moved from a retired pool. */
    submit(job: Job, queuedAt = Date.now()): void {
        this.queue.push({ job, queuedAt });
        this.pump();
    }

    /** For a code update: stop taking work, hand back the queue, let running jobs finish on the old Workers. */
    retire(): Queued[] {
        this.retired = true;
        this.stopScaleOutTimer();
        const queued = this.queue;
        this.queue = [];
        for (const slot of this.slots) if (!slot.running) this.kill(slot);
        return queued;
    }

    async close(): Promise<void> {
        this.retired = true;
        this.stopScaleOutTimer();
        const closed = new AwsError("ServiceException", "The Lambda service was closed", 500);
        for (const { job } of this.queue.splice(0)) job.abort(closed);
        const slots = [...this.slots];
        for (const slot of slots) {
            clearTimeout(slot.running?.timer);
            slot.running?.job.abort(closed);
            slot.running = undefined;
            slot.dead = true;
        }
        this.slots.clear();
        await Promise.all(slots.map((slot) => slot.worker.terminate()));
    }

    private pump(): void {
        while (this.queue.length > 0) {
            const slot = this.idleSlot() ?? this.newSlotIfDue();
            if (!slot) return;
            this.dispatch(slot, (this.queue.shift() as Queued).job);
        }
    }

    /**
     * The first Worker at once; another once the oldest queued invocation has waited `scaleOutAfterMs` while a warm
     * Worker was busy (a timer comes back then). Time spent behind a cold start does not count: while every Worker
     * still initialises, their `start` comes back, and the wait is counted from the first of them warm.
     */
    private newSlotIfDue(): Slot | undefined {
        if (this.retired || this.slots.size >= this.context.maxWorkers) return undefined;
        if (this.slots.size === 0) return this.spawn();
        const warmSince = Math.min(...[...this.slots].map((slot) => slot.warmAt ?? Number.POSITIVE_INFINITY));
        if (warmSince === Number.POSITIVE_INFINITY) return undefined;
        const dueIn = Math.max(this.queue[0].queuedAt, warmSince) + this.context.scaleOutAfterMs - Date.now();
        if (dueIn <= 0) return this.spawn();
        this.scaleOutTimer ??= setTimeout(() => {
            this.scaleOutTimer = undefined;
            this.pump();
        }, dueIn);
        return undefined;
    }

    private stopScaleOutTimer(): void {
        clearTimeout(this.scaleOutTimer);
        this.scaleOutTimer = undefined;
    }

    private idleSlot(): Slot | undefined {
        for (const slot of this.slots) if (!slot.running) return slot;
        return undefined;
    }

    private spawn(): Slot {
        const logStreamName = newLogStreamName();
        const data: LambdaWorkerData = {
            choreographyLambdaWorker: true,
            taskRoot: this.taskRoot,
            handler: this.spec.handler,
            sdkResolveDir: path.resolve(this.context.options.sdkResolveDir),
            runtimeProvidedPrefixes: RUNTIME_PROVIDED_PREFIXES,
            functionName: this.spec.name,
            memoryLimitInMB: this.spec.memorySizeMb,
            logGroupName: this.logGroupName,
            logStreamName,
            logFormat: this.spec.logFormat ?? "Text",
            applicationLogLevel: this.spec.applicationLogLevel ?? "INFO",
        };
        const worker = new Worker(workerSource(), {
            eval: true,
            workerData: data,
            env: this.environment(logStreamName),
            // A plain runtime: no loader hooks (tsx ...) inherited from the host process.
            execArgv: [],
            resourceLimits: lambdaHeapLimits(this.spec.memorySizeMb),
            stdout: true,
            stderr: true,
        });
        const slot: Slot = { worker, logStreamName, maxMemoryUsedMb: 0, dead: false };
        worker.on("message", (message: WorkerMessage) => this.onMessage(slot, message));
        worker.on("error", (error: Error) => this.onError(slot, error));
        worker.on("exit", (code: number) => this.onExit(slot, code));
        // The bootstrap routes console output through the port; this catches anything written around it.
        for (const stream of [worker.stdout, worker.stderr]) {
            stream.setEncoding("utf8");
            stream.on("data", (chunk: string) => {
                for (const line of chunk.replace(/\n$/, "").split("\n")) this.emit(slot, line);
            });
        }
        this.slots.add(slot);
        return slot;
    }

    /** The function's variables over the base ones, then the reserved variables Lambda sets (which win, as in AWS). */
    private environment(logStreamName: string): Record<string, string> {
        const base = this.context.options.baseEnvironment;
        const region = base.AWS_REGION ?? base.AWS_DEFAULT_REGION;
        return {
            PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
            LANG: "en_US.UTF-8",
            // The functions run as nodejs22.x: the SDK's warning that the host's Node 20 loses support is not theirs.
            ...(Number(process.versions.node.split(".")[0]) < 22 ? { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" } : {}),
            ...base,
            ...this.spec.environment,
            ...(region ? { AWS_REGION: region, AWS_DEFAULT_REGION: region } : {}),
            AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
            AWS_LAMBDA_FUNCTION_NAME: this.spec.name,
            AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.spec.memorySizeMb),
            AWS_LAMBDA_FUNCTION_TIMEOUT: String(this.spec.timeoutSeconds),
            AWS_LAMBDA_LOG_GROUP_NAME: this.logGroupName,
            AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
            AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
            LAMBDA_TASK_ROOT: this.taskRoot,
            LAMBDA_RUNTIME_DIR: path.resolve(this.context.options.sdkResolveDir),
            _HANDLER: this.spec.handler,
        };
    }

    private dispatch(slot: Slot, job: Job): void {
        const now = Date.now();
        // A warm Worker starts the handler at once (it reports `start` only after a cold start's init).
        const warm = slot.warmAt !== undefined;
        const running: Running = { job, lines: [], dispatchedAt: now, startedAt: warm ? now : undefined, cold: !warm };
        slot.running = running;
        this.emitSystem(slot, running, `START RequestId: ${job.requestId} Version: $LATEST`, "platform.start", { requestId: job.requestId, version: "$LATEST" });
        // Warm: the function's own timeout from now. Cold: this bounds the init phase, and `start` swaps in the timeout.
        running.timer = setTimeout(() => this.onTimeout(slot), warm ? this.timeoutMs() : INIT_TIMEOUT_MS);
        const message: InvokeMessage = {
            type: "invoke",
            requestId: job.requestId,
            eventJson: job.eventJson,
            invokedFunctionArn: job.invokedFunctionArn,
            timeoutMs: this.timeoutMs(),
        };
        slot.worker.postMessage(message);
    }

    private timeoutMs(): number {
        return this.spec.timeoutSeconds * 1000;
    }

    private onMessage(slot: Slot, message: WorkerMessage): void {
        const running = slot.running;
        if (message.type === "log") return this.emit(slot, message.text);
        if (!running || message.requestId !== running.job.requestId) return;
        if ("memoryUsedMb" in message) slot.maxMemoryUsedMb = Math.max(slot.maxMemoryUsedMb, message.memoryUsedMb);
        if (message.type === "start") {
            slot.warmAt = Date.now();
            running.startedAt = slot.warmAt;
            clearTimeout(running.timer);
            running.timer = setTimeout(() => this.onTimeout(slot), this.timeoutMs());
            this.pump(); // queued work may now be due another Worker
        } else if ("payloadJson" in message) {
            this.finish(slot, { ...this.checkResponseSize(message.payloadJson), durationMs: message.durationMs });
        } else {
            if (message.fatal) this.kill(slot);
            this.finish(slot, { error: message.error, durationMs: message.durationMs });
        }
    }

    private checkResponseSize(payloadJson: string): Ending {
        if (Buffer.byteLength(payloadJson) <= SYNC_PAYLOAD_LIMIT) return { payloadJson };
        const errorMessage = `Response payload size exceeded maximum allowed payload size (${SYNC_PAYLOAD_LIMIT} bytes).`;
        return { error: { errorType: "Function.ResponseSizeTooLarge", errorMessage } };
    }

    /** The Worker is terminated mid-handler, as Lambda stops the sandbox; the pool starts a fresh one. */
    private onTimeout(slot: Slot): void {
        const running = slot.running;
        if (!running) return;
        const message = timeoutMessage(this.spec.timeoutSeconds);
        this.emit(slot, `${new Date().toISOString()} ${running.job.requestId} ${message}`);
        this.kill(slot);
        this.finish(slot, { error: { errorType: "Sandbox.Timedout", errorMessage: message }, timedOut: true });
    }

    /** An uncaught error or the heap limit ended the Worker: the running invocation fails with it. */
    private onError(slot: Slot, error: Error): void {
        const requestId = slot.running?.job.requestId;
        const failure: FunctionError =
            (error as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY"
                ? {
                      errorType: "Runtime.OutOfMemory",
                      errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: signal: killed`,
                  }
                : toFunctionError(error);
        this.kill(slot);
        if (slot.running) this.finish(slot, { error: failure });
        else this.emit(slot, `${failure.errorType}: ${failure.errorMessage}`);
    }

    /** `process.exit` in a handler, or any other end of the Worker not reported already. */
    private onExit(slot: Slot, code: number): void {
        const requestId = slot.running?.job.requestId;
        const reason = code === 0 ? "Runtime exited without providing a reason" : `Runtime exited with error: exit status ${code}`;
        this.kill(slot);
        if (slot.running) {
            this.finish(slot, { error: { errorType: "Runtime.ExitError", errorMessage: `RequestId: ${requestId} Error: ${reason}` } });
        }
        this.pump();
    }

    private finish(slot: Slot, ending: Ending): void {
        const running = slot.running;
        if (!running) return;
        slot.running = undefined;
        clearTimeout(running.timer);
        const timedOut = "error" in ending && ending.timedOut === true;
        this.writeClosingLines(slot, running, ending, timedOut);
        const attempt: Attempt =
            "payloadJson" in ending
                ? { payload: JSON.parse(ending.payloadJson), lines: running.lines, timedOut }
                : { functionError: ending.error, lines: running.lines, timedOut };
        this.context.record(this.spec.name, attempt);
        running.job.done(attempt);
        if (this.retired) this.kill(slot);
        this.pump();
    }

    /** The group Lambda writes this function's logs to. */
    private get logGroupName(): string {
        return this.spec.logGroupName ?? `/aws/lambda/${this.spec.name}`;
    }

    /**
     * Lambda's END and REPORT lines (JSON format: a `platform.report` record, and no END, which is a DEBUG-level
     * `platform.runtimeDone` there). Duration is the handler's own, measured in the Worker around the call (for a
     * timeout or a crash, the host's time since the handler started). Billed Duration rounds up to the millisecond
     * and, since Lambda bills the init phase of on-demand functions (August 2025), adds a cold start's Init Duration.
     */
    private writeClosingLines(slot: Slot, running: Running, ending: Ending, timedOut: boolean): void {
        const requestId = running.job.requestId;
        const duration = ending.durationMs ?? Date.now() - (running.startedAt ?? running.dispatchedAt);
        const initDuration = running.cold && running.startedAt !== undefined ? running.startedAt - running.dispatchedAt : undefined;
        const billed = Math.max(1, Math.ceil(duration + (initDuration ?? 0)));
        const memoryUsed = slot.maxMemoryUsedMb;
        const status = timedOut ? "timeout" : "error" in ending ? "error" : "success";
        this.emitSystem(slot, running, `END RequestId: ${requestId}`);
        const text =
            `REPORT RequestId: ${requestId}\tDuration: ${duration.toFixed(2)} ms\tBilled Duration: ${billed} ms\t` +
            `Memory Size: ${this.spec.memorySizeMb} MB\tMax Memory Used: ${memoryUsed} MB` +
            (initDuration !== undefined ? `\tInit Duration: ${initDuration.toFixed(2)} ms` : "") +
            (timedOut ? "\tStatus: timeout" : "");
        const metrics: Record<string, number> = {
            durationMs: round2(duration),
            billedDurationMs: billed,
            memorySizeMB: this.spec.memorySizeMb,
            maxMemoryUsedMB: memoryUsed,
        };
        if (initDuration !== undefined) metrics.initDurationMs = round2(initDuration);
        this.emitSystem(slot, running, text, "platform.report", { requestId, metrics, status });
    }

    /**
     * A line of Lambda's own (START, END, REPORT): as text, or with the JSON format as the `platform.*` record
     * `type` names (none for END). The JSON format's system log level filters them: WARN and above keep none.
     */
    private emitSystem(slot: Slot, running: Running, text: string, type?: string, record?: Record<string, unknown>): void {
        if (this.spec.logFormat !== "JSON") return this.emit(slot, text, running);
        const level = this.spec.systemLogLevel ?? "INFO";
        if (type === undefined || (level !== "DEBUG" && level !== "INFO")) return;
        this.emit(slot, JSON.stringify({ time: new Date().toISOString(), type, record }), running);
    }

    /** One log event from a Worker: it belongs to the running invocation (if any), the service's log and the environment's stream. */
    private emit(slot: Slot, text: string, running = slot.running): void {
        running?.lines.push(text);
        for (const line of text.split("\n")) this.context.log(this.spec.name, line);
        this.context.logEvent?.({ functionName: this.spec.name, logGroupName: this.logGroupName, logStreamName: slot.logStreamName, timestamp: Date.now(), message: text });
    }

    /**
     * Takes a Worker out of the pool before its invocation is settled, so settling (which dispatches queued work)
     * cannot hand the next job to the Worker being ended.
     */
    private kill(slot: Slot): void {
        if (slot.dead) return;
        slot.dead = true;
        this.slots.delete(slot);
        void slot.worker.terminate();
    }
}

/** Writes an archive afresh into its folder, refusing entries that would land outside it. */
async function writeArchive(taskRoot: string, files: Record<string, string | Uint8Array>): Promise<void> {
    await fs.promises.rm(taskRoot, { recursive: true, force: true });
    await fs.promises.mkdir(taskRoot, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
        const target = path.resolve(taskRoot, name);
        if (!target.startsWith(taskRoot + path.sep)) {
            throw new AwsError("InvalidParameterValueException", `Archive entry outside the function's folder: ${name}`);
        }
        await fs.promises.mkdir(path.dirname(target), { recursive: true });
        await fs.promises.writeFile(target, content);
    }
}

/** The event as Lambda receives it: JSON, an absent payload being `{}`, within the invocation type's size limit. */
function encodeEvent(payload: unknown, limit: number): string {
    const json = JSON.stringify(payload === undefined ? {} : payload);
    const size = Buffer.byteLength(json);
    if (size > limit) {
        throw new AwsError(
            "RequestEntityTooLargeException",
            `${size} byte payload is too large for this invocation type (limit ${limit} bytes)`,
            413,
        );
    }
    return json;
}

/** Accepts a name, `name:qualifier`, a partial ARN (`123456789012:function:name`) or a full ARN. */
function functionNameOf(nameOrArn: string): string | undefined {
    const match = /^(?:arn:[\w-]+:lambda:[\w-]*:\d*:function:|\d{12}:function:)?([A-Za-z0-9_-]{1,64})(?::[\w$-]+)?$/.exec(nameOrArn);
    return match?.[1];
}

/** Lambda's timestamp format: ISO 8601 with milliseconds and a `+0000` offset. */
function lambdaTimestamp(date: Date): string {
    return date.toISOString().replace("Z", "+0000");
}

function describeCode(spec: FunctionSpec): Omit<DeployedFunction, "spec"> {
    const hash = createHash("sha256");
    let size = 0;
    for (const name of Object.keys(spec.files).sort()) {
        const content = spec.files[name];
        const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
        size += bytes.byteLength;
        hash.update(`${name}\0${bytes.byteLength}\0`).update(bytes);
    }
    return { codeSha256: hash.digest("base64"), codeSize: size, lastModified: lambdaTimestamp(new Date()), revisionId: randomUUID() };
}

export class LambdaService {
    private readonly pools = new Map<string, FunctionPool>();
    private readonly deployed = new Map<string, DeployedFunction>();
    private readonly counters: LambdaStats = { invocations: 0, errors: 0, timeouts: 0, invocationsByFunction: {} };
    private readonly context: PoolContext;
    private readonly sleepers = new Set<{ timer: NodeJS.Timeout; wake: (slept: boolean) => void }>();
    private idleWaiters: Array<() => void> = [];
    private inFlight = 0;
    private closed = false;

    constructor(private readonly options: LambdaServiceOptions) {
        this.context = {
            options,
            maxWorkers: options.maxWorkersPerFunction ?? DEFAULT_WORKERS,
            scaleOutAfterMs: options.scaleOutAfterMs ?? DEFAULT_SCALE_OUT_AFTER_MS,
            log: options.log ?? (() => undefined),
            logEvent: options.logEvent,
            record: (functionName, attempt) => this.record(functionName, attempt),
        };
    }

    /** Writes the archive into workDir/<name>/; adding a name again replaces its code, as UpdateFunctionCode. */
    async addFunction(spec: FunctionSpec): Promise<void> {
        this.assertOpen();
        if (!FUNCTION_NAME.test(spec.name)) {
            throw new AwsError("InvalidParameterValueException", `Invalid function name: ${spec.name}`);
        }
        const taskRoot = path.resolve(this.options.workDir, spec.name);
        await writeArchive(taskRoot, spec.files);
        const pool = new FunctionPool(spec, taskRoot, this.context);
        const previous = this.pools.get(spec.name);
        this.pools.set(spec.name, pool);
        this.deployed.set(spec.name, { spec, ...describeCode(spec) });
        for (const { job, queuedAt } of previous?.retire() ?? []) pool.submit(job, queuedAt);
    }

    /** RequestResponse: resolves when the function has answered, with its result or its error. */
    async invoke(nameOrArn: string, payload: unknown): Promise<InvokeResult> {
        const pool = this.pool(nameOrArn);
        const eventJson = encodeEvent(payload, SYNC_PAYLOAD_LIMIT);
        return this.track(async () => {
            const attempt = await this.attempt(pool.spec.name, randomUUID(), eventJson, this.invokedArn(nameOrArn, pool));
            return { payload: attempt.payload, functionError: attempt.functionError, logs: attempt.lines.join("\n") };
        });
    }

    /** Event: queued at once; a failed run is retried, then reported to `onFailure`. */
    async invokeAsync(nameOrArn: string, payload: unknown): Promise<{ requestId: string }> {
        const pool = this.pool(nameOrArn);
        const eventJson = encodeEvent(payload, ASYNC_PAYLOAD_LIMIT);
        const requestId = randomUUID();
        const invokedArn = this.invokedArn(nameOrArn, pool);
        void this.track(() => this.runAsync(pool.spec.name, requestId, eventJson, invokedArn));
        return { requestId };
    }

    /** A function by name, `name:qualifier`, partial or full ARN; ResourceNotFoundException (404) when there is none. */
    getFunction(nameOrArn: string): DeployedFunction {
        const found = this.deployed.get(this.pool(nameOrArn).spec.name);
        if (!found) throw new AwsError("ResourceNotFoundException", `Function not found: ${nameOrArn}`, 404);
        return found;
    }

    /** Every function, ordered by name (ListFunctions pages over this order). */
    listFunctions(): DeployedFunction[] {
        this.assertOpen();
        return [...this.deployed.values()].sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
    }

    stats(): LambdaStats {
        return { ...this.counters, invocationsByFunction: { ...this.counters.invocationsByFunction } };
    }

    /** Invocations (queued retries included) not yet settled. */
    get pending(): number {
        return this.inFlight;
    }

    /** Resolves when no invocation is running or queued, and no asynchronous retry is waiting. */
    idle(): Promise<void> {
        if (this.inFlight === 0) return Promise.resolve();
        return new Promise((resolve) => this.idleWaiters.push(resolve));
    }

    async close(): Promise<void> {
        this.closed = true;
        for (const sleeper of this.sleepers) {
            clearTimeout(sleeper.timer);
            sleeper.wake(false);
        }
        this.sleepers.clear();
        await Promise.all([...this.pools.values()].map((pool) => pool.close()));
        this.pools.clear();
        this.deployed.clear();
    }

    private assertOpen(): void {
        if (this.closed) throw new AwsError("ServiceException", "The Lambda service was closed", 500);
    }

    private pool(nameOrArn: string): FunctionPool {
        this.assertOpen();
        const name = functionNameOf(nameOrArn);
        const pool = name === undefined ? undefined : this.pools.get(name);
        if (!pool) throw new AwsError("ResourceNotFoundException", `Function not found: ${nameOrArn}`, 404);
        return pool;
    }

    /** `context.invokedFunctionArn` is the ARN the caller used, or the function's ARN when called by name. */
    private invokedArn(nameOrArn: string, pool: FunctionPool): string {
        return nameOrArn.startsWith("arn:") ? nameOrArn : pool.spec.arn;
    }

    /** Runs one attempt on the function's current pool (which a code update may have replaced since the call). */
    private attempt(name: string, requestId: string, eventJson: string, invokedFunctionArn: string): Promise<Attempt> {
        return new Promise((done, abort) => this.pool(name).submit({ requestId, eventJson, invokedFunctionArn, done, abort }));
    }

    private async runAsync(name: string, requestId: string, eventJson: string, invokedArn: string): Promise<void> {
        try {
            for (let count = 1; ; count++) {
                const attempt = await this.attempt(name, requestId, eventJson, invokedArn);
                if (!attempt.functionError) return;
                const spec = this.pool(name).spec;
                if (count > (spec.maximumRetryAttempts ?? DEFAULT_RETRY_ATTEMPTS)) {
                    return await this.reportFailure(spec, requestId, eventJson, count, attempt.functionError);
                }
                if (!(await this.sleep(this.retryDelay(count)))) return;
            }
        } catch (error) {
            // The service closed or the function went away while the event waited: AWS would drop it too.
            if (!this.closed) this.context.log(name, `Asynchronous invocation ${requestId} dropped: ${String(error)}`);
        }
    }

    private retryDelay(attempt: number): number {
        const delays = this.options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
        return delays[Math.min(attempt - 1, delays.length - 1)] ?? 0;
    }

    private async reportFailure(
        spec: FunctionSpec,
        requestId: string,
        eventJson: string,
        count: number,
        error: FunctionError,
    ): Promise<void> {
        if (!spec.onFailure) return;
        const record: AsyncInvocationRecord = {
            version: "1.0",
            timestamp: new Date().toISOString(),
            requestContext: {
                requestId,
                functionArn: `${spec.arn}:$LATEST`,
                condition: "RetriesExhausted",
                approximateInvokeCount: count,
            },
            requestPayload: JSON.parse(eventJson),
            responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
            responsePayload: error,
        };
        try {
            await spec.onFailure(record);
        } catch (failure) {
            this.context.log(spec.name, `On-failure destination failed for ${requestId}: ${String(failure)}`);
        }
    }

    /** Resolves true after `ms`, or false at once if the service closes meanwhile. */
    private sleep(ms: number): Promise<boolean> {
        return new Promise((resolve) => {
            const sleeper = {
                timer: setTimeout(() => {
                    this.sleepers.delete(sleeper);
                    resolve(true);
                }, ms),
                wake: resolve,
            };
            this.sleepers.add(sleeper);
        });
    }

    /** Counts the work toward `idle()`; the count rises synchronously, before the caller can ask. */
    private async track<T>(work: () => Promise<T>): Promise<T> {
        this.inFlight++;
        try {
            return await work();
        } finally {
            this.inFlight--;
            if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        }
    }

    private record(functionName: string, attempt: Attempt): void {
        this.counters.invocations++;
        this.counters.invocationsByFunction[functionName] = (this.counters.invocationsByFunction[functionName] ?? 0) + 1;
        if (attempt.functionError) this.counters.errors++;
        if (attempt.timedOut) this.counters.timeouts++;
    }
}
