/**
 * EventBridge for the offline runtime: buses, rules and targets as the stack declared them or the control plane
 * (PutRule, PutTargets, CreateEventBus, ...) made them, PutEvents with AWS's limits and per-entry errors,
 * TestEventPattern, the List operations, scheduled rules (schedule.ts) on an injectable clock, and the events AWS
 * services emit on the default bus (`putServiceEvent`). Matching is the pure module eventPattern.ts; delivery to
 * targets is handed to the runtime through `TargetDispatcher`.
 */
import { randomUUID } from "crypto";
import * as eventBridgeSdk from "@aws-sdk/client-eventbridge";
import { AwsError } from "../../core/awsError";
import { jsonNestsDeeperThan } from "../../core/jsonDepth";
import { requestShapes } from "../../core/requestShapes";
import { EventPattern, InvalidEventPatternError, MAX_EVENT_PATTERN_LENGTH, matchesEventPattern, parseEventPattern } from "./eventPattern";
import { Schedule, nextFireTime, parseScheduleExpression } from "./schedule";

/**
 * AWS's limits on PutEvents: entries per call, and bytes per call, the entries' sizes summed as AWS computes
 * them (`entrySize`). A call over either limit is refused whole with a ValidationException; no entry of it is
 * put on the bus.
 */
export const MAX_ENTRIES = 10;
export const MAX_ENTRY_BYTES = 256 * 1024;

/**
 * "PutEvents will only process nested JSON up to 1100 levels deep" (the PutEvents API reference). A deeper
 * Detail fails its entry with MalformedDetail, a deeper TestEventPattern Event the call; the limit also keeps
 * every later walk of an event (matching, JSON.stringify for targets) far from the stack's end.
 */
export const MAX_JSON_DEPTH = 1100;

/**
 * PutEventsRequestEntry.EventBusName: a name, or the ARN of a bus, "Length Constraints: Minimum length of 1.
 * Maximum length of 256." and this pattern, a partner bus's "/" excluded (AWS quotes it in the
 * ValidationException it answers, whole call, when an entry's name does not match).
 */
