/**
 * `npm run bench`: the offline runtime under load, driven over HTTP with the AWS SDK as a user would.
 *
 *   0. a warm-up run (40 names), so every function's Lambda Worker is started before the timed runs, as it is
 *      in any runtime that has served a run (`--no-warmup` times the cold start too);
 *   1. one run fanning out over 1,000 names at Map MaxConcurrency 40 (target: SUCCEEDED in under 10 s);
 *   2. 50 runs of 20 names each, their `start` events put at once (target: all SUCCEEDED, no event lost).
 *
 * For each it prints the wall time, state transitions per second, Lambda invocations, CPU time and peak memory,
 * checks every report as the load test does (local/testing/load.ts: the total is the sum of the per-person files),
 * prints PASS or FAIL per target and exits non-zero when a target is missed. A fixed single-threaded loop, timed
 * before and after, shows how fast the CPU was at the time: on a shared VM it moves, and the wall times with it.
 *
 *   npm run bench [-- --names 1000 --concurrency 40 --runs 50 --run-names 20 --target-ms 10000 --no-warmup]
 *
 * `--soak N` runs a soak instead: N runs at the dev stack's own settings, in waves of `--wave` runs (20) of
 * `--soak-names` names (5) started at once, with the runtime keeping `--retain` finished workflow executions (50, so
 * the bound is reached within the first waves). After each wave it prints the main isolate's heap after forced
 * full collections, RSS and how many executions the Step Functions service holds, and at the end whether the heap
 * stayed within `--heap-range-mib` (32) across the waves that followed the bound being reached.
 *
 *   npm run bench -- --soak 300 [--wave 20 --soak-names 5 --retain 50 --heap-range-mib 32]
 */
import * as os from "os";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DescribeExecutionCommand } from "@aws-sdk/client-sfn";
import { BusEvent } from "../local/services/events/eventBridge";
import { Runtime, startRuntime } from "../local/core/runtime";
import { type RunCost, parseTraceArgs, trace } from "../systems/observability/trace";
import { ExecutionProgress } from "../local/services/stepfunctions/stepFunctions";
import { MiB, checkReport, eachLimited, sampleMemory, settledHeapUsed } from "../local/testing/load";
import { DrivenRuntime, clientsFor, historyOf, listWorkflowExecutions, newExecutions } from "../local/testing/runtime";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

interface BenchOptions {
    names: number;
    concurrency: number;
    runs: number;
    runNames: number;
    /** The 1,000-name run must succeed within this. */
    targetMs: number;
    warmupNames: number;
    /** Runs of the soak; 0 runs the load phases instead. */
    soak: number;
    wave: number;
    soakNames: number;
    retain: number;
    heapRangeMib: number;
    /** `choreography:systems` for the run (the dev stack's own when absent): `--systems cookieReport` measures the workflow without its observer. */
    systems?: string[];
}

function parseOptions(argv: string[]): BenchOptions {
    const options: BenchOptions = { names: 1000, concurrency: 40, runs: 50, runNames: 20, targetMs: 10_000, warmupNames: 40, soak: 0, wave: 20, soakNames: 5, retain: 50, heapRangeMib: 32 };
    const flags: Record<string, Exclude<keyof BenchOptions, "systems">> = {
        "--names": "names",
        "--concurrency": "concurrency",
        "--runs": "runs",
        "--run-names": "runNames",
        "--target-ms": "targetMs",
        "--warmup-names": "warmupNames",
        "--soak": "soak",
        "--wave": "wave",
        "--soak-names": "soakNames",
        "--retain": "retain",
        "--heap-range-mib": "heapRangeMib",
    };
    const usage = `usage: npm run bench -- [${Object.keys(flags).join(" N] [")} N] [--no-warmup] [--systems NAME,NAME]`;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--no-warmup") {
            options.warmupNames = 0;
            continue;
        }
        if (argv[i] === "--systems") {
            options.systems = (argv[++i] ?? "").split(",").filter(Boolean);
            if (options.systems.length === 0) throw new Error(usage);
            continue;
        }
        const key = flags[argv[i]];
        const value = Number(argv[++i]);
        if (!key || !Number.isInteger(value) || value < 0) throw new Error(usage);
        options[key] = value;
    }
    if (options.names < 1 || options.runs < 1 || options.runNames < 1 || options.concurrency < 1 || options.wave < 1 || options.soakNames < 1) throw new Error(usage);
    return options;
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring

