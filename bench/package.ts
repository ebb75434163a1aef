/**
 * `npm run bench:package` (`tsx bench/package.ts`): the stack's lean handler archives against Pulumi's default
 * CallbackFunction packaging of the same closures.
 *
 * For every Function of the stack evaluated under mocks: entries, bytes unzipped and zipped, and cold start (a new
 * `node` process loading the archive's handler from an otherwise empty folder and completing its first invocation,
 * median of several runs), beside the same figures for `aws.lambda.CallbackFunction` given the same factory. Then
 * the time a new process takes to evaluate the whole stack under mocks, beside the time to just load
 * @pulumi/pulumi and @pulumi/aws. Prints markdown, and each target with PASS/FAIL; exits 1 if any fails.
 *
 * For reference it also times: an empty handler by the same cold-start measure (Node's own start), unpacking each
 * archive as a real zip before its cold start (as Lambda does before init), and the window of the evaluation in
 * which Pulumi's `serializeFunction` ran (first call's start to last call's end; the calls overlap other work).
 *
 * Both variants run with NODE_PATH set to a folder holding the project's @aws-sdk, @smithy and @aws-crypto, as the
 * nodejs22.x runtime provides them: the lean archive leaves them to the runtime, the default one ships its own.
 *
 * Options: --runs N (cold-start runs per variant, default 5), --eval-runs N (default 3), --config key=value
 * (repeatable; over Pulumi.dev.yaml, e.g. `--config choreography:bundleAwsSdk=true`).
 */
import { RUNTIME_PROVIDED_SCOPES } from "../components/closureArchive";
import { spawn } from "child_process";
import * as esbuild from "esbuild";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { bundleSerializedClosure, ENTRY_FILE, HANDLER } from "../components/closureArchive";
import { DeclaredResource, evaluateStack, readStackConfig } from "../local/core/evaluate";
import {
    ArchiveFile,
    ArchiveSize,
    AwsStub,
    Invocation,
    PROJECT_ROOT,
    Unpacker,
    archiveFiles,
    archiveSize,
    extractZip,
    handlerEnvironment,
    invokeOnce,
    isolatedTempDir,
    median,
    runtimeModulesDir,
    testEvent,
    writeDriver,
    writeZip,
} from "./archives";

const FUNCTION = "aws:lambda/function:Function";
const TARGETS = { bundleRatio: 1.1, smaller: 5, coldStartSpeedup: 2, evaluation: 2 };

function flag(name: string, fallback: number): number {
    const index = process.argv.indexOf(name);
    const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a positive integer`);
    return value;
}
const COLD_RUNS = flag("--runs", 5);
/** Unpacking the zips is slow for the default archives (thousands of files): fewer runs. */
const UNPACK_RUNS = 3;
const EVAL_RUNS = flag("--eval-runs", 3);
const CONFIG: Record<string, string> = {};
process.argv.forEach((arg, i) => {
    if (arg !== "--config") return;
    const [key, ...value] = (process.argv[i + 1] ?? "").split("=");
    if (!key || !value.length) throw new Error("--config takes key=value");
    CONFIG[key] = value.join("=");
});

function archiveOf(resource: DeclaredResource): pulumi.asset.Archive {
    const code = resource.inputs.code;
    if (!pulumi.asset.Archive.isInstance(code)) throw new Error(`${resource.name}: inputs.code is not an archive`);
    return code;
}

function textOf(files: ArchiveFile[], name: string): string {
    const file = files.find((f) => f.name === name);
    if (file?.text === undefined) throw new Error(`the archive has no ${name}`);
    return file.text;
}

const withoutMaps = (files: ArchiveFile[]) => files.filter((f) => !f.name.endsWith(".map"));

/** The baseline: esbuild alone on the serialized closure, with the externals the lean archive uses. */
async function plainEsbuildBytes(serialized: string, bundleAwsSdk: boolean): Promise<number> {
    const result = await esbuild.build({
        stdin: { contents: serialized, resolveDir: PROJECT_ROOT, sourcefile: "closure.js", loader: "js" },
        bundle: true,
        platform: "node",
        target: "node22",
        format: "cjs",
        minify: true,
        write: false,
        logLevel: "silent",
        external: bundleAwsSdk ? [] : RUNTIME_PROVIDED_SCOPES.map((scope) => `${scope}/*`),
    });
    return result.outputFiles.reduce((sum, f) => sum + f.contents.length, 0);
}

interface Timed {
    wallMs: number;
    cpuMs: number;
    /** For an evaluation: how many closures Pulumi's `serializeFunction` serialized, and the ms from first start to last end. */
    serialization?: { calls: number; spanMs: number };
}

