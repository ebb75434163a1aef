/**
 * CloudWatch Logs in memory: log groups (declared by the program, created over the API, or by Lambda as it writes),
 * their streams and events, and the read operations over them (GetLogEvents, FilterLogEvents with filter patterns,
 * the Describe operations), with AWS's request shapes, limits and errors. Each stored message is redacted first
 * (presigned URL queries, task tokens): the store must not hold credentials. Memory is bounded per group: beyond
 * `maxEventsPerGroup` the oldest events are dropped, as retention would drop them in AWS, only sooner.
 */
import type {
    CreateLogGroupRequest,
    CreateLogStreamRequest,
    DescribeLogGroupsRequest,
    DescribeLogGroupsResponse,
    DescribeLogStreamsRequest,
    DescribeLogStreamsResponse,
    FilteredLogEvent,
    FilterLogEventsRequest,
    FilterLogEventsResponse,
    GetLogEventsRequest,
    GetLogEventsResponse,
    InputLogEvent,
    LogGroup,
    LogStream,
    PutLogEventsRequest,
    PutLogEventsResponse,
} from "@aws-sdk/client-cloudwatch-logs";
import { randomBytes } from "node:crypto";
import { AwsError } from "../../core/awsError";
import { compileFilterPattern } from "./filterPattern";

export interface LogsServiceOptions {
    region: string;
    accountId: string;
    /** Events kept per log group at most; older ones are dropped first. Default DEFAULT_MAX_EVENTS_PER_GROUP. */
    maxEventsPerGroup?: number;
    /** Applied to every message before it is stored. */
    redact?: (message: string) => string;
    /** The clock (tests); Date.now by default. */
    now?: () => number;
}

/** Enough for the Lambda lines of a 1,000-name cookie report in the busiest group, at a few hundred bytes each. */
export const DEFAULT_MAX_EVENTS_PER_GROUP = 50_000;

interface StoredEvent {
    /** Insertion order within the group: ties on timestamp keep it, and paging cursors name it. */
    seq: number;
    timestamp: number;
    ingestionTime: number;
    message: string;
    /** The message's UTF-8 size, for storedBytes. */
    bytes: number;
    stream: string;
}

interface Stream {
    name: string;
    creationTime: number;
    lastEventTimestamp?: number;
    lastIngestionTime?: number;
    /** Events of this stream still kept, in timestamp order (PutLogEvents requires it within a stream's batches). */
    events: StoredEvent[];
}

interface Group {
    name: string;
    creationTime: number;
    retentionInDays?: number;
    streams: Map<string, Stream>;
    /** Every kept event of the group in insertion order, for dropping the oldest and for group-wide filters. */
    events: StoredEvent[];
    /** How many events at the front of `events` are dropped (compacted now and then, so dropping stays O(1)). */
    head: number;
    /** Events whose seq is below this are dropped: reads skip them in the streams' arrays until compaction. */
    dropped: number;
    nextSeq: number;
    storedBytes: number;
}

/** What a service writing its own logs (Lambda) appends; the timestamp is when the line was produced. */
export interface AppendedEvent {
    timestamp: number;
    message: string;
}

const GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const STREAM_NAME = /^[^:*]{1,512}$/;
/** PutLogEvents: a batch of at most 10,000 events and 1,048,576 bytes, counting 26 bytes per event. */
const MAX_BATCH_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_048_576;
const EVENT_OVERHEAD_BYTES = 26;
/** One event may fill a batch (AWS's limit is the batch's 1 MB since 2025). */
const MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD_BYTES;
const DAY_MS = 24 * 3600 * 1000;
/** Events older than 14 days (or the group's retention) and more than 2 hours ahead are rejected, not stored. */
const TOO_OLD_MS = 14 * DAY_MS;
const TOO_NEW_MS = 2 * 3600 * 1000;
const RETENTION_DAYS = new Set([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]);