/**
 * A fixed piece of single-threaded work (JSON round trips), timed: how fast this machine's CPU is right now. On a
 * shared VM it moves by more than a third within minutes, and every wall time here moves with it.
 */
function referenceLoopMs(): number {
    const value = { list: [1, 2, 3], text: "x".repeat(100), nested: { flag: true, none: null, ratio: 1.5 } };
    const started = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < 300_000; i++) sink += (JSON.parse(JSON.stringify(value)) as typeof value).list.length;
    if (sink !== 900_000) throw new Error("reference loop miscounted");
    return Number(process.hrtime.bigint() - started) / 1e6;
}

/** What the bus and the state machines did during one phase, watched in-process. */
class Watch {
    readonly events: BusEvent[] = [];
    /** TaskFinisher executions by outcome; `tokenNotWaiting` counts answers whose token was no longer waiting. */
    finisherSucceeded = 0;
    finisherOther = 0;
    tokenNotWaiting = 0;
    /** `*StateEntered` events of every execution: the workflow's and the TaskFinisher's. */
    allTransitions = 0;
    private readonly stops: Array<() => void> = [];

    constructor(runtime: Runtime) {
        const finisherArn = String(runtime.stack.outputs.finisherArn);
        this.stops.push(runtime.services.events.service.onEvent((event) => this.events.push(event)));
        this.stops.push(
            runtime.services.states.service.onProgress((p: ExecutionProgress) => {
                if (p.type.endsWith("StateEntered")) this.allTransitions++;
                if (p.stateMachineArn !== finisherArn) return;
                if (p.type === "PassStateEntered" && p.stateName === "TokenNotWaiting") this.tokenNotWaiting++;
                if (p.type === "ExecutionSucceeded") this.finisherSucceeded++;
                else if (/^Execution(Failed|TimedOut|Aborted)$/.test(p.type)) this.finisherOther++;
            }),
        );
    }

    count(detailType: string): number {
        return this.events.filter((e) => e["detail-type"] === detailType).length;
    }