/** Runs a command in a new process; `cpuMs` is reported by the process itself on its last stdout line. */
function timeProcess(args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
    return new Promise((resolve, reject) => {
        const started = process.hrtime.bigint();
        const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (c: Buffer) => (out += c.toString()));
        child.stderr.on("data", (c: Buffer) => (out += c.toString()));
        child.on("close", (code) => {
            const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
            const cpu = /@@cpu (\S+)/.exec(out);
            if (code !== 0 || !cpu) reject(new Error(`${args.join(" ")} failed (${code}):\n${out}`));
            else {
                const serialized = /@@serialize (\d+) (\d+)/.exec(out);
                const serialization = serialized ? { calls: Number(serialized[1]), spanMs: Number(serialized[2]) } : undefined;
                resolve({ wallMs, cpuMs: Number(cpu[1]), serialization });
            }
        });
    });
}

const REPORT_CPU = `const u = process.cpuUsage(); console.log("@@cpu " + (u.user + u.system) / 1000);`;
const BARE_LOAD = `require("@pulumi/pulumi"); require("@pulumi/aws"); ${REPORT_CPU} process.exit(0);`;
const REPORT_SERIALIZATION = `const z = require("./components/closureArchive").serializationSpan; console.log("@@serialize " + z.calls + " " + (z.lastEnd - z.firstStart));`;
const EVALUATE = `require("./local/core/evaluate").evaluateStack({ config: ${JSON.stringify(CONFIG)} }).then((s) => { if (!s.resources.length) throw new Error("no resources"); ${REPORT_SERIALIZATION} ${REPORT_CPU} process.exit(0); }, (e) => { console.error(e); process.exit(1); });`;

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    delete env.NODE_OPTIONS;
    return env;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mb = (bytes: number) => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : kb(bytes));
const ms = (value: number) => `${Math.round(value)} ms`;
const times = (value: number) => `${value.toFixed(value >= 10 ? 0 : 2)}×`;
const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");

interface Row {
    name: string;
    /** Median milliseconds to unpack the deployment zip into an empty folder (lean / default). */
    leanUnpackMs: number;
    defaultUnpackMs: number;
    lean: ArchiveSize;
    leanCode: ArchiveSize;
    fallback: ArchiveSize;
    esbuildBytes: number;
    sameClosure: boolean;
    leanRuns: Invocation[];
    defaultRuns: Invocation[];
    sourceMapRuns: Invocation[];
}

async function coldStarts(
    rows: { name: string; leanDir: string; defaultDir: string }[],
    driver: string,
    stub: AwsStub,
    nodePath: string,
    home: string,
): Promise<Map<string, { lean: Invocation[]; fallback: Invocation[]; sourceMaps: Invocation[] }>> {
    const results = new Map<string, { lean: Invocation[]; fallback: Invocation[]; sourceMaps: Invocation[] }>();
    const env = handlerEnvironment(stub, nodePath, home);
    for (const row of rows) {
        const event = testEvent(row.name, stub);
        const run = async (folder: string, nodeArgs: string[] = []) => {
            const invocation = await invokeOnce({ driver, folder, handler: HANDLER, event, env, nodeArgs });
            if (!invocation.ok) throw new Error(`${row.name} (${folder}) failed: ${invocation.error}\n${invocation.output}`);
            return invocation;
        };
        // One unmeasured run each, so every measured run finds the files in the page cache.
        await run(row.leanDir);
        await run(row.defaultDir);
        const result = { lean: [] as Invocation[], fallback: [] as Invocation[], sourceMaps: [] as Invocation[] };
        for (let i = 0; i < COLD_RUNS; i++) {
            result.lean.push(await run(row.leanDir));
            result.fallback.push(await run(row.defaultDir));
            result.sourceMaps.push(await run(row.leanDir, ["--enable-source-maps"]));
        }
        results.set(row.name, result);
        process.stderr.write(`  cold starts: ${row.name} done\n`);
    }
    return results;
}

