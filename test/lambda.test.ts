import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AsyncInvocationRecord, FunctionSpec, LambdaService, lambdaHeapLimits } from "../local/services/lambda/lambda";
import { AwsError } from "../local/core/awsError";

/** Archives are small `__index.js` sources, as Pulumi's bundles would be, in a folder with no node_modules above. */
const root = fs.mkdtempSync(path.join(os.tmpdir(), "lambda-test-"));
const logged: Array<[string, string]> = [];

function spec(name: string, source: string, extra: Partial<FunctionSpec> = {}): FunctionSpec {
    return {
        name,
        arn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
        handler: "__index.handler",
        timeoutSeconds: 1,
        memorySizeMb: 128,
        environment: {},
        files: { "__index.js": source },
        ...extra,
    };
}

/** Further Workers start at once here unless a test says otherwise; the runtime's default waits 1 s. */
function newService(maxWorkersPerFunction = 2, scaleOutAfterMs = 0): LambdaService {
    return new LambdaService({
        workDir: path.join(root, "work"),
        baseEnvironment: { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" },
        sdkResolveDir: path.resolve(__dirname, ".."),
        maxWorkersPerFunction,
        scaleOutAfterMs,
        retryDelaysMs: [50, 50],
        log: (fn, line) => logged.push([fn, line]),
    });
}

describe("LambdaService", () => {
    let lambda: LambdaService;
    beforeEach(() => (lambda = newService()));
    afterEach(() => lambda.close());
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("returns an async handler's result with Lambda's context and captures its console output", async () => {
        await lambda.addFunction(
            spec(
                "hello",
                `exports.handler = async (event, context) => {
                    console.log("got", event.name);
                    const { awsRequestId, functionName, functionVersion, invokedFunctionArn, memoryLimitInMB,
                            logGroupName, logStreamName } = context;
                    return { hi: event.name, awsRequestId, functionName, functionVersion, invokedFunctionArn,
                             memoryLimitInMB, logGroupName, logStreamName, remaining: context.getRemainingTimeInMillis() };
                 };`,
            ),
        );
        const result = await lambda.invoke("hello", { name: "ada" });
        assert.equal(result.functionError, undefined);
        const payload = result.payload as Record<string, unknown>;
        assert.equal(payload.hi, "ada");
        assert.equal(payload.functionName, "hello");
        assert.equal(payload.functionVersion, "$LATEST");
        assert.equal(payload.invokedFunctionArn, "arn:aws:lambda:us-east-1:123456789012:function:hello");
        assert.equal(payload.memoryLimitInMB, "128");
        assert.equal(payload.logGroupName, "/aws/lambda/hello");
        assert.match(String(payload.logStreamName), /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
        assert.ok(Number(payload.remaining) > 0 && Number(payload.remaining) <= 1000);
        const requestId = String(payload.awsRequestId);
        assert.match(result.logs, new RegExp(`^START RequestId: ${requestId} Version: \\$LATEST$`, "m"));
        assert.match(result.logs, new RegExp(`\\t${requestId}\\tINFO\\tgot ada$`, "m"));
        assert.match(result.logs, new RegExp(`^REPORT RequestId: ${requestId}\\tDuration: `, "m"));
        assert.ok(logged.some(([fn, line]) => fn === "hello" && line.endsWith("INFO\tgot ada")));
    });

    it("accepts the function's ARN and reports an unknown function as AWS does", async () => {
        await lambda.addFunction(spec("byarn", `exports.handler = async (e, c) => c.invokedFunctionArn;`));
        const arn = "arn:aws:lambda:us-east-1:123456789012:function:byarn:$LATEST";
        assert.equal((await lambda.invoke(arn, {})).payload, arn);
        await assert.rejects(lambda.invoke("nope", {}), (e: unknown) => e instanceof AwsError && e.code === "ResourceNotFoundException");
    });

    it("supports callback handlers, waiting for the event loop unless told not to", async () => {
        await lambda.addFunction(
            spec(
                "callback",
                `exports.handler = (event, context, callback) => {
                    context.callbackWaitsForEmptyEventLoop = event.wait;
                    setTimeout(() => {}, 500);
                    callback(null, { ok: true });
                 };`,
            ),
        );
        let started = Date.now();
        assert.deepEqual((await lambda.invoke("callback", { wait: true })).payload, { ok: true });
        assert.ok(Date.now() - started >= 480, "waited for the pending timer");
        started = Date.now();
        assert.deepEqual((await lambda.invoke("callback", { wait: false })).payload, { ok: true });
        assert.ok(Date.now() - started < 400, "answered at once");
    });

    it("keeps functions' environments and module state apart, and reuses warm workers", async () => {
        const source = `let calls = 0;
            exports.handler = async () => {
                calls++;
                globalThis.seenBy = (globalThis.seenBy || []).concat(process.env.AWS_LAMBDA_FUNCTION_NAME);
                return { secret: process.env.SECRET, other: process.env.OTHER ?? null, calls, seenBy: globalThis.seenBy,
                         region: process.env.AWS_REGION, memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
                         timeout: process.env.AWS_LAMBDA_FUNCTION_TIMEOUT };
            };`;
        await lambda.addFunction(spec("alpha", source, { environment: { SECRET: "a", OTHER: "only-alpha" } }));
        await lambda.addFunction(spec("beta", source, { environment: { SECRET: "b" }, memorySizeMb: 256 }));
        await lambda.invoke("alpha", {});
        const alpha = (await lambda.invoke("alpha", {})).payload;
        const beta = (await lambda.invoke("beta", {})).payload;
        assert.deepEqual(alpha, {
            secret: "a", other: "only-alpha", calls: 2, seenBy: ["alpha", "alpha"], region: "us-east-1", memory: "128", timeout: "1",
        });
        assert.deepEqual(beta, { secret: "b", other: null, calls: 1, seenBy: ["beta"], region: "us-east-1", memory: "256", timeout: "1" });
        assert.equal(process.env.SECRET, undefined, "the host's environment is untouched");
    });

    it("reports thrown errors in Lambda's shape", async () => {
        await lambda.addFunction(
            spec(
                "thrower",
                `class ValidationError extends Error { constructor(m) { super(m); this.name = "ValidationError"; } }
                 exports.handler = async (event) => {
                    if (event.kind === "string") throw "plain string";
                    throw new ValidationError("bad input " + event.id);
                 };`,
            ),
        );
        const { functionError, payload } = await lambda.invoke("thrower", { id: 7 });
        assert.equal(payload, undefined);
        assert.equal(functionError?.errorType, "ValidationError");
        assert.equal(functionError?.errorMessage, "bad input 7");
        assert.equal(functionError?.trace?.[0], "ValidationError: bad input 7");
        assert.match(functionError?.trace?.[1] ?? "", /^ {4}at .*__index\.js/);
        const plain = await lambda.invoke("thrower", { kind: "string" });
        assert.deepEqual(plain.functionError, { errorType: "string", errorMessage: "plain string", trace: [] });
    });

    it("times a handler out with Sandbox.Timedout and serves the invocation queued behind it", async () => {
        await lambda.close();
        lambda = newService(1);
        await lambda.addFunction(
            spec("slow", `exports.handler = async (event) => { if (event.spin) { console.log("spinning"); for (;;) {} } return "fast"; };`),
        );
        const started = Date.now();
        const [timedOut, next] = await Promise.all([lambda.invoke("slow", { spin: true }), lambda.invoke("slow", { spin: false })]);
        assert.equal(timedOut.functionError?.errorType, "Sandbox.Timedout");
        assert.equal(timedOut.functionError?.errorMessage, "Task timed out after 1.00 seconds");
        assert.match(timedOut.logs, /Status: timeout/);
        assert.match(timedOut.logs, /\tINFO\tspinning\n/, "what the handler logged before it hung is kept");
        assert.equal(next.payload, "fast");
        assert.ok(Date.now() - started < 2500, "the spinning worker was stopped");
        assert.deepEqual(lambda.stats(), { invocations: 2, errors: 1, timeouts: 1, invocationsByFunction: { slow: 2 } });
    });

    it("reports Init Duration on a cold start only, and times out a warm Worker by the function's timeout", async () => {
        await lambda.close();
        lambda = newService(1);
        await lambda.addFunction(
            spec("warmable", `exports.handler = async (event) => { if (event.spin) for (;;) {} return "ok"; };`),
        );
        const cold = await lambda.invoke("warmable", {});
        const warm = await lambda.invoke("warmable", {});
        assert.match(cold.logs, /REPORT RequestId: \S+\tDuration: [\d.]+ ms.*\tInit Duration: [\d.]+ ms/);
        assert.match(warm.logs, /REPORT RequestId: \S+\tDuration: [\d.]+ ms/);
        assert.doesNotMatch(warm.logs, /Init Duration/);
        const started = Date.now();
        const timedOut = await lambda.invoke("warmable", { spin: true });
        assert.equal(timedOut.functionError?.errorType, "Sandbox.Timedout");
        assert.doesNotMatch(timedOut.logs, /Init Duration/);
        assert.ok(Date.now() - started < 2500, "the warm Worker was stopped at its 1 s timeout");
    });

    it("fails only the invocation whose worker exits or throws asynchronously", async () => {
        await lambda.addFunction(
            spec(
                "crashy",
                `exports.handler = async (event) => {
                    if (event.exit) process.exit(3);
                    if (event.late) { setTimeout(() => { throw new TypeError("late failure"); }, 10);
                                      await new Promise((r) => setTimeout(r, 500)); }
                    return "alive";
                 };`,
            ),
        );
        const exited = await lambda.invoke("crashy", { exit: true });
        assert.equal(exited.functionError?.errorType, "Runtime.ExitError");
        assert.match(exited.functionError?.errorMessage ?? "", /Runtime exited with error: exit status 3$/);
        const late = await lambda.invoke("crashy", { late: true });
        assert.equal(late.functionError?.errorType, "TypeError");
        assert.equal(late.functionError?.errorMessage, "late failure");
        assert.equal((await lambda.invoke("crashy", {})).payload, "alive");
    });

    it("retries a failing asynchronous invocation twice, then sends the destination record", async () => {
        const attempts = path.join(root, "always-attempts.txt");
        const records: AsyncInvocationRecord[] = [];
        await lambda.addFunction(
            spec(
                "always",
                `const fs = require("fs");
                 exports.handler = async (event) => {
                    fs.appendFileSync(process.env.ATTEMPTS, "x\\n");
                    throw new Error("still broken " + event.n);
                 };`,
                { environment: { ATTEMPTS: attempts }, onFailure: async (record) => void records.push(record) },
            ),
        );
        const { requestId } = await lambda.invokeAsync("always", { n: 1 });
        await lambda.idle();
        assert.equal(fs.readFileSync(attempts, "utf8"), "x\nx\nx\n");
        assert.equal(records.length, 1);
        const [record] = records;
        assert.equal(record.version, "1.0");
        assert.deepEqual(record.requestContext, {
            requestId,
            functionArn: "arn:aws:lambda:us-east-1:123456789012:function:always:$LATEST",
            condition: "RetriesExhausted",
            approximateInvokeCount: 3,
        });
        assert.deepEqual(record.requestPayload, { n: 1 });
        assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" });
        assert.equal(record.responsePayload.errorType, "Error");
        assert.equal(record.responsePayload.errorMessage, "still broken 1");
        assert.ok(!Number.isNaN(Date.parse(record.timestamp)));
    });

    it("does not report an asynchronous invocation that succeeds on retry", async () => {
        const attempts = path.join(root, "once-attempts.txt");
        const records: AsyncInvocationRecord[] = [];
        await lambda.addFunction(
            spec(
                "flaky",
                `const fs = require("fs");
                 exports.handler = async () => {
                    const first = !fs.existsSync(process.env.ATTEMPTS);
                    fs.appendFileSync(process.env.ATTEMPTS, "x\\n");
                    if (first) throw new Error("first time fails");
                    return "ok";
                 };`,
                { environment: { ATTEMPTS: attempts }, onFailure: async (record) => void records.push(record) },
            ),
        );
        await lambda.invokeAsync("flaky", {});
        await lambda.idle();
        assert.equal(fs.readFileSync(attempts, "utf8"), "x\nx\n");
        assert.deepEqual(records, []);
    });

    it("reports a module missing from the archive as Runtime.ImportModuleError, even one above the work dir", async () => {
        // A package the archive does not ship, placed where walking up from the archive would find it.
        const stray = path.join(root, "node_modules", "stray-pkg");
        fs.mkdirSync(stray, { recursive: true });
        fs.writeFileSync(path.join(stray, "index.js"), "module.exports = 1;");
        await lambda.addFunction(spec("missing", `const pad = require("left-pad"); exports.handler = async () => pad;`));
        await lambda.addFunction(spec("stray", `const s = require("stray-pkg"); exports.handler = async () => s;`));
        await lambda.addFunction(
            spec("bundled", `const own = require("own"); exports.handler = async () => own;`, {
                files: {
                    "__index.js": `const own = require("own"); exports.handler = async () => own;`,
                    "node_modules/own/index.js": `module.exports = "shipped";`,
                },
            }),
        );
        const missing = await lambda.invoke("missing", {});
        assert.equal(missing.functionError?.errorType, "Runtime.ImportModuleError");
        assert.match(missing.functionError?.errorMessage ?? "", /^Error: Cannot find module 'left-pad'/);
        const strayResult = await lambda.invoke("stray", {});
        assert.equal(strayResult.functionError?.errorType, "Runtime.ImportModuleError");
        assert.match(strayResult.functionError?.errorMessage ?? "", /Cannot find module 'stray-pkg'/);
        assert.equal((await lambda.invoke("bundled", {})).payload, "shipped");
    });

    it("provides @aws-sdk/* from sdkResolveDir as the nodejs runtime does", async () => {
        await lambda.addFunction(
            spec(
                "sdk",
                `const { S3Client } = require("@aws-sdk/client-s3");
                 exports.handler = async () => {
                    const client = new S3Client({});
                    return { client: typeof S3Client, region: await client.config.region() };
                 };`,
                { timeoutSeconds: 5 },
            ),
        );
        const result = await lambda.invoke("sdk", {});
        assert.equal(result.functionError, undefined, JSON.stringify(result.functionError));
        assert.deepEqual(result.payload, { client: "function", region: "us-east-1" });
    });

    it("fails an invocation that exceeds the memory size and keeps serving", async () => {
        await lambda.addFunction(
            spec(
                "hungry",
                `exports.handler = async (event) => {
                    const hoard = [];
                    if (event.eat) for (;;) hoard.push({ n: Math.random(), s: "x" + Math.random() });
                    return "fine";
                 };`,
                { timeoutSeconds: 20 },
            ),
        );
        const result = await lambda.invoke("hungry", { eat: true });
        assert.equal(result.functionError?.errorType, "Runtime.OutOfMemory");
        assert.equal((await lambda.invoke("hungry", {})).payload, "fine");
    });

    it("sizes the heap as the nodejs runtime's bootstrap does for the memory size", async () => {
        // /var/runtime/bootstrap: new space = memory / 10 (semi-space half of it), old space = the rest.
        assert.deepEqual(lambdaHeapLimits(256), { maxOldGenerationSizeMb: 231, maxYoungGenerationSizeMb: 36 });
        assert.deepEqual(lambdaHeapLimits(128), { maxOldGenerationSizeMb: 116, maxYoungGenerationSizeMb: 18 });
        await lambda.addFunction(
            spec("heap", `exports.handler = async () => require("v8").getHeapStatistics().heap_size_limit / 1048576;`, { memorySizeMb: 256 }),
        );
        const limitMb = (await lambda.invoke("heap", {})).payload as number;
        // What `node --max-semi-space-size=12 --max-old-space-size=231` (the bootstrap's flags for 256 MB) gets.
        const flags = ["--max-semi-space-size=12", "--max-old-space-size=231", "-p", `require("v8").getHeapStatistics().heap_size_limit / 1048576`];
        assert.equal(limitMb, Number(execFileSync(process.execPath, flags, { encoding: "utf8" }).trim()));
    });

    it("queues invocations beyond the pool and completes them all on warm workers", async () => {
        await lambda.addFunction(
            spec(
                "busy",
                `const { threadId } = require("worker_threads");
                 exports.handler = async (event) => { await new Promise((r) => setTimeout(r, 200)); return { threadId, i: event.i }; };`,
            ),
        );
        const started = Date.now();
        const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => lambda.invoke("busy", { i })));
        const elapsed = Date.now() - started;
        const payloads = results.map((r) => r.payload as { threadId: number; i: number });
        assert.deepEqual(payloads.map((p) => p.i), [0, 1, 2, 3, 4, 5]);
        assert.equal(new Set(payloads.map((p) => p.threadId)).size, 2, "two workers, each reused");
        assert.ok(elapsed >= 590, `three rounds of 200 ms, took ${elapsed} ms`);
        await lambda.idle();
        assert.equal(lambda.stats().invocations, 6);
    });

    it("keeps a steady queue on one Worker and starts a second only for an invocation that waited scaleOutAfterMs", async () => {
        await lambda.close();
        lambda = newService(2, 1000);
        await lambda.addFunction(
            spec(
                "steady",
                `const { threadId } = require("worker_threads");
                 exports.handler = async (event) => { await new Promise((r) => setTimeout(r, event.ms)); return threadId; };`,
                { timeoutSeconds: 6 },
            ),
        );
        const first = (await lambda.invoke("steady", { ms: 0 })).payload;
        const steady = await Promise.all([0, 1, 2, 3].map(() => lambda.invoke("steady", { ms: 10 })));
        assert.deepEqual(steady.map((r) => r.payload), [first, first, first, first], "a queue that moves stays on the warm Worker");

        const started = Date.now();
        const stuck = lambda.invoke("steady", { ms: 4000 });
        const behind = await lambda.invoke("steady", { ms: 0 });
        const waited = Date.now() - started;
        assert.notEqual(behind.payload, first, "a second Worker served the invocation queued behind the stuck one");
        assert.ok(waited >= 1000 && waited < 3500, `served after the 1 s threshold, not after the stuck one (${waited} ms)`);
        assert.equal((await stuck).payload, first);
    });

    it("does not count the wait behind a cold start towards a second Worker", async () => {
        await lambda.close();
        lambda = newService(2, 300);
        await lambda.addFunction(
            spec(
                "slowInit",
                `const { threadId } = require("worker_threads");
                 const until = Date.now() + 800;
                 while (Date.now() < until) {} // init longer than scaleOutAfterMs
                 exports.handler = async () => threadId;`,
            ),
        );
        const results = await Promise.all([0, 1, 2, 3].map(() => lambda.invoke("slowInit", {})));
        const threads = new Set(results.map((r) => r.payload));
        assert.equal(threads.size, 1, "the invocations queued behind the init ran on the Worker that did it");
        assert.match(results[0].logs, /Init Duration: (8\d\d|9\d\d|\d{4,})\.\d\d ms/);
    });
});