function invalid(message: string): AwsError {
    return new AwsError("InvalidParameterException", message);
}

function limitOf(limit: number | undefined, max: number, name = "limit"): number {
    if (limit === undefined) return max;
    if (!Number.isInteger(limit) || limit < 1 || limit > max) throw invalid(`1 validation error detected: Value '${limit}' at '${name}' failed to satisfy constraint: Member must have value between 1 and ${max}`);
    return limit;
}

/** Paging cursors: the (timestamp, seq) of the last event returned, opaque to callers. */
function encodeCursor(prefix: string, event: { timestamp: number; seq: number }): string {
    return `${prefix}/${event.timestamp.toString(36)}.${event.seq.toString(36)}`;
}

function decodeCursor(token: string, prefixes: string[]): { prefix: string; timestamp: number; seq: number } {
    const match = /^([a-z]+)\/([0-9a-z]+)\.([0-9a-z]+)$/.exec(token);
    if (!match || !prefixes.includes(match[1])) throw invalid("The specified nextToken is invalid.");
    return { prefix: match[1], timestamp: parseInt(match[2], 36), seq: parseInt(match[3], 36) };
}

const byTime = (a: StoredEvent, b: StoredEvent): number => a.timestamp - b.timestamp || a.seq - b.seq;
const after = (event: StoredEvent, cursor: { timestamp: number; seq: number }): boolean =>
    event.timestamp > cursor.timestamp || (event.timestamp === cursor.timestamp && event.seq > cursor.seq);

export class LogsService {
    private readonly groups = new Map<string, Group>();
    private readonly maxEventsPerGroup: number;
    private readonly now: () => number;
    private readonly redact: (message: string) => string;

    constructor(private readonly options: LogsServiceOptions) {
        this.maxEventsPerGroup = options.maxEventsPerGroup ?? DEFAULT_MAX_EVENTS_PER_GROUP;
        if (!Number.isInteger(this.maxEventsPerGroup) || this.maxEventsPerGroup < 1) throw new Error(`maxEventsPerGroup must be a whole number of at least 1 (${this.maxEventsPerGroup})`);
        this.now = options.now ?? Date.now;
        this.redact = options.redact ?? ((message) => message);
    }

    /** The group's ARN as IAM policies name it: `arn:aws:logs:<region>:<account>:log-group:<name>`. */
    groupArn(name: string): string {
        return `arn:aws:logs:${this.options.region}:${this.options.accountId}:log-group:${name}`;
    }

    streamArn(group: string, stream: string): string {
        return `${this.groupArn(group)}:log-stream:${stream}`;
    }

    /** A group's name from a request's `logGroupName` or `logGroupIdentifier` (a name or an ARN, `:*` allowed). */
    groupNameOf(request: { logGroupName?: string; logGroupIdentifier?: string }): string {
        if (request.logGroupName !== undefined && request.logGroupIdentifier !== undefined) {
            throw invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.");
        }
        const identifier = request.logGroupIdentifier;
        if (identifier !== undefined) {
            const arn = /^arn:aws[a-z-]*:logs:([a-z0-9-]+):(\d{12}):log-group:([^:]+)(?::\*)?$/.exec(identifier);
            if (arn) {
                if (arn[1] !== this.options.region || arn[2] !== this.options.accountId) throw new AwsError("ResourceNotFoundException", "The specified log group does not exist.");
                return arn[3];
            }
            return identifier;
        }
        if (request.logGroupName === undefined) throw invalid("Either logGroupName or logGroupIdentifier must be specified.");
        return request.logGroupName;
    }

    hasGroup(name: string): boolean {
        return this.groups.has(name);
    }

    /** A declared group (`aws.cloudwatch.LogGroup`) or one a service creates; an existing one is kept as it is. */
    addGroup(name: string, retentionInDays?: number): void {
        if (!this.groups.has(name)) this.groups.set(name, this.newGroup(name, retentionInDays));
    }

