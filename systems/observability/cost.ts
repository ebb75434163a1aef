/**
 * The AWS bill of one run, counted from the run's own records (never estimated from a formula): its STANDARD
 * executions' histories (state transitions as AWS bills them), the EXPRESS executions it caused (requests and
 * GB-seconds), the events it published (64 KB chunks), its Lambda invocations' REPORT lines (requests and billed
 * GB-seconds), and its S3 and DynamoDB requests (its handlers' requests lines, its steps' integrations). Priced from `pricing.json` (us-east-1 list prices,
 * each with its source and the date it was read). `billOf` is pure; `collectRunRecords` reads the records over the
 * AWS APIs (Step Functions, CloudWatch Logs, the observability table in DynamoDB).
 *
 * `originalLayoutBill` prices the same records as the original design would have been billed: the TaskFinisher as a
 * STANDARD machine (its executions' states entered as transitions instead of EXPRESS requests and duration) and no
 * failure path (the executions answering `taskFailed` or a Lambda failure record, and their events, left out).
 */
import { DescribeExecutionCommand, DescribeStateMachineCommand, GetExecutionHistoryCommand, ListExecutionsCommand, StateMachineTypeNotSupported, type HistoryEvent, type SFNClient } from "@aws-sdk/client-sfn";
import { FilterLogEventsCommand, ResourceNotFoundException, type CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { QueryCommand, type AttributeValue, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { REQUESTS_LOG_MESSAGE, addRequests, noRequests, parseRequestsLogLine, s3RequestTier, type RequestCounts } from "../../protocol/requests";
import pricing from "./pricing.json";
import { eventOfItem } from "./store";

export type PriceKey = keyof typeof pricing.prices;
export type Prices = Record<PriceKey, { usd: number; source: string; checked: string }>;
export const PRICES: Prices = pricing.prices;

/** An EXPRESS execution as billed: StartSyncExecution's billingDetails, or its dates for an asynchronous one. */
export interface ExpressExecutionRecord {
    executionArn: string;
    startDate: Date;
    stopDate: Date;
    /** StartSyncExecution / DescribeExecution's billingDetails, when given; else computed as AWS bills it. */
    billedDurationMs?: number;
    billedMemoryMb?: number;
    /** `*StateEntered` events in its history: what the same execution would be billed as a STANDARD one. */
    statesEntered: number;
    /** It handled the failure path (a `taskFailed` answer or a Lambda failure record). */
    failurePath: boolean;
}

/** An entry the run put on a bus, as PutEvents sizes it. */
export interface PublishedEntry {
    source: string;
    detailType: string;
    /** The detail as sent (JSON text). */
    detail: string;
    resources?: string[];
    /** Whether the entry carried its own Time (14 bytes). */
    hasTime?: boolean;
    /** It belongs to the failure path (`taskFailed`, a Lambda failure record). */
    failurePath?: boolean;
}

/** One Lambda invocation as its REPORT line (text) or `platform.report` record (JSON format) tells it. */
export interface LambdaReport {
    requestId: string;
    durationMs: number;
    billedDurationMs: number;
    memorySizeMb: number;
    maxMemoryUsedMb?: number;
    initDurationMs?: number;
}

export interface RunRecords {
    /** GetExecutionHistory of each STANDARD execution the run consists of (the workflow's). */
    standardHistories: HistoryEvent[][];
    expressExecutions: ExpressExecutionRecord[];
    /** Custom events published during the run (AWS service events such as aws.states are free and left out). */
    publishedEvents: PublishedEntry[];
    lambdaReports: LambdaReport[];
    /**
     * The run's S3 and DynamoDB requests: its handlers' requests lines (protocol/requests.ts) and its steps' S3 and
     * DynamoDB service integrations (TaskScheduled in the histories); absent: not counted (the bill says so).
     */
    requests?: RequestCounts;
    /** What the records could not cover (a listing cut short, a source missing), said on the bill. */
    gaps?: string[];
}

export interface BillLine {
    item: string;
    quantity: number;
    unit: string;
    unitPriceUsd: number;
    usd: number;
    price: PriceKey;
}

export interface Bill {
    lines: BillLine[];
    totalUsd: number;
    /** Items not on the bill because nothing counted them, and other gaps in the records. */
    notCounted: string[];
}

const CHUNK_BYTES = 64 * 1024;
const EXPRESS_DURATION_STEP_MS = 100;
const EXPRESS_MEMORY_STEP_MB = 64;

/**
 * State transitions as Step Functions bills them: one each time a state is entered (Map iterations' states
 * included), plus one per retry of a Task (each TaskScheduled after the first of its state entry).
 */
export function standardTransitions(history: readonly HistoryEvent[]): number {
    let entered = 0;
    let tasksEntered = 0;
    let scheduled = 0;
    for (const event of history) {
        const type = event.type ?? "";
        if (type.endsWith("StateEntered")) entered++;
        if (type === "TaskStateEntered") tasksEntered++;
        if (type === "TaskScheduled" || type === "LambdaFunctionScheduled" || type === "ActivityScheduled") scheduled++;
    }
    return entered + Math.max(0, scheduled - tasksEntered);
}

/**
 * The S3 and DynamoDB requests a history's steps made through service integrations (`arn:aws:states:::dynamodb:*`,
 * `aws-sdk:s3:*`, ...): one per TaskScheduled, retries included, as each attempt is a request. A history read without
 * execution data holds no answers, so their DynamoDB request units are not reported.
 */
export function integrationRequests(history: readonly HistoryEvent[]): RequestCounts {
    const counts = noRequests();
    for (const event of history) {
        const scheduled = event.type === "TaskScheduled" ? event.taskScheduledEventDetails : undefined;
        if (!scheduled) continue;
        const service = (scheduled.resourceType ?? "").replace(/^aws-sdk:/, "");
        const operation = (scheduled.resource ?? "").replace(/\.(sync|waitForTaskToken)(:2)?$/, "");
        if (service === "s3") {
            const tier = s3RequestTier(operation);
            if (tier !== "free") counts.s3[tier]++;
        } else if (service === "dynamodb") {
            counts.dynamodb.requests++;
            counts.dynamodb.unitsNotReported++;
        }
    }
    return counts;
}

/** PutEvents' entry size (Time 14 bytes, Source, DetailType, Detail, each Resource, in UTF-8), in 64 KB chunks. */
export function eventBridgeChunks(entry: PublishedEntry): number {
    let size = entry.hasTime ? 14 : 0;
    size += Buffer.byteLength(entry.source) + Buffer.byteLength(entry.detailType) + Buffer.byteLength(entry.detail);
    for (const resource of entry.resources ?? []) size += Buffer.byteLength(resource);
    return Math.max(1, Math.ceil(size / CHUNK_BYTES));
}

/** An EXPRESS execution's billed duration and memory: 100 ms steps (at least one), 64 MB chunks (at least one). */
export function expressBilling(execution: ExpressExecutionRecord): { durationMs: number; memoryMb: number } {
    const durationMs =
        execution.billedDurationMs ?? Math.max(EXPRESS_DURATION_STEP_MS, Math.ceil((execution.stopDate.getTime() - execution.startDate.getTime()) / EXPRESS_DURATION_STEP_MS) * EXPRESS_DURATION_STEP_MS);
    const memoryMb = Math.max(EXPRESS_MEMORY_STEP_MB, Math.ceil((execution.billedMemoryMb ?? EXPRESS_MEMORY_STEP_MB) / EXPRESS_MEMORY_STEP_MB) * EXPRESS_MEMORY_STEP_MB);
    return { durationMs, memoryMb };
}

const TEXT_REPORT = /^REPORT RequestId: (\S+)\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB(?:\tMax Memory Used: (\d+) MB)?(?:\tInit Duration: ([\d.]+) ms)?/;

/** A REPORT line (Text format) or a `platform.report` record (JSON format); undefined for any other log line. */
export function parseLambdaReport(message: string): LambdaReport | undefined {
    const text = TEXT_REPORT.exec(message);
    if (text) {
        const report: LambdaReport = { requestId: text[1], durationMs: Number(text[2]), billedDurationMs: Number(text[3]), memorySizeMb: Number(text[4]) };
        if (text[5] !== undefined) report.maxMemoryUsedMb = Number(text[5]);
        if (text[6] !== undefined) report.initDurationMs = Number(text[6]);
        return report;
    }
    if (!message.includes('"platform.report"')) return undefined;
    try {
        const parsed = JSON.parse(message) as { type?: string; record?: { requestId?: string; metrics?: Record<string, number> } };
        const metrics = parsed.record?.metrics;
        if (parsed.type !== "platform.report" || !metrics || typeof parsed.record?.requestId !== "string") return undefined;
        const report: LambdaReport = { requestId: parsed.record.requestId, durationMs: metrics.durationMs, billedDurationMs: metrics.billedDurationMs, memorySizeMb: metrics.memorySizeMB };
        if (metrics.maxMemoryUsedMB !== undefined) report.maxMemoryUsedMb = metrics.maxMemoryUsedMB;
        if (metrics.initDurationMs !== undefined) report.initDurationMs = metrics.initDurationMs;
        return report;
    } catch {
        return undefined;
    }
}

function line(prices: Prices, price: PriceKey, item: string, quantity: number, unit: string): BillLine {
    const unitPriceUsd = prices[price].usd;
    return { item, quantity, unit, unitPriceUsd, usd: quantity * unitPriceUsd, price };
}

function total(lines: BillLine[]): number {
    return lines.reduce((sum, l) => sum + l.usd, 0);
}

/** The itemised bill of a run's records. */
export function billOf(records: RunRecords, prices: Prices = PRICES): Bill {
    const lines: BillLine[] = [];
    const notCounted = [...(records.gaps ?? [])];
    const transitions = records.standardHistories.reduce((n, history) => n + standardTransitions(history), 0);
    lines.push(line(prices, "stepFunctions.standardStateTransition", "Step Functions STANDARD state transitions", transitions, "transitions"));
    lines.push(line(prices, "stepFunctions.expressRequest", "Step Functions EXPRESS requests", records.expressExecutions.length, "requests"));
    const expressGbSeconds = records.expressExecutions.reduce((sum, execution) => {
        const { durationMs, memoryMb } = expressBilling(execution);
        return sum + (memoryMb / 1024) * (durationMs / 1000);
    }, 0);
    lines.push(line(prices, "stepFunctions.expressGbSecond", "Step Functions EXPRESS duration", expressGbSeconds, "GB-seconds"));
    const chunks = records.publishedEvents.reduce((n, entry) => n + eventBridgeChunks(entry), 0);
    lines.push(line(prices, "eventBridge.customEvent", "EventBridge custom events published", chunks, "events (64 KB chunks)"));
    lines.push(line(prices, "lambda.request", "Lambda requests", records.lambdaReports.length, "requests"));
    const lambdaGbSeconds = records.lambdaReports.reduce((sum, r) => sum + (r.memorySizeMb / 1024) * (r.billedDurationMs / 1000), 0);
    lines.push(line(prices, "lambda.gbSecondX86", "Lambda duration (billed)", lambdaGbSeconds, "GB-seconds"));
    const requests = records.requests;
    if (requests) {
        lines.push(line(prices, "s3.tier1Request", "S3 PUT, COPY, POST, LIST requests", requests.s3.tier1, "requests"));
        lines.push(line(prices, "s3.tier2Request", "S3 GET and other requests", requests.s3.tier2, "requests"));
        lines.push(line(prices, "dynamodb.writeRequestUnit", "DynamoDB write request units (on-demand)", requests.dynamodb.writeRequestUnits, "WRU"));
        lines.push(line(prices, "dynamodb.readRequestUnit", "DynamoDB read request units (on-demand)", requests.dynamodb.readRequestUnits, "RRU"));
        if (requests.dynamodb.unitsNotReported > 0) {
            notCounted.push(`DynamoDB request units of ${requests.dynamodb.unitsNotReported} of the run's ${requests.dynamodb.requests} DynamoDB requests: their answers carried no ConsumedCapacity (ask for it with ReturnConsumedCapacity)`);
        }
    } else notCounted.push("S3 and DynamoDB requests: no requests lines or histories in the records");
    return { lines, totalUsd: total(lines), notCounted };
}

/**
 * The same run as the original design's layout would have been billed: the finisher a STANDARD machine (each of its
 * executions billed as the states it entered, no EXPRESS requests or duration) and no failure path (its finisher
 * executions and events left out). The Lambda, S3 and DynamoDB lines are the same records.
 */
export function originalLayoutBill(records: RunRecords, prices: Prices = PRICES): Bill {
    const finisher = records.expressExecutions.filter((execution) => !execution.failurePath);
    const asStandard: HistoryEvent[][] = finisher.map((execution) => Array.from({ length: execution.statesEntered }, () => ({ type: "PassStateEntered" }) as HistoryEvent));
    return billOf(
        {
            ...records,
            standardHistories: [...records.standardHistories, ...asStandard],
            expressExecutions: [],
            publishedEvents: records.publishedEvents.filter((entry) => !entry.failurePath),
        },
        prices,
    );
}

/** The bill as lines of text, for the trace and the benchmark. */
export function formatBill(bill: Bill, title = "cost of the run"): string[] {
    const out = [`${title} (us-east-1 list prices, systems/observability/pricing.json):`];
    for (const l of bill.lines) {
        const quantity = Number.isInteger(l.quantity) ? String(l.quantity) : l.quantity.toFixed(3);
        out.push(`  ${l.item.padEnd(44)} ${quantity.padStart(12)} ${l.unit.padEnd(22)} $${l.usd.toFixed(6)}`);
    }
    out.push(`  ${"total".padEnd(44)} ${"".padStart(12)} ${"".padEnd(22)} $${bill.totalUsd.toFixed(6)}`);
    for (const gap of bill.notCounted) out.push(`  not counted: ${gap}`);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Collecting a run's records over the AWS APIs

export interface CollectOptions {
    sfn: SFNClient;
    logs: CloudWatchLogsClient;
    /** The observability table (its events per run are the run's published events); absent: events not counted. */
    dynamodb?: DynamoDBClient;
    tableName?: string;
    executionArn: string;
    finisherArn: string;
    /** The log groups of the functions the run invokes (each function's LoggingConfig.LogGroup). */
    logGroups: string[];
    /** Lambda lines are attributed to the run by time: invocations between its start and end (and its side effects after). */
    from: Date;
    to: Date;
}

async function allHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
        const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken, includeExecutionData: false }));
        events.push(...(page.events ?? []));
        nextToken = page.nextToken;
    } while (nextToken);
    return events;
}

