/**
 * `npm run demo`: the main job, offline. Starts the runtime, sends the seed's `start` event over HTTP as
 * `aws events put-events` would, shows the execution's steps and Map items as they complete, and prints the
 * report it left in S3, then the run's trace as the observability system recorded it (timeline, critical path,
 * bill) and its page's URL. Exits non-zero when the run does not succeed.
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { chargebackDemo } from "../systems/chargeback/demo";
import { trace } from "../systems/observability/trace";
import { exitOnUsage, reportFailure, start, usage, watchParent } from "./cli";
import { atEndpoint } from "./core/naming";
import { LOCAL_CREDENTIALS, type Runtime } from "./core/runtime";

/** The systems with a demo of their own (`--system NAME`); without it, the cookie report's demo runs as always. */
const SYSTEM_DEMOS = ["cookieReport", "chargeback"] as const;

/** `--system NAME` / `--system=NAME`, taken out of the arguments the shared demo flags are parsed from. */
function takeSystem(argv: string[]): { system: string; rest: string[] } {
    const rest: string[] = [];
    let system = "cookieReport";
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--system") {
            if (i + 1 >= argv.length) usageError("--system needs a value");
            system = argv[++i];
        } else if (argv[i].startsWith("--system=")) system = argv[i].slice("--system=".length);
        else rest.push(argv[i]);
    }
    if (!(SYSTEM_DEMOS as readonly string[]).includes(system)) usageError(`--system must be one of ${SYSTEM_DEMOS.join(", ")}, got ${JSON.stringify(system)}`);
    return { system, rest };
}

function usageError(message: string): never {
    console.error(`npm run demo: ${message}`);
    process.exit(2);
}

async function main(): Promise<void> {
    const { system, rest } = takeSystem(process.argv.slice(2));
    if (rest.includes("--help") || rest.includes("-h")) {
        process.stdout.write(usage("demo"));
        process.stdout.write(`  --system NAME  the system whose demo runs: ${SYSTEM_DEMOS.join(" (default), ")}\n`);
        process.exit(0);
    }
    if (system === "chargeback") {
        const { count, help: _help, serve, ...options } = exitOnUsage("demo", rest);
        if (count !== undefined) usageError("--count is the cookie report's; the chargeback demo sends its fixture's deliveries");
        if (serve) usageError("--serve is the cookie report's demo's (it keeps its observability page up)");
        process.exit(await chargebackDemo(options));
    }
    const { count, help: _help, serve, ...options } = exitOnUsage("demo", rest);
    const detail = count === undefined ? "{}" : JSON.stringify({ count });
    const started = Date.now();
    const runtime = await start({ ...options, port: options.port ?? 4566 });
    // A demo whose parent is gone has no one to show its run to: it stops rather than serve on unseen.
    watchParent(() => {
        console.error("choreography demo: parent process gone, stopping");
        void runtime.close().finally(() => process.exit(1));
    });
    const { outputs } = runtime.stack;
    console.log(`evaluated index.ts under Pulumi mocks: ${runtime.stack.resources.length} resources, served locally (nothing deployed)`);
    console.log(`ready ${runtime.url} (${Date.now() - started} ms)`);

    const clientConfig = { endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS };
    const workflowArn = String(outputs.workflowArn);
    let items = 0;
    let executionArn: string | undefined;
    const executionStarted = new Promise<string>((resolve, reject) => {
        // No execution within this long means no rule took the event: say so rather than wait forever.
        setTimeout(() => reject(new Error(`no execution of ${workflowArn} started within 30 s of the start event`)), 30_000).unref();
        runtime.services.states.service.onProgress((p) => {
            if (p.stateMachineArn !== workflowArn) return;
            if (p.type === "ExecutionStarted") resolve(p.executionArn);
            if (p.executionArn !== executionArn) return;
            const at = `+${((Date.now() - started) / 1000).toFixed(2)}s`;
            if (p.type === "MapIterationSucceeded") console.log(`${at}  ProcessMultiple item ${p.mapIndex} done (${++items} so far)`);
            else if (p.type === "MapIterationFailed") console.log(`${at}  ProcessMultiple item ${p.mapIndex} FAILED`);
            else if (/StateExited$/.test(p.type) && p.mapIndex === undefined) console.log(`${at}  ${p.stateName} done`);
            else if (/^Execution(Succeeded|Failed|TimedOut|Aborted)$/.test(p.type)) console.log(`${at}  execution: ${p.type}`);
        });
    });

    const entry = { Source: String(outputs.eventSource), DetailType: "start", EventBusName: String(outputs.busName), Detail: detail };
    console.log(`put-events ${JSON.stringify(entry)}`);
    const put = await new EventBridgeClient(clientConfig).send(new PutEventsCommand({ Entries: [entry] }));
    if (put.FailedEntryCount) throw new Error(`put-events refused the start event: ${put.Entries?.[0]?.ErrorMessage}`);
    executionArn = await executionStarted;
    console.log(`execution ${executionArn}`);

    await runtime.services.states.service.waitForExecution(executionArn, 120_000);
    const execution = await new SFNClient(clientConfig).send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== "SUCCEEDED") {
        console.error(`the run ended ${execution.status}: ${execution.error ?? ""} ${execution.cause ?? ""}`);
        await runtime.close();
        process.exit(1);
    }
    const { reportKey } = JSON.parse(execution.output ?? "{}") as { reportKey: string };
    const report = await new S3Client(clientConfig).send(new GetObjectCommand({ Bucket: String(outputs.bucketName), Key: reportKey }));
    console.log(`report s3://${String(outputs.bucketName)}/${reportKey}:`);
    console.log(JSON.stringify(JSON.parse(await report.Body!.transformToString()), null, 2));
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    if (outputs.observabilityApiUrl !== undefined) await showObservability(runtime, executionArn, serve === true);
    if (serve) {
        console.log(`serving ${runtime.url} until Ctrl-C`);
        process.once("SIGINT", () => void runtime.close().finally(() => process.exit(0)));
        return;
    }
    await runtime.close();
    process.exit(0);
}

/**
 * The run as the observability system recorded it: its trace (timeline, critical path, bill), and the page that
 * shows it. The side effects and the recorder finish after the execution: the trace waits for them.
 */
async function showObservability(runtime: Runtime, executionArn: string, serving: boolean): Promise<void> {
    await runtime.idle();
    const { outputs } = runtime.stack;
    console.log("");
    console.log(await trace({ run: executionArn, json: false, workflow: String(outputs.workflowArn), endpoint: runtime.url }));
    if (outputs.observabilityPageUrl !== undefined) {
        console.log("");
        const url = atEndpoint(String(outputs.observabilityPageUrl), runtime.url);
        // Offline, the runtime takes a key it did not issue as the user's own: any key signs in.
        console.log(`observability page: ${url}`);
        console.log(`  ${serving ? "served until Ctrl-C" : "npm run demo -- --serve keeps it up after the run"}; offline, sign in with any access key id and secret`);
    }
}

main().catch(reportFailure("choreography demo"));