    /**
     * Appends events a service writes for itself (Lambda's function logs) to a stream it creates on first use; the
     * group must exist (the caller checked the writer's permissions). Unlike PutLogEvents, nothing is refused: the
     * writer's events come in the order they happened.
     */
    append(groupName: string, streamName: string, events: AppendedEvent[]): void {
        const group = this.group(groupName);
        let stream = group.streams.get(streamName);
        if (!stream) {
            stream = { name: streamName, creationTime: this.now(), events: [] };
            group.streams.set(streamName, stream);
        }
        this.store(group, stream, events, this.now());
    }

    createLogGroup(request: CreateLogGroupRequest): Record<string, never> {
        const name = String(request.logGroupName ?? "");
        if (!GROUP_NAME.test(name)) throw invalid(`1 validation error detected: Value '${name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ and have length between 1 and 512`);
        if (request.kmsKeyId !== undefined) throw invalid("kmsKeyId: encrypting a log group with KMS is not supported by the local runtime");
        if (request.logGroupClass !== undefined && request.logGroupClass !== "STANDARD") throw invalid(`logGroupClass ${request.logGroupClass} is not supported by the local runtime (STANDARD only)`);
        if (this.groups.has(name)) throw new AwsError("ResourceAlreadyExistsException", "The specified log group already exists");
        this.groups.set(name, this.newGroup(name));
        return {};
    }

    createLogStream(request: CreateLogStreamRequest): Record<string, never> {
        const group = this.group(String(request.logGroupName ?? ""));
        const name = String(request.logStreamName ?? "");
        if (!STREAM_NAME.test(name)) throw invalid(`1 validation error detected: Value '${name}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]* and have length between 1 and 512`);
        if (group.streams.has(name)) throw new AwsError("ResourceAlreadyExistsException", "The specified log stream already exists");
        group.streams.set(name, { name, creationTime: this.now(), events: [] });
        return {};
    }

    putLogEvents(request: PutLogEventsRequest): PutLogEventsResponse {
        const group = this.group(String(request.logGroupName ?? ""));
        const stream = group.streams.get(String(request.logStreamName ?? ""));
        if (!stream) throw new AwsError("ResourceNotFoundException", "The specified log stream does not exist.");
        const events: InputLogEvent[] = request.logEvents ?? [];
        if (events.length < 1 || events.length > MAX_BATCH_EVENTS) throw invalid(`1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and ${MAX_BATCH_EVENTS}`);
        let bytes = 0;
        events.forEach((event, index) => {
            if (typeof event?.timestamp !== "number" || typeof event.message !== "string") throw invalid(`logEvents.${index + 1}: timestamp and message are required`);
            const size = Buffer.byteLength(event.message);
            if (size > MAX_EVENT_BYTES) throw invalid(`Log event too large: logEvents.${index + 1} is ${size} bytes`);
            bytes += size + EVENT_OVERHEAD_BYTES;
            if (index > 0 && event.timestamp < (events[index - 1].timestamp as number)) throw invalid("Log events in a single PutLogEvents request must be in chronological order.");
        });
        if (bytes > MAX_BATCH_BYTES) throw invalid(`Upload too large: ${bytes} bytes exceeds limit of ${MAX_BATCH_BYTES}`);
        const first = events[0].timestamp as number;
        const last = events[events.length - 1].timestamp as number;
        if (last - first > DAY_MS) throw invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.");

        const now = this.now();
        const oldest = now - Math.min(TOO_OLD_MS, (group.retentionInDays ?? Infinity) * DAY_MS);
        let tooOldEnd = 0;
        while (tooOldEnd < events.length && (events[tooOldEnd].timestamp as number) < oldest) tooOldEnd++;
        let tooNewStart = events.length;
        while (tooNewStart > tooOldEnd && (events[tooNewStart - 1].timestamp as number) > now + TOO_NEW_MS) tooNewStart--;
        const accepted = events.slice(tooOldEnd, tooNewStart).map((event) => ({ timestamp: event.timestamp as number, message: event.message as string }));
        this.store(group, stream, accepted, now);
        const response: PutLogEventsResponse = { nextSequenceToken: randomBytes(28).toString("hex").replace(/^./, "4") };
        if (tooOldEnd > 0 || tooNewStart < events.length) {
            response.rejectedLogEventsInfo = {};
            if (tooOldEnd > 0) response.rejectedLogEventsInfo.tooOldLogEventEndIndex = tooOldEnd;
            if (tooNewStart < events.length) response.rejectedLogEventsInfo.tooNewLogEventStartIndex = tooNewStart;
        }
        return response;
    }

