/** Helpers for the load test: many runs at once through the endpoint, their reports, and the runtime's memory. */
import { runInNewContext } from "vm";
import * as v8 from "v8";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DescribeExecutionCommand, DescribeExecutionCommandOutput, ExecutionListItem } from "@aws-sdk/client-sfn";
import type { CookieReport } from "../../systems/cookieReport/handlers/postProcessAll";
import { DrivenRuntime, executionName, listWorkflowExecutions, readJson } from "./runtime";

export const MiB = 1024 * 1024;

/** Puts `runs` start events at once, one PutEvents call each, and fails on any refused entry. */
export async function putStarts(runtime: DrivenRuntime, runs: number, detail: unknown): Promise<void> {
    const entry = { Source: "project", DetailType: "start", EventBusName: "default", Detail: JSON.stringify(detail) };
    const answers = await Promise.all(Array.from({ length: runs }, () => runtime.clients.events.send(new PutEventsCommand({ Entries: [entry] }))));
    const refused = answers.filter((a) => a.FailedEntryCount !== 0 || !a.Entries?.[0]?.EventId);
    if (refused.length > 0) throw new Error(`${refused.length} of ${runs} start events refused: ${JSON.stringify(refused[0].Entries)}`);
}

/**
 * Polls ListExecutions (one request a poll, however many runs) until `count` executions not in `known` exist and
 * none of them is RUNNING; returns them.
 */
export async function awaitNewRuns(runtime: DrivenRuntime, known: ReadonlySet<string>, count: number, timeoutMs: number): Promise<ExecutionListItem[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const fresh = (await listWorkflowExecutions(runtime)).filter((e) => !known.has(e.executionArn!));
        const running = fresh.filter((e) => e.status === "RUNNING").length;
        if (fresh.length >= count && running === 0) return fresh;
        if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms: ${fresh.length} of ${count} runs started, ${running} still RUNNING`);
        await new Promise((r) => setTimeout(r, 250));
    }
}

export interface CheckedReport {
    executionName: string;
    names: string[];
    totalCookiesConsumed: number;
}

/** Runs `work` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, items.length) }, async () => {
            while (next < items.length) await work(items[next++]);
        }),
    );
}

/** Describes a finished run over HTTP and checks its report (see checkReport). */
export async function checkRun(runtime: DrivenRuntime, executionArn: string, people: number): Promise<CheckedReport> {
    return checkReport(runtime, await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn })), people);
}

/**
 * Checks a described run's report as a user would: SUCCEEDED, `people` distinct names, and a total that is the sum
 * of the per-person files (read 32 at a time). Throws with what is wrong.
 */
export async function checkReport(runtime: DrivenRuntime, execution: DescribeExecutionCommandOutput, people: number): Promise<CheckedReport> {
    const executionArn = execution.executionArn!;
    if (execution.status !== "SUCCEEDED") throw new Error(`${executionArn} ended ${execution.status}: ${execution.error} ${execution.cause}`);
    const name = executionName(executionArn);
    const output = JSON.parse(execution.output!) as { totalCookiesConsumed: number; reportKey: string };
    if (output.reportKey !== `${name}/0-cookies.json`) throw new Error(`${name}: report key ${output.reportKey}`);
    const report = await readJson<CookieReport>(runtime, output.reportKey);
    if (report.names.length !== people || report.numberOfPeople !== people) throw new Error(`${name}: ${report.names.length} names, ${report.numberOfPeople} people`);
    if (new Set(report.names).size !== people) throw new Error(`${name}: names are not distinct`);
    let sum = 0;
    await eachLimited(report.names, 32, async (person) => {
        const profile = await readJson<{ name: string; numberOfCookiesConsumed: number }>(runtime, `${name}/cookies-${person}.json`);
        if (profile.name !== person) throw new Error(`${name}/cookies-${person}.json names ${profile.name}`);
        sum += profile.numberOfCookiesConsumed;
    });
    if (report.totalCookiesConsumed !== sum || output.totalCookiesConsumed !== sum) {
        throw new Error(`${name}: total ${report.totalCookiesConsumed} (output ${output.totalCookiesConsumed}), per-person files sum to ${sum}`);
    }
    return { executionName: name, names: report.names, totalCookiesConsumed: sum };
}

/** `global.gc`, made available without starting Node with --expose-gc. */
function gcFunction(): () => void {
    v8.setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
}

/** Heap used by this process's main isolate after full collections (Lambda Workers are isolates of their own). */
export async function settledHeapUsed(): Promise<number> {
    const gc = gcFunction();
    for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage().heapUsed;
}

/** The largest heapUsed and RSS seen, sampled every 50 ms until `stop`. */
export function sampleMemory(): { stop(): { peakHeapUsed: number; peakRss: number } } {
    let peakHeapUsed = 0;
    let peakRss = 0;
    const sample = () => {
        const usage = process.memoryUsage();
        peakHeapUsed = Math.max(peakHeapUsed, usage.heapUsed);
        peakRss = Math.max(peakRss, usage.rss);
    };
    sample();
    const timer = setInterval(sample, 50);
    timer.unref();
    return {
        stop() {
            clearInterval(timer);
            sample();
            return { peakHeapUsed, peakRss };
        },
    };
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
