/**
 * `npm run trace -- <execution arn or name> [--json] [--endpoint URL | --aws] [--table NAME] [--workflow NAME] [--finisher NAME]`
 *
 * Prints a run's timeline: against the offline runtime by default (http://127.0.0.1:4566, the runtime's own key), or
 * against AWS with `--aws` (the SDK's usual credentials and region). It reads what the API reads, with the same
 * functions (api.ts): the observability table (found by its name's prefix unless `--table` names it) and the
 * execution's history. A bare name is an execution of the workflow (`--workflow`, default the stack's
 * `choreography:observabilityWorkflow`, `cookieReport-workflow`).
 *
 * It ends with the run's bill (cost.ts), counted from the run's records, and beside it the same records billed as the
 * original layout (STANDARD finisher, no failure path). The finisher is the one EXPRESS state machine whose name holds
 * `finisher` unless `--finisher` names it; the Lambda lines come from the REPORT lines of every listed function's log
 * group in the run's window (its first record to its last, plus COST_WINDOW_GRACE_MS for the last invocations' REPORT).
 */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { LambdaClient, ListFunctionsCommand } from "@aws-sdk/client-lambda";
import { ListStateMachinesCommand, SFNClient, type StateMachineListItem } from "@aws-sdk/client-sfn";
import { LOCAL_CREDENTIALS } from "../../local/core/runtime";
import { ApiError, getRun, type RunDetail } from "./api";
import { billOf, collectRunRecords, formatBill, originalLayoutBill, type Bill } from "./cost";
import { formatTrace } from "./format";
import { executionHistory } from "./handlers/api";
import { EventStore } from "./store";

const USAGE = "usage: npm run trace -- <execution arn or name> [--json] [--endpoint URL | --aws] [--table NAME] [--workflow NAME] [--finisher NAME]";
export const DEFAULT_ENDPOINT = "http://127.0.0.1:4566";
/** The table's physical name starts with the component's child name (`observability-events`, plus Pulumi's suffix in AWS). */
const TABLE_PREFIX = "observability-events";

export interface TraceArgs {
    run: string;
    json: boolean;
    endpoint?: string;
    table?: string;
    workflow: string;
    /** The TaskFinisher's name or ARN; found among the EXPRESS state machines when absent. */
    finisher?: string;
}

export function parseTraceArgs(argv: string[]): TraceArgs {
    const args: Partial<TraceArgs> & { aws?: boolean } = { json: false, workflow: "cookieReport-workflow" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value\n${USAGE}`);
            return v;
        };
        if (a === "--json") args.json = true;
        else if (a === "--aws") args.aws = true;
        else if (a === "--endpoint") args.endpoint = value();
        else if (a === "--table") args.table = value();
        else if (a === "--workflow") args.workflow = value();
        else if (a === "--finisher") args.finisher = value();
        else if (a === "-h" || a === "--help") throw new Error(USAGE);
        else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n${USAGE}`);
        else if (args.run === undefined) args.run = a;
        else throw new Error(`one run at a time, got ${args.run} and ${a}\n${USAGE}`);
    }
    if (!args.run) throw new Error(`the execution ARN or name is required\n${USAGE}`);
    if (args.aws && args.endpoint) throw new Error(`--aws and --endpoint exclude each other\n${USAGE}`);
    return { run: args.run, json: args.json!, workflow: args.workflow!, table: args.table, finisher: args.finisher, endpoint: args.aws ? undefined : (args.endpoint ?? DEFAULT_ENDPOINT) };
}

async function findTable(dynamodb: DynamoDBClient): Promise<string> {
    const names: string[] = [];
    let start: string | undefined;
    do {
        const page = await dynamodb.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
        names.push(...(page.TableNames ?? []));
        start = page.LastEvaluatedTableName;
    } while (start);
    const found = names.filter((n) => n.startsWith(TABLE_PREFIX));
    if (found.length !== 1) throw new Error(`${found.length ? `several tables start with ${TABLE_PREFIX} (${found.join(", ")})` : `no table starts with ${TABLE_PREFIX}: is the observability system deployed?`}; name it with --table`);
    return found[0];
}

async function listStateMachines(sfn: SFNClient): Promise<StateMachineListItem[]> {
    const machines: StateMachineListItem[] = [];
    let nextToken: string | undefined;
    do {
        const page = await sfn.send(new ListStateMachinesCommand({ nextToken }));
        machines.push(...(page.stateMachines ?? []));
        nextToken = page.nextToken;
    } while (nextToken);
    return machines;
}

async function findWorkflow(sfn: SFNClient, workflow: string): Promise<string> {
    if (workflow.startsWith("arn:")) return workflow;
    const found = (await listStateMachines(sfn)).find((m) => m.name === workflow);
    if (found?.stateMachineArn) return found.stateMachineArn;
    throw new Error(`no state machine named ${workflow}: name the workflow with --workflow`);
}

