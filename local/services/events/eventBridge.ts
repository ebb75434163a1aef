/**
 * EventBridge for the offline runtime: buses, rules and targets as the stack declared them, PutEvents with
 * AWS's limits and per-entry errors, TestEventPattern, ListRules and ListEventBuses. Matching is the pure
 * module eventPattern.ts; delivery to targets is handed to the runtime through `TargetDispatcher`.
 */
import { randomUUID } from "crypto";
import * as eventBridgeSdk from "@aws-sdk/client-eventbridge";
import { AwsError } from "../../core/awsError";
import { jsonNestsDeeperThan } from "../../core/jsonDepth";
import { requestShapes } from "../../core/requestShapes";
import { EventPattern, InvalidEventPatternError, MAX_EVENT_PATTERN_LENGTH, matchesEventPattern, parseEventPattern } from "./eventPattern";

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
}

export interface RuleSpec {
    name: string;
    arn: string;
    busName: string;
    eventPattern: string;
    state?: "ENABLED" | "DISABLED";
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
    pattern: EventPattern;
    targets: TargetSpec[];
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
    private readonly buses = new Set<string>(["default"]);
    /** Rules by bus name, then by rule name: names are data, so Maps, never objects that would find `constructor`. */
    private readonly rules = new Map<string, Map<string, Rule>>();
    private readonly eventListeners = new Set<(event: BusEvent, busName: string) => void>();
    public readonly deliveryFailures: DeliveryFailure[] = [];
    private inFlight = 0;
    private drained: Array<() => void> = [];

    constructor(private readonly opts: { region: string; accountId: string; dispatcher: TargetDispatcher; log?: (line: string) => void }) {}

    public busArn(name: string): string {
        return `arn:aws:events:${this.opts.region}:${this.opts.accountId}:event-bus/${name}`;
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

    public addBus(name: string): void {
        this.buses.add(name);
    }

    public addRule(spec: RuleSpec): void {
        if (spec.eventPattern.length > MAX_EVENT_PATTERN_LENGTH) {
            throw constraintError("eventPattern", spec.eventPattern, `Member must have length less than or equal to ${MAX_EVENT_PATTERN_LENGTH}`);
        }
        let onBus = this.rules.get(spec.busName);
        if (onBus === undefined) this.rules.set(spec.busName, (onBus = new Map()));
        onBus.set(spec.name, { ...spec, pattern: parseEventPattern(spec.eventPattern), targets: [] });
    }

    public addTarget(busName: string, ruleName: string, target: TargetSpec): void {
        const rule = this.rules.get(busName)?.get(ruleName);
        if (!rule) throw new Error(`target ${target.id}: rule ${ruleName} does not exist on bus ${busName}`);
        rule.targets.push(target);
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
            time: (Number.isNaN(time.getTime()) ? new Date() : time).toISOString().replace(/\.\d{3}Z$/, "Z"),
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
        const matched = rules.filter((r) => r.state !== "DISABLED" && matchesEventPattern(r.pattern, event as unknown as Record<string, unknown>));
        for (const listener of this.eventListeners) listener(event, busName);
        for (const rule of matched) {
            for (const target of rule.targets) {
                this.inFlight++;
                setImmediate(() => {
                    // Whatever fails here, the input included, is this delivery's failure: never the process's.
                    Promise.resolve()
                        .then(() => this.opts.dispatcher.deliver(target, rule, targetInput(event, target)))
                        .catch((error: unknown) => {
                            const message = error instanceof Error ? error.message : String(error);
                            this.deliveryFailures.push({ rule: rule.name, target: target.arn, eventId: event.id, error: message });
                            this.opts.log?.(`rule ${rule.name}: delivery to ${target.arn} failed: ${message}`);
                        })
                        .finally(() => this.settle());
                });
            }
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
        const required = ["id", "account", "source", "time", "region", "detail-type"];
        if (required.some((k) => !Object.hasOwn(event as object, k))) throw invalidEvent();
        return { Result: matchesEventPattern(pattern, event as Record<string, unknown>) };
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
            Rules: page.map((r) => ({ Name: r.name, Arn: r.arn, EventPattern: r.eventPattern, State: r.state ?? "ENABLED", EventBusName: r.busName })),
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
            Targets: targets.map((t) => ({ Id: t.id, Arn: t.arn, RoleArn: t.roleArn, Input: t.input, InputPath: t.inputPath })),
            ...(start + limit < rule.targets.length ? { NextToken: String(start + limit) } : {}),
        };
    }

    public listEventBuses(request: Record<string, unknown>) {
        checkShape("ListEventBuses", request);
        const prefix = member(request.NamePrefix as string | undefined);
        const { start, limit } = this.page(request);
        const all = [...this.buses].filter((name) => !prefix || name.startsWith(prefix)).sort();
        return {
            EventBuses: all.slice(start, start + limit).map((name) => ({ Name: name, Arn: this.busArn(name) })),
            ...(start + limit < all.length ? { NextToken: String(start + limit) } : {}),
        };
    }
}