/** The run an event belongs to: `detail.trace.correlationId`, or in a Lambda failure record the failed event's. */
function correlationOf(input: unknown): string | undefined {
    const detail = (input as { detail?: { trace?: { correlationId?: string }; requestPayload?: { detail?: { trace?: { correlationId?: string } } } } } | null)?.detail;
    return detail?.trace?.correlationId ?? detail?.requestPayload?.detail?.trace?.correlationId;
}

/** Runs `work` over `items`, at most `limit` at a time (a 1,000-name run has a thousand finisher executions to read). */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, items.length) }, async () => {
            while (next < items.length) await work(items[next++]);
        }),
    );
}

/** Finisher executions read concurrently: enough to hide the round trips, few enough not to be throttled by AWS. */
const READ_CONCURRENCY = 8;

interface FinisherExecutions {
    executions: ExpressExecutionRecord[];
    /** The earliest start the listing still held: before it, executions may have been dropped. */
    earliestListed: number;
}

/**
 * The finisher's executions that belong to the run, from Step Functions' listing (the offline runtime keeps its
 * latest EXPRESS executions and lists them); undefined where the listing is refused, as AWS refuses it for EXPRESS
 * machines (StateMachineTypeNotSupported).
 */
async function finisherFromListing(options: CollectOptions): Promise<FinisherExecutions | undefined> {
    const listed: Array<{ executionArn: string; started: number }> = [];
    let earliestListed = Number.POSITIVE_INFINITY;
    let nextToken: string | undefined;
    try {
        do {
            const page = await options.sfn.send(new ListExecutionsCommand({ stateMachineArn: options.finisherArn, maxResults: 1000, nextToken }));
            for (const item of page.executions ?? []) {
                const started = item.startDate?.getTime() ?? 0;
                earliestListed = Math.min(earliestListed, started);
                if (started >= options.from.getTime() && started <= options.to.getTime() && item.executionArn) listed.push({ executionArn: item.executionArn, started });
            }
            nextToken = page.nextToken;
        } while (nextToken);
    } catch (error) {
        if (error instanceof StateMachineTypeNotSupported) return undefined;
        throw error;
    }
    const executions: ExpressExecutionRecord[] = [];
    await eachLimited(listed, READ_CONCURRENCY, async ({ executionArn, started }) => {
        const described = await options.sfn.send(new DescribeExecutionCommand({ executionArn }));
        let input: unknown;
        try {
            input = JSON.parse(described.input ?? "null");
        } catch {
            input = null;
        }
        if (correlationOf(input) !== options.executionArn) return;
        const detailType = (input as { "detail-type"?: string } | null)?.["detail-type"] ?? "";
        const finisherHistory = await allHistory(options.sfn, executionArn);
        executions.push({
            executionArn,
            startDate: described.startDate ?? new Date(started),
            stopDate: described.stopDate ?? new Date(),
            statesEntered: finisherHistory.filter((e) => e.type?.endsWith("StateEntered")).length,
            failurePath: detailType !== "taskFinished",
        });
    });
    return { executions, earliestListed };
}