/** Median time to unpack a zip into a fresh folder (removed again after each run). */
function unpackTime(zipFile: string, temp: string): number {
    const times: number[] = [];
    for (let i = 0; i < UNPACK_RUNS; i++) {
        const folder = path.join(temp, `unpack-${i}`);
        times.push(extractZip(zipFile, folder));
        fs.rmSync(folder, { recursive: true, force: true });
    }
    return median(times);
}

/**
 * The same cold start for a handler that loads nothing and does nothing: Node's own start and the driver. No
 * archive can start faster than this, so it bounds the speedup any packaging can show against the default's.
 */
async function emptyHandlerColdStart(driver: string, stub: AwsStub, nodePath: string, temp: string): Promise<Invocation[]> {
    const folder = path.join(temp, "empty-handler");
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, ENTRY_FILE), "exports.handler = async () => null;\n");
    const env = handlerEnvironment(stub, nodePath, temp);
    const runs: Invocation[] = [];
    for (let i = 0; i <= COLD_RUNS; i++) {
        const invocation = await invokeOnce({ driver, folder, handler: HANDLER, event: {}, env });
        if (!invocation.ok) throw new Error(`the empty handler failed: ${invocation.error}\n${invocation.output}`);
        if (i > 0) runs.push(invocation);
    }
    return runs;
}

async function main(): Promise<void> {
    const startedAt = Date.now();
    process.chdir(PROJECT_ROOT);
    const bundleAwsSdk = { ...readStackConfig("dev"), ...CONFIG }["choreography:bundleAwsSdk"] === "true";

    process.stderr.write("evaluating the stack and the default packaging under mocks...\n");
    const stack = await evaluateStack({ config: CONFIG });
    const defaults = await evaluateStack({ program: path.join(__dirname, "defaultPackaging.ts") });
    const functions = stack.resources.filter((r) => r.type === FUNCTION);
    if (!functions.length) throw new Error("the stack declares no Function");

    const temp = isolatedTempDir("bench");
    const stub = await AwsStub.start();
    try {
        const unpacker = new Unpacker();
        const nodePath = runtimeModulesDir(temp);
        const driver = writeDriver(temp);
        const partial: Omit<Row, "leanRuns" | "defaultRuns" | "sourceMapRuns" | "leanUnpackMs" | "defaultUnpackMs">[] = [];
        const unpackTimes = new Map<string, { lean: number; fallback: number }>();
        const folders: { name: string; leanDir: string; defaultDir: string }[] = [];
        for (const fn of functions) {
            const fallbackResource = defaults.resources.find((r) => r.type === FUNCTION && r.name === fn.name);
            if (!fallbackResource) throw new Error(`no handler factory named ${fn.name}Factory in handlers/ for the Function ${fn.name}`);
            const leanFiles = await archiveFiles(archiveOf(fn));
            const defaultFiles = await archiveFiles(archiveOf(fallbackResource));
            const serialized = textOf(defaultFiles, ENTRY_FILE);
            // The stack's archive is the lean bundle of exactly the closure CallbackFunction serialized.
            const rebundled = await bundleSerializedClosure(serialized, { bundleAwsSdk });
            partial.push({
                name: fn.name,
                lean: archiveSize(leanFiles),
                leanCode: archiveSize(withoutMaps(leanFiles)),
                fallback: archiveSize(defaultFiles),
                esbuildBytes: await plainEsbuildBytes(serialized, bundleAwsSdk),
                sameClosure: rebundled[ENTRY_FILE] === textOf(leanFiles, ENTRY_FILE),
            });
            folders.push({
                name: fn.name,
                leanDir: unpacker.unpack(leanFiles, path.join(temp, `${fn.name}-lean`)),
                defaultDir: unpacker.unpack(defaultFiles, path.join(temp, `${fn.name}-default`)),
            });
            unpackTimes.set(fn.name, {
                lean: unpackTime(writeZip(leanFiles, path.join(temp, `${fn.name}-lean.zip`)), temp),
                fallback: unpackTime(writeZip(defaultFiles, path.join(temp, `${fn.name}-default.zip`)), temp),
            });
            process.stderr.write(`  archives: ${fn.name} measured and unpacked\n`);
        }

        const runs = await coldStarts(folders, driver, stub, nodePath, temp);
        const rows: Row[] = partial.map((p) => {
            const r = runs.get(p.name)!;
            const unpack = unpackTimes.get(p.name)!;
            return { ...p, leanRuns: r.lean, defaultRuns: r.fallback, sourceMapRuns: r.sourceMaps, leanUnpackMs: unpack.lean, defaultUnpackMs: unpack.fallback };
        });
        const floor = await emptyHandlerColdStart(driver, stub, nodePath, temp);

        process.stderr.write("timing a bare load and a whole-stack evaluation in new processes...\n");
        const bare: Timed[] = [];
        const bareTsx: Timed[] = [];
        const evaluation: Timed[] = [];
        for (let i = 0; i < EVAL_RUNS; i++) {
            bare.push(await timeProcess(["-e", BARE_LOAD], childEnv()));
            bareTsx.push(await timeProcess(["--require", "tsx/cjs", "-e", BARE_LOAD], childEnv()));
            evaluation.push(await timeProcess(["--require", "tsx/cjs", "-e", EVALUATE], childEnv()));
        }
        const uncached = await timeProcess(["--require", "tsx/cjs", "-e", EVALUATE], childEnv({ CHOREOGRAPHY_CLOSURE_CACHE: "off" }));

        print(rows, floor, { bare, bareTsx, evaluation, uncached }, Date.now() - startedAt);
        const failed = rows.some((row) => !rowPasses(row)) || !evaluationPasses(bare, evaluation);
        process.exitCode = failed ? 1 : 0;
    } finally {
        await stub.close();
        fs.rmSync(temp, { recursive: true, force: true });
    }
}