const ENTRY_BUS_PATTERN = "(arn:aws[\\w-]*:events:[a-z]{2}-[a-z]+-[\\w-]+:[0-9]{12}:event-bus\\/)?[\\.\\-_A-Za-z0-9]+";
/** EventBusNameOrArn of ListRules and ListTargetsByRule: 1 to 1,600 characters, partner buses' "/" allowed. */
const BUS_NAME_OR_ARN_PATTERN = "(arn:aws[\\w-]*:events:[a-z]{2}-[a-z]+-[\\w-]+:[0-9]{12}:event-bus\\/)?[/\\.\\-_A-Za-z0-9]+";
/** Rule names and target Ids: 1 to 64 characters of this pattern. */
const RULE_NAME_PATTERN = "[\\.\\-_A-Za-z0-9]+";
const TARGET_ID_PATTERN = "[\\.\\-_A-Za-z0-9]+";
/** CreateEventBus and DeleteEventBus names (a partner bus's "/" included). */
const BUS_NAME_PATTERN = "[/\\.\\-_A-Za-z0-9]+";
const RULE_STATES = ["ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"] as const;
type RuleState = (typeof RULE_STATES)[number];
/** AWS's quota of targets on one rule. */
export const MAX_TARGETS_PER_RULE = 5;
/** The JSONPaths `readPath` reads: `$` or `$.field.field`, no brackets or wildcards. */
const SIMPLE_JSON_PATH = /^\$(\.[^.[\]*]+)*$/;
/** A Step Functions state machine (or its version or alias) as a target: EventBridge needs a RoleArn to start it. */
const STATE_MACHINE_ARN = /^arn:aws[\w-]*:states:[^:]*:\d*:stateMachine:/;
/** The Target members the local runtime honours; any other (SqsParameters, RetryPolicy, DeadLetterConfig, ...) fails its entry. */
const SERVED_TARGET_MEMBERS = new Set(["Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "DeadLetterConfig"]);

/** A PutTargets entry the runtime cannot serve, failed alone as AWS fails entries. */
function unsupported(targetId: string, reason: string): eventBridgeSdk.PutTargetsResultEntry {
    return { TargetId: targetId, ErrorCode: "ValidationException", ErrorMessage: `Target ${targetId}: ${reason}.` };
}

function isJson(text: string): boolean {
    try {
        JSON.parse(text);
        return true;
    } catch {
        return false;
    }
}

const BUS_ARN = /^arn:(aws[\w-]*):events:([a-z]{2}-[a-z]+-[\w-]+):([0-9]{12}):event-bus\/(.+)$/;

/** An entry's size as EventBridge computes it: Time counts 14 bytes, then the UTF-8 bytes of Source, DetailType, Detail and each resource. */
export function entrySize(entry: PutEventsRequestEntry): number {
    if (!entry || typeof entry !== "object") return 0;
    const bytes = (value: unknown) => (typeof value === "string" ? Buffer.byteLength(value) : 0);
    const resources = Array.isArray(entry.Resources) ? entry.Resources : [];
    return (entry.Time === undefined ? 0 : 14) + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + resources.reduce((n, r) => n + bytes(r), 0);
}

export interface PutEventsRequestEntry {
    Source?: string;
    DetailType?: string;
    Detail?: string;
    EventBusName?: string;
    Resources?: string[];
    Time?: string | number;
}
export interface PutEventsResultEntry {
    EventId?: string;
    ErrorCode?: string;
    ErrorMessage?: string;
}
/** PutEvents' request as a caller sends it: shapes are checked by `putEvents`, which answers SerializationException. */
export interface PutEventsRequest {
    Entries?: unknown;
    EndpointId?: unknown;
}
export interface PutEventsResponse {
    FailedEntryCount: number;
    Entries: PutEventsResultEntry[];
}

/** An event as EventBridge delivers it to targets. */
export interface BusEvent {
    version: "0";
    id: string;
    "detail-type": string;
    source: string;
    account: string;
    time: string;
    region: string;
    resources: string[];
    detail: Record<string, unknown>;
}

export interface InputTransformer {
    inputPathsMap?: Record<string, string>;
    inputTemplate: string;
}

export interface TargetSpec {
    id: string;
    arn: string;
    roleArn?: string;
    /** Constant JSON text sent instead of the event. */
    input?: string;
    /** JSONPath (`$.detail`, `$.detail.name`) selecting the part of the event sent. */
    inputPath?: string;
    inputTransformer?: InputTransformer;
    /** The SQS queue that receives the event when delivery to this target fails (`DeadLetterConfig.Arn`). */
    deadLetterArn?: string;
}

/** An event EventBridge could not deliver to a target, as its dead-letter queue receives it. */
export interface DeadLetter {
    queueArn: string;
    rule: RuleSpec;
    target: TargetSpec;
    /** The event as matched (not as transformed for the target): the record's body. */
    event: BusEvent;
    /** AWS's code for the failure (`NO_PERMISSIONS`, `NO_RESOURCE`, ...) and its message. */
    errorCode: string;
    errorMessage: string;
}

export interface RuleSpec {
    name: string;
    arn: string;
    busName: string;
    /** The pattern's JSON text; absent (or "") for a rule that only runs on its schedule. */
    eventPattern?: string;
    /** `rate(...)` or `cron(...)`: the rule also fires on this schedule (default bus only, as AWS). */
    scheduleExpression?: string;
    /** ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS matches as ENABLED: no CloudTrail events exist here. */
    state?: "ENABLED" | "DISABLED" | "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";
    description?: string;
    roleArn?: string;
}

/** How matched events reach targets; the runtime implements it with its Lambda and Step Functions services. */
export interface TargetDispatcher {
    /** Delivers `input` to the target `arn`; rejects when the target refuses it (e.g. no permission). */
    deliver(target: TargetSpec, rule: RuleSpec, input: string): Promise<void>;
}

export interface DeliveryFailure {
    rule: string;
    target: string;
    eventId: string;
    error: string;
}

interface Rule extends RuleSpec {
    pattern?: EventPattern;
    schedule?: Schedule;
    /** When the rule was put: rates count their periods from here. */
    scheduleOrigin: number;
    /** The next time the schedule fires, while the rule is enabled. */
    nextFire?: number;
    targets: TargetSpec[];
}

/** The clock scheduled rules run on; tests inject one that they move themselves. */
export interface ScheduleClock {
    now(): number;
    setTimeout(fire: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
}

/** The real clock; its timers never keep the process alive. */
const realClock: ScheduleClock = {
    now: () => Date.now(),
    setTimeout: (fire, ms) => setTimeout(fire, ms).unref(),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** setTimeout's longest delay; a later fire time is reached by re-arming. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An event an AWS service emits on the default bus (Step Functions' status changes, for one). */
export interface ServiceEventEntry {
    /** `aws.<service>`, for example `aws.states`. */
    Source: string;
    DetailType: string;
    /** The detail object, or its JSON text. */
    Detail: Record<string, unknown> | string;
    Resources?: string[];
    Time?: Date | string;
}

export interface EventBridgeOptions {
    region: string;
    accountId: string;
    dispatcher: TargetDispatcher;
    log?: (line: string) => void;
    /** The clock scheduled rules fire on (the real one by default). */
    clock?: ScheduleClock;
    /**
     * Why the runtime cannot deliver to a target, or undefined when it can: PutTargets fails such an entry
     * (FailedEntries) rather than accept a target whose every delivery would fail.
     */
    checkTarget?: (target: TargetSpec) => string | undefined;
    /** Sends an undeliverable event to its target's dead-letter queue; rejects when the queue refuses it. */
    deadLetter?: (record: DeadLetter) => Promise<void>;
}

/** Reads a simple JSONPath (`$`, `$.a.b`, `$.detail-type`) out of an event; only own fields, never `constructor` & co. */
function readPath(event: unknown, jsonPath: string): unknown {
    if (jsonPath === "$") return event;
    if (!jsonPath.startsWith("$.")) throw new AwsError("ValidationException", `unsupported JSONPath ${jsonPath}`);
    let value: unknown = event;
    for (const key of jsonPath.slice(2).split(".")) {
        value = value !== null && typeof value === "object" && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
    }
    return value;
}

/**
 * Member types are checked against the SDK's own PutEvents, TestEventPattern and List* shapes, as the endpoint
 * checks every request (`local/requestShapes.ts`): here for the runtime's direct callers too (Step Functions'
 * `events:putEvents`, Lambda's destinations). After it, a member is its declared type or absent.
 */
const checkShape = requestShapes(eventBridgeSdk);

/** A member the shape check passed: JSON null reads as absent, as the JSON protocols read it. */
function member<T>(value: T | null | undefined): T | undefined {
    return value === null ? undefined : value;
}

/** AWS's constraint message: "1 validation error detected: Value '<v>' at '<member>' failed to satisfy constraint: ...". */
function constraintError(where: string, value: unknown, constraint: string): AwsError {
    const shown = typeof value === "string" ? (value.length > 256 ? `${value.slice(0, 256)}...` : value) : String(value);
    return new AwsError("ValidationException", `1 validation error detected: Value '${shown}' at '${where}' failed to satisfy constraint: ${constraint}`);
}

/** A bus's record: what DescribeEventBus answers besides its name and ARN. */
interface BusRecord {
    created: Date;
    description?: string;
}

/** An event's `time`: ISO 8601 to the second, as EventBridge writes it. */
const isoSeconds = (time: Date): string => time.toISOString().replace(/\.\d{3}Z$/, "Z");

/** Where an entry is put: a local bus by name, or a reason AWS would refuse the entry. */
type EntryBus = { name: string } | { refused: PutEventsResultEntry };

/**
 * EventBridge's input transformer: `<name>` placeholders replaced by the values their paths select. Inside
 * quotes a string is inserted as its JSON-escaped content; elsewhere the value's JSON is inserted.
 */
export function transformInput(event: BusEvent, transformer: InputTransformer): string {
    const values = new Map<string, unknown>();
    for (const [name, jsonPath] of Object.entries(transformer.inputPathsMap ?? {})) values.set(name, readPath(event, jsonPath));
    return transformer.inputTemplate.replace(/("?)<([A-Za-z0-9_.-]+)>("?)/g, (match, open: string, name: string, close: string) => {
        if (name === "aws.events.event.json") return JSON.stringify(event);
        if (!values.has(name)) return match;
        const value = values.get(name);
        if (open && close) return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(JSON.stringify(value ?? null));
        return `${open}${value === undefined ? "null" : typeof value === "string" && !open ? value : JSON.stringify(value)}${close}`;
    });
}

export function targetInput(event: BusEvent, target: TargetSpec): string {
    if (target.input !== undefined) return target.input;
    if (target.inputPath) return JSON.stringify(readPath(event, target.inputPath) ?? null);
    if (target.inputTransformer) return transformInput(event, target.inputTransformer);
    return JSON.stringify(event);
}

export class EventBridgeService {
    /** Buses by name, with what DescribeEventBus answers about them. */
    private readonly buses = new Map<string, BusRecord>();
    /** Rules by bus name, then by rule name: names are data, so Maps, never objects that would find `constructor`. */
    private readonly rules = new Map<string, Map<string, Rule>>();
    private readonly eventListeners = new Set<(event: BusEvent, busName: string) => void>();
    public readonly deliveryFailures: DeliveryFailure[] = [];
    private inFlight = 0;
    private drained: Array<() => void> = [];
    private readonly clock: ScheduleClock;
    private timer: { handle: unknown; at: number } | undefined;
    private closed = false;

    constructor(private readonly opts: EventBridgeOptions) {
        this.clock = opts.clock ?? realClock;
        this.buses.set("default", { created: new Date(this.clock.now()) });
    }

    public busArn(name: string): string {
        return `arn:aws:events:${this.opts.region}:${this.opts.accountId}:event-bus/${name}`;
    }

    /** A rule's ARN as AWS forms it: `rule/<name>` on the default bus, `rule/<bus>/<name>` on any other. */
    public ruleArn(busName: string, ruleName: string): string {
        return `arn:aws:events:${this.opts.region}:${this.opts.accountId}:rule/${busName === "default" ? "" : `${busName}/`}${ruleName}`;
    }

    /**
     * A bus name or ARN as the stack or a caller names it, reduced to the name (the part after `event-bus/`).
     * Lenient: the runtime's IAM check calls it before a request is validated, so a value of the wrong type
     * reads as the default bus here and is refused by the operation itself.
     */
    public busName(nameOrArn: unknown): string {
        if (typeof nameOrArn !== "string" || nameOrArn === "") return "default";
        const arn = BUS_ARN.exec(nameOrArn);
        if (arn) return arn[4];
        return nameOrArn.startsWith("arn:") ? nameOrArn.slice(nameOrArn.lastIndexOf("/") + 1) : nameOrArn;
    }

    public addBus(name: string, description?: string): void {
        if (!this.buses.has(name)) this.buses.set(name, { created: new Date(this.clock.now()), description });
    }

    /**
     * A rule as the stack declares it: an event pattern, a schedule expression, or both. A bad pattern is an
     * InvalidEventPatternError, a bad schedule (or one off the default bus) an AwsError ValidationException.
     */
    public addRule(spec: RuleSpec): void {
        const eventPattern = spec.eventPattern === "" ? undefined : spec.eventPattern;
        const scheduleExpression = spec.scheduleExpression === "" ? undefined : spec.scheduleExpression;
        if (eventPattern !== undefined && eventPattern.length > MAX_EVENT_PATTERN_LENGTH) {
            throw constraintError("eventPattern", eventPattern, `Member must have length less than or equal to ${MAX_EVENT_PATTERN_LENGTH}`);
        }
        if (eventPattern === undefined && scheduleExpression === undefined) {
            throw new AwsError("ValidationException", `rule ${spec.name}: Parameter(s) EventPattern or ScheduleExpression must be specified.`);
        }
        const schedule = scheduleExpression === undefined ? undefined : this.readSchedule(scheduleExpression, spec.busName);
        const pattern = eventPattern === undefined ? undefined : parseEventPattern(eventPattern);
        let onBus = this.rules.get(spec.busName);
        if (onBus === undefined) this.rules.set(spec.busName, (onBus = new Map()));
        const targets = onBus.get(spec.name)?.targets ?? [];
        const rule: Rule = { ...spec, eventPattern, scheduleExpression, pattern, schedule, scheduleOrigin: this.clock.now(), targets };
        onBus.set(spec.name, rule);
        this.planSchedule(rule);
    }

    private readSchedule(expression: string, busName: string): Schedule {
        if (expression.length > 256) throw constraintError("scheduleExpression", expression, "Member must have length less than or equal to 256");
        if (busName !== "default") throw new AwsError("ValidationException", "ScheduleExpression is supported only on the default event bus.");
        return parseScheduleExpression(expression);
    }

    public addTarget(busName: string, ruleName: string, target: TargetSpec): void {
        const rule = this.rules.get(busName)?.get(ruleName);
        if (!rule) throw new Error(`target ${target.id}: rule ${ruleName} does not exist on bus ${busName}`);
        const existing = rule.targets.findIndex((t) => t.id === target.id);
        if (existing >= 0) rule.targets[existing] = target;
        else rule.targets.push(target);
    }

    /** Sets when the rule's schedule next fires (none while disabled) and re-arms the timer. */
    private planSchedule(rule: Rule): void {
        rule.nextFire = rule.schedule && rule.state !== "DISABLED" ? nextFireTime(rule.schedule, rule.scheduleOrigin, this.clock.now()) : undefined;
        this.armTimer();
    }

    private *scheduledRules(): Iterable<Rule> {
        for (const rule of this.rules.get("default")?.values() ?? []) if (rule.schedule) yield rule;
    }

    /** One timer, for the earliest fire time of any enabled scheduled rule. */
    private armTimer(): void {
        let earliest: number | undefined;
        for (const rule of this.scheduledRules()) {
            if (rule.nextFire !== undefined && (earliest === undefined || rule.nextFire < earliest)) earliest = rule.nextFire;
        }
        if (this.timer && this.timer.at === earliest) return;
        if (this.timer) this.clock.clearTimeout(this.timer.handle);
        this.timer = undefined;
        if (earliest === undefined || this.closed) return;
        const delay = Math.min(MAX_TIMER_MS, Math.max(0, earliest - this.clock.now()));
        const at = earliest;
        this.timer = {
            at,
            handle: this.clock.setTimeout(() => {
                if (this.timer?.at === at) this.timer = undefined;
                this.tickSchedules();
            }, delay),
        };
    }

    /**
     * Fires every enabled scheduled rule whose time has come by `now` (the clock's time by default), once each
     * (a schedule that fell behind fires once, as AWS does not replay missed runs), and re-arms the timer.
     * Answers the scheduled events it sent.
     */
    public tickSchedules(now: number = this.clock.now()): BusEvent[] {
        const fired: BusEvent[] = [];
        for (const rule of this.scheduledRules()) {
            if (rule.nextFire === undefined || rule.nextFire > now || rule.state === "DISABLED" || !rule.schedule) continue;
            const event: BusEvent = {
                version: "0",
                id: randomUUID(),
                "detail-type": "Scheduled Event",
                source: "aws.events",
                account: this.opts.accountId,
                time: isoSeconds(new Date(rule.nextFire)),
                region: this.opts.region,
                resources: [rule.arn],
                detail: {},
            };
            rule.nextFire = nextFireTime(rule.schedule, rule.scheduleOrigin, Math.max(now, rule.nextFire));
            fired.push(event);
            // A scheduled event goes to its own rule's targets only; other rules never see it (as on AWS).
            for (const listener of this.eventListeners) listener(event, "default");
            this.deliverToTargets(rule, event);
        }
        this.armTimer();
        return fired;
    }

    /** Stops the schedules: no timer is left, and none is armed again. */
    public close(): void {
        this.closed = true;
        if (this.timer) this.clock.clearTimeout(this.timer.handle);
        this.timer = undefined;
    }

    /** Every accepted event, after it is matched (tests and the demo watch the bus through this). */
    public onEvent(listener: (event: BusEvent, busName: string) => void): () => void {
        this.eventListeners.add(listener);
        return () => this.eventListeners.delete(listener);
    }

    public putEvents(request: PutEventsRequest): PutEventsResponse {
        const entries = this.readEntries(request);
        if (entries.length > MAX_ENTRIES) {
            throw new AwsError(
                "ValidationException",
                `1 validation error detected: Value '[${entries.length} entries]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
            );
        }
        if (entries.reduce((n, entry) => n + (entry ? entrySize(entry) : 0), 0) > MAX_ENTRY_BYTES) {
            throw new AwsError("ValidationException", "Total size of the entries in the request is over the limit.");
        }
        // Constraints on any entry refuse the whole call, so every bus is resolved before any entry is put.
        const buses = entries.map((entry, i) => (entry ? this.entryBus(entry.EventBusName, i + 1) : undefined));
        const results = entries.map((entry, i) => this.acceptEntry(entry, buses[i]));
        return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
    }

    /** The request's entries with their members' types checked (a null entry is kept, and fails alone). */
    private readEntries(request: PutEventsRequest): Array<PutEventsRequestEntry | null> {
        checkShape("PutEvents", request as Record<string, unknown>);
        // Typed as the shape check guarantees: each entry an object (or null) with members of their declared types.
        type CheckedEntry = { [K in keyof PutEventsRequestEntry]?: PutEventsRequestEntry[K] | null } & { Resources?: Array<string | null> | null };
        const raw = member(request.Entries as Array<CheckedEntry | null> | null | undefined);
        if (raw === undefined) {
            throw new AwsError("ValidationException", "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null");
        }
        if (raw.length === 0) {
            throw new AwsError("ValidationException", "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1");
        }
        return raw.map((item): PutEventsRequestEntry | null => {
            if (item === null) return null;
            const entry: PutEventsRequestEntry = {};
            const source = member(item.Source);
            const detailType = member(item.DetailType);
            const detail = member(item.Detail);
            const busName = member(item.EventBusName);
            if (source !== undefined) entry.Source = source;
            if (detailType !== undefined) entry.DetailType = detailType;
            if (detail !== undefined) entry.Detail = detail;
            if (busName !== undefined) entry.EventBusName = busName;
            const resources = member(item.Resources);
            if (resources !== undefined) entry.Resources = resources.map((r) => member(r) ?? "");
            // A timestamp: epoch seconds as the SDKs send it, or a date string.
            const time = member(item.Time);
            if (time !== undefined) entry.Time = time;
            return entry;
        });
    }

    /**
     * The local bus an entry names. A name or ARN outside EventBusName's pattern refuses the whole call; an ARN
     * of another Region too, as EventBridge refuses cross-Region calls; another account's bus fails the entry
     * with AccessDeniedException, as no other account here has a policy letting this one put events.
     */
    private entryBus(nameOrArn: string | undefined, position: number): EntryBus {
        if (nameOrArn === undefined) return { name: "default" };
        const where = `entries.${position}.member.eventBusName`;
        if (nameOrArn.length === 0) throw constraintError(where, nameOrArn, "Member must have length greater than or equal to 1");
        if (nameOrArn.length > 256) throw constraintError(where, nameOrArn, "Member must have length less than or equal to 256");
        if (!new RegExp(`^(?:${ENTRY_BUS_PATTERN})$`).test(nameOrArn)) {
            throw constraintError(where, nameOrArn, `Member must satisfy regular expression pattern: ${ENTRY_BUS_PATTERN}`);
        }
        return this.localBus(nameOrArn);
    }

    /** A valid bus name or ARN, resolved here: another Region is a ValidationException, another account a refused entry. */
    private localBus(nameOrArn: string): EntryBus {
        const arn = BUS_ARN.exec(nameOrArn);
        if (!arn) return { name: nameOrArn };
        const [, partition, region, account, name] = arn;
        if (partition !== "aws" || region !== this.opts.region) throw new AwsError("ValidationException", "Cross-region API call is not allowed.");
        if (account !== this.opts.accountId) {
            return {
                refused: {
                    ErrorCode: "AccessDeniedException",
                    ErrorMessage: `Account ${this.opts.accountId} is not authorized to perform: events:PutEvents on resource: ${nameOrArn} because no resource-based policy allows the events:PutEvents action`,
                },
            };
        }
        return { name };
    }

    private acceptEntry(entry: PutEventsRequestEntry | null, bus: EntryBus | undefined): PutEventsResultEntry {
        const invalid = (field: string, reason: string): PutEventsResultEntry => ({
            ErrorCode: "InvalidArgument",
            ErrorMessage: `Parameter ${field} is not valid. Reason: ${reason}`,
        });
        if (!entry || !bus) return invalid("Entry", "Entry must be an object.");
        if (!entry.Source) return invalid("Source", "Source is a required argument.");
        if (!entry.DetailType) return invalid("DetailType", "DetailType is a required argument.");
        if (entry.Detail === undefined || entry.Detail === "") return invalid("Detail", "Detail is a required argument.");
        if (entry.Source.startsWith("aws.")) return { ErrorCode: "NotAuthorizedForSourceException", ErrorMessage: "Not authorized for the source." };
        if (jsonNestsDeeperThan(entry.Detail, MAX_JSON_DEPTH)) {
            return { ErrorCode: "MalformedDetail", ErrorMessage: `Detail is malformed: it nests more than ${MAX_JSON_DEPTH} levels deep.` };
        }
        let detail: unknown;
        try {
            detail = JSON.parse(entry.Detail);
        } catch {
            return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
        }
        if (detail === null || typeof detail !== "object" || Array.isArray(detail)) {
            return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed: it must be a JSON object." };
        }
        if ("refused" in bus) return bus.refused;
        if (!this.buses.has(bus.name)) return { ErrorCode: "ResourceNotFoundException", ErrorMessage: `Event bus ${bus.name} does not exist.` };
        const time = entry.Time === undefined ? new Date() : new Date(typeof entry.Time === "number" ? entry.Time * 1000 : entry.Time);
        const event: BusEvent = {
            version: "0",
            id: randomUUID(),
            "detail-type": entry.DetailType,
            source: entry.Source,
            account: this.opts.accountId,
            time: isoSeconds(Number.isNaN(time.getTime()) ? new Date() : time),
            region: this.opts.region,
            resources: entry.Resources ?? [],
            detail: detail as Record<string, unknown>,
        };
        this.route(event, bus.name);
        return { EventId: event.id };
    }

    /** Matches an accepted event against the bus's rules and delivers it to their targets, after the call returns. */
    private route(event: BusEvent, busName: string): void {
        const rules = [...(this.rules.get(busName)?.values() ?? [])];
        const matched = rules.filter((r) => {
            if (r.state === "DISABLED" || r.pattern === undefined) return false;
            try {
                return matchesEventPattern(r.pattern, event as unknown as Record<string, unknown>);
            } catch (error) {
                // An event built to spell one path too many ways (EventTooComplexError): it matches no rule, and says so.
                const message = error instanceof Error ? error.message : String(error);
                this.deliveryFailures.push({ rule: r.name, target: "(pattern)", eventId: event.id, error: message });
                this.opts.log?.(`rule ${r.name}: event ${event.id} not matched: ${message}`);
                return false;
            }
        });
        for (const listener of this.eventListeners) listener(event, busName);
        for (const rule of matched) this.deliverToTargets(rule, event);
    }

    private deliverToTargets(rule: Rule, event: BusEvent): void {
        for (const target of rule.targets) {
            this.inFlight++;
            setImmediate(() => {
                // Whatever fails here, the input included, is this delivery's failure: never the process's.
                Promise.resolve()
                    .then(() => this.opts.dispatcher.deliver(target, rule, targetInput(event, target)))
                    .catch(async (error: unknown) => {
                        const message = error instanceof Error ? error.message : String(error);
                        this.deliveryFailures.push({ rule: rule.name, target: target.arn, eventId: event.id, error: message });
                        this.opts.log?.(`rule ${rule.name}: delivery to ${target.arn} failed: ${message}`);
                        if (target.deadLetterArn === undefined || !this.opts.deadLetter) return;
                        // The local runtime does not retry deliveries: a failure goes to the dead-letter queue at once,
                        // as AWS sends failures it does not retry (permissions, a missing target).
                        await this.opts
                            .deadLetter({ queueArn: target.deadLetterArn, rule, target, event, errorCode: deadLetterErrorCode(error), errorMessage: message })
                            .catch((refused: unknown) =>
                                this.opts.log?.(`rule ${rule.name}: sending event ${event.id} to the dead-letter queue ${target.deadLetterArn} failed: ${refused instanceof Error ? refused.message : String(refused)}`),
                            );
                    })
                    .finally(() => this.settle());
            });
        }
    }

    private settle(): void {
        if (--this.inFlight === 0) for (const resolve of this.drained.splice(0)) resolve();
    }

    /** Deliveries to targets not yet settled. */
    public get pending(): number {
        return this.inFlight;
    }

    /** Resolves when every matched event has been handed to its targets. */
    public idle(): Promise<void> {
        return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.drained.push(resolve));
    }

    public testEventPattern(request: Record<string, unknown>): { Result: boolean } {
        checkShape("TestEventPattern", request);
        const patternText = member(request.EventPattern as string | undefined);
        const eventText = member(request.Event as string | undefined);
        if (patternText === undefined) {
            throw new AwsError("ValidationException", "1 validation error detected: Value null at 'eventPattern' failed to satisfy constraint: Member must not be null");
        }
        if (eventText === undefined) {
            throw new AwsError("ValidationException", "1 validation error detected: Value null at 'event' failed to satisfy constraint: Member must not be null");
        }
        if (patternText.length > MAX_EVENT_PATTERN_LENGTH) {
            throw constraintError("eventPattern", patternText, `Member must have length less than or equal to ${MAX_EVENT_PATTERN_LENGTH}`);
        }
        let pattern: EventPattern;
        try {
            pattern = parseEventPattern(patternText);
        } catch (error) {
            if (error instanceof InvalidEventPatternError) throw new AwsError("InvalidEventPatternException", error.message);
            throw error;
        }
        // EventBridge answers any event it cannot read with this one sentence.
        const invalidEvent = () => new AwsError("ValidationException", "Parameter Event is not valid.");
        if (jsonNestsDeeperThan(eventText, MAX_JSON_DEPTH)) throw invalidEvent();
        let event: unknown;
        try {
            event = JSON.parse(eventText);
        } catch {
            throw invalidEvent();
        }
        if (event === null || typeof event !== "object" || Array.isArray(event)) throw invalidEvent();
        // The API reference: "the following fields are mandatory: id, account, source, time, region, resources, detail-type".
        const required = ["id", "account", "source", "time", "region", "resources", "detail-type"];
        if (required.some((k) => !Object.hasOwn(event as object, k))) throw invalidEvent();
        try {
            return { Result: matchesEventPattern(pattern, event as Record<string, unknown>) };
        } catch (error) {
            // An event spelling one path in thousands of dotted ways is refused by name rather than matched for minutes.
            if (error instanceof Error && error.name === "EventTooComplexError") throw new AwsError("ValidationException", `Parameter Event is not valid: ${error.message}.`);
            throw error;
        }
    }

    /** A ListRules/ListTargetsByRule bus: a name or ARN of EventBusNameOrArn's pattern, resolved here. */
    private requestBus(value: unknown): string {
        const nameOrArn = member(value as string | undefined);
        if (nameOrArn === undefined) return "default";
        if (nameOrArn.length === 0) throw constraintError("eventBusName", nameOrArn, "Member must have length greater than or equal to 1");
        if (nameOrArn.length > 1600) throw constraintError("eventBusName", nameOrArn, "Member must have length less than or equal to 1600");
        if (!new RegExp(`^(?:${BUS_NAME_OR_ARN_PATTERN})$`).test(nameOrArn)) {
            throw constraintError("eventBusName", nameOrArn, `Member must satisfy regular expression pattern: ${BUS_NAME_OR_ARN_PATTERN}`);
        }
        const bus = this.localBus(nameOrArn);
        // Another account's bus: none exists here.
        const name = "name" in bus ? bus.name : nameOrArn;
        if (!this.buses.has(name)) throw new AwsError("ResourceNotFoundException", `Event bus ${name} does not exist.`);
        return name;
    }

    /** Limit (1 to 100) and NextToken (the offset this service hands out) of the List operations. */
    private page(request: Record<string, unknown>): { start: number; limit: number } {
        const limit = member(request.Limit as number | undefined) ?? 100;
        if (!Number.isInteger(limit)) throw new AwsError("SerializationException", `Limit must be a whole number, not ${limit}`);
        if (limit < 1) throw constraintError("limit", limit, "Member must have value greater than or equal to 1");
        if (limit > 100) throw constraintError("limit", limit, "Member must have value less than or equal to 100");
        const token = member(request.NextToken as string | undefined);
        if (token !== undefined && !/^\d{1,9}$/.test(token)) throw new AwsError("ValidationException", "The NextToken provided is not valid.");
        return { start: token === undefined ? 0 : Number(token), limit };
    }

    public listRules(request: Record<string, unknown>) {
        checkShape("ListRules", request);
        const busName = this.requestBus(request.EventBusName);
        const prefix = member(request.NamePrefix as string | undefined);
        const { start, limit } = this.page(request);
        const all = [...(this.rules.get(busName)?.values() ?? [])]
            .filter((r) => !prefix || r.name.startsWith(prefix))
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const page = all.slice(start, start + limit);
        return {
            Rules: page.map((r) => this.ruleView(r)),
            ...(start + limit < all.length ? { NextToken: String(start + limit) } : {}),
        };
    }

    public listTargetsByRule(request: Record<string, unknown>) {
        checkShape("ListTargetsByRule", request);
        const ruleName = member(request.Rule as string | undefined);
        if (ruleName === undefined) {
            throw new AwsError("ValidationException", "1 validation error detected: Value null at 'rule' failed to satisfy constraint: Member must not be null");
        }
        const busName = this.requestBus(request.EventBusName);
        const { start, limit } = this.page(request);
        const rule = this.rules.get(busName)?.get(ruleName);
        if (!rule) throw new AwsError("ResourceNotFoundException", `Rule ${ruleName} does not exist on EventBus ${busName}.`);
        const targets = rule.targets.slice(start, start + limit);
        return {
            Targets: targets.map(
                (t): eventBridgeSdk.Target => ({
                    Id: t.id,
                    Arn: t.arn,
                    RoleArn: t.roleArn,
                    Input: t.input,
                    InputPath: t.inputPath,
                    InputTransformer: t.inputTransformer && { InputPathsMap: t.inputTransformer.inputPathsMap, InputTemplate: t.inputTransformer.inputTemplate },
                    DeadLetterConfig: t.deadLetterArn === undefined ? undefined : { Arn: t.deadLetterArn },
                }),
            ),
            ...(start + limit < rule.targets.length ? { NextToken: String(start + limit) } : {}),
        };
    }

    public listEventBuses(request: Record<string, unknown>) {
        checkShape("ListEventBuses", request);
        const prefix = member(request.NamePrefix as string | undefined);
        const { start, limit } = this.page(request);
        const all = [...this.buses.keys()].filter((name) => !prefix || name.startsWith(prefix)).sort();
        return {
            EventBuses: all.slice(start, start + limit).map((name) => ({ Name: name, Arn: this.busArn(name) })),
            ...(start + limit < all.length ? { NextToken: String(start + limit) } : {}),
        };
    }

    /** A rule as ListRules and DescribeRule answer it. */
    private ruleView(rule: Rule): eventBridgeSdk.Rule {
        return {
            Name: rule.name,
            Arn: rule.arn,
            ...(rule.eventPattern !== undefined ? { EventPattern: rule.eventPattern } : {}),
            ...(rule.scheduleExpression !== undefined ? { ScheduleExpression: rule.scheduleExpression } : {}),
            State: rule.state ?? "ENABLED",
            ...(rule.description !== undefined ? { Description: rule.description } : {}),
            ...(rule.roleArn !== undefined ? { RoleArn: rule.roleArn } : {}),
            EventBusName: rule.busName,
        };
    }

    /** A required string member: AWS's "must not be null" when absent, then its length bounds and pattern. */
    private requiredName(value: unknown, where: string, max: number, pattern?: string): string {
        const text = member(value as string | undefined);
        if (text === undefined) throw new AwsError("ValidationException", `1 validation error detected: Value null at '${where}' failed to satisfy constraint: Member must not be null`);
        return this.checkedName(text, where, max, pattern);
    }

    private checkedName(text: string, where: string, max: number, pattern?: string): string {
        if (text.length === 0) throw constraintError(where, text, "Member must have length greater than or equal to 1");
        if (text.length > max) throw constraintError(where, text, `Member must have length less than or equal to ${max}`);
        if (pattern !== undefined && !new RegExp(`^(?:${pattern})$`).test(text)) throw constraintError(where, text, `Member must satisfy regular expression pattern: ${pattern}`);
        return text;
    }

    /** The rule a request names on the bus it names, or AWS's ResourceNotFoundException. */
    private namedRule(request: Record<string, unknown>, nameMember: "Name" | "Rule"): { busName: string; rule: Rule } {
        const ruleName = this.requiredName(request[nameMember], nameMember === "Name" ? "name" : "rule", 64, RULE_NAME_PATTERN);
        const busName = this.requestBus(request.EventBusName);
        const rule = this.rules.get(busName)?.get(ruleName);
        if (!rule) throw new AwsError("ResourceNotFoundException", `Rule ${ruleName} does not exist on EventBus ${busName}.`);
        return { busName, rule };
    }

    /**
     * PutRule: creates the rule, or replaces an existing one's pattern, schedule, state, description and role
     * (what the call omits is not kept, as on AWS); its targets stay. Answers the rule's ARN.
     */
    public putRule(request: Record<string, unknown>): eventBridgeSdk.PutRuleResponse {
        checkShape("PutRule", request);
        const name = this.requiredName(request.Name, "name", 64, RULE_NAME_PATTERN);
        const busName = this.requestBus(request.EventBusName);
        const eventPattern = member(request.EventPattern as string | undefined);
        const scheduleExpression = member(request.ScheduleExpression as string | undefined);
        const state = member(request.State as string | undefined) ?? "ENABLED";
        const description = member(request.Description as string | undefined);
        const roleArn = member(request.RoleArn as string | undefined);
        if (!RULE_STATES.includes(state as RuleState)) throw constraintError("state", state, `Member must satisfy enum value set: [${RULE_STATES.join(", ")}]`);
        if (description !== undefined && description.length > 512) throw constraintError("description", description, "Member must have length less than or equal to 512");
        if (roleArn !== undefined) this.checkedName(roleArn, "roleArn", 1600);
        if (eventPattern === undefined && scheduleExpression === undefined) {
            throw new AwsError("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.");
        }
        if (eventPattern !== undefined && eventPattern.length > MAX_EVENT_PATTERN_LENGTH) {
            throw constraintError("eventPattern", eventPattern, `Member must have length less than or equal to ${MAX_EVENT_PATTERN_LENGTH}`);
        }
        // Both checked before the rule changes, so a refused call leaves the old rule as it was.
        if (scheduleExpression !== undefined) this.readSchedule(scheduleExpression, busName);
        if (eventPattern !== undefined) {
            try {
                parseEventPattern(eventPattern);
            } catch (error) {
                if (error instanceof InvalidEventPatternError) throw new AwsError("InvalidEventPatternException", error.message);
                throw error;
            }
        }
        const arn = this.ruleArn(busName, name);
        this.addRule({ name, arn, busName, eventPattern, scheduleExpression, state: state as RuleState, description, roleArn });
        return { RuleArn: arn };
    }

    public describeRule(request: Record<string, unknown>): eventBridgeSdk.DescribeRuleResponse {
        checkShape("DescribeRule", request);
        const { rule } = this.namedRule(request, "Name");
        return { ...this.ruleView(rule), CreatedBy: this.opts.accountId };
    }

    /** DeleteRule: refused while the rule has targets, as on AWS; a rule that does not exist is already deleted. */
    public deleteRule(request: Record<string, unknown>): Record<string, never> {
        checkShape("DeleteRule", request);
        const name = this.requiredName(request.Name, "name", 64, RULE_NAME_PATTERN);
        const busName = this.requestBus(request.EventBusName);
        const rule = this.rules.get(busName)?.get(name);
        if (!rule) return {};
        if (rule.targets.length > 0) throw new AwsError("ValidationException", "Rule can't be deleted since it has targets.");
        this.rules.get(busName)?.delete(name);
        this.armTimer();
        return {};
    }

    public enableRule(request: Record<string, unknown>): Record<string, never> {
        checkShape("EnableRule", request);
        return this.setRuleState(request, "ENABLED");
    }

    public disableRule(request: Record<string, unknown>): Record<string, never> {
        checkShape("DisableRule", request);
        return this.setRuleState(request, "DISABLED");
    }

    private setRuleState(request: Record<string, unknown>, state: "ENABLED" | "DISABLED"): Record<string, never> {
        const { rule } = this.namedRule(request, "Name");
        // Enabling an enabled rule keeps its state (ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS stays so).
        if (state === "DISABLED" || rule.state === "DISABLED") rule.state = state;
        this.planSchedule(rule);
        return {};
    }

    /**
     * PutTargets: adds targets to a rule, or replaces the target with the same Id. Member constraints refuse the
     * whole call; an entry the runtime cannot serve (a member it does not implement, a target it cannot deliver
     * to) fails alone in FailedEntries, the others are put.
     */
    public putTargets(request: Record<string, unknown>): eventBridgeSdk.PutTargetsResponse {
        checkShape("PutTargets", request);
        const { rule } = this.namedRule(request, "Rule");
        const entries = member(request.Targets as Array<Record<string, unknown> | null> | undefined);
        if (entries === undefined) throw new AwsError("ValidationException", "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null");
        if (entries.length === 0) throw constraintError("targets", "[]", "Member must have length greater than or equal to 1");
        if (entries.length > 10) throw constraintError("targets", `[${entries.length} targets]`, "Member must have length less than or equal to 10");
        const specs = entries.map((entry, i) => this.readTarget(entry, i + 1));
        const ids = new Set(rule.targets.map((t) => t.id));
        for (const spec of specs) if ("target" in spec) ids.add(spec.target.id);
        if (ids.size > MAX_TARGETS_PER_RULE) throw new AwsError("LimitExceededException", "The requested resource exceeds the maximum number allowed.");
        const failed: eventBridgeSdk.PutTargetsResultEntry[] = [];
        for (const spec of specs) {
            if ("failed" in spec) {
                failed.push(spec.failed);
                continue;
            }
            const refusal = this.opts.checkTarget?.(spec.target);
            if (refusal !== undefined) {
                failed.push({ TargetId: spec.target.id, ErrorCode: "ValidationException", ErrorMessage: refusal });
                continue;
            }
            this.addTarget(rule.busName, rule.name, spec.target);
        }
        return { FailedEntryCount: failed.length, FailedEntries: failed };
    }

    /** One PutTargets entry, its constraints checked (a violation refuses the call). */
    private readTarget(entry: Record<string, unknown> | null, position: number): { target: TargetSpec } | { failed: eventBridgeSdk.PutTargetsResultEntry } {
        const at = `targets.${position}.member`;
        if (entry === null) throw new AwsError("ValidationException", `1 validation error detected: Value null at '${at}' failed to satisfy constraint: Member must not be null`);
        const id = this.requiredName(entry.Id, `${at}.id`, 64, TARGET_ID_PATTERN);
        const arn = this.requiredName(entry.Arn, `${at}.arn`, 1600);
        const roleArn = member(entry.RoleArn as string | undefined);
        if (roleArn !== undefined) this.checkedName(roleArn, `${at}.roleArn`, 1600);
        // EventBridge starts an execution only as the role the target names: AWS refuses the whole call without one.
        if (roleArn === undefined && STATE_MACHINE_ARN.test(arn)) throw new AwsError("ValidationException", `RoleArn is required for target ${arn}.`);
        const input = member(entry.Input as string | undefined);
        const inputPath = member(entry.InputPath as string | undefined);
        const transformer = member(entry.InputTransformer as eventBridgeSdk.InputTransformer | undefined);
        if ([input, inputPath, transformer].filter((v) => v !== undefined).length > 1) {
            throw new AwsError("ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided.");
        }
        if (input !== undefined) {
            if (input.length > 8192) throw constraintError(`${at}.input`, input, "Member must have length less than or equal to 8192");
            if (!isJson(input)) throw new AwsError("ValidationException", `Parameter Input is not valid. Reason: target ${id}'s Input is not valid JSON.`);
        }
        if (inputPath !== undefined) {
            if (inputPath.length > 256) throw constraintError(`${at}.inputPath`, inputPath, "Member must have length less than or equal to 256");
            if (!SIMPLE_JSON_PATH.test(inputPath)) return { failed: unsupported(id, `InputPath ${inputPath}: only $ and $.field.field paths are supported by the local runtime`) };
        }
        let inputTransformer: InputTransformer | undefined;
        if (transformer !== undefined) {
            const template = member(transformer.InputTemplate);
            if (template === undefined) throw new AwsError("ValidationException", `1 validation error detected: Value null at '${at}.inputTransformer.inputTemplate' failed to satisfy constraint: Member must not be null`);
            const paths = member(transformer.InputPathsMap) ?? {};
            if (Object.keys(paths).length > 100) throw constraintError(`${at}.inputTransformer.inputPathsMap`, "{...}", "Member must have length less than or equal to 100");
            for (const [name, path] of Object.entries(paths)) {
                if (typeof path !== "string" || !SIMPLE_JSON_PATH.test(path)) {
                    return { failed: unsupported(id, `InputTransformer path ${name}=${String(path)}: only $ and $.field.field paths are supported by the local runtime`) };
                }
            }
            inputTransformer = { inputPathsMap: paths as Record<string, string>, inputTemplate: template };
        }
        const unserved = Object.keys(entry).filter((key) => !SERVED_TARGET_MEMBERS.has(key) && member(entry[key]) !== undefined);
        if (unserved.length > 0) return { failed: unsupported(id, `${unserved.join(", ")} ${unserved.length === 1 ? "is" : "are"} not supported by the local runtime`) };
        const deadLetter = member(entry.DeadLetterConfig as eventBridgeSdk.DeadLetterConfig | undefined);
        const deadLetterArn = deadLetter === undefined ? undefined : member(deadLetter.Arn);
        if (deadLetterArn !== undefined && !/^arn:aws[a-z-]*:sqs:[^:]+:\d{12}:[^:]+$/.test(deadLetterArn)) {
            return { failed: { TargetId: id, ErrorCode: "ValidationException", ErrorMessage: `Target ${id}: DeadLetterConfig.Arn ${deadLetterArn} is not an SQS queue ARN.` } };
        }
        return { target: { id, arn, roleArn, input, inputPath, inputTransformer, ...(deadLetterArn !== undefined ? { deadLetterArn } : {}) } };
    }

    /** RemoveTargets: removes the named targets; an Id the rule does not have is no failure, as on AWS. */
    public removeTargets(request: Record<string, unknown>): eventBridgeSdk.RemoveTargetsResponse {
        checkShape("RemoveTargets", request);
        const { rule } = this.namedRule(request, "Rule");
        const ids = member(request.Ids as Array<string | null> | undefined);
        if (ids === undefined) throw new AwsError("ValidationException", "1 validation error detected: Value null at 'ids' failed to satisfy constraint: Member must not be null");
        if (ids.length === 0) throw constraintError("ids", "[]", "Member must have length greater than or equal to 1");
        if (ids.length > 100) throw constraintError("ids", `[${ids.length} ids]`, "Member must have length less than or equal to 100");
        const removing = new Set(ids.map((id, i) => this.requiredName(id, `ids.${i + 1}.member`, 64, TARGET_ID_PATTERN)));
        rule.targets = rule.targets.filter((t) => !removing.has(t.id));
        return { FailedEntryCount: 0, FailedEntries: [] };
    }

    /** CreateEventBus: a custom bus (partner buses, which need an event source, are refused by name). */
    public createEventBus(request: Record<string, unknown>): eventBridgeSdk.CreateEventBusResponse {
        checkShape("CreateEventBus", request);
        const name = this.requiredName(request.Name, "name", 256, BUS_NAME_PATTERN);
        if (member(request.EventSourceName) !== undefined) throw new AwsError("ValidationException", "EventSourceName: partner event buses are not supported by the local runtime.");
        if (member(request.DeadLetterConfig) !== undefined) throw new AwsError("ValidationException", "DeadLetterConfig is not supported by the local runtime.");
        if (name.includes("/")) throw new AwsError("ValidationException", `Event bus name ${name} must not contain '/'.`);
        const description = member(request.Description as string | undefined);
        if (description !== undefined && description.length > 512) throw constraintError("description", description, "Member must have length less than or equal to 512");
        if (this.buses.has(name)) throw new AwsError("ResourceAlreadyExistsException", `Event bus ${name} already exists.`);
        this.addBus(name, description);
        return { EventBusArn: this.busArn(name), ...(description !== undefined ? { Description: description } : {}) };
    }

    /**
     * DeleteEventBus: the default bus cannot be deleted; a bus that does not exist is already deleted. The bus's
     * rules go with it, as the EventBridge guide says ("Deleting an event bus deletes the rules associated with
     * that event bus"; the API lists no error for a bus that has rules).
     */
    public deleteEventBus(request: Record<string, unknown>): Record<string, never> {
        checkShape("DeleteEventBus", request);
        const name = this.requiredName(request.Name, "name", 256, BUS_NAME_PATTERN);
        if (name === "default") throw new AwsError("ValidationException", "Cannot delete event bus default.");
        if (!this.buses.has(name)) return {};
        this.buses.delete(name);
        this.rules.delete(name);
        return {};
    }

    /** DescribeEventBus, its times in epoch seconds as the JSON protocol carries timestamps (the SDK's type has Dates, parsed from them). */
    public describeEventBus(
        request: Record<string, unknown>,
    ): Omit<eventBridgeSdk.DescribeEventBusResponse, "CreationTime" | "LastModifiedTime"> & { CreationTime?: number; LastModifiedTime?: number } {
        checkShape("DescribeEventBus", request);
        const name = this.requestBus(request.Name);
        const bus = this.buses.get(name);
        return {
            Name: name,
            Arn: this.busArn(name),
            ...(bus?.description !== undefined ? { Description: bus.description } : {}),
            ...(bus ? { CreationTime: bus.created.getTime() / 1000, LastModifiedTime: bus.created.getTime() / 1000 } : {}),
        };
    }

    /**
     * An event an AWS service emits (Step Functions' status changes, for one), put on the default bus with the
     * `aws.*` source that PutEvents refuses to users. Answers the event as routed.
     */
    public putServiceEvent(entry: ServiceEventEntry): BusEvent {
        if (!entry.Source.startsWith("aws.")) throw new Error(`putServiceEvent: ${entry.Source} is not an AWS service's source (aws.*)`);
        const detail = typeof entry.Detail === "string" ? (JSON.parse(entry.Detail) as unknown) : entry.Detail;
        if (detail === null || typeof detail !== "object" || Array.isArray(detail)) throw new Error("putServiceEvent: Detail must be a JSON object");
        const time = entry.Time === undefined ? new Date(this.clock.now()) : new Date(entry.Time);
        const event: BusEvent = {
            version: "0",
            id: randomUUID(),
            "detail-type": entry.DetailType,
            source: entry.Source,
            account: this.opts.accountId,
            time: isoSeconds(Number.isNaN(time.getTime()) ? new Date(this.clock.now()) : time),
            region: this.opts.region,
            resources: entry.Resources ?? [],
            detail: detail as Record<string, unknown>,
        };
        this.route(event, "default");
        return event;
    }
}

/** The ERROR_CODE a dead-letter record carries, from the target's refusal (the codes AWS documents for DLQ records). */
export function deadLetterErrorCode(error: unknown): string {
    const code = error instanceof AwsError ? error.code : "";
    if (/AccessDenied|NotAuthorized|Unauthorized|Forbidden/i.test(code)) return "NO_PERMISSIONS";
    if (/NotFound|DoesNotExist|NonExistent/i.test(code)) return "NO_RESOURCE";
    if (/Throttl|TooManyRequests/i.test(code)) return "THROTTLING";
    if (code !== "") return "INVALID_PARAMETER";
    return "SDK_CLIENT_ERROR";
}
