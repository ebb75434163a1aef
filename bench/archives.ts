/**
 * Deployment archives as files, and a stand-in for the nodejs22.x runtime that runs them: shared by the packaging
 * benchmark (bench/package.ts) and its tests (test/packaging.test.ts).
 *
 * An archive is unpacked into a folder of its own under the system temp folder, where walking up finds no
 * `node_modules`; the handler runs in a new `node` process whose only other module folder (NODE_PATH) holds what
 * the runtime provides: `@aws-sdk`, `@smithy` and `@aws-crypto`. A package the archive lacks fails to load there,
 * as it would in AWS. Calls the handlers make to AWS go to a local stub (AWS_ENDPOINT_URL).
 */
import { RUNTIME_PROVIDED_SCOPES } from "../components/closureArchive";
import { spawn } from "child_process";
import { deflateSync, unzipSync, zipSync } from "fflate";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { ArchiveFile } from "../local/services/lambda/archive";

export const PROJECT_ROOT = path.resolve(__dirname, "..");
export { ArchiveFile, archiveFiles } from "../local/services/lambda/archive";

/** Files of a plain `name -> text` record (what buildClosureArchive returns). */
export function filesOf(record: Record<string, string>): ArchiveFile[] {
    return Object.entries(record).map(([name, text]) => ({ name, size: Buffer.byteLength(text), text }));
}

export interface ArchiveSize {
    entries: number;
    bytes: number;
    /** The zip file: each file deflated at level 6, with zip's local and central headers. */
    zipped: number;
}

const deflatedSizes = new Map<string, number>();
function deflatedSize(file: ArchiveFile): number {
    const known = file.source === undefined ? undefined : deflatedSizes.get(file.source);
    if (known !== undefined) return known;
    const data = file.text !== undefined ? Buffer.from(file.text) : fs.readFileSync(file.source!);
    const size = Math.min(deflateSync(data, { level: 6 }).length, data.length);
    if (file.source !== undefined) deflatedSizes.set(file.source, size);
    return size;
}

/** Entries, bytes and zipped bytes; zip stores a file that does not compress as it is. */
export function archiveSize(files: ArchiveFile[]): ArchiveSize {
    const ZIP_LOCAL_HEADER = 30;
    const ZIP_CENTRAL_HEADER = 46;
    const ZIP_END = 22;
    let zipped = ZIP_END;
    for (const file of files) {
        zipped += ZIP_LOCAL_HEADER + ZIP_CENTRAL_HEADER + 2 * Buffer.byteLength(file.name) + deflatedSize(file);
    }
    return { entries: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0), zipped };
}

/** The archive as a real zip file (deflate level 6), as `pulumi up` uploads it. */
export function writeZip(files: ArchiveFile[], file: string): string {
    const entries: Record<string, Uint8Array> = {};
    for (const f of files) entries[f.name] = f.text !== undefined ? Buffer.from(f.text) : fs.readFileSync(f.source!);
    fs.writeFileSync(file, zipSync(entries, { level: 6 }));
    return file;
}

/**
 * What Lambda does with a zip before a cold start's init: reads it and writes every file into an empty task root.
 * Returns the milliseconds it took (fflate in this process; the same unpacker for every archive).
 */
export function extractZip(zipFile: string, folder: string): number {
    const started = process.hrtime.bigint();
    fs.mkdirSync(folder, { recursive: true });
    if (fs.readdirSync(folder).length) throw new Error(`${folder} is not empty`);
    const made = new Set<string>();
    for (const [name, data] of Object.entries(unzipSync(fs.readFileSync(zipFile)))) {
        const target = path.join(folder, ...name.split("/"));
        const dir = path.dirname(target);
        if (!made.has(dir)) fs.mkdirSync(dir, { recursive: true });
        made.add(dir);
        fs.writeFileSync(target, data);
    }
    return Number(process.hrtime.bigint() - started) / 1e6;
}

/** A folder under the system temp folder, checked to have no `node_modules` above it. */
export function isolatedTempDir(label: string): string {
    for (let dir = os.tmpdir(); ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "node_modules"))) {
            throw new Error(`${dir}/node_modules exists: an archive under ${os.tmpdir()} could resolve packages from it`);
        }
        if (path.dirname(dir) === dir) break;
    }
    return fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `choreography-${label}-`));
}