/** One record of a state machine's CloudWatch Logs delivery (the fields used here). */
interface ExecutionLogRecord {
    type?: string;
    execution_arn?: string;
    event_timestamp?: string;
    details?: { name?: string };
}

/** The state of the TaskFinisher (components/taskFinisher.ts) that answers a `taskFinished` event. */
const SUCCESS_STATE = "SendTaskSuccess";

/**
 * The finisher's executions in the run's window, from its log group: in AWS the only record of an EXPRESS execution
 * (components/taskFinisher.ts logs every event, level ALL). Its log leaves execution data out (each input holds a
 * task token), so an execution cannot be tied to a run: every one in the window is counted, a concurrent run's too.
 */
async function finisherFromLogs(options: CollectOptions): Promise<{ executions: ExpressExecutionRecord[]; gap: string }> {
    const machine = await options.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: options.finisherArn }));
    const logGroupArn = machine.loggingConfiguration?.destinations?.[0]?.cloudWatchLogsLogGroup?.logGroupArn;
    const logGroupName = logGroupArn ? /:log-group:([^:]+)/.exec(logGroupArn)?.[1] : undefined;
    if (!logGroupName || machine.loggingConfiguration?.level !== "ALL") {
        return { executions: [], gap: `finisher executions: AWS lists no EXPRESS executions and ${options.finisherArn} logs ${logGroupName ? `at level ${machine.loggingConfiguration?.level}, not ALL` : "nowhere"}: the EXPRESS lines count none` };
    }
    const byArn = new Map<string, { start?: number; stop?: number; statesEntered: number; answeredSuccess: boolean }>();
    let token: string | undefined;
    do {
        const page = await options.logs.send(new FilterLogEventsCommand({ logGroupName, startTime: options.from.getTime(), endTime: options.to.getTime(), nextToken: token }));
        for (const event of page.events ?? []) {
            let record: ExecutionLogRecord;
            try {
                record = JSON.parse(event.message ?? "") as ExecutionLogRecord;
            } catch {
                continue;
            }
            if (!record.execution_arn || !record.type) continue;
            const at = Number(record.event_timestamp ?? event.timestamp);
            const execution = byArn.get(record.execution_arn) ?? { statesEntered: 0, answeredSuccess: false };
            byArn.set(record.execution_arn, execution);
            if (record.type === "ExecutionStarted") execution.start = at;
            else if (/^Execution(Succeeded|Failed|TimedOut|Aborted)$/.test(record.type)) execution.stop = at;
            else if (record.type.endsWith("StateEntered")) {
                execution.statesEntered++;
                if (record.details?.name === SUCCESS_STATE) execution.answeredSuccess = true;
            }
        }
        token = page.nextToken;
    } while (token);
    const executions: ExpressExecutionRecord[] = [];
    for (const [executionArn, e] of byArn) {
        // Only executions whose start and end are both in the window: a half-seen one is another run's.
        if (e.start === undefined || e.stop === undefined) continue;
        executions.push({ executionArn, startDate: new Date(e.start), stopDate: new Date(e.stop), statesEntered: e.statesEntered, failurePath: !e.answeredSuccess });
    }
    return {
        executions,
        gap: `finisher executions: AWS lists no EXPRESS executions; read from ${logGroupName}, every one that started and ended in the run's window (the log leaves inputs out, so a concurrent run's are counted too)`,
    };
}