    describeLogGroups(request: DescribeLogGroupsRequest): DescribeLogGroupsResponse {
        if (request.logGroupNamePrefix !== undefined && request.logGroupNamePattern !== undefined) {
            throw invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.");
        }
        if (request.accountIdentifiers?.length || request.includeLinkedAccounts) throw invalid("accountIdentifiers / includeLinkedAccounts: cross-account listing is not supported by the local runtime");
        const limit = limitOf(request.limit, 50);
        const prefix = request.logGroupNamePrefix;
        const pattern = request.logGroupNamePattern?.toLowerCase();
        const identifiers = request.logGroupIdentifiers?.map((identifier) => this.groupNameOf({ logGroupIdentifier: identifier }));
        const start = request.nextToken === undefined ? undefined : this.decodeNameToken(request.nextToken);
        const names = [...this.groups.keys()]
            .filter((name) => (prefix === undefined || name.startsWith(prefix)) && (pattern === undefined || name.toLowerCase().includes(pattern)))
            .filter((name) => identifiers === undefined || identifiers.includes(name))
            .filter((name) => request.logGroupClass === undefined || request.logGroupClass === "STANDARD")
            .sort()
            .filter((name) => start === undefined || name > start);
        const page = names.slice(0, limit);
        const response: DescribeLogGroupsResponse = { logGroups: page.map((name) => this.describeGroup(this.groups.get(name) as Group)) };
        if (names.length > limit) response.nextToken = this.encodeNameToken(page[page.length - 1]);
        return response;
    }

    describeLogStreams(request: DescribeLogStreamsRequest): DescribeLogStreamsResponse {
        const group = this.group(this.groupNameOf(request));
        const orderBy = request.orderBy ?? "LogStreamName";
        if (orderBy !== "LogStreamName" && orderBy !== "LastEventTime") throw invalid(`orderBy must be LogStreamName or LastEventTime (${orderBy})`);
        if (orderBy === "LastEventTime" && request.logStreamNamePrefix !== undefined) throw invalid("Cannot order by LastEventTime with a logStreamNamePrefix.");
        const limit = limitOf(request.limit, 50);
        const prefix = request.logStreamNamePrefix ?? "";
        const key = (stream: Stream): string =>
            orderBy === "LogStreamName" ? stream.name : `${String(stream.lastEventTimestamp ?? 0).padStart(16, "0")}\0${stream.name}`;
        let streams = [...group.streams.values()].filter((stream) => stream.name.startsWith(prefix)).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
        if (request.descending) streams.reverse();
        if (request.nextToken !== undefined) {
            const start = this.decodeNameToken(request.nextToken);
            streams = streams.filter((stream) => (request.descending ? key(stream) < start : key(stream) > start));
        }
        const page = streams.slice(0, limit);
        const response: DescribeLogStreamsResponse = { logStreams: page.map((stream) => this.describeStream(group, stream)) };
        if (streams.length > limit) response.nextToken = this.encodeNameToken(key(page[page.length - 1]));
        return response;
    }