    close(): void {
        for (const stop of this.stops) stop();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Driving the runtime over HTTP

/** One PutEvents call with one `start` entry; resolves to whether it was accepted. */
async function putStart(runtime: DrivenRuntime, count: number): Promise<boolean> {
    const response = await runtime.clients.events.send(
        new PutEventsCommand({ Entries: [{ Source: "project", DetailType: "start", EventBusName: "default", Detail: JSON.stringify({ count }) }] }),
    );
    return response.FailedEntryCount === 0 && Boolean(response.Entries?.[0]?.EventId);
}

interface RunCheck {
    executionArn: string;
    status: string;
    problem?: string;
    names: number;
    /** `*StateEntered` events in the execution's history, Map iterations' states included. */
    transitions: number;
    /** TaskSucceeded events: tasks answered through taskFinished. */
    tasksSucceeded: number;
    stopMs: number;
}

/** Describes the execution, counts its history, and checks its report as a user would (checkReport). */
async function checkRun(runtime: DrivenRuntime, executionArn: string, expectedNames: number): Promise<RunCheck> {
    const execution = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const events = await historyOf(runtime, executionArn, false);
    const check: RunCheck = {
        executionArn,
        status: execution.status ?? "UNKNOWN",
        names: 0,
        transitions: events.filter((e) => e.type?.endsWith("StateEntered")).length,
        tasksSucceeded: events.filter((e) => e.type === "TaskSucceeded").length,
        stopMs: execution.stopDate?.getTime() ?? Number.NaN,
    };
    try {
        check.names = (await checkReport(runtime, execution, expectedNames)).names.length;
    } catch (error) {
        check.problem = (error as Error).message;
    }
    return check;
}

// ---------------------------------------------------------------------------------------------------------------
// Phases

interface Target {
    name: string;
    pass: boolean;
    detail: string;
}

interface PhaseResult {
    /** One check per run, reports read back over HTTP. */
    checks: RunCheck[];
    /** Start events the bus refused. */
    refused: number;
    wallMs: number;
    watch: Watch;
    failures: number;
}

/**
 * Starts `runs` runs of `names` names at once (one PutEvents call each), waits for them to end, and prints the
 * phase's figures. The wall time runs from the first PutEvents sent to the last execution's stop date.
 */
async function phase(runtime: Runtime & DrivenRuntime, known: Set<string>, title: string, runs: number, names: number): Promise<PhaseResult> {
    const watch = new Watch(runtime);
    const failuresBefore = runtime.services.events.service.deliveryFailures.length;
    const statsBefore = runtime.services.lambda.service.stats();
    const memory = sampleMemory();
    const cpuBefore = process.cpuUsage();
    const t0 = Date.now();
    const puts = await Promise.allSettled(Array.from({ length: runs }, () => putStart(runtime, names)));
    const refused = puts.filter((p) => p.status === "rejected" || !p.value).length;
    const arns = refused === runs ? [] : await newExecutions(runtime, known, runs - refused, 20_000);
    await Promise.all(arns.map((arn) => runtime.services.states.service.waitForExecution(arn, 300_000)));
    const finishedAt = Date.now();
    const cpu = process.cpuUsage(cpuBefore);
    await runtime.idle(); // side effects run off the critical path: count them once they are done
    const mem = memory.stop();
    watch.close();
    const stats = runtime.services.lambda.service.stats();

    const checks: RunCheck[] = [];
    await eachLimited(arns, 4, async (arn) => {
        checks.push(await checkRun(runtime, arn, names));
    });
    const lastStop = Math.max(...checks.map((c) => c.stopMs));
    const wallMs = (Number.isFinite(lastStop) ? lastStop : finishedAt) - t0;
    const seconds = wallMs / 1000;
    const succeeded = checks.filter((c) => !c.problem).length;
    const transitions = checks.reduce((n, c) => n + c.transitions, 0);
    const invocations = stats.invocations - statsBefore.invocations;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;

    console.log(`\n${title}: ${succeeded}/${runs} SUCCEEDED with correct reports`);
    console.log(`  wall time (first PutEvents sent -> last execution stopped): ${seconds.toFixed(2)} s`);
    console.log(
        `  state transitions: ${transitions} in the workflow's histories, ${(transitions / seconds).toFixed(0)}/s ` +
            `(with the TaskFinisher's EXPRESS executions: ${watch.allTransitions}, ${(watch.allTransitions / seconds).toFixed(0)}/s)`,
    );
    console.log(`  Lambda invocations: ${invocations} (${(invocations / seconds).toFixed(0)}/s), ${stats.errors - statsBefore.errors} errors`);
    console.log(
        `  CPU: ${cpuSeconds.toFixed(1)} s over ${os.cpus().length} CPUs (${((100 * cpuSeconds) / seconds).toFixed(0)}% of one), ` +
            `${((1000 * cpuSeconds) / (runs * names)).toFixed(1)} ms per name`,
    );
    console.log(
        `  peak memory: RSS ${(mem.peakRss / MiB).toFixed(0)} MiB (Lambda Workers included: they are threads of this process), ` +
            `JS heap used ${(mem.peakHeapUsed / MiB).toFixed(0)} MiB (main isolate)`,
    );
    for (const c of checks.filter((c) => c.problem)) console.log(`  ${c.executionArn}: ${c.problem}`);
    return { checks, refused, wallMs, watch, failures: runtime.services.events.service.deliveryFailures.length - failuresBefore };
}

// ---------------------------------------------------------------------------------------------------------------
// Soak

/** Figures after one wave of the soak. */
interface WaveFigures {
    runs: number;
    heapAfterGc: number;
    rss: number;
    /** The workflow's finished executions in memory reached the retention bound. */
    boundReached: boolean;
}

/**
 * `--soak`: waves of runs at the dev stack's settings, the heap measured after each once the runtime is idle. The
 * retention bound is set low so that it is reached early: from then on, what the runtime keeps should not grow.
 */
async function soak(options: BenchOptions): Promise<boolean> {
    const served = await startRuntime({ port: 0, maxExecutions: options.retain });
    const runtime = { ...served, clients: clientsFor(served) };
    console.log(`runtime ready at ${runtime.url}: soak of ${options.soak} runs x ${options.soakNames} names, waves of ${options.wave}, keeping ${options.retain} finished workflow executions`);
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}; heap = main isolate after forced full GCs (Lambda Workers are isolates of their own, in RSS)`);
    const known = new Set((await listWorkflowExecutions(runtime)).map((e) => e.executionArn!));
    const waves: WaveFigures[] = [];
    let failed = 0;
    try {
        const baseline = await settledHeapUsed();
        console.log(`before the first run: heap ${(baseline / MiB).toFixed(1)} MiB, RSS ${(process.memoryUsage().rss / MiB).toFixed(0)} MiB`);
        for (let done = 0; done < options.soak; ) {
            const size = Math.min(options.wave, options.soak - done);
            const t0 = Date.now();
            const puts = await Promise.all(Array.from({ length: size }, () => putStart(runtime, options.soakNames)));
            const started = await newExecutions(runtime, known, puts.filter(Boolean).length, 60_000);
            const ended = await Promise.all(started.map((arn) => runtime.services.states.service.waitForExecution(arn, 300_000)));
            failed += size - ended.filter((e) => e.status === "SUCCEEDED").length;
            // Known ARNs are only needed to tell new executions from listed ones; the evicted are no longer listed.
            for (const arn of started) known.delete(arn);
            for (const item of await listWorkflowExecutions(runtime)) known.add(item.executionArn!);
            await runtime.idle();
            done += size;
            const heapAfterGc = await settledHeapUsed();
            const rss = process.memoryUsage().rss;
            const held = runtime.services.states.service.retainedExecutions();
            const wave = { runs: done, heapAfterGc, rss, boundReached: held.standard >= options.retain };
            waves.push(wave);
            console.log(
                `  ${String(done).padStart(5)} runs: heap after GC ${(heapAfterGc / MiB).toFixed(1).padStart(6)} MiB, RSS ${(rss / MiB).toFixed(0).padStart(4)} MiB, ` +
                    `held: ${held.standard} workflow + ${held.express} finisher finished, ${held.running} running; ` +
                    `wave ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failed} runs not SUCCEEDED so far`,
            );
        }
    } finally {
        await runtime.close();
    }
    const steady = waves.filter((w) => w.boundReached);
    if (steady.length < 2) {
        console.log(`
FAIL  the retention bound (${options.retain}) was reached in fewer than 2 waves: soak longer or retain less`);
        return false;
    }
    const heaps = steady.map((w) => w.heapAfterGc);
    const range = (Math.max(...heaps) - Math.min(...heaps)) / MiB;
    const perRun = (steady[steady.length - 1].heapAfterGc - steady[0].heapAfterGc) / MiB / (steady[steady.length - 1].runs - steady[0].runs);
    const pass = range <= options.heapRangeMib && failed === 0;
    console.log(
        `
${pass ? "PASS" : "FAIL"}  heap after GC from run ${steady[0].runs} (bound reached) to run ${steady[steady.length - 1].runs}: ` +
            `${(Math.min(...heaps) / MiB).toFixed(1)}-${(Math.max(...heaps) / MiB).toFixed(1)} MiB, a range of ${range.toFixed(1)} MiB (target: within ${options.heapRangeMib}), ` +
            `${(perRun * 1024).toFixed(1)} KiB per run first to last; RSS ${(steady[0].rss / MiB).toFixed(0)} -> ${(steady[steady.length - 1].rss / MiB).toFixed(0)} MiB; ${failed} runs not SUCCEEDED`,
    );
    return pass;
}

/**
 * Each run's bill, as `npm run trace` counts it from the run's own records, beside the original layout's (STANDARD
 * finisher, no failure path) over the same records: per run and per 1,000 names.
 */
async function printCosts(runtime: Runtime, runs: { names: number; executionArn: string }[]): Promise<void> {
    if (runtime.stack.outputs.observabilityTableName === undefined) {
        console.log("\ncost per run: not counted (the observability system, whose records the bill is counted from, is not deployed)");
        return;
    }
    console.log("\ncost per run (us-east-1 list prices, systems/observability/pricing.json; counted from each run's records as npm run trace counts them):");
    console.log("  run            this layout   per 1,000 names   original layout   per 1,000 names   change");
    for (const { names, executionArn } of runs) {
        const { cost } = JSON.parse(await trace(parseTraceArgs([executionArn, "--json", "--endpoint", runtime.url]))) as { cost: RunCost };
        const ours = cost.bill.totalUsd;
        const original = cost.originalLayout.totalUsd;
        const per1000 = (usd: number) => (usd / names) * 1000;
        console.log(
            `  ${`${names} names`.padEnd(13)}  $${ours.toFixed(6).padStart(9)}   $${per1000(ours).toFixed(6).padStart(10)}       $${original.toFixed(6).padStart(9)}        $${per1000(original).toFixed(6).padStart(10)}   ${(((ours - original) / original) * 100).toFixed(1)}%`,
        );
        const gaps = cost.bill.notCounted.filter((gap) => gap.startsWith("finisher executions"));
        for (const gap of gaps) console.log(`    not counted: ${gap}`);
    }
}

async function main(): Promise<void> {
    const options = parseOptions(process.argv.slice(2));
    if (options.soak > 0) process.exit((await soak(options)) ? 0 : 1);
    // Timed while nothing else runs: before the runtime starts its threads, and after it has stopped them.
    const referenceBefore = referenceLoopMs();
    const started = Date.now();
    // Every finisher execution of the billed runs is kept, so their bills count them all (1,002 for 1,000 names).
    const config: Record<string, string> = { "choreography:mapMaxConcurrency": String(options.concurrency) };
    if (options.systems) config["choreography:systems"] = JSON.stringify(options.systems);
    const served = await startRuntime({ port: 0, config, maxExpressExecutions: 10_000 });
    const runtime = { ...served, clients: clientsFor(served) };
    console.log(`runtime ready at ${runtime.url} in ${Date.now() - started} ms: ${runtime.stack.resources.length} resources, Map MaxConcurrency ${options.concurrency}`);
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} before the runs`);
    console.log(
        "state transitions = `*StateEntered` events (Task, Map, Succeed ... states, each Map iteration's states included) " +
            "in the workflow executions' histories (GetExecutionHistory), per second of wall time",
    );
    const known = new Set((await listWorkflowExecutions(runtime)).map((e) => e.executionArn!));

    const targets: Target[] = [];
    try {
        const billed: { names: number; executionArn: string }[] = [];
        if (options.warmupNames > 0) {
            const warm = await phase(runtime, known, `warm-up: 1 run x ${options.warmupNames} names (starts every function's Lambda Worker)`, 1, options.warmupNames);
            if (warm.checks[0]) billed.push({ names: options.warmupNames, executionArn: warm.checks[0].executionArn });
        }

        const single = await phase(runtime, known, `1 run x ${options.names} names, Map MaxConcurrency ${options.concurrency}`, 1, options.names);
        const [run] = single.checks;
        if (run) billed.push({ names: options.names, executionArn: run.executionArn });
        // Billed alone: a run's Lambda lines come from its time window, which concurrent runs would share.
        await runtime.idle();
        await printCosts(runtime, billed);
        const sideEffects = single.watch.count("sideEffectDone");
        targets.push(
            {
                name: `${options.names}-name run SUCCEEDED with a correct report`,
                pass: single.refused === 0 && run !== undefined && !run.problem,
                detail: run?.problem ?? `${run?.names} names, total = sum of ${run?.names} per-person files`,
            },
            {
                name: `${options.names}-name run under ${options.targetMs / 1000} s${options.warmupNames > 0 ? " (after the warm-up)" : " (cold)"}`,
                pass: run !== undefined && !run.problem && single.wallMs < options.targetMs,
                detail: `${(single.wallMs / 1000).toFixed(2)} s`,
            },
            { name: `${options.names}-name run: one side effect per name`, pass: sideEffects === options.names, detail: `${sideEffects} sideEffectDone` },
        );

        const many = await phase(runtime, known, `${options.runs} runs x ${options.runNames} names started at once`, options.runs, options.runNames);
        const { watch } = many;
        const totalNames = options.runs * options.runNames;
        const tasks = options.runs * (options.runNames + 2); // GetMultiple, one per name, PostProcessAll
        const answered = many.checks.reduce((n, c) => n + c.tasksSucceeded, 0);
        const succeeded = many.checks.filter((c) => !c.problem).length;
        const sideEffectsDone = watch.count("sideEffectDone");
        const taskFinished = watch.count("taskFinished");
        console.log(
            `  events: ${watch.events.length} accepted on the bus (${watch.count("start")} start), ${many.failures} delivery failures; ` +
                `${taskFinished} taskFinished -> ${watch.finisherSucceeded} TaskFinisher executions succeeded ` +
                `(${watch.tokenNotWaiting} found their token no longer waiting, ${watch.finisherOther} did not succeed); ` +
                `${answered} TaskSucceeded in the histories; ${sideEffectsDone} sideEffectDone`,
        );
        targets.push(
            {
                name: `${options.runs} concurrent runs all SUCCEEDED with correct reports`,
                pass: many.refused === 0 && succeeded === options.runs,
                detail: `${succeeded}/${options.runs}${many.refused ? `, ${many.refused} start events refused` : ""}`,
            },
            {
                name: `${options.runs} concurrent runs: no event lost`,
                pass:
                    many.refused === 0 &&
                    watch.count("start") === options.runs &&
                    many.failures === 0 &&
                    sideEffectsDone === totalNames &&
                    taskFinished === tasks &&
                    watch.finisherSucceeded === tasks &&
                    watch.tokenNotWaiting === 0 &&
                    watch.finisherOther === 0 &&
                    answered === tasks,
                detail:
                    `${options.runs - many.refused}/${options.runs} puts accepted, ${many.failures} delivery failures, ` +
                    `${sideEffectsDone}/${totalNames} side effects, ${taskFinished}/${tasks} taskFinished, ${answered}/${tasks} tasks answered`,
            },
        );
    } finally {
        await runtime.close();
    }
    console.log(
        `\nCPU speed reference (a fixed single-threaded loop, lower is faster): ${referenceBefore.toFixed(0)} ms before the runtime started, ` +
            `${referenceLoopMs().toFixed(0)} ms after it stopped`,
    );
    console.log("");
    for (const t of targets) console.log(`${t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.detail}`);
    process.exit(targets.every((t) => t.pass) ? 0 : 1);
}

main().catch((error: Error) => {
    console.error(`bench: ${error.stack ?? error.message}`);
    process.exit(2);
});
