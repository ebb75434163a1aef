/**
 * The handlers as Pulumi packaged them: each Function's archive (from the mocked inputs of the evaluated
 * stack) runs in the offline runtime's Lambda workers against the local S3 and bus, with real task tokens.
 * Their answers are read off the bus: turning answers into task results is the TaskFinisher's job, tested
 * end to end elsewhere. postProcessAll heartbeats its task, which its role allows on the workflow only, so its
 * test task stands in for the workflow.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ENTRY_FILE } from "../components/closureArchive";
import { heartbeatEveryMsFromEnv, postProcessAll } from "../systems/cookieReport/handlers/postProcessAll";
import { fetchJson } from "../handlers/storage";
import { Logger } from "@aws-lambda-powertools/logger";
import { ProcessSinglePostDetail } from "../systems/cookieReport/events";
import { HandlerContext, SDK_CLIENT_CONFIG, withTaskFailure } from "../handlers/task";
import { parseStartDetail } from "../systems/cookieReport/validation";
import { cookieReport, devStack, one } from "../local/testing/stack";
import { BusEvent } from "../local/services/events/eventBridge";
import { TestRuntime, readJson, startTestRuntime, waitingTask } from "../local/testing/runtime";

/** The answer (`taskFinished` or `taskFailed`) a handler put on the bus for a token. */
async function answerFor(runtime: TestRuntime, taskToken: string): Promise<BusEvent> {
    await runtime.idle();
    const answers = runtime.events.filter((e) => ["taskFinished", "taskFailed"].includes(e["detail-type"]) && e.detail.taskToken === taskToken);
    assert.equal(answers.length, 1, "exactly one answer per task");
    return answers[0];
}

