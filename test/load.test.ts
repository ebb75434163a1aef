/**
 * Load (issue 4): 100 runs of 20 names each, their `start` events put at once through the endpoint. Every run
 * must succeed with a correct report, every name's side effect must run exactly once, and the runtime's heap must
 * come back near its idle level once the runs are over. The figures are logged for CI's output (and the README).
 */
import { strict as assert } from "assert";
import { CheckedReport, MiB, awaitNewRuns, checkRun, eachLimited, mib, putStarts, sampleMemory, settledHeapUsed } from "../local/testing/load";
import { TestRuntime, listWorkflowExecutions, startTestRuntime } from "../local/testing/runtime";

const RUNS = 100;
const PEOPLE = 20;
/** What the runtime may keep after the runs: their executions and histories, the objects they wrote, warm code. */
const HEAP_GROWTH_BOUND = 64 * MiB;

describe(`load: ${RUNS} runs of ${PEOPLE} names started at once through the endpoint`, function () {
    this.timeout(180_000);
    let runtime: TestRuntime;
    let runArns: string[] = [];
    /** Each run's checked report, or why it is not correct. */
    const checked = new Map<string, CheckedReport | Error>();
    /** executionName -> the names its sideEffectDone events carried, in the order they came. */
    const sideEffects = new Map<string, string[]>();
    const figures = { wallMs: 0, invocations: 0, lambdaErrors: 0, deliveryFailures: 0, idleHeap: 0, peakHeap: 0, afterHeap: 0, idleRss: 0, peakRss: 0, afterRss: 0 };

    before(async () => {
        // The cookie report alone: this measures what the runtime keeps of finished work. The dev stack's observability
        // system stores every event of every run, by design (its table keeps what it is given, for its TTL), which
        // would show here as growth; npm run bench runs the whole dev stack.
        runtime = await startTestRuntime({ config: { "choreography:systems": '["cookieReport"]' } });
        const known = new Set((await listWorkflowExecutions(runtime)).map((e) => e.executionArn!));

        // Warm-up: one run, so the idle level includes started Workers and loaded code, as after any first run.
        await putStarts(runtime, 1, { count: PEOPLE });
        const [warm] = await awaitNewRuns(runtime, known, 1, 60_000);
        known.add(warm.executionArn!);
        await checkRun(runtime, warm.executionArn!, PEOPLE);
        await runtime.idle();
        runtime.events.length = 0; // the test's own record of the bus is not the runtime's memory
        figures.idleHeap = await settledHeapUsed();
        figures.idleRss = process.memoryUsage().rss;

        const stopWatching = runtime.services.events.service.onEvent((event) => {
            if (event["detail-type"] !== "sideEffectDone") return;
            const run = String(event.detail.executionName);
            sideEffects.set(run, [...(sideEffects.get(run) ?? []), String(event.detail.name)]);
        });
        const statsBefore = runtime.services.lambda.service.stats();
        const failuresBefore = runtime.services.events.service.deliveryFailures.length;
        const memory = sampleMemory();
        const started = Date.now();
        await putStarts(runtime, RUNS, { count: PEOPLE });
        const runs = await awaitNewRuns(runtime, known, RUNS, 150_000);
        figures.wallMs = Date.now() - started;
        await runtime.idle();
        const peaks = memory.stop();
        stopWatching();
        runArns = runs.map((r) => r.executionArn!);

        const stats = runtime.services.lambda.service.stats();
        figures.invocations = stats.invocations - statsBefore.invocations;
        figures.lambdaErrors = stats.errors - statsBefore.errors;
        figures.deliveryFailures = runtime.services.events.service.deliveryFailures.length - failuresBefore;
        figures.peakHeap = peaks.peakHeapUsed;
        figures.peakRss = peaks.peakRss;
        runtime.events.length = 0;
        figures.afterHeap = await settledHeapUsed();
        figures.afterRss = process.memoryUsage().rss;
        console.log(
            `      ${RUNS} runs x ${PEOPLE} names: all ended in ${(figures.wallMs / 1000).toFixed(1)} s, ` +
                `${figures.invocations} Lambda invocations (${figures.lambdaErrors} errors), ${figures.deliveryFailures} delivery failures`,
        );
        console.log(
            `      heap used after GC: idle ${mib(figures.idleHeap)}, after the runs ${mib(figures.afterHeap)} ` +
                `(+${mib(figures.afterHeap - figures.idleHeap)}; bound +${mib(HEAP_GROWTH_BOUND)}), peak while running ${mib(figures.peakHeap)}`,
        );
        console.log(`      RSS (Lambda Workers included): idle ${mib(figures.idleRss)}, peak ${mib(figures.peakRss)}, after ${mib(figures.afterRss)}`);

        // Read back over HTTP as a user would: DescribeExecution, then the report and every per-person file.
        await eachLimited(runArns, 8, async (arn) => {
            checked.set(arn, await checkRun(runtime, arn, PEOPLE).catch((error: Error) => error));
        });
    });
    after(async () => runtime?.close());

    it(`every one of the ${RUNS} runs SUCCEEDED with a correct report (total = sum of the per-person files)`, () => {
        assert.equal(runArns.length, RUNS);
        const problems = [...checked.values()].filter((c): c is Error => c instanceof Error).map((e) => e.message);
        assert.deepEqual(problems.slice(0, 5), [], `${problems.length} runs are not right`);
        assert.equal(checked.size, RUNS);
    });

    it("every side effect ran exactly once per name, and no event or invocation failed", () => {
        assert.equal(figures.deliveryFailures, 0, JSON.stringify(runtime.services.events.service.deliveryFailures.slice(0, 3)));
        assert.equal(figures.lambdaErrors, 0);
        for (const arn of runArns) {
            const report = checked.get(arn);
            assert.ok(report && !(report instanceof Error), `${arn} has no correct report`);
            assert.deepEqual([...(sideEffects.get(report.executionName) ?? [])].sort(), [...report.names].sort(), `side effects of ${report.executionName}`);
        }
        assert.equal([...sideEffects.values()].reduce((n, names) => n + names.length, 0), RUNS * PEOPLE);
    });

    it(`the runtime's heap returns near its idle level afterwards (within ${mib(HEAP_GROWTH_BOUND)})`, () => {
        assert.ok(
            figures.afterHeap < figures.idleHeap + HEAP_GROWTH_BOUND,
            `heap used after GC: ${mib(figures.afterHeap)}, idle ${mib(figures.idleHeap)}`,
        );
    });
});
