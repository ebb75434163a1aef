/**
 * Crash safety (issue 11): `npm start --data-dir` killed with SIGKILL in the middle of runs and of a large object
 * overwrite, three rounds on the same data directory. After each restart every run that was in flight is ABORTED,
 * every finished run and every object is intact (an overwrite is all old or all new, with its own ETag), nothing
 * in the data directory is readable by others, and the dead runtime's scratch folder is gone.
 */
import { strict as assert } from "assert";
import { ChildProcessWithoutNullStreams, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { scratchRoot } from "../local/core/scratch";
import { DrivenRuntime, listWorkflowExecutions, newExecutions } from "../local/testing/runtime";
import { devStack } from "../local/testing/stack";

const ROOT = path.resolve(__dirname, "..");
const BIG_KEY = "crash/big.bin";
const BIG_BYTES = 24 * 1024 * 1024;

interface Served extends DrivenRuntime {
    child: ChildProcessWithoutNullStreams;
    url: string;
    output: () => string;
}

/** `npm start` in one process (node with tsx's loader, no tsx wrapper process), so its pid is the runtime's. */
async function serve(dataDir: string): Promise<Served> {
    const child = spawn(process.execPath, ["--require", "tsx/cjs", "local/main.ts", "--port", "0", "--data-dir", dataDir], { cwd: ROOT });
    let out = "";
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString();
            const match = /^ready (http:\/\/\S+)/m.exec(out);
            if (match) resolve(match[1]);
        });
        child.once("exit", (code) => reject(new Error(`exited ${code} before ready:\n${out}`)));
    });
    const config = { endpoint: url, region: "us-east-1", credentials: LOCAL_CREDENTIALS };
    const clients = { events: new EventBridgeClient(config), sfn: new SFNClient(config), s3: new S3Client({ ...config, forcePathStyle: true }) };
    return { child, url, output: () => out, stack: await devStack(), clients };
}

function killed(child: ChildProcessWithoutNullStreams): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
    });
}

const md5 = (data: Buffer) => createHash("md5").update(data).digest("hex");

async function getObject(served: Served, key: string): Promise<{ body: Buffer; etag: string }> {
    const object = await served.clients.s3.send(new GetObjectCommand({ Bucket: String(served.stack.outputs.bucketName), Key: key }));
    return { body: Buffer.from(await object.Body!.transformToByteArray()), etag: String(object.ETag) };
}

async function putStarts(served: Served, count: number, names: number): Promise<void> {
    const entries = Array.from({ length: count }, () => ({ Source: "project", DetailType: "start", EventBusName: "default", Detail: JSON.stringify({ count: names }) }));
    const put = await served.clients.events.send(new PutEventsCommand({ Entries: entries }));
    assert.equal(put.FailedEntryCount, 0);
}

/** Sends a whole object body over a presigned PUT and resolves once the last byte is written, not when answered. */
async function sendOverwrite(served: Served, body: Buffer): Promise<void> {
    const url = new URL(
        await getSignedUrl(served.clients.s3, new PutObjectCommand({ Bucket: String(served.stack.outputs.bucketName), Key: BIG_KEY }), { expiresIn: 60 }),
    );
    await new Promise<void>((resolve) => {
        const req = http.request({ hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: "PUT", headers: { "content-length": body.length }, agent: false });
        req.on("error", () => resolve());
        req.on("response", (res) => res.resume());
        for (let at = 0; at < body.length; at += 1024 * 1024) req.write(body.subarray(at, at + 1024 * 1024));
        req.end(() => resolve());
    });
}

/** Paths under `dir` whose mode lets anyone but the owner read, write or enter them. */
function openToOthers(dir: string): string[] {
    const open: string[] = [];
    const walk = (at: string) => {
        const stat = fs.lstatSync(at);
        if ((stat.mode & 0o077) !== 0) open.push(`${at} ${(stat.mode & 0o777).toString(8)}`);
        if (stat.isDirectory()) for (const entry of fs.readdirSync(at)) walk(path.join(at, entry));
    };
    walk(dir);
    return open;
}

/** The scratch folders a runtime with this pid made. */
function scratchOf(pid: number): string[] {
    return [...new Set([scratchRoot(), os.tmpdir()])].flatMap((root) =>
        fs.readdirSync(root).filter((entry) => new RegExp(`^choreography-runtime-[0-9a-f]{8}-${pid}-`).test(entry)).map((entry) => path.join(root, entry)),
    );
}