/**
 * Writes an archive's files into `folder` (which must be empty or absent). A file already written from the same
 * source is hard-linked rather than copied again, so five copies of a large node_modules cost one.
 */
export class Unpacker {
    private readonly written = new Map<string, string>();

    unpack(files: ArchiveFile[], folder: string): string {
        fs.mkdirSync(folder, { recursive: true });
        if (fs.readdirSync(folder).length) throw new Error(`${folder} is not empty`);
        for (const file of files) {
            const target = path.join(folder, ...file.name.split("/"));
            fs.mkdirSync(path.dirname(target), { recursive: true });
            if (file.text !== undefined) {
                fs.writeFileSync(target, file.text);
                continue;
            }
            const source = file.source!;
            const first = this.written.get(source);
            try {
                if (!first) throw new Error("first copy");
                fs.linkSync(first, target);
            } catch {
                fs.copyFileSync(source, target);
                this.written.set(source, target);
            }
        }
        return folder;
    }
}

/** A NODE_PATH folder holding what the nodejs22.x runtime provides: links to the project's SDK scopes. */
export function runtimeModulesDir(parent: string): string {
    const folder = path.join(parent, "runtime-node_modules");
    fs.mkdirSync(folder, { recursive: true });
    for (const scope of RUNTIME_PROVIDED_SCOPES) {
        const source = path.join(PROJECT_ROOT, "node_modules", scope);
        if (fs.existsSync(source) && !fs.existsSync(path.join(folder, scope))) fs.symlinkSync(source, path.join(folder, scope), "dir");
    }
    return folder;
}

/**
 * A stand-in for the AWS endpoints the handlers call: PutEvents (and any other JSON-protocol call) succeeds, S3
 * puts succeed, and `GET /profile.json` serves a profile, for handlers that read one through a URL.
 */
export class AwsStub {
    public readonly requests: string[] = [];
    private constructor(
        private readonly server: http.Server,
        public readonly endpoint: string,
    ) {}

