/**
 * `npm run trace -- <execution arn or name> [--json] [--endpoint URL | --aws] [--table NAME] [--workflow NAME]`
 *
 * Prints a run's timeline: against the offline runtime by default (http://127.0.0.1:4566, the runtime's own key), or
 * against AWS with `--aws` (the SDK's usual credentials and region). It reads what the API reads, with the same
 * functions (api.ts): the observability table (found by its name's prefix unless `--table` names it) and the
 * execution's history. A bare name is an execution of the workflow (`--workflow`, default the stack's
 * `choreography:observabilityWorkflow`, `cookieReport-workflow`).
 */
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { ListStateMachinesCommand, SFNClient } from "@aws-sdk/client-sfn";
import { LOCAL_CREDENTIALS } from "../../local/core/runtime";
import { ApiError, getRun } from "./api";
import { formatTrace } from "./format";
import { executionHistory } from "./handlers/api";
import { EventStore } from "./store";

const USAGE = "usage: npm run trace -- <execution arn or name> [--json] [--endpoint URL | --aws] [--table NAME] [--workflow NAME]";
export const DEFAULT_ENDPOINT = "http://127.0.0.1:4566";
/** The table's physical name starts with the component's child name (`observability-events`, plus Pulumi's suffix in AWS). */
const TABLE_PREFIX = "observability-events";

export interface TraceArgs {
    run: string;
    json: boolean;
    endpoint?: string;
    table?: string;
    workflow: string;
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
        else if (a === "-h" || a === "--help") throw new Error(USAGE);
        else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n${USAGE}`);
        else if (args.run === undefined) args.run = a;
        else throw new Error(`one run at a time, got ${args.run} and ${a}\n${USAGE}`);
    }
    if (!args.run) throw new Error(`the execution ARN or name is required\n${USAGE}`);
    if (args.aws && args.endpoint) throw new Error(`--aws and --endpoint exclude each other\n${USAGE}`);
    return { run: args.run, json: args.json!, workflow: args.workflow!, table: args.table, endpoint: args.aws ? undefined : (args.endpoint ?? DEFAULT_ENDPOINT) };
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

async function findWorkflow(sfn: SFNClient, workflow: string): Promise<string> {
    if (workflow.startsWith("arn:")) return workflow;
    let nextToken: string | undefined;
    do {
        const page = await sfn.send(new ListStateMachinesCommand({ nextToken }));
        const found = page.stateMachines?.find((m) => m.name === workflow);
        if (found?.stateMachineArn) return found.stateMachineArn;
        nextToken = page.nextToken;
    } while (nextToken);
    throw new Error(`no state machine named ${workflow}: name the workflow with --workflow`);
}

/** The trace of one run, as text or JSON. */
export async function trace(args: TraceArgs): Promise<string> {
    const config = args.endpoint ? { endpoint: args.endpoint, region: process.env.AWS_REGION ?? "us-east-1", credentials: LOCAL_CREDENTIALS } : {};
    const dynamodb = new DynamoDBClient(config);
    const sfn = new SFNClient(config);
    const [table, workflowArn] = await Promise.all([args.table ?? findTable(dynamodb), args.run.startsWith("arn:") ? "" : findWorkflow(sfn, args.workflow)]);
    const detail = await getRun({ store: new EventStore(dynamodb, table, 0), workflowArn, history: (arn) => executionHistory(sfn, arn) }, args.run);
    // cost: systems/observability/cost.ts fills this (null until then).
    return args.json ? JSON.stringify({ ...detail, cost: null }, null, 2) : formatTrace(detail);
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