describe("crash safety: kill -9 during runs and during a large overwrite, three rounds on one --data-dir", function () {
    this.timeout(240_000);
    let dataDir: string;
    let current: Served | undefined;
    before(() => {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "choreography-crash-"));
    });
    after(async () => {
        if (current) await killed(current.child);
        fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("aborts in-flight runs and keeps every finished run and object intact", async () => {
        const finishedRuns = new Map<string, string>(); // execution ARN -> output
        const reports = new Map<string, string>(); // report key -> md5 of its content
        let inFlight: string[] = [];
        const big = { old: Buffer.alloc(BIG_BYTES, "a"), next: Buffer.alloc(BIG_BYTES, "b") };
        const known = new Set<string>();
        let deadPid: number | undefined;

        for (let round = 1; round <= 4; round++) {
            current = await serve(dataDir);
            const served = current;
            if (deadPid !== undefined) {
                assert.deepEqual(scratchOf(deadPid), [], `round ${round}: the killed runtime's scratch folder is removed at start`);
                for (const [arn, output] of finishedRuns) {
                    const execution = await served.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
                    assert.deepEqual([execution.status, execution.output], ["SUCCEEDED", output], `round ${round}: ${arn}`);
                }
                for (const arn of inFlight) {
                    const execution = await served.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
                    assert.equal(execution.status, "ABORTED", `round ${round}: in-flight ${arn}`);
                }
                for (const [key, digest] of reports) assert.equal(md5((await getObject(served, key)).body), digest, `round ${round}: ${key}`);
                const overwritten = await getObject(served, BIG_KEY);
                const whole = [big.old, big.next].find((candidate) => candidate.equals(overwritten.body));
                assert.ok(whole, `round ${round}: the overwritten object is all old or all new content (${overwritten.body.length} bytes)`);
                assert.equal(overwritten.etag, JSON.stringify(md5(whole)), `round ${round}: its ETag is its content's`);
                // The next round overwrites with the other content.
                if (whole === big.next) [big.old, big.next] = [big.next, big.old];
                const exposed = openToOthers(dataDir);
                assert.deepEqual(exposed, [], `round ${round}: the data directory is the owner's only`);
            }
            if (round === 4) break;

            // A run that finishes, then its report.
            await putStarts(served, 1, 2);
            const [done] = await newExecutions(served, known, 1);
            for (;;) {
                const execution = await served.clients.sfn.send(new DescribeExecutionCommand({ executionArn: done }));
                if (execution.status === "RUNNING") {
                    await new Promise((resolve) => setTimeout(resolve, 50));
                    continue;
                }
                assert.equal(execution.status, "SUCCEEDED", execution.cause);
                finishedRuns.set(done, execution.output!);
                const { reportKey } = JSON.parse(execution.output!) as { reportKey: string };
                reports.set(reportKey, md5((await getObject(served, reportKey)).body));
                break;
            }
            if (round === 1) {
                await served.clients.s3.send(new PutObjectCommand({ Bucket: String(served.stack.outputs.bucketName), Key: BIG_KEY, Body: big.old }));
            }

            // Runs in flight and an overwrite being written when the process dies.
            await putStarts(served, 3, 20);
            inFlight = await newExecutions(served, known, 3);
            const running = (await listWorkflowExecutions(served)).filter((e) => inFlight.includes(e.executionArn!) && e.status === "RUNNING");
            assert.equal(running.length, 3, "three runs are in flight");
            await sendOverwrite(served, big.next);
            await new Promise((resolve) => setTimeout(resolve, round * 5));
            deadPid = served.child.pid!;
            await killed(served.child);
            assert.ok(scratchOf(deadPid).length > 0, "a killed runtime leaves its scratch folder behind (removed at the next start)");
        }

        // A graceful stop removes the runtime's own scratch folder.
        const last = current!;
        const stopped = new Promise<number | null>((resolve) => last.child.once("exit", resolve));
        last.child.kill("SIGINT");
        assert.equal(await stopped, 0, last.output());
        assert.deepEqual(scratchOf(last.child.pid!), []);
        current = undefined;
    });
});