/**
 * Reads a run's records: the workflow's history; the finisher's executions whose input belongs to the run
 * (ListExecutions, DescribeExecution, GetExecutionHistory; in AWS, which lists no EXPRESS executions, the finisher's
 * log group over the run's window); the REPORT lines of each function's log group in the run's time window
 * (FilterLogEvents), with the requests lines the run's handlers logged there (its S3 and DynamoDB requests; AWS's
 * own per-request records, server access logs and CloudTrail data events, come minutes to hours later and not per
 * run), and its steps' S3 and DynamoDB integrations from the history; the run's events from the observability
 * table. Not counted, and said so: any finisher execution the listing no longer holds.
 */
export async function collectRunRecords(options: CollectOptions): Promise<RunRecords> {
    const gaps: string[] = [];
    const history = await allHistory(options.sfn, options.executionArn);

    const listing = await finisherFromListing(options);
    let expressExecutions: ExpressExecutionRecord[];
    if (listing) {
        expressExecutions = listing.executions.sort((a, b) => a.startDate.getTime() - b.startDate.getTime());
        // Each task answered through taskFinished is one finisher execution: fewer found means the listing lost some.
        const answered = history.filter((event) => event.type === "TaskSucceeded").length;
        const found = expressExecutions.filter((execution) => !execution.failurePath).length;
        if (found < answered) {
            gaps.push(`finisher executions: ${found} of the ${answered} that answered the run's tasks are still listed (the listing keeps only the latest EXPRESS executions, from ${new Date(listing.earliestListed).toISOString()}; offline, --max-express-executions keeps more); the EXPRESS lines count those ${found}`);
        }
    } else {
        const fromLogs = await finisherFromLogs(options);
        expressExecutions = fromLogs.executions;
        gaps.push(fromLogs.gap);
    }

    const lambdaReports: LambdaReport[] = [];
    const requests = integrationRequests(history);
    await eachLimited([...new Set(options.logGroups)], READ_CONCURRENCY, async (logGroupName) => {
        let token: string | undefined;
        do {
            let page;
            try {
                page = await options.logs.send(
                    new FilterLogEventsCommand({ logGroupName, startTime: options.from.getTime(), endTime: options.to.getTime(), filterPattern: `?"REPORT RequestId" ?"platform.report" ?"${REQUESTS_LOG_MESSAGE}"`, nextToken: token }),
                );
            } catch (error) {
                // A function never invoked has no log group yet (AWS creates it on the first invocation): nothing to bill.
                if (error instanceof ResourceNotFoundException) return;
                throw error;
            }
            for (const event of page.events ?? []) {
                const report = parseLambdaReport(event.message ?? "");
                if (report) lambdaReports.push(report);
                // Requests lines name their run: only this run's are counted, whatever else ran in the window.
                const logged = report ? undefined : parseRequestsLogLine(event.message ?? "");
                if (logged?.correlationId === options.executionArn) addRequests(requests, logged.requests);
            }
            token = page.nextToken;
        } while (token);
    });

    const publishedEvents: PublishedEntry[] = [];
    if (options.dynamodb && options.tableName) {
        let start: Record<string, AttributeValue> | undefined;
        do {
            const page = await options.dynamodb.send(
                new QueryCommand({
                    TableName: options.tableName,
                    KeyConditionExpression: "correlationId = :run AND begins_with(sk, :events)",
                    ExpressionAttributeValues: { ":run": { S: options.executionArn }, ":events": { S: "event#" } },
                    ExclusiveStartKey: start,
                }),
            );
            for (const item of page.Items ?? []) {
                const event = eventOfItem(item);
                if (event.source.startsWith("aws.")) continue; // AWS service events are free
                publishedEvents.push({
                    source: event.source,
                    detailType: event.detailType,
                    detail: JSON.stringify(event.detail),
                    failurePath: event.detailType === "taskFailed" || event.source === "lambda",
                });
            }
            start = page.LastEvaluatedKey;
        } while (start);
        gaps.push("events: sized from the observability table's redacted copies (a task token's stand-in is shorter than the token; no entry here is near 64 KB)");
    } else gaps.push("EventBridge events: no observability table given");
    return { standardHistories: [history], expressExecutions, publishedEvents, lambdaReports, requests, gaps };
}