    static async start(): Promise<AwsStub> {
        let stub: AwsStub | undefined;
        const server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (chunk: Buffer) => chunks.push(chunk));
            req.on("end", () => {
                const target = String(req.headers["x-amz-target"] ?? "");
                stub?.requests.push(`${req.method} ${req.url} ${target}`.trim());
                if (req.method === "GET" && req.url?.startsWith("/profile.json")) {
                    res.writeHead(200, { "content-type": "application/json" });
                    res.end(JSON.stringify({ name: "Ada Lovelace", company: "Analytical Engines", city: "London" }));
                } else if (target.endsWith(".PutEvents")) {
                    res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
                    res.end(JSON.stringify({ Entries: [{ EventId: "stub-event" }], FailedEntryCount: 0 }));
                } else if (target) {
                    res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
                    res.end("{}");
                } else {
                    res.writeHead(200, { etag: '"stub"' });
                    res.end();
                }
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as AddressInfo;
        stub = new AwsStub(server, `http://127.0.0.1:${port}`);
        return stub;
    }

    close(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}

/** The environment a handler runs with: what the stack sets, what Lambda sets, and the stub's endpoint. */
export function handlerEnvironment(stub: AwsStub, nodePath: string, home: string): Record<string, string> {
    return {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        NODE_PATH: nodePath,
        TZ: "UTC",
        AWS_REGION: "us-east-1",
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "AKIDSTUB",
        AWS_SECRET_ACCESS_KEY: "stub-secret",
        AWS_SESSION_TOKEN: "stub-token",
        AWS_ENDPOINT_URL: stub.endpoint,
        AWS_CONFIG_FILE: path.join(home, "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, "no-aws-credentials"),
        AWS_LAMBDA_FUNCTION_NAME: "bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256",
        EVENT_BUS: "default",
        EVENT_SOURCE: "project",
        BUCKET: "results",
        PRESIGN_EXPIRY_SECONDS: "300",
        HEARTBEAT_SECONDS: "60",
    };
}

/**
 * An event each handler can complete without a waiting task: task handlers get one without a task token (they
 * log that there is nothing to answer and return); `sideEffect`, which answers no task, reads a profile from the
 * stub and announces it on the (stub) bus.
 */
export function testEvent(functionName: string, stub: AwsStub): unknown {
    const detail: Record<string, unknown> =
        functionName.endsWith("sideEffect")
            ? { executionName: "bench", name: "Ada Lovelace", url: `${stub.endpoint}/profile.json` }
            : { step: functionName, executionName: "bench" };
    return {
        version: "0",
        id: "00000000-0000-0000-0000-000000000000",
        "detail-type": functionName,
        source: "project",
        account: "000000000000",
        time: new Date(0).toISOString(),
        region: "us-east-1",
        resources: [],
        detail,
    };
}

/** Loads an archive's handler and invokes it once, then reports and exits: a cold start in a new process. */
const DRIVER = `"use strict";
const path = require("path");
const [folder, handler, eventJson] = process.argv.slice(2);
const dot = handler.lastIndexOf(".");
const report = (outcome, code) => {
    process.stdout.write("\\n@@outcome " + JSON.stringify({ ...outcome, cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000 }) + "\\n", () => process.exit(code));
};
const context = {
    functionName: "bench", functionVersion: "$LATEST", invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:bench",
    memoryLimitInMB: "256", awsRequestId: "bench-request", logGroupName: "/aws/lambda/bench", logStreamName: "bench",
    callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => 30000,
};
Promise.resolve()
    .then(() => {
        const handlerModule = require(path.join(folder, handler.slice(0, dot) + ".js"));
        const fn = handlerModule[handler.slice(dot + 1)];
        if (typeof fn !== "function") throw new Error(handler + " is not a function");
        return fn(JSON.parse(eventJson), context);
    })
    .then(
        (result) => report({ ok: true, result: result === undefined ? null : result }, 0),
        (error) => report({ ok: false, error: error && error.stack ? String(error.stack) : String(error) }, 1),
    );
`;

export function writeDriver(folder: string): string {
    const file = path.join(folder, "invoke-once.cjs");
    fs.writeFileSync(file, DRIVER);
    return file;
}

export interface Invocation {
    ok: boolean;
    result?: unknown;
    error?: string;
    /** From spawning the process to the end of the first invocation (the process exits right after). */
    wallMs: number;
    /** CPU time of the process up to the end of the first invocation. */
    cpuMs: number;
    /** Everything the process wrote (logs), for diagnostics. */
    output: string;
}

export interface InvokeOptions {
    driver: string;
    folder: string;
    handler: string;
    event: unknown;
    env: Record<string, string>;
    nodeArgs?: string[];
    timeoutMs?: number;
}

/** Runs the driver in a new `node` process in the archive's folder (Lambda's task root is its cwd). */
export function invokeOnce(options: InvokeOptions): Promise<Invocation> {
    return new Promise((resolve) => {
        const started = process.hrtime.bigint();
        const child = spawn(
            process.execPath,
            [...(options.nodeArgs ?? []), options.driver, options.folder, options.handler, JSON.stringify(options.event)],
            { cwd: options.folder, env: options.env, stdio: ["ignore", "pipe", "pipe"] },
        );
        let output = "";
        let outcomeAt: bigint | undefined;
        child.stdout.on("data", (chunk: Buffer) => {
            output += chunk.toString();
            if (outcomeAt === undefined && output.includes("@@outcome ")) outcomeAt = process.hrtime.bigint();
        });
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const wallMs = Number((outcomeAt ?? process.hrtime.bigint()) - started) / 1e6;
            const line = output.split("\n").find((l) => l.startsWith("@@outcome "));
            if (!line) {
                resolve({ ok: false, error: `exited with ${signal ?? code} before completing the invocation`, wallMs, cpuMs: NaN, output });
                return;
            }
            const outcome = JSON.parse(line.slice("@@outcome ".length)) as { ok: boolean; result?: unknown; error?: string; cpuMs: number };
            resolve({ ...outcome, wallMs, output });
        });
    });
}

export function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
