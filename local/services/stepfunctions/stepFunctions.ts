/**
 * An in-process AWS Step Functions service for the offline runtime. State machines run on the project's own ASL
 * engine (`./engine`: JSONPath and JSONata, variables, intrinsics, Retry/Catch, Map/Parallel, the history events);
 * this module is the service around it: the AWS API (JSON 1.0 request and response shapes), task tokens and
 * heartbeats, execution history as GetExecutionHistory pages it, and persistence of executions across restarts. Task states call integrations (TaskIntegration, local/core/registry.ts) that the
 * services contribute: each resource is resolved when its machine is created, and a call here only checks the
 * integration's permissions, runs it and maps its failure to the task's Error and Cause.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
    InvalidDefinitionError,
    TASK_TIMED_OUT,
    definitionDiagnostics,
    runExecution,
    validateDefinition,
    type EventOrigin,
    type ExecutionResult,
    type HistoryEvent as EngineHistoryEvent,
    type RunOptions,
    type TaskCall,
} from "./engine";
import { AwsError } from "../../core/awsError";
import { TaskFailure, type IntegrationCall, type TaskIntegration, type TaskPattern } from "../../core/registry";
import { jsonNestsDeeperThan } from "../../core/jsonDepth";
import { redactText, type RedactOptions } from "../../../protocol/redact";
import {
    EngineEventRecorder,
    HistoryRecorder,
    mapEventDetails,
    pageHistory,
    paginate,
    type EventDetails,
    type GetExecutionHistoryRequest,
    type GetExecutionHistoryResponse,
    type HistoryEvent,
    type JsonObject,
    type JsonValue,
    type NewHistoryEvent,
} from "./history";

import {
    DEFAULT_LOGGING,
    DEFAULT_TRACING,
    EXECUTION_STATUS_CHANGE,
    checkDescription,
    checkMachineType,
    checkResourceName,
    checkRoleArn,
    eventTime,
    invalidArn,
    parseMachineTarget,
    type CreateStateMachineAliasRequest,
    type CreateStateMachineAliasResponse,
    type CreateStateMachineRequest,
    type CreateStateMachineResponse,
    type DeleteStateMachineAliasRequest,
    type DeleteStateMachineRequest,
    type DeleteStateMachineVersionRequest,
    type DescribeStateMachineAliasRequest,
    type DescribeStateMachineAliasResponse,
    type DescribeStateMachineForExecutionRequest,
    type DescribeStateMachineForExecutionResponse,
    type DescribeStateMachineRequest,
    type DescribeStateMachineResponse,
    type ExecutionStatusChangeEvent,
    type ListStateMachineAliasesRequest,
    type ListStateMachineAliasesResponse,
    type ListStateMachineVersionsRequest,
    type ListStateMachineVersionsResponse,
    type LoggingConfiguration,
    type MachineTarget,
    type PublishStateMachineVersionRequest,
    type PublishStateMachineVersionResponse,
    type RedriveExecutionRequest,
    type RedriveExecutionResponse,
    type StartSyncExecutionRequest,
    type StartSyncExecutionResponse,
    type TracingConfiguration,
    type UpdateStateMachineAliasRequest,
    type UpdateStateMachineAliasResponse,
    type UpdateStateMachineRequest,
    type UpdateStateMachineResponse,
    type ValidateStateMachineDefinitionRequest,
    type ValidateStateMachineDefinitionResponse,
    type ValidationDiagnostic,
} from "./controlPlane";
import { integrationsFromFunctions, statesIntegrations, type TaskIntegrations } from "./integrations";
import { resumePointOf, redriveStatusOf, type ResumePoint } from "./redrive";
import { VersionCatalog, type MachineAlias } from "./versions";

export type { GetExecutionHistoryRequest, GetExecutionHistoryResponse, HistoryEvent, JsonObject, JsonValue } from "./history";
export type * from "./controlPlane";
export { EXECUTION_STATUS_CHANGE } from "./controlPlane";

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export interface StateMachineSpec {
    arn: string;
    name: string;
    type: "STANDARD" | "EXPRESS";
    /** ASL JSON. */
    definition: string;
    roleArn: string;
}

/** The PutEvents shapes are EventBridge's own (local/services/events/eventBridge.ts), which the runtime's integration calls. */
export type { PutEventsRequestEntry as PutEventsEntry, PutEventsResponse as PutEventsResult } from "../events/eventBridge";
export type { TaskIntegrations } from "./integrations";

/** The integration serving a Task resource (without its pattern suffix): the runtime's lookup over every service. */
export type IntegrationLookup = (resource: string) => TaskIntegration | undefined;

export interface ExecutionProgress {
    executionArn: string;
    stateMachineArn: string;
    /** History event type, e.g. "TaskStateExited", "MapIterationSucceeded", "ExecutionSucceeded". */
    type: string;
    stateName?: string;
    mapIndex?: number;
}

export interface StepFunctionsServiceOptions {
    /**
     * The integrations Task states call: the runtime's lookup over every service's (Step Functions' own included),
     * or plain functions standing for EventBridge, Lambda and DynamoDB (tests), served with Step Functions' own.
     */
    integrations: IntegrationLookup | TaskIntegrations;
    region: string;
    accountId: string;
    /** Where executions are persisted; in memory only when absent. */
    dataDir?: string;
    /**
     * How many finished STANDARD executions stay in memory (default DEFAULT_MAX_RETAINED_EXECUTIONS); running ones
     * always do. Beyond it the oldest finished one is dropped from memory: with `dataDir` it stays on disk, listed
     * by ListExecutions and read back by DescribeExecution/GetExecutionHistory; without, it is forgotten.
     */
    maxRetainedExecutions?: number;
    /**
     * How many finished EXPRESS executions are kept (default DEFAULT_MAX_RETAINED_EXPRESS_EXECUTIONS), in memory and
     * on disk: AWS keeps none (it only logs them), so only the most recent are, for DescribeExecution, the cost
     * of a run and tests.
     */
    maxRetainedExpressExecutions?: number;
    /**
     * Checks that the machine's role may call an integration (`events:PutEvents` on a bus, ...); throws an
     * AwsError when IAM would refuse. Without it every call is allowed.
     */
    authorize?: (roleArn: string, action: string, resourceArn: string) => void;
    /**
     * Called when a STANDARD execution starts (RUNNING, also on redrive) and when it ends (SUCCEEDED, FAILED,
     * TIMED_OUT, ABORTED), with AWS's "Step Functions Execution Status Change" event; the runtime puts it on the
     * default bus as source `aws.states`. A listener that throws is logged, never fails the execution.
     */
    onStatusChange?: (event: ExecutionStatusChangeEvent) => void;
    /** Chooses an alias's version by weight; Math.random unless given (tests pass a sequence). */
    random?: () => number;
}

/** How many answered or timed-out tokens are remembered, to tell TaskTimedOut from TaskDoesNotExist. */
const MAX_RETIRED_TOKENS = 100_000;
/** Finished STANDARD executions kept in memory unless `maxRetainedExecutions` says otherwise. */
export const DEFAULT_MAX_RETAINED_EXECUTIONS = 2_000;
/**
 * Finished EXPRESS executions kept unless `maxRetainedExpressExecutions` (`--max-express-executions`) says otherwise:
 * a small ring of the latest, since AWS keeps none. A finisher execution holds its input and history (some tens of
 * KB), and one answers each task: the cost of a 1,000-name run (systems/observability/cost.ts) needs its 1,002, so
 * the benchmark and that test raise the bound.
 */
export const DEFAULT_MAX_RETAINED_EXPRESS_EXECUTIONS = 100;
/** Folders and files under the data directory are the owner's only: executions hold run data. */
const PRIVATE_DIR_MODE = 0o700;
const PRIVATE_FILE_MODE = 0o600;
/** The readable part of an execution's file name, before its digest (file names stay far below 255 bytes). */
const READABLE_FILE_NAME_LENGTH = 120;

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";
const EXECUTION_STATUSES: readonly string[] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];

export interface ListStateMachinesRequest {
    maxResults?: number;
    nextToken?: string;
}
export interface StateMachineListItem {
    stateMachineArn: string;
    name: string;
    type: "STANDARD" | "EXPRESS";
    creationDate: number;
}
export interface ListStateMachinesResponse {
    stateMachines: StateMachineListItem[];
    nextToken?: string;
}

export interface StartExecutionRequest {
    stateMachineArn?: string;
    name?: string;
    input?: string;
    traceHeader?: string;
}
export interface StartExecutionResponse {
    executionArn: string;
    startDate: number;
}

export interface DescribeExecutionRequest {
    executionArn?: string;
    includedData?: "ALL_DATA" | "METADATA_ONLY";
}
/** A list item's fields, and the execution's data and outcome. */
export interface DescribeExecutionResponse extends ExecutionListItem {
    stateMachineVersionArn?: string;
    stateMachineAliasArn?: string;
    redriveCount?: number;
    redriveDate?: number;
    redriveStatus?: "REDRIVABLE" | "NOT_REDRIVABLE";
    redriveStatusReason?: string;
    input?: string;
    inputDetails?: { included: boolean };
    output?: string;
    outputDetails?: { included: boolean };
    error?: string;
    cause?: string;
    traceHeader?: string;
}

export interface ListExecutionsRequest {
    stateMachineArn?: string;
    statusFilter?: ExecutionStatus;
    maxResults?: number;
    nextToken?: string;
}
export interface ExecutionListItem {
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: ExecutionStatus;
    startDate: number;
    stopDate?: number;
    stateMachineVersionArn?: string;
    stateMachineAliasArn?: string;
    redriveCount?: number;
    redriveDate?: number;
}
export interface ListExecutionsResponse {
    executions: ExecutionListItem[];
    nextToken?: string;
}

export interface StopExecutionRequest {
    executionArn?: string;
    error?: string;
    cause?: string;
}
export interface StopExecutionResponse {
    stopDate: number;
}

export interface SendTaskSuccessRequest {
    taskToken?: string;
    output?: string;
}
export interface SendTaskFailureRequest {
    taskToken?: string;
    error?: string;
    cause?: string;
}
export interface SendTaskHeartbeatRequest {
    taskToken?: string;
}
export type EmptyResponse = Record<string, never>;

// ---------------------------------------------------------------------------------------------------------------
// Limits and names
// ---------------------------------------------------------------------------------------------------------------

/** AWS's payload limit for inputs, outputs and task results (bytes of UTF-8). */
const MAX_PAYLOAD_BYTES = 262_144;
/** The longest delay setTimeout honours (a larger one fires after 1 ms): longer sleeps are chained. */
const MAX_TIMER_MS = 2_147_483_647;
/** Task tokens are base64url of 48 random bytes. */
const TASK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{64}$/;
/** How long history may grow before a running execution is saved again. */
const PERSIST_DELAY_MS = 500;
const ABORTED_ON_RESTART_CAUSE = "offline runtime stopped while the execution was running";

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]*:\d*:stateMachine:[^:\s]{1,80}$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]*:\d*:(execution:[^:\s]{1,80}:[^:\s]{1,80}|express:[^:\s]{1,80}:[^:\s]{1,80}:[^:\s]+)$/;