function ratios(row: Row) {
    const lean = median(row.leanRuns.map((r) => r.wallMs));
    const fallback = median(row.defaultRuns.map((r) => r.wallMs));
    return {
        bundle: row.leanCode.bytes / row.esbuildBytes,
        smallerUnzipped: row.fallback.bytes / row.leanCode.bytes,
        smallerZipped: row.fallback.zipped / row.leanCode.zipped,
        coldStart: fallback / lean,
        coldStartCpu: median(row.defaultRuns.map((r) => r.cpuMs)) / median(row.leanRuns.map((r) => r.cpuMs)),
    };
}

function rowPasses(row: Row): boolean {
    const r = ratios(row);
    return (
        row.sameClosure &&
        r.bundle <= TARGETS.bundleRatio &&
        r.smallerUnzipped >= TARGETS.smaller &&
        r.smallerZipped >= TARGETS.smaller &&
        r.coldStart >= TARGETS.coldStartSpeedup
    );
}

function evaluationPasses(bare: Timed[], evaluation: Timed[]): boolean {
    return median(evaluation.map((t) => t.wallMs)) <= TARGETS.evaluation * median(bare.map((t) => t.wallMs));
}

interface EvaluationTimes {
    bare: Timed[];
    bareTsx: Timed[];
    evaluation: Timed[];
    uncached: Timed;
}