    getLogEvents(request: GetLogEventsRequest): GetLogEventsResponse {
        const group = this.group(this.groupNameOf(request));
        const stream = group.streams.get(String(request.logStreamName ?? ""));
        if (!stream) throw new AwsError("ResourceNotFoundException", "The specified log stream does not exist.");
        const limit = limitOf(request.limit, 10_000);
        // startTime inclusive, endTime exclusive, as GetLogEvents documents.
        const inRange = stream.events.filter(
            (event) => event.seq >= group.dropped && (request.startTime === undefined || event.timestamp >= request.startTime) && (request.endTime === undefined || event.timestamp < request.endTime),
        );
        let page: StoredEvent[];
        if (request.nextToken !== undefined) {
            const cursor = decodeCursor(request.nextToken, ["f", "b"]);
            if (cursor.prefix === "f") page = inRange.filter((event) => after(event, cursor)).slice(0, limit);
            else page = inRange.filter((event) => !after(event, cursor) && !(event.timestamp === cursor.timestamp && event.seq === cursor.seq)).slice(-limit);
        } else {
            page = request.startFromHead ? inRange.slice(0, limit) : inRange.slice(-limit);
        }
        // At either end the token given back is the one passed in, which is how callers know they reached it.
        const forward = page.length ? encodeCursor("f", page[page.length - 1]) : request.nextToken?.startsWith("f/") ? request.nextToken : encodeCursor("f", { timestamp: 0, seq: 0 });
        const backward = page.length ? encodeCursor("b", page[0]) : request.nextToken?.startsWith("b/") ? request.nextToken : encodeCursor("b", { timestamp: 0, seq: 0 });
        return {
            events: page.map((event) => ({ timestamp: event.timestamp, message: event.message, ingestionTime: event.ingestionTime })),
            nextForwardToken: forward,
            nextBackwardToken: backward,
        };
    }

    filterLogEvents(request: FilterLogEventsRequest): FilterLogEventsResponse {
        const group = this.group(this.groupNameOf(request));
        if (request.logStreamNames !== undefined && request.logStreamNamePrefix !== undefined) {
            throw invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.");
        }
        if (request.logStreamNames !== undefined && (request.logStreamNames.length < 1 || request.logStreamNames.length > 100)) {
            throw invalid("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length between 1 and 100");
        }
        if (request.startFromHead === false) throw invalid("startFromHead false: FilterLogEvents from the latest events is not supported by the local runtime");
        const limit = limitOf(request.limit, 10_000);
        const matches = compileFilterPattern(request.filterPattern);
        const names = request.logStreamNames ? new Set(request.logStreamNames) : undefined;
        const prefix = request.logStreamNamePrefix;
        const cursor = request.nextToken === undefined ? undefined : decodeCursor(request.nextToken, ["n"]);
        const found: StoredEvent[] = [];
        const searched = new Set<string>();
        for (const stream of group.streams.values()) {
            if (names ? !names.has(stream.name) : prefix !== undefined && !stream.name.startsWith(prefix)) continue;
            searched.add(stream.name);
            for (const event of stream.events) {
                if (event.seq < group.dropped) continue;
                if (request.startTime !== undefined && event.timestamp < request.startTime) continue;
                if (request.endTime !== undefined && event.timestamp > request.endTime) continue;
                if (cursor && !after(event, cursor)) continue;
                if (matches(event.message)) found.push(event);
            }
        }
        found.sort(byTime);
        const page = found.slice(0, limit);
        const response: FilterLogEventsResponse = {
            events: page.map((event): FilteredLogEvent => ({
                logStreamName: event.stream,
                timestamp: event.timestamp,
                message: event.message,
                ingestionTime: event.ingestionTime,
                eventId: `${String(event.timestamp).padStart(16, "0")}${String(event.seq).padStart(16, "0")}`,
            })),
            searchedLogStreams: [...searched].map((logStreamName) => ({ logStreamName, searchedCompletely: true })),
        };
        if (found.length > limit) response.nextToken = encodeCursor("n", page[page.length - 1]);
        return response;
    }