describe("handlers: serialized code against local S3 and the bus", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    let bucket: string;
    before(async () => {
        runtime = await startTestRuntime();
        bucket = String(runtime.stack.outputs.bucketName);
    });
    after(async () => runtime?.close());

    it("serves the __index.js Pulumi produced for each Function, not the TypeScript", async () => {
        const stack = await devStack();
        for (const name of ["getMultiple", "processSingle", "postProcessSingle", "sideEffect", "postProcessAll"].map(cookieReport)) {
            const code = one(stack, "aws:lambda/function:Function", name).inputs.code as { assets: Promise<Record<string, { text: Promise<string> }>> };
            const text = await (await code.assets)[ENTRY_FILE].text;
            assert.equal(runtime.services.lambda.functions.get(name)?.files[ENTRY_FILE], text, name);
            assert.match(text, /exports\.handler|handler:/);
        }
    });

    it("processSingle writes the basic profile and emits a presigned URL that fetches it", async () => {
        const task = await waitingTask(runtime, "ProcessSingle");
        const detail = { taskToken: task.taskToken, step: "ProcessSingle", executionId: task.executionArn, executionName: task.executionName, name: "Ada Lovelace" };
        const result = await runtime.services.lambda.service.invoke(cookieReport("processSingle"), { "detail-type": "processSingle", source: "project", detail });
        assert.equal(result.functionError, undefined, JSON.stringify(result.functionError));
        const stored = await readJson<{ name: string; company: string; city: string }>(runtime, `${task.executionName}/basic-Ada Lovelace.json`);
        assert.equal(stored.name, "Ada Lovelace");
        assert.ok(stored.company && stored.city);
        const post = runtime.events.find((e) => e["detail-type"] === "processSinglePost" && e.detail.executionName === task.executionName);
        assert.ok(post, "processSinglePost was emitted");
        const url = String(post.detail.url);
        assert.match(url, /X-Amz-Signature=/);
        assert.match(url, /X-Amz-Expires=300/, "expiry from Pulumi.dev.yaml");
        assert.deepEqual(await (await fetch(url)).json(), stored);
        // postProcessSingle answers the token with the cookies file it wrote.
        const answer = await answerFor(runtime, task.taskToken);
        assert.equal(answer["detail-type"], "taskFinished");
        assert.deepEqual(answer.detail.result, { name: "Ada Lovelace", key: `${task.executionName}/cookies-Ada Lovelace.json` });
        const cookies = await readJson<{ name: string; numberOfCookiesConsumed: number }>(runtime, `${task.executionName}/cookies-Ada Lovelace.json`);
        assert.equal(cookies.name, "Ada Lovelace");
        assert.ok(Number.isInteger(cookies.numberOfCookiesConsumed));
    });

    it("postProcessAll sums every person's cookies into the report and finishes the task with the total", async () => {
        const task = await waitingTask(runtime, "PostProcessAll", { asWorkflow: true });
        const people = { Ann: 3, Bob: 0, "Cé Dü": 39 };
        for (const [name, cookies] of Object.entries(people)) {
            await runtime.clients.s3.send(
                new PutObjectCommand({ Bucket: bucket, Key: `${task.executionName}/cookies-${name}.json`, Body: JSON.stringify({ name, company: "c", city: "x", numberOfCookiesConsumed: cookies }) }),
            );
        }
        const detail = { taskToken: task.taskToken, step: "PostProcessAll", executionId: task.executionArn, executionName: task.executionName, names: Object.keys(people) };
        const result = await runtime.services.lambda.service.invoke(cookieReport("postProcessAll"), { "detail-type": "processAll", source: "project", detail });
        assert.equal(result.functionError, undefined, JSON.stringify(result.functionError));
        assert.deepEqual(await readJson(runtime, `${task.executionName}/0-cookies.json`), { names: Object.keys(people), numberOfPeople: 3, totalCookiesConsumed: 42 });
        const answer = await answerFor(runtime, task.taskToken);
        assert.equal(answer["detail-type"], "taskFinished");
        assert.deepEqual(answer.detail.result, { totalCookiesConsumed: 42, reportKey: `${task.executionName}/0-cookies.json` });
    });

    it("processSingle with no name fails its task with a cause naming the field", async () => {
        const task = await waitingTask(runtime, "ProcessSingle");
        const detail = { taskToken: task.taskToken, step: "ProcessSingle", executionId: task.executionArn, executionName: task.executionName };
        const result = await runtime.services.lambda.service.invoke(cookieReport("processSingle"), { "detail-type": "processSingle", source: "project", detail });
        assert.equal(result.functionError, undefined, "bad input fails the task, not the invocation (no pointless retries)");
        const answer = await answerFor(runtime, task.taskToken);
        assert.equal(answer["detail-type"], "taskFailed");
        assert.deepEqual(answer.detail, {
            taskToken: task.taskToken,
            step: "ProcessSingle",
            error: "InvalidInput",
            cause: "ProcessSingle: processSingle detail.name is required and must be a non-empty string, got undefined",
            // The run it belongs to (from the task's executionId) and the function that emitted it.
            trace: { correlationId: task.executionArn, emitter: cookieReport("processSingle"), emittedAt: (answer.detail.trace as { emittedAt?: string } | undefined)?.emittedAt },
        });
    });

    it("postProcessSingle fails its task on a URL that is not http(s), without echoing the URL", async () => {
        for (const [url, problem] of [
            ["not a url?X-Amz-Signature=secret", "the presigned URL is not a valid URL"],
            ["ftp://bucket/key?X-Amz-Signature=secret", "the presigned URL is not an http(s) URL"],
        ]) {
            const task = await waitingTask(runtime, "ProcessSingle");
            const detail = { taskToken: task.taskToken, step: "ProcessSingle", executionId: task.executionArn, executionName: task.executionName, name: "Eve", url };
            const result = await runtime.services.lambda.service.invoke(cookieReport("postProcessSingle"), { "detail-type": "processSinglePost", source: "project", detail });
            assert.equal(result.functionError, undefined, "bad input fails the task, not the invocation");
            const answer = await answerFor(runtime, task.taskToken);
            assert.equal(answer["detail-type"], "taskFailed");
            assert.equal(answer.detail.cause, `ProcessSingle: reading the basic profile of Eve: ${problem}`);
        }
    });

    it("getMultiple fails its task when the start detail is text that is not JSON, naming the detail", async () => {
        const task = await waitingTask(runtime, "GetMultiple");
        const detail = { taskToken: task.taskToken, step: "GetMultiple", executionId: task.executionArn, executionName: task.executionName, input: "{count: 3" };
        await runtime.services.lambda.service.invoke(cookieReport("getMultiple"), { "detail-type": "getMultiple", source: "project", detail });
        const answer = await answerFor(runtime, task.taskToken);
        assert.equal(answer["detail-type"], "taskFailed");
        assert.match(String(answer.detail.cause), /^GetMultiple: start: detail must be a JSON object, got text that is not JSON/);
    });

    it("refuses a start event whose Detail is not JSON at PutEvents, per entry, naming Detail", async () => {
        const response = await runtime.clients.events.send(
            new PutEventsCommand({
                Entries: [
                    { Source: "project", DetailType: "start", EventBusName: "default", Detail: "{count: 3" },
                    { Source: "project", DetailType: "nothing-listens", EventBusName: "default", Detail: "{}" },
                ],
            }),
        );
        assert.equal(response.FailedEntryCount, 1);
        assert.equal(response.Entries![0].ErrorCode, "MalformedDetail");
        assert.match(response.Entries![0].ErrorMessage!, /Detail is malformed/);
        assert.ok(response.Entries![1].EventId, "the valid entry in the same call is accepted, not lost");
    });

    it("parses the start detail's count strictly", () => {
        assert.deepEqual(parseStartDetail({ count: 3 }), { count: 3 });
        assert.deepEqual(parseStartDetail({}), {});
        assert.deepEqual(parseStartDetail('{"count":0}'), { count: 0 });
        for (const bad of [-1, 1.5, "5", 1001, null]) {
            assert.throws(() => parseStartDetail({ count: bad }), /start: detail\.count must be an integer from 0 to 1000/);
        }
        assert.throws(() => parseStartDetail([1]), /start: detail must be a JSON object, got an array/);
    });

    it("builds every handler's SDK client with SDK_CLIENT_CONFIG, and S3 clients only bound to one bucket", () => {
        assert.equal(new EventBridgeClient(SDK_CLIENT_CONFIG).config.cacheMiddleware, true, "the clients cache their middleware");
        const dirs = [path.join(__dirname, "..", "handlers"), path.join(__dirname, "..", "systems", "cookieReport", "handlers")];
        const clients: string[] = [];
        for (const [dir, file] of dirs.flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith(".ts")).map((f) => [d, f]))) {
            for (const call of fs.readFileSync(path.join(dir, file), "utf8").matchAll(/new (\w+Client)\(([^)]*)\)/g)) {
                clients.push(`${file}: new ${call[1]}`);
                assert.equal(call[2], "SDK_CLIENT_CONFIG", `${file}: new ${call[1]}(${call[2]})`);
            }
        }
        // A client with cached middleware must not address two buckets at once: resultsStoreFromEnv binds it to one.
        assert.deepEqual(clients.sort(), ["postProcessAll.ts: new SFNClient", "storage.ts: new S3Client", "task.ts: new EventBridgeClient"]);
    });
});