/** The TaskFinisher: named, or the one EXPRESS machine whose name holds `finisher` (Pulumi adds a suffix in AWS). */
async function findFinisher(sfn: SFNClient, finisher: string | undefined): Promise<string> {
    if (finisher?.startsWith("arn:")) return finisher;
    const machines = await listStateMachines(sfn);
    const found = finisher ? machines.filter((m) => m.name === finisher) : machines.filter((m) => m.type === "EXPRESS" && /finisher/i.test(m.name ?? ""));
    if (found.length === 1 && found[0].stateMachineArn) return found[0].stateMachineArn;
    throw new Error(
        `${finisher ? `no state machine named ${finisher}` : found.length ? `several EXPRESS state machines are named like a finisher (${found.map((m) => m.name).join(", ")})` : "no EXPRESS state machine is named like a finisher"}: name it with --finisher`,
    );
}

/**
 * The observability system's own functions (`observability-*`, its children's names): the recorder runs once per
 * event, after it, so its invocations are the cost of watching the run, not of the run, and they trail the run by
 * however far the recorder lags.
 */
export const OBSERVER_FUNCTION_PREFIX = "observability-";
export const OBSERVER_NOT_COUNTED = "the observability system's own functions (observability-*: the recorder runs once per event): the cost of watching the run, not of the run";

/** Each function's log group (LoggingConfig.LogGroup, else Lambda's default `/aws/lambda/<name>`), the observer's left out. */
async function functionLogGroups(lambda: LambdaClient): Promise<string[]> {
    const groups: string[] = [];
    let marker: string | undefined;
    do {
        const page = await lambda.send(new ListFunctionsCommand({ Marker: marker }));
        for (const f of page.Functions ?? []) {
            if (f.FunctionName?.startsWith(OBSERVER_FUNCTION_PREFIX)) continue;
            groups.push(f.LoggingConfig?.LogGroup ?? `/aws/lambda/${f.FunctionName}`);
        }
        marker = page.NextMarker;
    } while (marker);
    return groups;
}

/** After the run's last record, its last invocations' REPORT lines are written (the recorder's, a late side effect's). */
export const COST_WINDOW_GRACE_MS = 2_000;

export interface RunCost {
    bill: Bill;
    /** The same records billed as the original layout: STANDARD finisher, no failure path. */
    originalLayout: Bill;
}

/** The run's window: its execution's start (else its first record) to its last record, plus the grace for REPORT lines. */
export function costWindow(detail: RunDetail, now = new Date()): { from: Date; to: Date } {
    const t = detail.timeline;
    const times = [t.startedAt, t.stoppedAt, ...t.entries.map((e) => e.at), ...t.bars.flatMap((b) => [b.start, b.end])].filter((x): x is string => x !== undefined).map(Date.parse);
    // Every invocation and finisher execution of the run follows its execution's start (the user's `start` event
    // comes before it, timed to the whole second only, which would reach back into whatever ran just before).
    const from = t.startedAt !== undefined ? Date.parse(t.startedAt) : Math.min(...times);
    // A run still going has no end yet: its window runs to now.
    const to = t.stoppedAt === undefined ? now.getTime() : Math.max(...times) + COST_WINDOW_GRACE_MS;
    return { from: new Date(from), to: new Date(to) };
}

/** Lines comparing the two bills, per run. */
export function costComparison(cost: RunCost): string[] {
    const ours = cost.bill.totalUsd;
    const original = cost.originalLayout.totalUsd;
    const change = original > 0 ? ` (${ours >= original ? "+" : ""}${(((ours - original) / original) * 100).toFixed(1)}%)` : "";
    return [`  this layout $${ours.toFixed(6)} vs the original layout $${original.toFixed(6)}${change}`];
}

/** The trace of one run, as text or JSON. */
export async function trace(args: TraceArgs): Promise<string> {
    const config = args.endpoint ? { endpoint: args.endpoint, region: process.env.AWS_REGION ?? "us-east-1", credentials: LOCAL_CREDENTIALS } : {};
    const dynamodb = new DynamoDBClient(config);
    const sfn = new SFNClient(config);
    const [table, workflowArn] = await Promise.all([args.table ?? findTable(dynamodb), args.run.startsWith("arn:") ? "" : findWorkflow(sfn, args.workflow)]);
    const detail = await getRun({ store: new EventStore(dynamodb, table, 0), workflowArn, history: (arn) => executionHistory(sfn, arn) }, args.run);
    const [finisherArn, logGroups] = await Promise.all([findFinisher(sfn, args.finisher), functionLogGroups(new LambdaClient(config))]);
    const records = await collectRunRecords({ sfn, logs: new CloudWatchLogsClient(config), dynamodb, tableName: table, executionArn: detail.executionArn, finisherArn, logGroups, ...costWindow(detail) });
    records.gaps = [...(records.gaps ?? []), OBSERVER_NOT_COUNTED];
    const cost: RunCost = { bill: billOf(records), originalLayout: originalLayoutBill(records) };
    if (args.json) return JSON.stringify({ ...detail, cost }, null, 2);
    return formatTrace(detail, [...formatBill(cost.bill, "this layout"), ...formatBill(cost.originalLayout, "the original layout (STANDARD finisher, no failure path), same records"), ...costComparison(cost)]);
}

if (require.main === module) {
    (async () => {
        let args: TraceArgs;
        try {
            args = parseTraceArgs(process.argv.slice(2));
        } catch (error) {
            console.error((error as Error).message);
            process.exit(2);
        }
        try {
            console.log(await trace(args));
        } catch (error) {
            console.error(error instanceof ApiError ? `${error.code}: ${error.message}` : `trace failed: ${(error as Error).message}`);
            process.exit(1);
        }
    })();
}