function print(rows: Row[], floor: Invocation[], { bare, bareTsx, evaluation, uncached }: EvaluationTimes, elapsedMs: number): void {
    const out: string[] = [];
    out.push(`## Handler archives: lean (this stack) / default (CallbackFunction), same closure`, "");
    out.push(`Cold start: median of ${COLD_RUNS} new \`node\` processes (${process.version}), spawn to first invocation completed; CPU = the process's user+system time.`, "");
    out.push("| Function | entries | bytes unzipped | bytes zipped | cold start (wall) | cold start (CPU) | lean with `--enable-source-maps` |");
    out.push("|---|---|---|---|---|---|---|");
    for (const row of rows) {
        const lean = (f: (r: Invocation) => number) => median(row.leanRuns.map(f));
        const fallback = (f: (r: Invocation) => number) => median(row.defaultRuns.map(f));
        out.push(
            `| ${row.name} | ${row.lean.entries} / ${row.fallback.entries} | ${mb(row.lean.bytes)} / ${mb(row.fallback.bytes)} | ` +
                `${mb(row.lean.zipped)} / ${mb(row.fallback.zipped)} | ${ms(lean((r) => r.wallMs))} / ${ms(fallback((r) => r.wallMs))} | ` +
                `${ms(lean((r) => r.cpuMs))} / ${ms(fallback((r) => r.cpuMs))} | ${ms(median(row.sourceMapRuns.map((r) => r.wallMs)))} |`,
        );
    }
    out.push("", "Lean sizes include the source map (`__index.js.map`); the targets below leave it out, as the issue says.", "");
    out.push(`## Targets per handler`, "");
    out.push(
        `| Function | same closure | lean code / esbuild bundle of the serialized closure (≤ ${TARGETS.bundleRatio}×) | default / lean, unzipped (≥ ${TARGETS.smaller}×) | default / lean, zipped (≥ ${TARGETS.smaller}×) | cold start speedup, wall (≥ ${TARGETS.coldStartSpeedup}×) | speedup, CPU | result |`,
    );
    out.push("|---|---|---|---|---|---|---|---|");
    for (const row of rows) {
        const r = ratios(row);
        out.push(
            `| ${row.name} | ${row.sameClosure ? "yes" : "NO"} | ${kb(row.leanCode.bytes)} / ${kb(row.esbuildBytes)} = ${r.bundle.toFixed(2)}× | ` +
                `${times(r.smallerUnzipped)} | ${times(r.smallerZipped)} | ${times(r.coldStart)} | ${times(r.coldStartCpu)} | ${verdict(rowPasses(row))} |`,
        );
    }
    const floorWall = median(floor.map((r) => r.wallMs));
    const slowestDefault = Math.max(...rows.map((row) => median(row.defaultRuns.map((r) => r.wallMs))));
    out.push(
        "",
        `An empty handler (\`exports.handler = async () => null\`) takes ${ms(floorWall)} by the same measure: Node's own start. ` +
            `Against the default packaging's ${ms(slowestDefault)} (its slowest handler here), no archive could show more than ` +
            `${times(slowestDefault / floorWall)}.`,
    );
    out.push("", "## Cold start from the deployment zip (for reference)", "");
    out.push(
        "Before a cold start's init Lambda unpacks the function's zip into an empty task root. Unpack = reading the zip and writing " +
            `its files (fflate in the benchmark process, median of ${UNPACK_RUNS}); the cold start is the one above.`,
        "",
    );
    out.push("| Function | unpack, lean / default | unpack + cold start, lean / default | speedup |", "|---|---|---|---|");
    for (const row of rows) {
        const lean = row.leanUnpackMs + median(row.leanRuns.map((r) => r.wallMs));
        const fallback = row.defaultUnpackMs + median(row.defaultRuns.map((r) => r.wallMs));
        out.push(`| ${row.name} | ${ms(row.leanUnpackMs)} / ${ms(row.defaultUnpackMs)} | ${ms(lean)} / ${ms(fallback)} | ${times(fallback / lean)} |`);
    }
    const bareWall = median(bare.map((t) => t.wallMs));
    const evalWall = median(evaluation.map((t) => t.wallMs));
    out.push("", `## Stack evaluation under mocks, new process (median of ${bare.length})`, "");
    out.push("| | wall | CPU |", "|---|---|---|");
    out.push(`| load @pulumi/pulumi + @pulumi/aws (\`node -e\`) | ${ms(bareWall)} | ${ms(median(bare.map((t) => t.cpuMs)))} |`);
    out.push(`| same, with tsx registered (\`node --require tsx/cjs -e\`), for reference | ${ms(median(bareTsx.map((t) => t.wallMs)))} | ${ms(median(bareTsx.map((t) => t.cpuMs)))} |`);
    out.push(`| evaluate index.ts (\`node --require tsx/cjs -e\` → evaluateStack) | ${ms(evalWall)} | ${ms(median(evaluation.map((t) => t.cpuMs)))} |`);
    const spans = evaluation.map((t) => t.serialization).filter((z): z is { calls: number; spanMs: number } => z !== undefined);
    if (spans.length) {
        const spanMs = median(spans.map((z) => z.spanMs));
        out.push(
            `| within it, the window in which Pulumi's \`serializeFunction\` ran (${spans[0].calls} closures at once, first start → last end; an upper bound) | ` +
                `${ms(spanMs)} (${times(spanMs / bareWall)} the bare load) | |`,
        );
    }
    out.push(`| same, closure cache off (1 run, for reference) | ${ms(uncached.wallMs)} | ${ms(uncached.cpuMs)} |`);
    out.push(
        "",
        `Evaluation / bare load: ${times(evalWall / bareWall)} wall, ${times(median(evaluation.map((t) => t.cpuMs)) / median(bare.map((t) => t.cpuMs)))} CPU ` +
            `(target ≤ ${TARGETS.evaluation}× wall): ${verdict(evaluationPasses(bare, evaluation))}`,
    );
    out.push("", `Benchmark took ${(elapsedMs / 1000).toFixed(0)} s.`);
    console.log(out.join("\n"));
}

main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
});