describe("fetchJson: reading a presigned URL", () => {
    let server: http.Server;
    let base: string;
    const sockets = new Set<net.Socket>();
    let connections = 0;
    /** Path -> [status, body]. */
    const answers: Record<string, [number, string]> = {
        "/ok": [200, JSON.stringify({ name: "Ada" })],
        "/expired": [403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"],
        "/throttled": [503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"],
    };
    before(async () => {
        server = http.createServer((req, res) => {
            const [status, body] = answers[(req.url ?? "").split("?")[0]] ?? [404, ""];
            res.writeHead(status, { "content-type": "application/xml" }).end(body);
        });
        server.on("connection", (socket: net.Socket) => {
            connections++;
            sockets.add(socket);
            socket.on("close", () => sockets.delete(socket));
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    after(() => server.close());

    it("refuses with S3's code as bad input; throttling and server errors stay retryable", async () => {
        assert.deepEqual(await fetchJson(`${base}/ok?X-Amz-Signature=s`, "read"), { name: "Ada" });
        await assert.rejects(fetchJson(`${base}/expired?X-Amz-Signature=s`, "read"), (error: Error) => {
            assert.equal(error.name, "InvalidInput");
            assert.equal(error.message, "read: the presigned URL was refused: 403 AccessDenied (Request has expired)");
            return true;
        });
        await assert.rejects(fetchJson(`${base}/throttled?X-Amz-Signature=s`, "read"), (error: Error) => {
            assert.notEqual(error.name, "InvalidInput", "Lambda retries it");
            assert.match(error.message, /^read: the presigned URL was refused: 503 SlowDown/);
            return true;
        });
    });

    it("a refused connection is an ordinary error that does not echo the URL", async () => {
        const closed = http.createServer();
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
        const port = (closed.address() as net.AddressInfo).port;
        await new Promise((resolve) => closed.close(resolve));
        await assert.rejects(fetchJson(`http://127.0.0.1:${port}/k?X-Amz-Signature=secret`, "read"), (error: Error) => {
            assert.notEqual(error.name, "InvalidInput");
            assert.doesNotMatch(error.message, /secret/);
            return true;
        });
    });

    it("sends the read again when its kept-alive connection was closed while the process was frozen", async () => {
        assert.deepEqual(await fetchJson(`${base}/ok`, "read"), { name: "Ada" });
        const before = connections;
        for (const socket of sockets) socket.destroy();
        // Block the event loop, as a frozen container would, so the client has not yet seen the close.
        const until = Date.now() + 100;
        while (Date.now() < until);
        assert.deepEqual(await fetchJson(`${base}/ok`, "read"), { name: "Ada" });
        assert.equal(connections, before + 1, "the second attempt went out on a fresh connection");
    });
});

describe("postProcessAll: reads and heartbeats", () => {
    /** A stand-in S3 client that serves cookie files and records how many reads run at once. */
    function fakeStore(names: string[]) {
        const stats = { reads: 0, inFlight: 0, maxInFlight: 0 };
        const s3 = {
            send: async (command: GetObjectCommand | PutObjectCommand) => {
                if (!(command instanceof GetObjectCommand)) return {};
                stats.reads++;
                stats.inFlight++;
                stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
                await new Promise((resolve) => setTimeout(resolve, 1));
                stats.inFlight--;
                const name = names.find((n) => command.input.Key === `run/cookies-${n}.json`);
                return { Body: { transformToString: async () => JSON.stringify({ name, numberOfCookiesConsumed: 2 }) } };
            },
        } as unknown as S3Client;
        return { s3, stats };
    }
    const names = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const task = { taskToken: "t", step: "PostProcessAll", executionId: "e", executionName: "run", names };

    it("reads every file, at most 25 at once, with one heartbeat per interval", async () => {
        const { s3, stats } = fakeStore(names);
        let heartbeats = 0;
        const result = await postProcessAll({ s3, bucket: "b", heartbeat: async () => void heartbeats++, heartbeatEveryMs: 3_600_000 }, task);
        assert.deepEqual(result, { totalCookiesConsumed: 200, reportKey: "run/0-cookies.json" });
        assert.equal(stats.reads, 100);
        assert.equal(stats.maxInFlight, 25);
        assert.equal(heartbeats, 1, "one at the start; the next is due only after the interval");
    });

    it("heartbeats again once the interval has passed", async () => {
        const { s3 } = fakeStore(names);
        let heartbeats = 0;
        await postProcessAll({ s3, bucket: "b", heartbeat: async () => void heartbeats++, heartbeatEveryMs: 0 }, task);
        assert.equal(heartbeats, 4, "an interval of 0 ms: before every batch of 25");
        // A clock that moves 10 s per batch and a 20 s interval: batches 1 and 3 heartbeat.
        let clock = 0;
        const beatsAt: number[] = [];
        const now = () => clock;
        const heartbeat = async () => void beatsAt.push(clock);
        const { s3: slow } = fakeStore(names);
        const tick = {
            send: async (command: GetObjectCommand) => {
                clock += 400;
                return slow.send(command);
            },
        } as unknown as S3Client;
        await postProcessAll({ s3: tick, bucket: "b", heartbeat, heartbeatEveryMs: 20_000, now }, task);
        assert.deepEqual(beatsAt, [0, 20_000]);
    });

    it("stops reading when a heartbeat fails, and fails with its error", async () => {
        const { s3, stats } = fakeStore(names);
        let heartbeats = 0;
        const heartbeat = async () => {
            if (++heartbeats === 2) throw new Error("TaskTimedOut");
        };
        await assert.rejects(postProcessAll({ s3, bucket: "b", heartbeat, heartbeatEveryMs: 0 }, task), /TaskTimedOut/);
        assert.equal(stats.reads, 25, "the first batch only");
    });

    it("takes its interval from HEARTBEAT_SECONDS, a third of it, and refuses a bad value", () => {
        assert.equal(heartbeatEveryMsFromEnv({ HEARTBEAT_SECONDS: "60" }), 20_000);
        assert.throws(() => heartbeatEveryMsFromEnv({}), /HEARTBEAT_SECONDS must be an integer from 1 to 99999999 seconds, got undefined/);
        assert.throws(() => heartbeatEveryMsFromEnv({ HEARTBEAT_SECONDS: "1e2" }), /HEARTBEAT_SECONDS must be an integer/);
    });
});

describe("withTaskFailure: what a failing handler logs and throws", () => {
    const url = "https://results.s3.amazonaws.com/run/basic-Ann.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXYZ%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=IQoJb3JpZ2lu&X-Amz-Signature=5ca1ab1e5ca1ab1e";
    const token = "T".repeat(64);

    /** A handler context whose logger records what it is given (its other members are not reached here). */
    function recordingContext() {
        const logged: Array<{ level: string; message: string; fields: unknown }> = [];
        const logger = new Logger({ serviceName: "test" });
        logger.error = ((message: string, fields: unknown) => void logged.push({ level: "error", message, fields })) as Logger["error"];
        logger.warn = ((message: string, fields: unknown) => void logged.push({ level: "warn", message, fields })) as Logger["warn"];
        const ctx: HandlerContext = { logger, events: new EventBridgeClient({}), target: { busName: "b", source: "s" }, emitter: "test" };
        return { ctx, logged };
    }

    it("logs an event with no token by its step and keys only, never its values", async () => {
        const { ctx, logged } = recordingContext();
        let ran = false;
        await withTaskFailure(ctx, { detail: { step: "PostProcessSingle", url, name: "Ann" } as Partial<ProcessSinglePostDetail> }, async () => void (ran = true));
        assert.equal(ran, false);
        assert.deepEqual(logged, [{ level: "error", message: "event has no detail.taskToken; nothing to answer", fields: { step: "PostProcessSingle", keys: ["name", "step", "url"] } }]);
        await withTaskFailure(ctx, { detail: "not an object" as unknown as Partial<ProcessSinglePostDetail> }, async () => undefined);
        assert.deepEqual(logged[1].fields, { keys: [] });
    });

    it("rethrows an unexpected error without the token or the URL's query, keeping the rest of its message", async () => {
        const { ctx } = recordingContext();
        const detail: ProcessSinglePostDetail = { taskToken: token, step: "PostProcessSingle", executionId: "e", executionName: "run", name: "Ann", url };
        const signature = new URL(url).searchParams.get("X-Amz-Signature")!;
        const thrown = await withTaskFailure(ctx, { detail }, async () => {
            throw new TypeError(`cannot fetch ${url} (signature ${signature}) for ${token}`);
        }).then(
            () => assert.fail("expected the error to be rethrown"),
            (error: unknown) => error as Error,
        );
        assert.ok(thrown instanceof TypeError, "the same error, so Lambda reports its type");
        assert.equal(thrown.message, "cannot fetch https://results.s3.amazonaws.com/run/basic-Ann.json?REDACTED (signature REDACTED) for REDACTED-task-token");
        for (const secret of [token, signature, "ASIAXYZ", "IQoJb3JpZ2lu"]) assert.ok(!String(thrown.stack).includes(secret), `the stack holds no ${secret}`);
    });
});