    private newGroup(name: string, retentionInDays?: number): Group {
        if (retentionInDays !== undefined && !RETENTION_DAYS.has(retentionInDays)) throw invalid(`retentionInDays ${retentionInDays} is not one of the values CloudWatch Logs takes`);
        return { name, creationTime: this.now(), retentionInDays, streams: new Map(), events: [], head: 0, dropped: 0, nextSeq: 0, storedBytes: 0 };
    }

    private group(name: string): Group {
        const group = this.groups.get(name);
        if (!group) throw new AwsError("ResourceNotFoundException", "The specified log group does not exist.");
        return group;
    }

    private store(group: Group, stream: Stream, events: AppendedEvent[], ingestionTime: number): void {
        for (const { timestamp, message } of events) {
            const stored = this.redact(message);
            const event: StoredEvent = { seq: group.nextSeq++, timestamp, ingestionTime, message: stored, bytes: Buffer.byteLength(stored), stream: stream.name };
            group.events.push(event);
            group.storedBytes += event.bytes;
            // A stream's events stay in timestamp order: a late writer's line goes in its place, not at the end.
            let at = stream.events.length;
            while (at > 0 && stream.events[at - 1].timestamp > timestamp) at--;
            stream.events.splice(at, 0, event);
            stream.lastEventTimestamp = Math.max(stream.lastEventTimestamp ?? timestamp, timestamp);
            stream.lastIngestionTime = ingestionTime;
        }
        this.dropOldest(group);
    }

    /**
     * Keeps at most maxEventsPerGroup events: the oldest written go first. Dropping moves `head` (and the seq below
     * which events are gone, which reads skip); the arrays are compacted only once the dropped prefix is as long as
     * what is kept, so each append costs O(1) amortised.
     */
    private dropOldest(group: Group): void {
        const excess = group.events.length - group.head - this.maxEventsPerGroup;
        if (excess <= 0) return;
        for (let i = group.head; i < group.head + excess; i++) group.storedBytes -= group.events[i].bytes;
        group.head += excess;
        group.dropped = group.events[group.head].seq;
        if (group.head < this.maxEventsPerGroup) return;
        group.events = group.events.slice(group.head);
        group.head = 0;
        for (const stream of group.streams.values()) stream.events = stream.events.filter((event) => event.seq >= group.dropped);
    }

    private describeGroup(group: Group): LogGroup {
        const arn = this.groupArn(group.name);
        const described: LogGroup = {
            logGroupName: group.name,
            creationTime: group.creationTime,
            metricFilterCount: 0,
            arn: `${arn}:*`,
            logGroupArn: arn,
            storedBytes: group.storedBytes,
            logGroupClass: "STANDARD",
        };
        if (group.retentionInDays !== undefined) described.retentionInDays = group.retentionInDays;
        return described;
    }

    private describeStream(group: Group, stream: Stream): LogStream {
        const described: LogStream = {
            logStreamName: stream.name,
            creationTime: stream.creationTime,
            arn: this.streamArn(group.name, stream.name),
            storedBytes: 0,
        };
        // The stream's events are in timestamp order: the first one kept is its earliest.
        const first = stream.events.find((event) => event.seq >= group.dropped);
        if (first) described.firstEventTimestamp = first.timestamp;
        if (stream.lastEventTimestamp !== undefined) described.lastEventTimestamp = stream.lastEventTimestamp;
        if (stream.lastIngestionTime !== undefined) described.lastIngestionTime = stream.lastIngestionTime;
        return described;
    }

    private encodeNameToken(key: string): string {
        return Buffer.from(key, "utf8").toString("base64url");
    }

    private decodeNameToken(token: string): string {
        if (!/^[A-Za-z0-9_-]*$/.test(token)) throw invalid("The specified nextToken is invalid.");
        return Buffer.from(token, "base64url").toString("utf8");
    }
}