// ---------------------------------------------------------------------------------------------------------------
// Definitions: validated by the engine, Task resources resolved to integrations
// ---------------------------------------------------------------------------------------------------------------

/** A Task resource as the service calls it: which integration serves it, with which pattern. */
interface TaskResource {
    /** The Resource as written, pattern suffix included. */
    resource: string;
    /** The Resource without its pattern suffix, as integrations are asked about it. */
    target: string;
    pattern: TaskPattern;
    integration: TaskIntegration;
    /** How history labels it: `resourceType` "events", `resource` "putEvents.waitForTaskToken" (for TaskSubmitted). */
    label: ResourceLabel;
}

/** How history names a resource: `resourceType` "events", `resource` "putEvents.waitForTaskToken". */
interface ResourceLabel {
    resourceType: string;
    resource: string;
}

interface PreparedMachine {
    spec: StateMachineSpec;
    creationDate: number;
    /** When the definition or role last changed (creationDate until then); versions keep their own. */
    updateDate: number;
    /** Changes with every update; a version records the revision it was published from. */
    revisionId: string;
    loggingConfiguration: LoggingConfiguration;
    tracingConfiguration: TracingConfiguration;
    /** The parsed definition the engine runs. */
    definition: JsonObject;
    /** Every Task resource of the definition (any nesting level), by the Resource as written. */
    tasks: Map<string, TaskResource>;
}

