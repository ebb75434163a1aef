/**
 * EventBridge for the offline runtime: buses, rules and targets as the stack declared them, PutEvents with
 * AWS's limits and per-entry errors, TestEventPattern, ListRules and ListEventBuses. Matching is the pure
 * module eventPattern.ts; delivery to targets is handed to the runtime through `TargetDispatcher`.
 */
import { randomUUID } from "crypto";
import { AwsError } from "./awsError";
import { EventPattern, InvalidEventPatternError, matchesEventPattern, parseEventPattern } from "./eventPattern";

/**
 * AWS's limits on PutEvents: entries per call, and bytes per call, the entries' sizes summed as AWS computes
 * them (`entrySize`). A call over either limit is refused whole with a ValidationException; no entry of it is
 * put on the bus.
 */
export const MAX_ENTRIES = 10;
export const MAX_ENTRY_BYTES = 256 * 1024;

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

/** Reads a simple JSONPath (`$`, `$.a.b`, `$.detail-type`) out of an event. */
function readPath(event: unknown, jsonPath: string): unknown {
    if (jsonPath === "$") return event;
    if (!jsonPath.startsWith("$.")) throw new AwsError("ValidationException", `unsupported JSONPath ${jsonPath}`);
    let value: unknown = event;
    for (const key of jsonPath.slice(2).split(".")) {
        value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
    }
    return value;
}

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
    private readonly rules = new Map<string, Rule>();
    private readonly eventListeners = new Set<(event: BusEvent, busName: string) => void>();
    public readonly deliveryFailures: DeliveryFailure[] = [];
    private inFlight = 0;
    private drained: Array<() => void> = [];

    constructor(private readonly opts: { region: string; accountId: string; dispatcher: TargetDispatcher; log?: (line: string) => void }) {}

    public busArn(name: string): string {
        return `arn:aws:events:${this.opts.region}:${this.opts.accountId}:event-bus/${name}`;
    }

    /** Accepts a bus name or ARN, as AWS does. */
    public busName(nameOrArn: string | undefined): string {
        if (!nameOrArn) return "default";
        return nameOrArn.startsWith("arn:") ? nameOrArn.slice(nameOrArn.lastIndexOf("/") + 1) : nameOrArn;
    }

    public addBus(name: string): void {
        this.buses.add(name);
    }

    public addRule(spec: RuleSpec): void {
        this.rules.set(`${spec.busName}/${spec.name}`, { ...spec, pattern: parseEventPattern(spec.eventPattern), targets: [] });
    }

    public addTarget(busName: string, ruleName: string, target: TargetSpec): void {
        const rule = this.rules.get(`${busName}/${ruleName}`);
        if (!rule) throw new Error(`target ${target.id}: rule ${ruleName} does not exist on bus ${busName}`);
        rule.targets.push(target);
    }

    /** Every accepted event, after it is matched (tests and the demo watch the bus through this). */
    public onEvent(listener: (event: BusEvent, busName: string) => void): () => void {
        this.eventListeners.add(listener);
        return () => this.eventListeners.delete(listener);
    }

    public putEvents(request: { Entries?: PutEventsRequestEntry[] }): PutEventsResponse {
        const entries = request.Entries;
        if (!Array.isArray(entries) || entries.length === 0) {
            throw new AwsError("ValidationException", "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null");
        }
        if (entries.length > MAX_ENTRIES) {
            throw new AwsError(
                "ValidationException",
                `1 validation error detected: Value '[${entries.length} entries]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
            );
        }
        if (entries.reduce((n, entry) => n + entrySize(entry), 0) > MAX_ENTRY_BYTES) {
            throw new AwsError("ValidationException", "Total size of the entries in the request is over the limit.");
        }
        const results = entries.map((entry) => this.acceptEntry(entry));
        return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
    }

    private acceptEntry(entry: PutEventsRequestEntry): PutEventsResultEntry {
        const invalid = (field: string, reason: string): PutEventsResultEntry => ({
            ErrorCode: "InvalidArgument",
            ErrorMessage: `Parameter ${field} is not valid. Reason: ${reason}`,
        });
        if (!entry || typeof entry !== "object") return invalid("Entry", "Entry must be an object.");
        if (!entry.Source) return invalid("Source", "Source is a required argument.");
        if (!entry.DetailType) return invalid("DetailType", "DetailType is a required argument.");
        if (entry.Detail === undefined || entry.Detail === "") return invalid("Detail", "Detail is a required argument.");
        if (entry.Source.startsWith("aws.")) return { ErrorCode: "NotAuthorizedForSourceException", ErrorMessage: "Not authorized for the source." };
        let detail: unknown;
        try {
            detail = JSON.parse(String(entry.Detail));
        } catch {
            return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
        }
        if (detail === null || typeof detail !== "object" || Array.isArray(detail)) {
            return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed: it must be a JSON object." };
        }
        const busName = this.busName(entry.EventBusName);
        if (!this.buses.has(busName)) return { ErrorCode: "ResourceNotFoundException", ErrorMessage: `Event bus ${busName} does not exist.` };
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
        this.route(event, busName);
        return { EventId: event.id };
    }

    /** Matches an accepted event against the bus's rules and delivers it to their targets, after the call returns. */
    private route(event: BusEvent, busName: string): void {
        const matched = [...this.rules.values()].filter((r) => r.busName === busName && r.state !== "DISABLED" && matchesEventPattern(r.pattern, event as unknown as Record<string, unknown>));
        for (const listener of this.eventListeners) listener(event, busName);
        for (const rule of matched) {
            for (const target of rule.targets) {
                this.inFlight++;
                setImmediate(() => {
                    this.opts.dispatcher
                        .deliver(target, rule, targetInput(event, target))
                        .catch((error: Error) => {
                            this.deliveryFailures.push({ rule: rule.name, target: target.arn, eventId: event.id, error: error.message });
                            this.opts.log?.(`rule ${rule.name}: delivery to ${target.arn} failed: ${error.message}`);
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

    public testEventPattern(request: { EventPattern?: string; Event?: string }): { Result: boolean } {
        if (!request.EventPattern) throw new AwsError("ValidationException", "EventPattern is required");
        if (!request.Event) throw new AwsError("ValidationException", "Event is required");
        let pattern: EventPattern;
        try {
            pattern = parseEventPattern(request.EventPattern);
        } catch (error) {
            if (error instanceof InvalidEventPatternError) throw new AwsError("InvalidEventPatternException", error.message);
            throw error;
        }
        let event: unknown;
        try {
            event = JSON.parse(request.Event);
        } catch {
            throw new AwsError("InvalidEventPatternException", "Event is not valid JSON");
        }
        const required = ["id", "account", "source", "time", "region", "detail-type"];
        const missing = required.filter((k) => !(event && typeof event === "object" && k in event));
        if (missing.length) throw new AwsError("InvalidEventPatternException", `Event is missing required fields: ${missing.join(", ")}`);
        return { Result: matchesEventPattern(pattern, event as Record<string, unknown>) };
    }

    public listRules(request: { EventBusName?: string; NamePrefix?: string; Limit?: number; NextToken?: string }) {
        const busName = this.busName(request.EventBusName);
        if (!this.buses.has(busName)) throw new AwsError("ResourceNotFoundException", `Event bus ${busName} does not exist.`);
        const all = [...this.rules.values()]
            .filter((r) => r.busName === busName && (!request.NamePrefix || r.name.startsWith(request.NamePrefix)))
            .sort((a, b) => a.name.localeCompare(b.name));
        const start = request.NextToken ? Number(request.NextToken) : 0;
        const limit = request.Limit ?? 100;
        const page = all.slice(start, start + limit);
        return {
            Rules: page.map((r) => ({ Name: r.name, Arn: r.arn, EventPattern: r.eventPattern, State: r.state ?? "ENABLED", EventBusName: r.busName })),
            ...(start + limit < all.length ? { NextToken: String(start + limit) } : {}),
        };
    }

    public listTargetsByRule(request: { Rule?: string; EventBusName?: string }) {
        const rule = this.rules.get(`${this.busName(request.EventBusName)}/${request.Rule}`);
        if (!rule) throw new AwsError("ResourceNotFoundException", `Rule ${request.Rule} does not exist on EventBus ${this.busName(request.EventBusName)}.`);
        return { Targets: rule.targets.map((t) => ({ Id: t.id, Arn: t.arn, RoleArn: t.roleArn, Input: t.input, InputPath: t.inputPath })) };
    }

    public listEventBuses(request: { NamePrefix?: string }) {
        return {
            EventBuses: [...this.buses]
                .filter((name) => !request.NamePrefix || name.startsWith(request.NamePrefix))
                .sort()
                .map((name) => ({ Name: name, Arn: this.busArn(name) })),
        };
    }
}