function isObject(value: unknown): value is JsonObject {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A Task resource split into what an integration serves and its pattern (`.sync`, `.sync:2`, `.waitForTaskToken`). */
function splitPattern(resource: string): { target: string; pattern: TaskPattern } {
    const optimised = /^(arn:aws[a-z-]*:states:::.+?)(\.sync:2|\.sync|\.waitForTaskToken)?$/.exec(resource);
    if (!optimised) return { target: resource, pattern: "" };
    return { target: optimised[1], pattern: (optimised[2] ?? "") as TaskPattern };
}

/** AWS's history labels: `resourceType` "events" and `resource` "putEvents.waitForTaskToken"; "aws-sdk:dynamodb", "query". */
function resourceLabel(target: string, pattern: TaskPattern): ResourceLabel {
    const states = /^arn:aws[a-z-]*:states:::(.+):([^:]+)$/.exec(target);
    if (states) return { resourceType: states[1], resource: `${states[2]}${pattern}` };
    const service = /^arn:aws[a-z-]*:([^:]+):/.exec(target);
    return { resourceType: service ? service[1] : "unknown", resource: target };
}

/** Every Task state of a `{StartAt, States}` block and the blocks inside it (Map ItemProcessor/Iterator, Parallel branches). */
function* taskStatesOf(block: JsonValue): Generator<{ name: string; state: JsonObject }> {
    if (!isObject(block) || !isObject(block.States)) return;
    for (const [name, state] of Object.entries(block.States)) {
        if (!isObject(state)) continue;
        if (state.Type === "Task") yield { name, state };
        for (const key of ["ItemProcessor", "Iterator"]) if (state.Type === "Map") yield* taskStatesOf(state[key]);
        if (state.Type === "Parallel" && Array.isArray(state.Branches)) for (const branch of state.Branches) yield* taskStatesOf(branch);
    }
}

/**
 * The integration behind each Task resource, or an error naming the state and resource the offline runtime cannot
 * serve (or the pattern its integration lacks, or a waiting pattern in an EXPRESS machine, which AWS refuses).
 */
function resolveTasks(definition: JsonObject, machineName: string, machineType: "STANDARD" | "EXPRESS", integrationOf: IntegrationLookup): Map<string, TaskResource> {
    const tasks = new Map<string, TaskResource>();
    for (const { name, state } of taskStatesOf(definition)) {
        const resource = typeof state.Resource === "string" ? state.Resource : "";
        const { target, pattern } = splitPattern(resource);
        const integration = integrationOf(target);
        if (!integration) {
            throw new Error(`State machine ${machineName}: the Task state '${name}' has the resource '${resource}', which the offline runtime does not serve.`);
        }
        if (!integration.patterns.includes(pattern)) {
            const supported = integration.patterns.map((p) => (p === "" ? "request-response" : p)).join(", ");
            throw new Error(`State machine ${machineName}: the Task state '${name}' uses '${resource}', whose integration supports ${supported} only.`);
        }
        // AWS refuses the patterns that wait in EXPRESS machines (they run for at most five minutes, and only once).
        if (machineType === "EXPRESS" && pattern !== "") {
            throw new Error(`State machine ${machineName}: the Task state '${name}' uses '${resource}': Express state machines do not support the '${pattern}' service integration pattern.`);
        }
        tasks.set(resource, { resource, target, pattern, integration, label: resourceLabel(target, pattern) });
    }
    return tasks;
}

/** Parses and validates a definition (InvalidDefinitionError, naming each field) and resolves its Task resources. */
function prepareMachine(
    spec: StateMachineSpec,
    integrationOf: IntegrationLookup,
    settings: Partial<Pick<PreparedMachine, "creationDate" | "loggingConfiguration" | "tracingConfiguration">> = {},
): PreparedMachine {
    let definition: unknown;
    try {
        definition = JSON.parse(spec.definition);
    } catch (err) {
        throw new Error(`State machine ${spec.name}: definition is not valid JSON: ${(err as Error).message}`);
    }
    if (!isObject(definition)) throw new Error(`State machine ${spec.name}: definition must be a JSON object`);
    validateDefinition(definition);
    const now = Date.now();
    return {
        spec,
        creationDate: settings.creationDate ?? now,
        updateDate: now,
        revisionId: randomUUID(),
        loggingConfiguration: settings.loggingConfiguration ?? DEFAULT_LOGGING,
        tracingConfiguration: settings.tracingConfiguration ?? DEFAULT_TRACING,
        definition,
        tasks: resolveTasks(definition, spec.name, spec.type, integrationOf),
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Errors raised inside executions
// ---------------------------------------------------------------------------------------------------------------

/** The engine reports `error.name` as the state's Error and `error.message` as its Cause. */
class TaskStateError extends Error {
    constructor(error: string, cause: string) {
        super(cause);
        this.name = error;
    }
}

/** Step Functions' naming of errors from service integrations: `Service.NameException`. */
function serviceErrorName(service: string, code: string): string {
    return `${service}.${code.endsWith("Exception") ? code : `${code}Exception`}`;
}

function errorMessage(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}

/** Resolves after `ms` (chaining timers past setTimeout's limit), or as soon as `signal` aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        let timer: NodeJS.Timeout;
        const end = Date.now() + ms;
        const done = () => {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
        };
        const arm = () => {
            const left = end - Date.now();
            if (left <= 0) return done();
            timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        };
        signal.addEventListener("abort", done, { once: true });
        arm();
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Executions
// ---------------------------------------------------------------------------------------------------------------

interface Deferred<T> {
    promise: Promise<T>;
    resolve(value: T): void;
    reject(reason: unknown): void;
}

function deferred<T>(): Deferred<T> {
    let resolve!: (value: T) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
    });
    return { promise, resolve, reject };
}

/** What DescribeExecution reports; this is what gets persisted (times in epoch milliseconds). */
interface ExecutionData {
    executionArn: string;
    stateMachineArn: string;
    stateMachineType: "STANDARD" | "EXPRESS";
    roleArn: string;
    name: string;
    status: ExecutionStatus;
    startDate: number;
    stopDate?: number;
    input: string;
    output?: string;
    error?: string;
    cause?: string;
    traceHeader?: string;
    /** Set when started through a version ARN, or an alias (which names the version it routed to). */
    stateMachineVersionArn?: string;
    stateMachineAliasArn?: string;
    redriveCount?: number;
    redriveDate?: number;
}

/** Present while this process runs the execution. */
interface ExecutionRuntime {
    /** Stops the engine's run (StopExecution, close); `reason` carries StopExecution's error and cause. */
    abort(reason?: { error?: string; cause?: string }): void;
    /** SHA-256 of the input as sent: the stored input is redacted, but a repeated StartExecution must match it exactly. */
    inputDigest: string;
    pendingTasks: Set<PendingTask>;
    /** Carries the engine's events into the history (see EngineEventRecorder). */
    recorder: EngineEventRecorder;
    /** Resolved once the execution is finished and recorded (or the service closed). */
    finished: Deferred<void>;
    /** The whole run, including draining the event log. */
    done?: Promise<void>;
    /** A pending save of the history while the execution runs (see schedulePersist). */
    persistTimer?: NodeJS.Timeout;
}

interface ExecutionState {
    data: ExecutionData;
    history: HistoryRecorder;
    runtime?: ExecutionRuntime;
}

type TokenOutcome = { ok: true; output: JsonValue } | { ok: false; error: string; cause: string };

/** One attempt of a Task state. */
interface PendingTask {
    execution: ExecutionState;
    task: TaskResource;
    stateName: string;
    /** The engine's id of the attempt's TaskStarted event, which TaskSubmitted follows. */
    startedEventId: number;
    token?: string;
    heartbeatSeconds?: number;
    result: Deferred<JsonValue>;
    /** Aborted when the attempt ends (settled, timed out, abandoned): a `.sync` call then stops what it started. */
    abort: AbortController;
    heartbeatTimer?: NodeJS.Timeout;
    /** For callback tasks: the integration call returned, so a token outcome may complete the task. */
    submitted: boolean;
    /** A SendTaskSuccess/Failure that arrived before the integration call returned. */
    earlyOutcome?: TokenOutcome;
    settled: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Request validation helpers
// ---------------------------------------------------------------------------------------------------------------

/** AWS's messages: "Value null at 'taskToken' ... must not be null", "Value '' at 'taskToken' ... length greater than or equal to 1". */
function requiredString(value: unknown, member: string): string {
    if (value === undefined || value === null) {
        throw new AwsError("ValidationException", `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
    }
    if (typeof value !== "string") throw new AwsError("SerializationException", `Value at '${member}' must be a string`);
    if (value.length === 0) {
        throw new AwsError("ValidationException", `1 validation error detected: Value '' at '${member}' failed to satisfy constraint: Member must have length greater than or equal to 1`);
    }
    return value;
}

function optionalString(value: unknown, member: string, maxLength: number): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw new AwsError("ValidationException", `Value at '${member}' must be a string`);
    if (value.length > maxLength) {
        throw new AwsError("ValidationException", `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length less than or equal to ${maxLength}`);
    }
    return value;
}

function checkPayloadSize(text: string, member: string): void {
    if (Buffer.byteLength(text, "utf8") > MAX_PAYLOAD_BYTES) {
        throw new AwsError("ValidationException", `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length less than or equal to ${MAX_PAYLOAD_BYTES}`);
    }
}

function requireStateMachineArn(value: unknown): string {
    const arn = requiredString(value, "stateMachineArn");
    if (!STATE_MACHINE_ARN.test(arn)) throw new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    return arn;
}

function requireExecutionArn(value: unknown): string {
    const arn = requiredString(value, "executionArn");
    if (!EXECUTION_ARN.test(arn)) throw new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    return arn;
}

/** AWS's rules for execution names: 1–80 characters, none of whitespace, brackets, wildcards, punctuation or control characters. */
function checkExecutionName(name: string): void {
    const forbidden = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
    if (name.length < 1 || name.length > 80 || forbidden.test(name)) throw new AwsError("InvalidName", `Invalid Name: '${name}'`);
}

function toEpochSeconds(ms: number): number {
    return ms / 1000;
}

function toJsonValue(value: unknown): JsonValue {
    if (value === undefined) return null;
    return JSON.parse(JSON.stringify(value)) as JsonValue;
}

// ---------------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------------

export class StepFunctionsService {
    /** The integration serving each Task resource, asked when a machine is created. */
    private readonly integrationOf: IntegrationLookup;
    private readonly authorize?: (roleArn: string, action: string, resourceArn: string) => void;
    private readonly region: string;
    private readonly accountId: string;
    private readonly executionsDir?: string;
    private readonly machines = new Map<string, PreparedMachine>();
    /** Published versions and aliases of the machines above. */
    private readonly catalog = new VersionCatalog<PreparedMachine>();
    /** The definition each execution held in memory runs (a version's, or the machine's when it started). */
    private readonly executionMachines = new Map<string, PreparedMachine>();
    private readonly onStatusChange?: (event: ExecutionStatusChangeEvent) => void;
    /** The clientToken of each execution's last redrive, so a retried RedriveExecution is idempotent. */
    private readonly redriveTokens = new Map<string, { clientToken: string; redriveDate: number }>();
    private readonly random: () => number;
    /** Running executions, and the most recent finished ones (see retainFinished). */
    private readonly executions = new Map<string, ExecutionState>();
    private readonly maxRetainedExecutions: number;
    private readonly maxRetainedExpressExecutions: number;
    /** ARNs of the finished executions held in `executions`, oldest finished first, per type. */
    private readonly finishedStandard = new Set<string>();
    private readonly finishedExpress = new Set<string>();
    /**
     * Finished STANDARD executions dropped from memory but kept on disk (with a data directory only): their list
     * entry, for ListExecutions and name reuse; DescribeExecution and GetExecutionHistory read the file.
     */
    private readonly onDiskOnly = new Map<string, ExecutionListItem>();
    private readonly listeners = new Set<(progress: ExecutionProgress) => void>();
    /** Outstanding task tokens. */
    private readonly tokens = new Map<string, PendingTask>();
    /** Tokens that can no longer be used, and why (AWS answers TaskTimedOut for timed-out ones). */
    private readonly retiredTokens = new Map<string, "completed" | "timedOut">();
    /** How stored data is redacted: the tokens this service issued are recognised anywhere (the runtime's log uses it too). */
    readonly redaction: RedactOptions = { isTaskToken: (candidate) => this.tokens.has(candidate) || this.retiredTokens.has(candidate) };
    private closed = false;

    constructor(opts: StepFunctionsServiceOptions) {
        if (typeof opts.integrations === "function") {
            this.integrationOf = opts.integrations;
        } else {
            const table = [...integrationsFromFunctions(opts.integrations, opts.region, opts.accountId), ...this.ownIntegrations(opts.region, opts.accountId)];
            this.integrationOf = (resource) => table.find((integration) => integration.matches(resource));
        }
        this.authorize = opts.authorize;
        this.onStatusChange = opts.onStatusChange;
        this.random = opts.random ?? Math.random;
        this.region = opts.region;
        this.accountId = opts.accountId;
        this.maxRetainedExecutions = retentionBound(opts.maxRetainedExecutions, DEFAULT_MAX_RETAINED_EXECUTIONS, "maxRetainedExecutions");
        this.maxRetainedExpressExecutions = retentionBound(opts.maxRetainedExpressExecutions, DEFAULT_MAX_RETAINED_EXPRESS_EXECUTIONS, "maxRetainedExpressExecutions");
        if (opts.dataDir) {
            this.executionsDir = path.join(opts.dataDir, "executions");
            this.loadExecutions();
        }
    }

    /** Registers a state machine; throws if the definition is invalid or two Task states share a name. */
    addStateMachine(spec: StateMachineSpec): void {
        if (!STATE_MACHINE_ARN.test(spec.arn)) throw new Error(`State machine ${spec.name}: '${spec.arn}' is not a state machine ARN`);
        try {
            this.machines.set(spec.arn, prepareMachine(spec, this.integrationOf));
        } catch (err) {
            if (err instanceof InvalidDefinitionError) throw new Error(`State machine ${spec.name}: ${err.message}`);
            throw err;
        }
    }

    /** Calls `listener` for every history event of every execution; returns the unsubscribe function. */
    onProgress(listener: (progress: ExecutionProgress) => void): () => void {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
    }

    // ----- API: state machines and executions ------------------------------------------------------------------

    async listStateMachines(request: ListStateMachinesRequest = {}): Promise<ListStateMachinesResponse> {
        const items: StateMachineListItem[] = [...this.machines.values()].map((machine) => ({
            stateMachineArn: machine.spec.arn,
            name: machine.spec.name,
            type: machine.spec.type,
            creationDate: toEpochSeconds(machine.creationDate),
        }));
        const page = paginate(items, "stateMachines", request.maxResults, request.nextToken);
        return page.nextToken ? { stateMachines: page.items, nextToken: page.nextToken } : { stateMachines: page.items };
    }

    /** Starts an execution of a state machine, one of its versions (`...:name:3`) or an alias (routed by weight). */
    async startExecution(request: StartExecutionRequest): Promise<StartExecutionResponse> {
        const execution = this.launch(request, "async");
        return { executionArn: execution.data.executionArn, startDate: toEpochSeconds(execution.data.startDate) };
    }

    /**
     * StartSyncExecution: runs an EXPRESS execution to its end and answers with its outcome (the SDK sends it to the
     * `sync-` host prefix). STANDARD machines are refused with StateMachineTypeNotSupported, as AWS does.
     */
    async startSyncExecution(request: StartSyncExecutionRequest): Promise<StartSyncExecutionResponse> {
        const execution = this.launch(request, "sync");
        await execution.runtime?.finished.promise;
        const data = execution.data;
        if (data.status === "RUNNING") throw new AwsError("ServiceUnavailable", "The offline Step Functions service closed before the execution ended", 503);
        const started = data.startDate;
        const stopped = data.stopDate ?? Date.now();
        const response: StartSyncExecutionResponse = {
            executionArn: data.executionArn,
            stateMachineArn: data.stateMachineArn,
            name: data.name,
            startDate: toEpochSeconds(started),
            stopDate: toEpochSeconds(stopped),
            // ABORTED cannot happen to a sync execution in AWS (it cannot be stopped); a closed runtime reads as FAILED.
            status: data.status === "SUCCEEDED" ? "SUCCEEDED" : data.status === "TIMED_OUT" ? "TIMED_OUT" : "FAILED",
            input: this.redact(data.input),
            inputDetails: { included: true },
            // AWS bills express executions in 100 ms steps of at least 100 ms, with 64 MB as the smallest memory.
            billingDetails: { billedMemoryUsedInMB: 64, billedDurationInMilliseconds: Math.max(100, Math.ceil((stopped - started) / 100) * 100) },
        };
        if (data.output !== undefined) {
            response.output = this.redact(data.output);
            response.outputDetails = { included: true };
        }
        if (data.error !== undefined) response.error = this.redact(data.error);
        if (data.cause !== undefined) response.cause = this.redact(data.cause);
        if (data.traceHeader !== undefined) response.traceHeader = data.traceHeader;
        return response;
    }

    /** StartExecution and StartSyncExecution: checks the request, resolves version and alias ARNs, starts the run. */
    private launch(request: StartExecutionRequest, mode: "async" | "sync"): ExecutionState {
        this.assertOpen();
        const target = this.resolveStartTarget(request.stateMachineArn);
        const machine = target.machine;
        if (mode === "sync" && machine.spec.type !== "EXPRESS") {
            throw new AwsError("StateMachineTypeNotSupported", `StartSyncExecution runs EXPRESS state machines only; '${machine.spec.arn}' is ${machine.spec.type}`);
        }
        const name = optionalString(request.name, "name", 80) ?? randomUUID();
        checkExecutionName(name);
        const inputText = optionalString(request.input, "input", Number.MAX_SAFE_INTEGER) ?? "{}";
        checkPayloadSize(inputText, "input");
        const input = parseExecutionInput(inputText);
        const traceHeader = optionalString(request.traceHeader, "traceHeader", 256);
        const existing = this.findReusableExecution(machine, name, inputText);
        if (existing) return existing;
        const execution = this.createExecution(machine, name, inputText, traceHeader);
        execution.data.stateMachineVersionArn = target.versionArn;
        execution.data.stateMachineAliasArn = target.aliasArn;
        this.run(execution, machine, input, digest(inputText));
        return execution;
    }

    /** The definition an execution of `arnValue` runs: the machine's current one, a version's, or the version an alias routes to. */
    private resolveStartTarget(arnValue: unknown): { machine: PreparedMachine; versionArn?: string; aliasArn?: string } {
        const target = this.requireTarget(arnValue, "stateMachineArn");
        if (target.kind === "machine") return { machine: this.requireMachine(target.machineArn) };
        if (target.kind === "version") return { machine: this.catalog.requireVersion(target.arn).prepared, versionArn: target.arn };
        const alias = this.requireAlias(target.arn);
        const version = this.catalog.route(alias, this.random());
        return { machine: version.prepared, versionArn: version.arn, aliasArn: alias.arn };
    }

    async describeExecution(request: DescribeExecutionRequest): Promise<DescribeExecutionResponse> {
        const execution = this.requireExecution(request.executionArn);
        return this.redactDescription(describe(execution.data, request.includedData !== "METADATA_ONLY"));
    }

    /** ListExecutions of a machine, or of those started through one version or alias (by its ARN), as AWS lists them. */
    async listExecutions(request: ListExecutionsRequest): Promise<ListExecutionsResponse> {
        const target = this.requireTarget(request.stateMachineArn, "stateMachineArn");
        const machine = this.requireMachine(target.machineArn);
        if (target.kind === "version") this.catalog.requireVersion(target.arn);
        if (target.kind === "alias") this.requireAlias(target.arn);
        const startedThrough = (item: ExecutionListItem) =>
            target.kind === "machine" || (target.kind === "version" ? item.stateMachineVersionArn === target.arn : item.stateMachineAliasArn === target.arn);
        const filter = request.statusFilter;
        if (filter !== undefined && !EXECUTION_STATUSES.includes(filter)) {
            throw new AwsError("ValidationException", `Value '${filter}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [${EXECUTION_STATUSES.join(", ")}]`);
        }
        // Newest first; reversing insertion order first keeps executions started in the same millisecond ordered.
        const inMemory = [...this.executions.values()].reverse().map((execution) => listItem(execution.data));
        const items = [...inMemory, ...[...this.onDiskOnly.values()].reverse()]
            .filter((item) => item.stateMachineArn === machine.spec.arn && startedThrough(item) && (filter === undefined || item.status === filter))
            .sort((a, b) => b.startDate - a.startDate);
        const page = paginate(items, `executions:${target.kind === "machine" ? machine.spec.arn : target.arn}:${filter ?? ""}`, request.maxResults, request.nextToken);
        return page.nextToken ? { executions: page.items, nextToken: page.nextToken } : { executions: page.items };
    }

    async getExecutionHistory(request: GetExecutionHistoryRequest): Promise<GetExecutionHistoryResponse> {
        const execution = this.requireExecution(request.executionArn);
        const page = pageHistory(execution.data.executionArn, execution.history.events, request);
        return { ...page, events: page.events.map((event) => this.redactEvent(event)) };
    }

    async stopExecution(request: StopExecutionRequest): Promise<StopExecutionResponse> {
        const execution = this.requireExecution(request.executionArn);
        const error = optionalString(request.error, "error", 256);
        const cause = optionalString(request.cause, "cause", 32_768);
        const runtime = execution.runtime;
        // Stopping a finished execution changes nothing; AWS answers with the original stop date.
        if (execution.data.status !== "RUNNING" || !runtime) return { stopDate: toEpochSeconds(execution.data.stopDate ?? Date.now()) };
        execution.data.status = "ABORTED";
        execution.data.stopDate = Date.now();
        execution.data.error = error;
        execution.data.cause = cause;
        runtime.abort({ error: execution.data.error, cause: execution.data.cause });
        this.abandonPendingTasks(execution, "The execution was stopped.");
        await runtime.finished.promise;
        return { stopDate: toEpochSeconds(execution.data.stopDate) };
    }

    /** Resolves when the execution is no longer RUNNING (for tests and the demo). */
    async waitForExecution(executionArn: string, timeoutMs = 30_000): Promise<DescribeExecutionResponse> {
        const execution = this.requireExecution(executionArn);
        const runtime = execution.runtime;
        if (execution.data.status === "RUNNING" && runtime) {
            let timer: NodeJS.Timeout | undefined;
            const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
            const outcome = await Promise.race([runtime.finished.promise, timedOut]);
            clearTimeout(timer);
            if (outcome === "timeout") throw new Error(`Execution ${executionArn} is still RUNNING after ${timeoutMs} ms`);
        }
        if (execution.data.status === "RUNNING") throw new Error(`Execution ${executionArn} is still RUNNING: the service was closed`);
        return describe(execution.data, true);
    }

    /**
     * How many executions the service holds: running ones, finished ones in memory per type (see
     * `maxRetainedExecutions`), and finished STANDARD ones kept on disk only. For the soak benchmark and tests.
     */
    retainedExecutions(): { running: number; standard: number; express: number; onDiskOnly: number } {
        const running = this.executions.size - this.finishedStandard.size - this.finishedExpress.size;
        return { running, standard: this.finishedStandard.size, express: this.finishedExpress.size, onDiskOnly: this.onDiskOnly.size };
    }

    /** Stops timers and runs; running executions are saved as RUNNING, for the next start to mark ABORTED. */
    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        const running = [...this.executions.values()].filter((execution) => execution.runtime && execution.data.status === "RUNNING");
        for (const execution of running) {
            clearTimeout(execution.runtime?.persistTimer);
            this.persist(execution);
            execution.runtime?.abort();
            this.abandonPendingTasks(execution, "The offline runtime was closed.");
            execution.runtime?.finished.resolve();
        }
        await Promise.allSettled(running.map((execution) => execution.runtime?.done));
    }

    // ----- API: control plane (state machines, versions, aliases) ---------------------------------------------

    /** CreateStateMachine; `publish` also publishes version 1. Idempotent for an identical machine, as in AWS. */
    async createStateMachine(request: CreateStateMachineRequest): Promise<CreateStateMachineResponse> {
        this.assertOpen();
        const name = requiredString(request.name, "name");
        checkResourceName(name, "state machine");
        const definition = requiredString(request.definition, "definition");
        const roleArn = requiredString(request.roleArn, "roleArn");
        checkRoleArn(roleArn);
        const type = checkMachineType(request.type);
        const versionDescription = this.checkVersionDescription(request.publish, request.versionDescription);
        const arn = `arn:aws:states:${this.region}:${this.accountId}:stateMachine:${name}`;
        const logging = { ...DEFAULT_LOGGING, ...request.loggingConfiguration };
        const tracing = { ...DEFAULT_TRACING, ...request.tracingConfiguration };
        const existing = this.machines.get(arn);
        if (existing) {
            const same = existing.spec.definition === definition && existing.spec.roleArn === roleArn && existing.spec.type === type && JSON.stringify(existing.loggingConfiguration) === JSON.stringify(logging) && JSON.stringify(existing.tracingConfiguration) === JSON.stringify(tracing);
            if (!same) throw new AwsError("StateMachineAlreadyExists", `State Machine Already Exists: '${arn}'`);
            const response: CreateStateMachineResponse = { stateMachineArn: arn, creationDate: toEpochSeconds(existing.creationDate) };
            if (request.publish) response.stateMachineVersionArn = this.catalog.publish(existing, versionDescription).arn;
            return response;
        }
        const machine = this.prepareOrRefuse({ arn, name, type, definition, roleArn }, { loggingConfiguration: logging, tracingConfiguration: tracing });
        this.machines.set(arn, machine);
        const response: CreateStateMachineResponse = { stateMachineArn: arn, creationDate: toEpochSeconds(machine.creationDate) };
        if (request.publish) response.stateMachineVersionArn = this.catalog.publish(machine, versionDescription).arn;
        return response;
    }

    /** UpdateStateMachine: a new revision (running executions keep theirs); `publish` publishes it as a version. */
    async updateStateMachine(request: UpdateStateMachineRequest): Promise<UpdateStateMachineResponse> {
        this.assertOpen();
        const target = this.requireTarget(request.stateMachineArn, "stateMachineArn");
        if (target.kind !== "machine") throw new AwsError("ValidationException", `UpdateStateMachine takes a state machine ARN, not a ${target.kind} ARN: '${target.arn}' (versions cannot be changed; aliases are updated with UpdateStateMachineAlias)`);
        const machine = this.requireMachine(target.machineArn);
        const definition = optionalString(request.definition, "definition", 1_048_576);
        const roleArn = optionalString(request.roleArn, "roleArn", 256);
        if (roleArn !== undefined) checkRoleArn(roleArn);
        if (definition === undefined && roleArn === undefined && request.loggingConfiguration === undefined && request.tracingConfiguration === undefined) {
            throw new AwsError("MissingRequiredParameter", "Either the definition, the roleArn, the loggingConfiguration or the tracingConfiguration must be specified");
        }
        const versionDescription = this.checkVersionDescription(request.publish, request.versionDescription);
        const spec: StateMachineSpec = { ...machine.spec, definition: definition ?? machine.spec.definition, roleArn: roleArn ?? machine.spec.roleArn };
        const logging = { ...machine.loggingConfiguration, ...request.loggingConfiguration };
        const tracing = { ...machine.tracingConfiguration, ...request.tracingConfiguration };
        const changed = spec.definition !== machine.spec.definition || spec.roleArn !== machine.spec.roleArn || JSON.stringify(logging) !== JSON.stringify(machine.loggingConfiguration) || JSON.stringify(tracing) !== JSON.stringify(machine.tracingConfiguration);
        // An update that changes nothing keeps the revision, so publishing it again returns the same version.
        const current = changed ? this.prepareOrRefuse(spec, { creationDate: machine.creationDate, loggingConfiguration: logging, tracingConfiguration: tracing }) : machine;
        this.machines.set(spec.arn, current);
        const response: UpdateStateMachineResponse = { updateDate: toEpochSeconds(current.updateDate), revisionId: current.revisionId };
        if (request.publish) response.stateMachineVersionArn = this.catalog.publish(current, versionDescription).arn;
        return response;
    }

    /** DeleteStateMachine: the machine, its versions and aliases go; running executions finish. Deleting an absent machine succeeds, as in AWS. */
    async deleteStateMachine(request: DeleteStateMachineRequest): Promise<EmptyResponse> {
        const target = this.requireTarget(request.stateMachineArn, "stateMachineArn");
        if (target.kind !== "machine") throw new AwsError("ValidationException", `DeleteStateMachine takes a state machine ARN; delete the ${target.kind} '${target.arn}' with DeleteStateMachine${target.kind === "version" ? "Version" : "Alias"}`);
        this.machines.delete(target.machineArn);
        this.catalog.forgetMachine(target.machineArn);
        return {};
    }

    /** DescribeStateMachine, of the machine or of a version (`...:name:3`). */
    async describeStateMachine(request: DescribeStateMachineRequest): Promise<DescribeStateMachineResponse> {
        const target = this.requireTarget(request.stateMachineArn, "stateMachineArn");
        if (target.kind === "alias") throw new AwsError("InvalidArn", `Invalid Arn: '${target.arn}' is an alias ARN; describe it with DescribeStateMachineAlias`);
        const version = target.kind === "version" ? this.catalog.requireVersion(target.arn) : undefined;
        const machine = version ? version.prepared : this.requireMachine(target.machineArn);
        const response: DescribeStateMachineResponse = {
            stateMachineArn: version ? version.arn : machine.spec.arn,
            name: machine.spec.name,
            status: "ACTIVE",
            definition: machine.spec.definition,
            roleArn: machine.spec.roleArn,
            type: machine.spec.type,
            creationDate: toEpochSeconds(version ? version.creationDate : machine.creationDate),
            loggingConfiguration: machine.loggingConfiguration,
            tracingConfiguration: machine.tracingConfiguration,
            revisionId: machine.revisionId,
        };
        if (version?.description !== undefined) response.description = version.description;
        return response;
    }

    /** DescribeStateMachineForExecution: the definition the execution ran (its version's, or the machine's when it started). */
    async describeStateMachineForExecution(request: DescribeStateMachineForExecutionRequest): Promise<DescribeStateMachineForExecutionResponse> {
        const execution = this.requireExecution(request.executionArn);
        const machine = this.machineOfExecution(execution.data);
        if (!machine) throw new AwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${execution.data.stateMachineArn}' (the execution's state machine was deleted)`);
        const response: DescribeStateMachineForExecutionResponse = {
            stateMachineArn: machine.spec.arn,
            name: machine.spec.name,
            definition: machine.spec.definition,
            roleArn: machine.spec.roleArn,
            updateDate: toEpochSeconds(machine.updateDate),
            loggingConfiguration: machine.loggingConfiguration,
            tracingConfiguration: machine.tracingConfiguration,
            revisionId: machine.revisionId,
        };
        return response;
    }

    /**
     * ValidateStateMachineDefinition with the validation the engine runs definitions through, plus what the
     * offline runtime itself cannot serve (code LOCAL_RUNTIME_UNSUPPORTED).
     */
    async validateStateMachineDefinition(request: ValidateStateMachineDefinitionRequest): Promise<ValidateStateMachineDefinitionResponse> {
        const definition = requiredString(request.definition, "definition");
        const type = checkMachineType(request.type);
        const severity = request.severity ?? "ERROR";
        if (severity !== "ERROR" && severity !== "WARNING") throw new AwsError("ValidationException", `1 validation error detected: Value '${String(severity)}' at 'severity' failed to satisfy constraint: Member must satisfy enum value set: [ERROR, WARNING]`);
        const maxResults = request.maxResults ?? 100;
        if (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > 100) throw new AwsError("ValidationException", `Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 0 and 100`);
        const diagnostics = validationDiagnostics(definition, type, this.integrationOf);
        const shown = diagnostics.slice(0, maxResults || 100);
        return { result: diagnostics.some((d) => d.severity === "ERROR") ? "FAIL" : "OK", diagnostics: shown, truncated: shown.length < diagnostics.length };
    }

    /** PublishStateMachineVersion; `revisionId`, when given, must be the current one (ConflictException otherwise). */
    async publishStateMachineVersion(request: PublishStateMachineVersionRequest): Promise<PublishStateMachineVersionResponse> {
        this.assertOpen();
        const machine = this.requireMachine(request.stateMachineArn);
        const description = checkDescription(request.description, "description");
        if (request.revisionId !== undefined && request.revisionId !== null && request.revisionId !== machine.revisionId) {
            throw new AwsError("ConflictException", `Revision '${request.revisionId}' is not the current revision of '${machine.spec.arn}' (${machine.revisionId})`);
        }
        const version = this.catalog.publish(machine, description);
        return { creationDate: toEpochSeconds(version.creationDate), stateMachineVersionArn: version.arn };
    }

    /** ListStateMachineVersions, newest first. */
    async listStateMachineVersions(request: ListStateMachineVersionsRequest): Promise<ListStateMachineVersionsResponse> {
        const machine = this.requireMachine(request.stateMachineArn);
        const items = this.catalog
            .versionsOf(machine.spec.arn)
            .map((version) => ({ stateMachineVersionArn: version.arn, creationDate: toEpochSeconds(version.creationDate) }));
        const page = paginate(items, `versions:${machine.spec.arn}`, request.maxResults, request.nextToken);
        return page.nextToken ? { stateMachineVersions: page.items, nextToken: page.nextToken } : { stateMachineVersions: page.items };
    }

    /** DeleteStateMachineVersion; refused (ConflictException) while an alias routes to it. Deleting an absent version succeeds. */
    async deleteStateMachineVersion(request: DeleteStateMachineVersionRequest): Promise<EmptyResponse> {
        const target = this.requireTarget(request.stateMachineVersionArn, "stateMachineVersionArn");
        if (target.kind !== "version") throw invalidArn(String(request.stateMachineVersionArn));
        this.catalog.deleteVersion(target.arn);
        return {};
    }

    /** CreateStateMachineAlias; an identical existing alias is returned, a different one is a ConflictException. */
    async createStateMachineAlias(request: CreateStateMachineAliasRequest): Promise<CreateStateMachineAliasResponse> {
        this.assertOpen();
        const name = requiredString(request.name, "name");
        checkResourceName(name, "alias");
        const description = checkDescription(request.description, "description");
        const alias = this.catalog.createAlias(name, description, request.routingConfiguration);
        return { stateMachineAliasArn: alias.arn, creationDate: toEpochSeconds(alias.creationDate) };
    }

    async updateStateMachineAlias(request: UpdateStateMachineAliasRequest): Promise<UpdateStateMachineAliasResponse> {
        const alias = this.requireAlias(request.stateMachineAliasArn);
        if (request.description === undefined && request.routingConfiguration === undefined) {
            throw new AwsError("MissingRequiredParameter", "Either the description or the routingConfiguration must be specified");
        }
        const description = request.description === undefined ? alias.description : checkDescription(request.description, "description");
        this.catalog.updateAlias(alias, description, request.routingConfiguration);
        return { updateDate: toEpochSeconds(alias.updateDate) };
    }

    async describeStateMachineAlias(request: DescribeStateMachineAliasRequest): Promise<DescribeStateMachineAliasResponse> {
        const alias = this.requireAlias(request.stateMachineAliasArn);
        const response: DescribeStateMachineAliasResponse = {
            stateMachineAliasArn: alias.arn,
            name: alias.name,
            routingConfiguration: alias.routing.map((entry) => ({ ...entry })),
            creationDate: toEpochSeconds(alias.creationDate),
            updateDate: toEpochSeconds(alias.updateDate),
        };
        if (alias.description !== undefined) response.description = alias.description;
        return response;
    }

    /** ListStateMachineAliases of a machine (or of the machine a version belongs to), newest first. */
    async listStateMachineAliases(request: ListStateMachineAliasesRequest): Promise<ListStateMachineAliasesResponse> {
        const target = this.requireTarget(request.stateMachineArn, "stateMachineArn");
        if (target.kind === "alias") throw invalidArn(target.arn);
        const machine = this.requireMachine(target.machineArn);
        const items = this.catalog
            .aliasesOf(machine.spec.arn, target.kind === "version" ? target.arn : undefined)
            .map((alias) => ({ stateMachineAliasArn: alias.arn, creationDate: toEpochSeconds(alias.creationDate) }));
        const page = paginate(items, `aliases:${target.kind === "version" ? target.arn : machine.spec.arn}`, request.maxResults, request.nextToken);
        return page.nextToken ? { stateMachineAliases: page.items, nextToken: page.nextToken } : { stateMachineAliases: page.items };
    }

    async deleteStateMachineAlias(request: DeleteStateMachineAliasRequest): Promise<EmptyResponse> {
        const alias = this.requireAlias(request.stateMachineAliasArn);
        this.catalog.deleteAlias(alias.arn);
        return {};
    }

    /**
     * RedriveExecution: a FAILED, TIMED_OUT or ABORTED STANDARD execution resumes at the top-level state that was
     * running when it stopped, with that state's input; the states that succeeded are not run again. It runs the
     * definition it ran before (its version's, or the machine's at its start). Refused (ExecutionNotRedrivable) by
     * name: a failure inside a Map or Parallel state, and a machine that assigns variables (their values at the
     * failure are not kept, so resuming would run on without them).
     */
    async redriveExecution(request: RedriveExecutionRequest): Promise<RedriveExecutionResponse> {
        this.assertOpen();
        const execution = this.requireExecution(request.executionArn);
        const clientToken = optionalString(request.clientToken, "clientToken", 64);
        const data = execution.data;
        // A retried request (same clientToken as the redrive that succeeded last) answers as that one did, as in AWS.
        const previous = this.redriveTokens.get(data.executionArn);
        if (clientToken !== undefined && previous?.clientToken === clientToken) return { redriveDate: toEpochSeconds(previous.redriveDate) };
        const status = redriveStatusOf(data);
        if (status.redriveStatus !== "REDRIVABLE") throw new AwsError("ExecutionNotRedrivable", `Execution '${data.executionArn}' cannot be redriven: ${status.redriveStatusReason}`);
        const machine = this.machineOfExecution(data);
        if (!machine) throw new AwsError("ExecutionNotRedrivable", `Execution '${data.executionArn}' cannot be redriven: its state machine '${data.stateMachineArn}' no longer exists`);
        const input = parseExecutionInput(data.input);
        if (/"Assign"\s*:/.test(machine.spec.definition)) {
            throw new AwsError("ExecutionNotRedrivable", `Execution '${data.executionArn}' cannot be redriven by the offline runtime: its state machine assigns variables, whose values at the failure it does not keep`);
        }
        const resume = resumePointOf(data.executionArn, execution.history.events, machine.definition, input);
        // A finished execution may be held on disk only; running again, it lives in memory and is not evicted.
        this.executions.set(data.executionArn, execution);
        this.executionMachines.set(data.executionArn, machine);
        this.onDiskOnly.delete(data.executionArn);
        this.finishedStandard.delete(data.executionArn);
        const now = Date.now();
        Object.assign(data, { status: "RUNNING", stopDate: undefined, output: undefined, error: undefined, cause: undefined, redriveCount: (data.redriveCount ?? 0) + 1, redriveDate: now });
        if (clientToken !== undefined) this.redriveTokens.set(data.executionArn, { clientToken, redriveDate: now });
        execution.history.append({ type: "ExecutionRedriven", details: { redriveCount: data.redriveCount }, timestampMs: now });
        this.run(execution, machine, input, digest(data.input), resume);
        return { redriveDate: toEpochSeconds(now) };
    }

    private checkVersionDescription(publish: unknown, description: unknown): string | undefined {
        const checked = checkDescription(description, "versionDescription");
        if (checked !== undefined && publish !== true) throw new AwsError("ValidationException", "versionDescription can only be set when publish is true");
        return checked;
    }

    /** prepareMachine, with its refusals as AWS's InvalidDefinition. */
    private prepareOrRefuse(spec: StateMachineSpec, settings: Parameters<typeof prepareMachine>[2]): PreparedMachine {
        try {
            return prepareMachine(spec, this.integrationOf, settings);
        } catch (err) {
            // The engine's message already reads as AWS's ("Invalid State Machine Definition: '...'").
            throw new AwsError("InvalidDefinition", err instanceof InvalidDefinitionError ? err.message : `Invalid State Machine Definition: '${errorMessage(err)}'`);
        }
    }

    private requireTarget(arnValue: unknown, member: string): MachineTarget {
        const arn = requiredString(arnValue, member);
        const target = parseMachineTarget(arn, STATE_MACHINE_ARN);
        if (!target) throw invalidArn(arn);
        return target;
    }

    private requireAlias(arnValue: unknown): MachineAlias {
        const target = this.requireTarget(arnValue, "stateMachineAliasArn");
        if (target.kind !== "alias") throw invalidArn(String(arnValue));
        return this.catalog.requireAlias(target.arn);
    }

    /** The definition an execution ran: remembered while it is in memory, else its version's or the machine's current one. */
    private machineOfExecution(data: ExecutionData): PreparedMachine | undefined {
        const remembered = this.executionMachines.get(data.executionArn);
        if (remembered) return remembered;
        if (data.stateMachineVersionArn) return this.catalog.version(data.stateMachineVersionArn)?.prepared;
        return this.machines.get(data.stateMachineArn);
    }

    /** The aws.states "Step Functions Execution Status Change" event, for STANDARD executions (AWS sends none for EXPRESS). */
    private emitStatusChange(execution: ExecutionState): void {
        const data = execution.data;
        if (!this.onStatusChange || data.stateMachineType !== "STANDARD") return;
        const shown = this.redactDescription(describe(data, true));
        const redrive = redriveStatusOf(data);
        const event: ExecutionStatusChangeEvent = {
            detailType: EXECUTION_STATUS_CHANGE,
            source: "aws.states",
            time: eventTime(Date.now()),
            resources: [data.executionArn],
            detail: {
                executionArn: data.executionArn,
                stateMachineArn: data.stateMachineArn,
                name: data.name,
                status: data.status,
                startDate: data.startDate,
                stopDate: data.stopDate ?? null,
                input: shown.input ?? "{}",
                inputDetails: { included: true },
                output: shown.output ?? null,
                outputDetails: shown.output === undefined ? null : { included: true },
                redriveCount: data.redriveCount ?? 0,
                redriveDate: data.redriveDate ?? null,
                redriveStatus: redrive.redriveStatus,
                redriveStatusReason: redrive.redriveStatusReason,
                error: shown.error ?? null,
                cause: shown.cause ?? null,
            },
        };
        if (data.stateMachineVersionArn !== undefined) event.detail.stateMachineVersionArn = data.stateMachineVersionArn;
        if (data.stateMachineAliasArn !== undefined) event.detail.stateMachineAliasArn = data.stateMachineAliasArn;
        try {
            this.onStatusChange(event);
        } catch (err) {
            console.warn(`stepfunctions: status change listener failed: ${errorMessage(err)}`);
        }
    }

    // ----- API: task tokens ------------------------------------------------------------------------------------

    async sendTaskSuccess(request: SendTaskSuccessRequest): Promise<EmptyResponse> {
        const token = requiredString(request.taskToken, "taskToken");
        const outputText = requiredString(request.output, "output");
        checkPayloadSize(outputText, "output");
        const pending = this.requireToken(token);
        if (jsonNestsDeeperThan(outputText, MAX_PAYLOAD_DEPTH)) {
            throw new AwsError("InvalidOutput", `Invalid State Machine Output: it nests more than ${MAX_PAYLOAD_DEPTH} levels deep, which the local runtime does not run`);
        }
        let output: JsonValue;
        try {
            output = JSON.parse(outputText) as JsonValue;
        } catch {
            throw new AwsError("InvalidOutput", "Invalid State Machine Output: the output is not valid JSON");
        }
        this.completeFromToken(pending, { ok: true, output });
        return {};
    }

    async sendTaskFailure(request: SendTaskFailureRequest): Promise<EmptyResponse> {
        const token = requiredString(request.taskToken, "taskToken");
        const error = optionalString(request.error, "error", 256) ?? "";
        const cause = optionalString(request.cause, "cause", 32_768) ?? "";
        const pending = this.requireToken(token);
        this.completeFromToken(pending, { ok: false, error, cause });
        return {};
    }

    async sendTaskHeartbeat(request: SendTaskHeartbeatRequest): Promise<EmptyResponse> {
        const pending = this.requireToken(requiredString(request.taskToken, "taskToken"));
        this.armHeartbeat(pending);
        return {};
    }

    // ----- lookups ---------------------------------------------------------------------------------------------

    private assertOpen(): void {
        if (this.closed) throw new AwsError("ServiceUnavailable", "The offline Step Functions service is closed", 503);
    }

    private requireMachine(arnValue: unknown): PreparedMachine {
        const arn = requireStateMachineArn(arnValue);
        const machine = this.machines.get(arn);
        if (!machine) throw new AwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${arn}'`);
        return machine;
    }

    private requireExecution(arnValue: unknown): ExecutionState {
        const arn = requireExecutionArn(arnValue);
        const execution = this.executions.get(arn) ?? this.readFromDisk(arn);
        if (!execution) throw new AwsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${arn}'`);
        return execution;
    }

    /** A finished execution no longer held in memory, read from its file (not kept: the next request reads it again). */
    private readFromDisk(arn: string): ExecutionState | undefined {
        const file = this.onDiskOnly.has(arn) ? this.fileFor(arn) : undefined;
        const execution = file && fs.existsSync(file) ? readStoredExecution(file) : undefined;
        return execution?.data.executionArn === arn ? execution : undefined;
    }

    /** The state machine whose task is waiting on `token`, if one is. */
    stateMachineOfToken(token: string): string | undefined {
        return this.tokens.get(token)?.execution.data.stateMachineArn;
    }

    /** The outstanding task behind a token, or the error AWS gives for it. */
    private requireToken(token: string): PendingTask {
        const pending = this.tokens.get(token);
        if (pending) return pending;
        const retired = this.retiredTokens.get(token);
        if (retired === "timedOut") throw new AwsError("TaskTimedOut", "Task Timed Out: the task for this token has timed out");
        if (retired === undefined && !TASK_TOKEN_PATTERN.test(token)) throw new AwsError("InvalidToken", "Invalid Token: the task token is malformed");
        throw new AwsError("TaskDoesNotExist", "Task Does Not Exist: the task for this token does not exist or has already completed");
    }

    /** AWS: same name and input as a running STANDARD execution returns it; otherwise a reused name is an error. */
    private findReusableExecution(machine: PreparedMachine, name: string, inputText: string): ExecutionState | undefined {
        if (machine.spec.type !== "STANDARD") return undefined;
        const arn = this.executionArn(machine, name);
        const existing = this.executions.get(arn);
        if (!existing && !this.onDiskOnly.has(arn)) return undefined;
        if (existing?.data.status === "RUNNING" && existing.runtime?.inputDigest === digest(inputText)) return existing;
        throw new AwsError("ExecutionAlreadyExists", `Execution Already Exists: '${arn}'`);
    }

    private executionArn(machine: PreparedMachine, name: string): string {
        const prefix = `arn:aws:states:${this.region}:${this.accountId}`;
        if (machine.spec.type === "EXPRESS") return `${prefix}:express:${machine.spec.name}:${name}:${randomUUID()}`;
        return `${prefix}:execution:${machine.spec.name}:${name}`;
    }

    // ----- running -------------------------------------------------------------------------------------------

    private createExecution(machine: PreparedMachine, name: string, input: string, traceHeader: string | undefined): ExecutionState {
        const data: ExecutionData = {
            executionArn: this.executionArn(machine, name),
            stateMachineArn: machine.spec.arn,
            stateMachineType: machine.spec.type,
            roleArn: machine.spec.roleArn,
            name,
            status: "RUNNING",
            startDate: Date.now(),
            // What is stored and answered; the run itself gets the input as sent.
            input,
            traceHeader,
        };
        const execution: ExecutionState = { data, history: new HistoryRecorder() };
        this.executions.set(data.executionArn, execution);
        this.executionMachines.set(data.executionArn, machine);
        return execution;
    }

    /**
     * Runs `machine` for the execution on the engine. A redrive passes `resume`: the run then starts at the failed
     * top-level state with that state's input, while `$$.Execution.Input` stays the execution's own input.
     */
    private run(execution: ExecutionState, machine: PreparedMachine, input: JsonValue, inputDigest: string, resume?: ResumePoint): void {
        const { data } = execution;
        const stop = new AbortController();
        const runtime: ExecutionRuntime = {
            abort: (reason) => stop.abort(reason ?? {}),
            inputDigest,
            pendingTasks: new Set(),
            recorder: new EngineEventRecorder({
                input: data.input,
                stateMachineVersionArn: data.stateMachineVersionArn,
                stateMachineAliasArn: data.stateMachineAliasArn,
            }),
            finished: deferred<void>(),
        };
        execution.runtime = runtime;
        // A redrive continues the history: the engine's first event follows the last one recorded (ExecutionRedriven).
        const recordedBefore = execution.history.events.length;
        if (recordedBefore > 0) runtime.recorder.recordedAs(recordedBefore, recordedBefore);
        this.persist(execution);
        this.emitStatusChange(execution);
        const context: RunOptions["context"] = {
            Execution: {
                Id: data.executionArn,
                Name: data.name,
                RoleArn: machine.spec.roleArn,
                StartTime: new Date(data.startDate).toISOString(),
                Input: input,
                RedriveCount: data.redriveCount ?? 0,
                ...(data.redriveDate === undefined ? {} : { RedriveTime: new Date(data.redriveDate).toISOString() }),
            },
            StateMachine: { Id: machine.spec.arn, Name: machine.spec.name },
        };
        const run = runExecution(machine.definition, input, {
            context,
            hooks: {
                runTask: (call) => this.runTask(execution, machine, call),
                onEvent: (event, origin) => this.recordEngineEvent(execution, event, origin),
                newTaskToken: () => randomBytes(48).toString("base64url"),
                sleep: sleepUnlessAborted,
                random: this.random,
            },
            signal: stop.signal,
            startAt: resume,
            eventIdOffset: recordedBefore,
        });
        runtime.done = run.then(
            (result) => this.finish(execution, outcomeOf(result)),
            (err: unknown) => this.finish(execution, { status: "FAILED", error: "States.Runtime", cause: errorMessage(err) }),
        );
    }

    /** Records one of the engine's events, unless the execution already ended (events of branches it aborted). */
    private recordEngineEvent(execution: ExecutionState, event: EngineHistoryEvent, origin: EventOrigin): void {
        const runtime = execution.runtime;
        if (this.closed || !runtime || execution.history.isClosed()) return;
        this.record(execution, runtime.recorder.convert(event), origin, event.id);
    }

    private finish(execution: ExecutionState, outcome: Pick<ExecutionData, "status" | "output" | "error" | "cause">): void {
        const runtime = execution.runtime;
        if (this.closed || !runtime) return;
        this.abandonPendingTasks(execution, "The execution has ended.");
        if (execution.data.status === "RUNNING") {
            const { status, output, error, cause } = outcome;
            Object.assign(execution.data, { status, output, error, cause });
            execution.data.stopDate = Date.now();
        }
        this.ensureClosingEvent(execution);
        clearTimeout(runtime.persistTimer);
        this.persist(execution);
        this.emitStatusChange(execution);
        // A finished execution keeps its description and history only: the run's state can go.
        execution.runtime = undefined;
        this.retainFinished(execution);
        runtime.finished.resolve();
    }

    /** The engine always records a closing event; this covers a run that ended without one (an internal error). */
    private ensureClosingEvent(execution: ExecutionState): void {
        if (execution.history.isClosed()) return;
        const { status, output, error, cause } = execution.data;
        const closing: Record<Exclude<ExecutionStatus, "RUNNING">, [string, EventDetails]> = {
            SUCCEEDED: ["ExecutionSucceeded", { output, outputDetails: { truncated: false } }],
            FAILED: ["ExecutionFailed", { error, cause }],
            TIMED_OUT: ["ExecutionTimedOut", { error, cause }],
            ABORTED: ["ExecutionAborted", { error, cause }],
        };
        if (status === "RUNNING") return;
        const [type, details] = closing[status];
        this.record(execution, { type, details });
    }

    /**
     * Appends an event to the history and tells the progress listeners. `engineId` is the engine's id for it, so
     * that the engine's later events which follow it point at the id it was recorded under.
     */
    private record(execution: ExecutionState, event: NewHistoryEvent, origin: EventOrigin = {}, engineId?: number): void {
        const recorded = execution.history.append(event);
        if (engineId !== undefined) execution.runtime?.recorder.recordedAs(engineId, recorded.id);
        this.schedulePersist(execution);
        const progress: ExecutionProgress = { executionArn: execution.data.executionArn, stateMachineArn: execution.data.stateMachineArn, type: event.type, ...origin };
        for (const listener of this.listeners) {
            try {
                listener(progress);
            } catch (err) {
                console.warn(`stepfunctions: progress listener failed: ${errorMessage(err)}`);
            }
        }
    }

    // ----- tasks ---------------------------------------------------------------------------------------------

    /**
     * The engine's call of a Task state: resolves to the task's result or rejects with its error. The engine records
     * the Task events and enforces TimeoutSeconds (aborting `call.signal` with TASK_TIMED_OUT); this side issues
     * the token, enforces heartbeats and records TaskSubmitted for callback tasks.
     */
    private runTask(execution: ExecutionState, machine: PreparedMachine, call: TaskCall): Promise<JsonValue> {
        const task = machine.tasks.get(call.resource);
        if (!task) return Promise.reject(new TaskStateError("States.Runtime", `The resource '${call.resource}' of state '${call.stateName}' was not resolved when the machine was created.`));
        if (!this.isRunning(execution)) return Promise.reject(new TaskStateError("States.Runtime", "The execution is no longer running."));
        const pending: PendingTask = {
            execution,
            task,
            stateName: call.stateName,
            startedEventId: call.startedEventId,
            token: call.taskToken,
            heartbeatSeconds: call.heartbeatSeconds,
            result: deferred<JsonValue>(),
            abort: new AbortController(),
            submitted: false,
            settled: false,
        };
        if (pending.token) this.tokens.set(pending.token, pending);
        execution.runtime?.pendingTasks.add(pending);
        // The engine aborts the call when the task times out, the execution stops, or a sibling branch fails.
        const ended = () => {
            if (this.settle(pending, call.signal.reason === TASK_TIMED_OUT ? "timedOut" : "completed")) pending.result.reject(new TaskStateError("States.Runtime", "The task was abandoned."));
        };
        if (call.signal.aborted) ended();
        else call.signal.addEventListener("abort", ended, { once: true });
        pending.result.promise.then(
            () => call.signal.removeEventListener("abort", ended),
            () => call.signal.removeEventListener("abort", ended),
        );
        this.armHeartbeat(pending);
        this.callIntegration(pending, call.parameters).then(
            (response) => this.integrationReturned(pending, response),
            (err: unknown) => this.integrationFailed(pending, err),
        );
        return pending.result.promise;
    }

    private isRunning(execution: ExecutionState): boolean {
        return !this.closed && execution.data.status === "RUNNING";
    }

    /** (Re)starts the heartbeat clock of a callback task; SendTaskHeartbeat calls this. */
    private armHeartbeat(pending: PendingTask): void {
        if (pending.heartbeatSeconds === undefined || !pending.token || pending.settled) return;
        clearTimeout(pending.heartbeatTimer);
        const seconds = pending.heartbeatSeconds;
        pending.heartbeatTimer = setTimeout(() => this.failTask(pending, "timedOut", "States.HeartbeatTimeout", `No heartbeat was received within ${seconds} seconds.`), Math.min(seconds * 1000, MAX_TIMER_MS));
        pending.heartbeatTimer.unref();
    }

    private integrationReturned(pending: PendingTask, response: JsonValue): void {
        if (pending.settled) return;
        if (!pending.token) {
            this.succeedTask(pending, response);
            return;
        }
        this.recordSubmitted(pending, response);
        pending.submitted = true;
        if (pending.earlyOutcome) this.applyTokenOutcome(pending, pending.earlyOutcome);
    }

    private integrationFailed(pending: PendingTask, err: unknown): void {
        if (pending.settled) return;
        const error = err instanceof TaskStateError ? err : new TaskStateError("States.TaskFailed", errorMessage(err));
        this.failTask(pending, "completed", error.name, error.message);
    }

    /** Token outcomes are final at once (the token is single-use) but applied after the call that sent it returned. */
    private completeFromToken(pending: PendingTask, outcome: TokenOutcome): void {
        this.retireToken(pending, "completed");
        if (pending.submitted) this.applyTokenOutcome(pending, outcome);
        else pending.earlyOutcome = outcome;
    }

    private applyTokenOutcome(pending: PendingTask, outcome: TokenOutcome): void {
        if (outcome.ok) this.succeedTask(pending, outcome.output);
        else this.failTask(pending, "completed", outcome.error, outcome.cause);
    }

    private succeedTask(pending: PendingTask, output: JsonValue): void {
        if (this.settle(pending, "completed")) pending.result.resolve(output);
    }

    private failTask(pending: PendingTask, tokenFate: "completed" | "timedOut", error: string, cause: string): void {
        if (this.settle(pending, tokenFate)) pending.result.reject(new TaskStateError(error, cause));
    }

    /** Marks the attempt finished once; false if it already was. */
    private settle(pending: PendingTask, tokenFate: "completed" | "timedOut"): boolean {
        if (pending.settled) return false;
        pending.settled = true;
        pending.abort.abort();
        clearTimeout(pending.heartbeatTimer);
        pending.execution.runtime?.pendingTasks.delete(pending);
        this.retireToken(pending, tokenFate);
        return true;
    }

    private retireToken(pending: PendingTask, fate: "completed" | "timedOut"): void {
        if (!pending.token || !this.tokens.has(pending.token)) return;
        this.tokens.delete(pending.token);
        this.retiredTokens.set(pending.token, fate);
        // Remember the most recent tokens only (a Map iterates oldest first), so a long-running runtime stays
        // bounded; a token older than that answers TaskDoesNotExist, as an unknown one does.
        if (this.retiredTokens.size > MAX_RETIRED_TOKENS) this.retiredTokens.delete(this.retiredTokens.keys().next().value!);
    }

    /** Ends the execution's outstanding tasks without recording them (close, or the run ended around them). */
    private abandonPendingTasks(execution: ExecutionState, reason: string): void {
        const runtime = execution.runtime;
        if (!runtime) return;
        for (const pending of [...runtime.pendingTasks]) {
            this.settle(pending, "completed");
            pending.result.reject(new TaskStateError("States.Runtime", reason));
        }
    }

    /** TaskSubmitted: the callback task's call returned, and the task now waits for its token (AWS records it; the engine cannot know when). */
    private recordSubmitted(pending: PendingTask, response: JsonValue): void {
        if (!this.isRunning(pending.execution)) return;
        const details: EventDetails = { ...pending.task.label, output: JSON.stringify(response), outputDetails: { truncated: false } };
        const previous = pending.execution.runtime?.recorder.recordedIdOf(pending.startedEventId);
        this.record(pending.execution, { type: "TaskSubmitted", details, previousEventId: previous }, { stateName: pending.stateName }, pending.startedEventId);
    }

    // ----- integrations ----------------------------------------------------------------------------------------

    /** Step Functions' own integrations (startExecution, aws-sdk:sfn:sendTask*), which the runtime adds to the registry's. */
    ownIntegrations(region = this.region, accountId = this.accountId): TaskIntegration[] {
        return statesIntegrations(this, region, accountId);
    }

    /**
     * Checks the machine's role for each permission the call needs (refused: `<Service>.AccessDeniedException`), then
     * runs it; its failure becomes the task's Error and Cause (see TaskIntegration.run).
     */
    private async callIntegration(pending: PendingTask, parameters: JsonValue): Promise<JsonValue> {
        const { integration } = pending.task;
        const data = pending.execution.data;
        const call: IntegrationCall = {
            resource: pending.task.target,
            pattern: pending.task.pattern,
            parameters,
            roleArn: data.roleArn,
            executionArn: data.executionArn,
            stateMachineArn: data.stateMachineArn,
            stateName: pending.stateName,
            taskToken: pending.token,
            signal: pending.abort.signal,
        };
        try {
            if (this.authorize) for (const { action, resource } of integration.permissions(call)) this.authorize(data.roleArn, action, resource);
            return toJsonValue(await integration.run(call));
        } catch (err) {
            if (err instanceof TaskFailure) throw new TaskStateError(err.error, err.cause);
            if (err instanceof AwsError) throw new TaskStateError(serviceErrorName(integration.errorService, err.code), err.message);
            throw new TaskStateError("States.TaskFailed", errorMessage(err));
        }
    }

    /**
     * The description of an execution once it is no longer RUNNING, data unredacted (a `.sync` parent's result). When
     * `signal` aborts first, `onAbort` runs (the parent stops its child) and the wait ends in an error.
     */
    async executionOutcome(executionArn: string, signal: AbortSignal, onAbort: () => Promise<unknown>): Promise<DescribeExecutionResponse> {
        const execution = this.requireExecution(executionArn);
        const runtime = execution.runtime;
        if (execution.data.status === "RUNNING" && runtime) {
            const aborted = deferred<void>();
            const abort = () => aborted.resolve();
            if (signal.aborted) abort();
            else signal.addEventListener("abort", abort, { once: true });
            const outcome = await Promise.race([runtime.finished.promise.then(() => "finished" as const), aborted.promise.then(() => "aborted" as const)]);
            signal.removeEventListener("abort", abort);
            if (outcome === "aborted" && execution.data.status === "RUNNING") {
                await onAbort().catch((err: unknown) => console.warn(`stepfunctions: could not stop ${executionArn}: ${errorMessage(err)}`));
                throw new TaskStateError("States.Runtime", `The task ended before the execution ${executionArn} did.`);
            }
        }
        if (execution.data.status === "RUNNING") throw new TaskStateError("States.Runtime", `Execution ${executionArn} is still RUNNING: the service was closed`);
        return describe(execution.data, true);
    }

    // ----- credentials and retention --------------------------------------------------------------------------

    /*
     * Credentials (presigned URL queries, task tokens; local/core/redact.ts) are taken out where execution data leaves the
     * service: DescribeExecution, GetExecutionHistory and the files under the data directory. The run itself needs
     * the real values, and redacting each event as it is recorded cost the hot path of every run (the benchmark's
     * 1,000-name run spent about 0.3 s of CPU on it) for data that is mostly never read.
     */
    private redact(text: string): string;
    private redact(text: string | undefined): string | undefined;
    private redact(text: string | undefined): string | undefined {
        return text === undefined ? undefined : redactText(text, this.redaction);
    }

    private redactDescription(description: DescribeExecutionResponse): DescribeExecutionResponse {
        const redacted = { ...description };
        for (const field of ["input", "output", "error", "cause"] as const) {
            const text = description[field];
            if (text !== undefined) redacted[field] = this.redact(text);
        }
        return redacted;
    }

    private redactEvent(event: HistoryEvent): HistoryEvent {
        return mapEventDetails(event, (details) => {
            const redacted: EventDetails = {};
            for (const [name, value] of Object.entries(details)) redacted[name] = typeof value === "string" ? this.redact(value) : value;
            return redacted;
        });
    }

    /**
     * Keeps a finished execution within its type's bound, dropping the oldest finished one beyond it: an EXPRESS
     * one altogether (file included), a STANDARD one from memory only, its file and list entry kept when there is
     * a data directory.
     */
    private retainFinished(execution: ExecutionState): void {
        const arn = execution.data.executionArn;
        const express = execution.data.stateMachineType === "EXPRESS";
        const finished = express ? this.finishedExpress : this.finishedStandard;
        finished.add(arn);
        const bound = express ? this.maxRetainedExpressExecutions : this.maxRetainedExecutions;
        while (finished.size > bound) {
            const oldest: string = finished.values().next().value!;
            finished.delete(oldest);
            const dropped = this.executions.get(oldest);
            this.executions.delete(oldest);
            this.executionMachines.delete(oldest);
            this.redriveTokens.delete(oldest);
            if (!dropped || !this.executionsDir) continue;
            if (express) this.removeFile(oldest);
            else this.onDiskOnly.set(oldest, listItem(dropped.data));
        }
    }

    // ----- persistence ---------------------------------------------------------------------------------------

    /**
     * An execution's file: a readable prefix, then the SHA-256 of the whole ARN, so distinct ARNs never share a file
     * (`a!x` and `a@x`, or `日本` and `中国`, which a character substitution maps to one name) and every name stays
     * well under the 255 bytes a file name may have, whatever the 80-character machine and execution names hold.
     */
    private fileFor(executionArn: string): string | undefined {
        return this.executionsDir ? path.join(this.executionsDir, executionFileName(executionArn)) : undefined;
    }

    /** Written synchronously (tmp file + rename) so a crash never leaves half a file and writes never reorder. */
    private persist(execution: ExecutionState): void {
        const file = this.fileFor(execution.data.executionArn);
        if (!file || !this.executionsDir) return;
        const stored: StoredExecution = {
            version: STORED_VERSION,
            stateMachineType: execution.data.stateMachineType,
            roleArn: execution.data.roleArn,
            description: this.redactDescription(describe(execution.data, true)),
            history: execution.history.events.map((event) => this.redactEvent(event)),
        };
        try {
            fs.mkdirSync(this.executionsDir, { recursive: true, mode: PRIVATE_DIR_MODE });
            const temporary = `${file}.${process.pid}.tmp`;
            fs.writeFileSync(temporary, JSON.stringify(stored, null, 2), { mode: PRIVATE_FILE_MODE });
            fs.renameSync(temporary, file);
        } catch (err) {
            console.warn(`stepfunctions: could not save ${execution.data.executionArn}: ${errorMessage(err)}`);
        }
    }

    private removeFile(executionArn: string): void {
        const file = this.fileFor(executionArn);
        if (!file) return;
        try {
            fs.rmSync(file, { force: true });
        } catch (err) {
            console.warn(`stepfunctions: could not remove the file of ${executionArn}: ${errorMessage(err)}`);
        }
    }

    /**
     * Saves a running execution's history a moment after it grows, so a crash loses little of it; batching keeps
     * a busy Map from rewriting the file for every event.
     */
    private schedulePersist(execution: ExecutionState): void {
        const runtime = execution.runtime;
        if (!this.executionsDir || !runtime || runtime.persistTimer || execution.data.status !== "RUNNING") return;
        runtime.persistTimer = setTimeout(() => {
            runtime.persistTimer = undefined;
            if (!this.closed && execution.data.status === "RUNNING") this.persist(execution);
        }, PERSIST_DELAY_MS);
        runtime.persistTimer.unref();
    }

    /**
     * Reads the saved executions, oldest file first (a file is last written when its execution finishes), so the
     * retention bounds keep the most recently finished in memory. Files named by an earlier version of this module
     * are renamed to their current name; folders and files are made the owner's only.
     */
    private loadExecutions(): void {
        const dir = this.executionsDir;
        if (!dir) return;
        fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
        for (const folder of [path.dirname(dir), dir]) fs.chmodSync(folder, PRIVATE_DIR_MODE);
        const files = fs
            .readdirSync(dir)
            .filter((name) => name.endsWith(".json"))
            .map((name) => ({ name, file: path.join(dir, name), modifiedMs: fs.statSync(path.join(dir, name)).mtimeMs }))
            .sort((a, b) => a.modifiedMs - b.modifiedMs || (a.name < b.name ? -1 : 1));
        for (const { name, file } of files) {
            const execution = readStoredExecution(file);
            if (!execution) continue;
            const arn = execution.data.executionArn;
            const current = executionFileName(arn);
            if (name !== current) {
                if (this.executions.has(arn) || this.onDiskOnly.has(arn) || fs.existsSync(path.join(dir, current))) continue;
                fs.renameSync(file, path.join(dir, current));
            }
            fs.chmodSync(path.join(dir, current), PRIVATE_FILE_MODE);
            // A file written before stored data was redacted is saved again, redacted.
            if (execution.unredacted) this.persist(execution);
            this.executions.set(arn, execution);
            if (execution.data.status === "RUNNING") this.abortInterrupted(execution);
            this.retainFinished(execution);
        }
    }

    /** An execution that was running when the previous process stopped cannot resume; say so instead of losing it. */
    private abortInterrupted(execution: ExecutionState): void {
        execution.data.status = "ABORTED";
        execution.data.stopDate = Date.now();
        execution.data.cause = ABORTED_ON_RESTART_CAUSE;
        execution.history.append({ type: "ExecutionAborted", details: { cause: ABORTED_ON_RESTART_CAUSE } });
        this.persist(execution);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers used by the service
// ---------------------------------------------------------------------------------------------------------------

function digest(text: string): string {
    return createHash("sha256").update(text).digest("base64url");
}

/** See StepFunctionsService.fileFor. */
function executionFileName(executionArn: string): string {
    const readable = executionArn.replace(/^arn:[^:]*:states:[^:]*:[^:]*:/, "").replace(/[^A-Za-z0-9._-]/g, "_").slice(0, READABLE_FILE_NAME_LENGTH);
    return `${readable}~${digest(executionArn)}.json`;
}

function retentionBound(value: number | undefined, fallback: number, option: string): number {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < 0) throw new Error(`StepFunctionsService: ${option} must be a whole number of executions, 0 or more; got ${value}`);
    return value;
}

/**
 * 2: written redacted (local/core/redact.ts). A version 1 file, written before redaction, is redacted when read and
 * saved again.
 */
const STORED_VERSION = 2;

interface StoredExecution {
    version: 1 | typeof STORED_VERSION;
    stateMachineType: "STANDARD" | "EXPRESS";
    roleArn: string;
    description: DescribeExecutionResponse;
    history: HistoryEvent[];
}

function readStoredExecution(file: string): (ExecutionState & { unredacted: boolean }) | undefined {
    try {
        const stored = JSON.parse(fs.readFileSync(file, "utf8")) as StoredExecution;
        const description = stored.description;
        if ((stored.version !== 1 && stored.version !== STORED_VERSION) || typeof description?.executionArn !== "string" || !Array.isArray(stored.history)) throw new Error("unrecognised content");
        const data: ExecutionData = {
            executionArn: description.executionArn,
            stateMachineArn: description.stateMachineArn,
            stateMachineType: stored.stateMachineType,
            roleArn: stored.roleArn,
            name: description.name,
            status: description.status,
            startDate: description.startDate * 1000,
            stopDate: description.stopDate === undefined ? undefined : description.stopDate * 1000,
            input: description.input ?? "{}",
            output: description.output,
            error: description.error,
            cause: description.cause,
            traceHeader: description.traceHeader,
            stateMachineVersionArn: description.stateMachineVersionArn,
            stateMachineAliasArn: description.stateMachineAliasArn,
            redriveCount: description.redriveCount,
            redriveDate: description.redriveDate === undefined ? undefined : description.redriveDate * 1000,
        };
        return { data, history: new HistoryRecorder(stored.history), unredacted: stored.version === 1 };
    } catch (err) {
        console.warn(`stepfunctions: ignoring unreadable execution file ${file}: ${errorMessage(err)}`);
        return undefined;
    }
}

/**
 * JSON nested deeper than this is refused by name: the interpreter and the history walk it recursively, and past a
 * few thousand levels a run ends in a stack overflow (or never ends), though AWS would run it.
 */
const MAX_PAYLOAD_DEPTH = 1000;

function parseExecutionInput(text: string): JsonValue {
    if (jsonNestsDeeperThan(text, MAX_PAYLOAD_DEPTH)) {
        throw new AwsError("InvalidExecutionInput", `Invalid State Machine Execution Input: it nests more than ${MAX_PAYLOAD_DEPTH} levels deep, which the local runtime does not run`);
    }
    try {
        return JSON.parse(text) as JsonValue;
    } catch {
        throw new AwsError("InvalidExecutionInput", `Invalid State Machine Execution Input: '${text.slice(0, 100)}'`);
    }
}

/** The execution's outcome as DescribeExecution reports it. */
function outcomeOf(result: ExecutionResult): Pick<ExecutionData, "status" | "output" | "error" | "cause"> {
    if (result.status === "SUCCEEDED") return { status: "SUCCEEDED", output: JSON.stringify(result.output ?? null) };
    return { status: result.status, error: result.error, cause: result.cause };
}

/** What ValidateStateMachineDefinition reports: the engine's findings (each with its location), then what this runtime cannot serve. */
function validationDiagnostics(definition: string, type: "STANDARD" | "EXPRESS", integrationOf: IntegrationLookup): ValidationDiagnostic[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(definition);
    } catch (err) {
        return [{ severity: "ERROR", code: "INVALID_JSON_DESCRIPTION", message: `The definition is not valid JSON: ${errorMessage(err)}` }];
    }
    if (!isObject(parsed)) return [{ severity: "ERROR", code: "SCHEMA_VALIDATION_FAILED", message: "The definition must be a JSON object" }];
    const found = definitionDiagnostics(parsed);
    if (found.length > 0) return found.map(({ code, message, path: location }) => ({ severity: "ERROR", code, message, location }));
    try {
        resolveTasks(parsed, "validate", type, integrationOf);
    } catch (err) {
        return [{ severity: "ERROR", code: "LOCAL_RUNTIME_UNSUPPORTED", message: errorMessage(err) }];
    }
    return [];
}

function describe(data: ExecutionData, includeData: boolean): DescribeExecutionResponse {
    const response: DescribeExecutionResponse = {
        executionArn: data.executionArn,
        stateMachineArn: data.stateMachineArn,
        name: data.name,
        status: data.status,
        startDate: toEpochSeconds(data.startDate),
    };
    if (data.stopDate !== undefined) response.stopDate = toEpochSeconds(data.stopDate);
    if (includeData) {
        response.input = data.input;
        response.inputDetails = { included: true };
        if (data.output !== undefined) {
            response.output = data.output;
            response.outputDetails = { included: true };
        }
    }
    if (data.error !== undefined) response.error = data.error;
    if (data.cause !== undefined) response.cause = data.cause;
    if (data.traceHeader !== undefined) response.traceHeader = data.traceHeader;
    if (data.stateMachineVersionArn !== undefined) response.stateMachineVersionArn = data.stateMachineVersionArn;
    if (data.stateMachineAliasArn !== undefined) response.stateMachineAliasArn = data.stateMachineAliasArn;
    if (data.stateMachineType === "STANDARD") {
        response.redriveCount = data.redriveCount ?? 0;
        if (data.redriveDate !== undefined) response.redriveDate = toEpochSeconds(data.redriveDate);
        Object.assign(response, redriveStatusOf(data));
    }
    return response;
}

function listItem(data: ExecutionData): ExecutionListItem {
    const item: ExecutionListItem = { executionArn: data.executionArn, stateMachineArn: data.stateMachineArn, name: data.name, status: data.status, startDate: toEpochSeconds(data.startDate) };
    if (data.stopDate !== undefined) item.stopDate = toEpochSeconds(data.stopDate);
    if (data.stateMachineVersionArn !== undefined) item.stateMachineVersionArn = data.stateMachineVersionArn;
    if (data.stateMachineAliasArn !== undefined) item.stateMachineAliasArn = data.stateMachineAliasArn;
    if (data.stateMachineType === "STANDARD") item.redriveCount = data.redriveCount ?? 0;
    if (data.redriveDate !== undefined) item.redriveDate = toEpochSeconds(data.redriveDate);
    return item;
}
