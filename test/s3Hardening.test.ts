/**
 * The S3 emulator against hostile and odd requests, through HTTP: keys and bucket names that would leave the store,
 * long and strange keys, upload ids that would name paths, crashes during an overwrite, damaged files in the store,
 * server-side encryption, and the modes of the files it creates.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import {
    CopyObjectCommand,
    DeleteObjectCommand,
    GetObjectTaggingCommand,
    PutObjectTaggingCommand,
    CompleteMultipartUploadCommand,
    CreateMultipartUploadCommand,
    GetBucketEncryptionCommand,
    GetObjectCommand,
    HeadObjectCommand,
    ListObjectsCommand,
    ListObjectsV2Command,
    PutObjectCommand,
    S3Client,
    S3ServiceException,
    UploadPartCommand,
} from "@aws-sdk/client-s3";
import { RunningEmulator, startServedEmulator } from "./support/s3";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const CREDENTIALS = { accessKeyId: "HARDENKEY", secretAccessKey: "harden-secret" };
const REGION = "us-east-1";
const BUCKET = "harden-bucket";

// ---------------------------------------------------------------------------------------------------------------
// Raw signed requests: paths exactly as written (the SDK and fetch would encode or normalize them).

interface RawAnswer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

const uriEncode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
const safeDecode = (text: string) => {
    try {
        return decodeURIComponent(text);
    } catch {
        return text;
    }
};

/** Sends a request signed with SigV4 as S3 canonicalizes it (each path segment decoded, then encoded once). */
function rawRequest(endpoint: string, method: string, rawPath: string, options: { query?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawAnswer> {
    const url = new URL(endpoint);
    const body = options.body ?? Buffer.alloc(0);
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const date = amzDate.slice(0, 8);
    const headers: Record<string, string> = {
        host: url.host,
        "x-amz-content-sha256": crypto.createHash("sha256").update(body).digest("hex"),
        "x-amz-date": amzDate,
        ...Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    };
    const signedNames = Object.keys(headers).sort();
    const canonicalQuery = (options.query ?? "")
        .split("&")
        .filter(Boolean)
        .map((pair) => pair.split("=").map((part) => uriEncode(safeDecode(part ?? ""))))
        .map(([name, value = ""]) => [name, value])
        .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
        .map(([name, value]) => `${name}=${value}`)
        .join("&");
    const canonical = [
        method,
        rawPath.split("/").map((segment) => uriEncode(safeDecode(segment))).join("/"),
        canonicalQuery,
        signedNames.map((name) => `${name}:${headers[name]}\n`).join(""),
        signedNames.join(";"),
        headers["x-amz-content-sha256"],
    ].join("\n");
    const scope = `${date}/${REGION}/s3/aws4_request`;
    const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, crypto.createHash("sha256").update(canonical).digest("hex")].join("\n");
    const key = [date, REGION, "s3", "aws4_request"].reduce<Buffer | string>((k, part) => crypto.createHmac("sha256", k).update(part).digest(), `AWS4${CREDENTIALS.secretAccessKey}`);
    const signature = crypto.createHmac("sha256", key).update(stringToSign).digest("hex");
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/${scope}, SignedHeaders=${signedNames.join(";")}, Signature=${signature}`;
    headers["content-length"] = String(body.length);
    return new Promise((resolve, reject) => {
        const req = http.request(
            { host: url.hostname, port: url.port, method, path: rawPath + (options.query ? `?${options.query}` : ""), headers },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (chunk: Buffer) => chunks.push(chunk));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
            },
        );
        req.on("error", reject);
        req.end(body);
    });
}

function errorCode(answer: RawAnswer): string | undefined {
    return /<Code>([^<]*)<\/Code>/.exec(answer.body)?.[1];
}

async function rejectsWith(promise: Promise<unknown>, name: string, status: number): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof S3ServiceException, `expected an S3 error, got ${String(err)}`);
        assert.equal(err.name, name);
        assert.equal(err.$metadata.httpStatusCode, status);
        return true;
    });
}

async function text(output: { Body?: { transformToString(): Promise<string> } }): Promise<string> {
    assert.ok(output.Body);
    return output.Body.transformToString();
}

/** Every file and folder below `dir`. */
async function walk(dir: string): Promise<string[]> {
    const found: string[] = [];
    for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        found.push(full);
        if (entry.isDirectory()) found.push(...(await walk(full)));
    }
    return found;
}

function md5Hex(data: Buffer | string): string {
    return crypto.createHash("md5").update(data).digest("hex");
}

describe("local S3 hardening", () => {
    let root: string;
    let dataDir: string;
    let running: RunningEmulator;
    let s3: S3Client;
    let endpoint: string;

    before(async () => {
        // Deep enough that `../../x` from a bucket would still land inside `root`, where the test can look.
        root = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-harden-"));
        dataDir = path.join(root, "a", "b", "data");
        running = await startServedEmulator({ dataDir, ...CREDENTIALS, region: REGION }, [BUCKET]);
        ({ s3 } = running);
        endpoint = running.server.endpoint;
    });
    after(async () => {
        await running?.close();
        await fsp.rm(root, { recursive: true, force: true });
    });

    describe("keys are opaque: none leaves the bucket's folder", () => {
        const hostileKeys: Array<[rawPath: string, key: string]> = [
            ["../../x", "../../x"],
            ["..%2F..%2Fx", "../../x"],
            ["%2e%2e/x", "../x"],
            ["a/../../../escape", "a/../../../escape"],
            ["..", ".."],
            ["./.", "./."],
        ];

        it("writes, reads, lists and deletes dot-dot keys as plain keys, and nothing appears outside the data directory", async () => {
            const before = new Set(await walk(root));
            for (const [rawPath, key] of hostileKeys) {
                const put = await rawRequest(endpoint, "PUT", `/${BUCKET}/${rawPath}`, { body: Buffer.from(`content of ${key}`) });
                assert.equal(put.status, 200, `PUT ${rawPath}: ${put.body}`);
                const got = await rawRequest(endpoint, "GET", `/${BUCKET}/${rawPath}`);
                assert.equal(got.status, 200, `GET ${rawPath}: ${got.body}`);
                assert.equal(got.body, `content of ${key}`);
            }
            const outside = (await walk(root)).filter((file) => !before.has(file) && !file.startsWith(dataDir + path.sep));
            assert.deepEqual(outside, []);
            const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
            for (const key of new Set(hostileKeys.map(([, key]) => key))) assert.ok(listed.Contents?.some((o) => o.Key === key), `lists ${key}`);
            for (const [rawPath] of hostileKeys) {
                assert.equal((await rawRequest(endpoint, "DELETE", `/${BUCKET}/${rawPath}`)).status, 204);
            }
            const after = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
            assert.ok(!after.Contents?.some((o) => o.Key?.includes("..")));
        });

        it("refuses bucket names S3 refuses (InvalidBucketName, 400), in the path, a copy source and ensureBucket", async () => {
            for (const bucket of ["..", "%2e%2e", ".", "a..b", "UPPER", "x", "-leading", "192.168.1.1", "a%2Fb"]) {
                for (const [method, rawPath] of [
                    ["PUT", `/${bucket}`],
                    ["GET", `/${bucket}`],
                    ["PUT", `/${bucket}/key`],
                    ["GET", `/${bucket}/key`],
                    ["DELETE", `/${bucket}/key`],
                ]) {
                    const answer = await rawRequest(endpoint, method, rawPath, method === "PUT" ? { body: Buffer.from("x") } : {});
                    assert.equal(answer.status, 400, `${method} ${rawPath}: ${answer.status} ${answer.body}`);
                    assert.equal(errorCode(answer), "InvalidBucketName", `${method} ${rawPath}`);
                }
            }
            const copy = await rawRequest(endpoint, "PUT", `/${BUCKET}/copied`, { headers: { "x-amz-copy-source": "../../etc/passwd" } });
            assert.equal(copy.status, 400);
            assert.equal(errorCode(copy), "InvalidBucketName");
            await assert.rejects(running.emulator.ensureBucket(".."), /InvalidBucketName|not valid/);
            await assert.rejects(running.emulator.ensureBucket("../../outside"), /InvalidBucketName|not valid/);
            assert.ok(!fs.existsSync(path.join(root, "a", "outside")));
        });

        it("keeps keys of any segment length up to 1,024 bytes, and answers KeyTooLongError (400) beyond", async () => {
            const longSegment = "s".repeat(600);
            const utf8Key = `${"é".repeat(511)}x`; // 1,023 bytes of UTF-8
            for (const key of [longSegment, `dir/${longSegment}/${"t".repeat(400)}`, "k".repeat(1024), utf8Key]) {
                await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key.slice(0, 10) }));
                assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), key.slice(0, 10));
            }
            const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "k" }));
            assert.deepEqual(listed.Contents?.map((o) => o.Key), ["k".repeat(1024)]);
            await rejectsWith(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k".repeat(1025), Body: "x" })), "KeyTooLongError", 400);
            await rejectsWith(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${"é".repeat(512)}x`, Body: "x" })), "KeyTooLongError", 400);
            await rejectsWith(s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "m".repeat(1025) })), "KeyTooLongError", 400);
        });

        it("stores control characters (NUL included) as key characters, and answers InvalidURI (400) for a path that is not UTF-8", async () => {
            for (const key of ["nul\u0000key", "ctl\u0001\u001fkey", "tab\tnew\nline", "日本/中国"]) {
                await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "odd" }));
                assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), "odd");
            }
            for (const rawPath of [`/${BUCKET}/%FF`, `/${BUCKET}/%C3%28`, `/${BUCKET}/100%`]) {
                const answer = await rawRequest(endpoint, "PUT", rawPath, { body: Buffer.from("x") });
                assert.equal(answer.status, 400, `${rawPath}: ${answer.body}`);
                assert.equal(errorCode(answer), "InvalidURI");
            }
        });

        it("serves keys with empty segments (a//b, a leading or trailing slash) through every route, s3rver's included", async () => {
            for (const key of ["empty//segment", "/leading", "trailing/", "//", "a///b/"]) {
                await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `body of ${key}` }));
                assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), `body of ${key}`, key);
                // Tagging and copying are s3rver's routes, whose router matches no empty path segment.
                await s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: key, Tagging: { TagSet: [{ Key: "k", Value: "v" }] } }));
                assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }))).TagSet, [{ Key: "k", Value: "v" }], key);
                await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: `${key}copy`, CopySource: `${BUCKET}/${encodeURIComponent(key)}` }));
                assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${key}copy` }))), `body of ${key}`, `${key}copy`);
                for (const name of [key, `${key}copy`]) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: name }));
            }
        });

        it("refuses a ListObjectsV2 continuation token it did not issue with InvalidArgument (400), not 500", async () => {
            for (const token of ["constructor", "AAAAAAAAAAAAAAAA", "bm90IGEgdG9rZW4="]) {
                const answer = await rawRequest(endpoint, "GET", `/${BUCKET}`, { query: `list-type=2&continuation-token=${encodeURIComponent(token)}` });
                assert.equal(answer.status, 400, `${token}: ${answer.body}`);
                assert.equal(errorCode(answer), "InvalidArgument");
            }
        });

        it("lists keys in S3's order (UTF-8 bytes, not JavaScript's UTF-16 order), with prefixes and delimiters", async () => {
            const keys = ["order/\u{1F600}", "order/\uFF21", "order/a", "order/b/1", "order/b/2"];
            for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "o" }));
            const all = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "order/" }));
            assert.deepEqual(all.Contents?.map((o) => o.Key), ["order/a", "order/b/1", "order/b/2", "order/\uFF21", "order/\u{1F600}"]);
            const rolled = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: "order/", Delimiter: "/" }));
            assert.deepEqual(rolled.Contents?.map((o) => o.Key), ["order/a", "order/\uFF21", "order/\u{1F600}"]);
            assert.deepEqual(rolled.CommonPrefixes?.map((p) => p.Prefix), ["order/b/"]);
            const after = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "order/", StartAfter: "order/\uFF21" }));
            assert.deepEqual(after.Contents?.map((o) => o.Key), ["order/\u{1F600}"]);
        });

        it("validates upload ids and part numbers before they name a file", async () => {
            for (const uploadId of ["../../x", "..%2F..%2Fx", "0123", "%2e%2e"]) {
                const part = await rawRequest(endpoint, "PUT", `/${BUCKET}/mp`, { query: `partNumber=1&uploadId=${uploadId}`, body: Buffer.from("p") });
                assert.equal(part.status, 404, `${uploadId}: ${part.body}`);
                assert.equal(errorCode(part), "NoSuchUpload");
            }
            const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "mp" }));
            for (const partNumber of ["../x", "0", "10001", "1.5", "-1"]) {
                const part = await rawRequest(endpoint, "PUT", `/${BUCKET}/mp`, { query: `partNumber=${encodeURIComponent(partNumber)}&uploadId=${UploadId}`, body: Buffer.from("p") });
                assert.equal(part.status, 400, `${partNumber}: ${part.body}`);
                assert.equal(errorCode(part), "InvalidArgument");
            }
            const complete = await rawRequest(endpoint, "POST", `/${BUCKET}/mp`, {
                query: "uploadId=../../x",
                body: Buffer.from("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"),
            });
            assert.equal(complete.status, 404);
            assert.equal(errorCode(complete), "NoSuchUpload");
            // The upload still completes normally; a part it never received is InvalidPart.
            const { ETag } = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "mp", UploadId, PartNumber: 1, Body: "part one" }));
            await rejectsWith(
                s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: "mp", UploadId, MultipartUpload: { Parts: [{ PartNumber: 2, ETag }] } })),
                "InvalidPart",
                400,
            );
            await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: "mp", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }));
            assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "mp" }))), "part one");
        });
    });

    describe("damaged stores", () => {
        it("lists past objects whose file is damaged and past stray files, after a restart too", async () => {
            const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-damaged-"));
            try {
                const first = await startServedEmulator({ dataDir: dir, ...CREDENTIALS, region: REGION }, [BUCKET]);
                for (const key of ["good/1", "good/2", "bad/truncated", "bad/garbage"]) {
                    await first.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `body of ${key}` }));
                }
                const objectFiles = (await walk(path.join(dir, BUCKET))).filter((f) => /[0-9a-f]{64}$/.test(f));
                const fileOf = async (key: string) => {
                    for (const file of objectFiles) if ((await fsp.readFile(file)).includes(key)) return file;
                    throw new Error(`no file for ${key}`);
                };
                await fsp.truncate(await fileOf("bad/truncated"), 10);
                await fsp.writeFile(await fileOf("bad/garbage"), "not an object at all");
                // Stray files: in the bucket, in a fan-out folder, one named like an object, and a folder at the top.
                await fsp.writeFile(path.join(dir, BUCKET, "stray.txt"), "x");
                await fsp.writeFile(path.join(dir, BUCKET, ".objects", "stray"), "x");
                await fsp.mkdir(path.join(dir, BUCKET, ".objects", "zz"));
                await fsp.writeFile(path.join(dir, BUCKET, ".objects", "zz", "f".repeat(64)), "x");
                await fsp.mkdir(path.join(dir, "not_a_bucket!"));

                const expectGood = async (client: S3Client) => {
                    const v2 = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
                    assert.deepEqual(v2.Contents?.map((o) => o.Key), ["good/1", "good/2"]);
                    const v1 = await client.send(new ListObjectsCommand({ Bucket: BUCKET }));
                    assert.deepEqual(v1.Contents?.map((o) => o.Key), ["good/1", "good/2"]);
                };
                await expectGood(first.s3);
                await first.close();

                const second = await startServedEmulator({ dataDir: dir, ...CREDENTIALS, region: REGION });
                await expectGood(second.s3);
                await rejectsWith(second.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "bad/garbage" })), "NoSuchKey", 404);
                // A damaged object can be written again.
                await second.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "bad/truncated", Body: "fixed" }));
                assert.equal(await text(await second.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "bad/truncated" }))), "fixed");
                await second.close();
            } finally {
                await fsp.rm(dir, { recursive: true, force: true });
            }
        });
    });

    describe("crash during a large overwrite (the emulator in a child process, killed with SIGKILL)", function () {
        this.timeout(120_000);
        const crashBucket = "crash-bucket";
        const key = "big/object.bin";
        let crashDir: string;
        /** Children still running, killed after the test whatever its outcome. */
        const children = new Set<ChildProcess>();

        const start = async (): Promise<{ child: ChildProcess; s3: S3Client; endpoint: string }> => {
            const child = spawn(process.execPath, ["-r", "tsx/cjs", path.join(__dirname, "support", "s3.ts"), crashDir, crashBucket], {
                env: { ...process.env, S3_TEST_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, S3_TEST_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey },
                stdio: ["ignore", "pipe", "inherit"],
            });
            children.add(child);
            child.once("exit", () => children.delete(child));
            const line = await new Promise<string>((resolve, reject) => {
                let out = "";
                child.stdout!.on("data", (chunk: Buffer) => {
                    out += chunk.toString();
                    if (out.includes("\n")) resolve(out.split("\n")[0]);
                });
                child.on("exit", (code) => reject(new Error(`the emulator exited (${code})`)));
            });
            const { endpoint: childEndpoint } = JSON.parse(line) as { endpoint: string };
            return { child, endpoint: childEndpoint, s3: new S3Client({ endpoint: childEndpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 }) };
        };
        const kill = (child: ChildProcess) =>
            new Promise<void>((resolve) => {
                child.once("exit", () => resolve());
                child.kill("SIGKILL");
            });
        const contentOf = (round: number) => Buffer.alloc(48 * 1024 * 1024, String(round % 10));

        before(async () => {
            crashDir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-crash-"));
        });
        after(async () => {
            for (const child of children) child.kill("SIGKILL");
            await fsp.rm(crashDir, { recursive: true, force: true });
        });

        it("serves either the whole old object or the whole new one with its own ETag, and leaves no temporary file", async () => {
            let { child, s3: client } = await start();
            await client.send(new PutObjectCommand({ Bucket: crashBucket, Key: key, Body: contentOf(0) }));
            const tempDir = path.join(crashDir, ".tmp");
            const outcomes: string[] = [];
            for (const round of [1, 2, 3]) {
                const next = contentOf(round);
                const put = client.send(new PutObjectCommand({ Bucket: crashBucket, Key: key, Body: next })).catch(() => undefined);
                // Kill once the store is writing the new content (a temporary file exists), at a later point each round.
                const deadline = Date.now() + 30_000;
                while ((await fsp.readdir(tempDir)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
                await new Promise((r) => setTimeout(r, (round - 1) * 15));
                await kill(child);
                await put;
                client.destroy();
                ({ child, s3: client } = await start());
                assert.deepEqual(await fsp.readdir(tempDir), [], "temporary files are removed at start");
                const got = await client.send(new GetObjectCommand({ Bucket: crashBucket, Key: key }));
                const body = Buffer.from(await got.Body!.transformToByteArray());
                const previous = contentOf(round - 1);
                const isNew = body.equals(next);
                assert.ok(isNew || body.equals(previous), `round ${round}: neither the old nor the new content (${body.length} bytes)`);
                assert.equal(got.ETag, JSON.stringify(md5Hex(body)), "the ETag is the served content's");
                const listed = await client.send(new ListObjectsV2Command({ Bucket: crashBucket }));
                assert.deepEqual(listed.Contents?.map((o) => [o.Key, o.Size, o.ETag]), [[key, body.length, got.ETag]]);
                outcomes.push(isNew ? "new" : "old");
                if (!isNew) await client.send(new PutObjectCommand({ Bucket: crashBucket, Key: key, Body: next }));
            }
            await kill(child);
            client.destroy();
            // Killed as soon as the new content started to be stored, the first round must keep the old object;
            // later rounds may end either way.
            assert.equal(outcomes[0], "old");
            assert.equal(outcomes.length, 3);
        });
    });

    describe("server-side encryption", () => {
        const KMS_KEY = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555";
        let sse: RunningEmulator;
        const customerKey = crypto.randomBytes(32);
        const otherKey = crypto.randomBytes(32);
        const ssec = (keyBytes: Buffer) => ({ SSECustomerAlgorithm: "AES256", SSECustomerKey: keyBytes.toString("base64"), SSECustomerKeyMD5: crypto.createHash("md5").update(keyBytes).digest("base64") });

        before(async () => {
            sse = await startServedEmulator({ ...CREDENTIALS, region: REGION, kmsKeyArns: [KMS_KEY] }, ["plain-bucket"]);
            await sse.emulator.ensureBucket("kms-bucket", {
                serverSideEncryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: KMS_KEY }, bucketKeyEnabled: true }] },
            });
            await sse.emulator.ensureBucket("aes-bucket", { serverSideEncryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] } });
        });
        after(async () => sse?.close());

        it("returns the encryption on PUT, GET and HEAD; a bucket's default applies when a PUT names none (SSE-S3 without one)", async () => {
            const put = await sse.s3.send(new PutObjectCommand({ Bucket: "plain-bucket", Key: "default", Body: "d" }));
            assert.equal(put.ServerSideEncryption, "AES256");
            const kms = await sse.s3.send(new PutObjectCommand({ Bucket: "kms-bucket", Key: "by-default", Body: "k" }));
            assert.equal(kms.ServerSideEncryption, "aws:kms");
            assert.equal(kms.SSEKMSKeyId, KMS_KEY);
            assert.equal(kms.BucketKeyEnabled, true);
            for (const command of [new HeadObjectCommand({ Bucket: "kms-bucket", Key: "by-default" }), new GetObjectCommand({ Bucket: "kms-bucket", Key: "by-default" })]) {
                const read = await sse.s3.send(command as GetObjectCommand);
                assert.equal(read.ServerSideEncryption, "aws:kms");
                assert.equal(read.SSEKMSKeyId, KMS_KEY);
            }
            // A PUT's own setting wins over the bucket's, also on s3rver's route (a body over 1 MiB) and for a range.
            const large = Buffer.alloc(2 * 1024 * 1024, "L");
            const own = await sse.s3.send(new PutObjectCommand({ Bucket: "kms-bucket", Key: "own", Body: large, ServerSideEncryption: "AES256" }));
            assert.equal(own.ServerSideEncryption, "AES256");
            assert.equal(own.SSEKMSKeyId, undefined);
            const ranged = await sse.s3.send(new GetObjectCommand({ Bucket: "kms-bucket", Key: "own", Range: "bytes=0-3" }));
            assert.equal(ranged.ServerSideEncryption, "AES256");
            assert.equal(await text(ranged), "LLLL");
            const managed = await sse.s3.send(new PutObjectCommand({ Bucket: "plain-bucket", Key: "managed", Body: "m", ServerSideEncryption: "aws:kms" }));
            assert.equal(managed.SSEKMSKeyId, "arn:aws:kms:us-east-1:000000000000:alias/aws/s3");
            const multipart = await sse.s3.send(new CreateMultipartUploadCommand({ Bucket: "aes-bucket", Key: "mp" }));
            assert.equal(multipart.ServerSideEncryption, "AES256");
        });

        it("refuses what S3 refuses: an unknown algorithm, a KMS key the stack does not declare, SSE-C mixed with SSE", async () => {
            const bad = await rawRequestTo(sse, "PUT", "/plain-bucket/bad", { headers: { "x-amz-server-side-encryption": "AES128" }, body: Buffer.from("x") });
            assert.equal(bad.status, 400);
            assert.equal(errorCode(bad), "InvalidArgument");
            assert.match(bad.body, /encryption method specified is not supported/);
            await rejectsWith(
                sse.s3.send(new PutObjectCommand({ Bucket: "plain-bucket", Key: "k", Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: "no-such-key" })),
                "KMS.NotFoundException",
                400,
            );
            await rejectsWith(sse.s3.send(new PutObjectCommand({ Bucket: "plain-bucket", Key: "k", Body: "x", SSEKMSKeyId: KMS_KEY })), "InvalidArgument", 400);
            await rejectsWith(
                sse.s3.send(new PutObjectCommand({ Bucket: "plain-bucket", Key: "k", Body: "x", ServerSideEncryption: "AES256", ...ssec(customerKey) })),
                "InvalidArgument",
                400,
            );
            await rejectsWith(sse.s3.send(new HeadObjectCommand({ Bucket: "plain-bucket", Key: "k" })), "NotFound", 404);
            await assert.rejects(
                sse.emulator.ensureBucket("bad-kms-bucket", { serverSideEncryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "undeclared" } }] } }),
                /KMS is not served locally/,
            );
        });

        it("serves an SSE-C object only with its key (MD5 checked), from the cache and from the files", async () => {
            const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-ssec-"));
            try {
                const first = await startServedEmulator({ dataDir: dir, ...CREDENTIALS, region: REGION }, ["ssec-bucket"]);
                const put = await first.s3.send(new PutObjectCommand({ Bucket: "ssec-bucket", Key: "secret", Body: "classified", ...ssec(customerKey) }));
                assert.equal(put.SSECustomerAlgorithm, "AES256");
                assert.equal(put.SSECustomerKeyMD5, ssec(customerKey).SSECustomerKeyMD5);
                assert.equal(put.ServerSideEncryption, undefined);
                const second = await startServedEmulator({ dataDir: dir, ...CREDENTIALS, region: REGION });
                try {
                    for (const running of [first, second]) {
                        const got = await running.s3.send(new GetObjectCommand({ Bucket: "ssec-bucket", Key: "secret", ...ssec(customerKey) }));
                        assert.equal(await text(got), "classified");
                        assert.equal(got.SSECustomerKeyMD5, ssec(customerKey).SSECustomerKeyMD5);
                        await rejectsWith(running.s3.send(new GetObjectCommand({ Bucket: "ssec-bucket", Key: "secret" })), "InvalidRequest", 400);
                        // A HEAD answer has no body: the SDK knows the status only.
                        await rejectsWith(running.s3.send(new HeadObjectCommand({ Bucket: "ssec-bucket", Key: "secret" })), "Unknown", 400);
                        await rejectsWith(running.s3.send(new GetObjectCommand({ Bucket: "ssec-bucket", Key: "secret", ...ssec(otherKey) })), "AccessDenied", 403);
                        // The SDK computes the MD5 itself: a raw request sends a wrong one.
                        const wrongMd5 = await rawRequestTo(running, "GET", "/ssec-bucket/secret", {
                            headers: {
                                "x-amz-server-side-encryption-customer-algorithm": "AES256",
                                "x-amz-server-side-encryption-customer-key": customerKey.toString("base64"),
                                "x-amz-server-side-encryption-customer-key-md5": ssec(otherKey).SSECustomerKeyMD5,
                            },
                        });
                        assert.equal(wrongMd5.status, 400);
                        assert.equal(errorCode(wrongMd5), "InvalidArgument");
                        await rejectsWith(running.s3.send(new GetObjectCommand({ Bucket: "ssec-bucket", Key: "secret", Range: "bytes=0-1" })), "InvalidRequest", 400);
                    }
                    const plainPut = await second.s3.send(new PutObjectCommand({ Bucket: "ssec-bucket", Key: "plain", Body: "p" }));
                    assert.equal(plainPut.ServerSideEncryption, "AES256");
                    await rejectsWith(second.s3.send(new GetObjectCommand({ Bucket: "ssec-bucket", Key: "plain", ...ssec(customerKey) })), "InvalidRequest", 400);
                } finally {
                    await first.close();
                    await second.close();
                }
            } finally {
                await fsp.rm(dir, { recursive: true, force: true });
            }
        });

        it("answers GetBucketEncryption with the bucket's configuration (SSE-S3 when none was set), NoSuchBucket for no bucket", async () => {
            const kms = await sse.s3.send(new GetBucketEncryptionCommand({ Bucket: "kms-bucket" }));
            assert.deepEqual(kms.ServerSideEncryptionConfiguration?.Rules, [
                { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: KMS_KEY }, BucketKeyEnabled: true },
            ]);
            const plain = await sse.s3.send(new GetBucketEncryptionCommand({ Bucket: "plain-bucket" }));
            assert.deepEqual(plain.ServerSideEncryptionConfiguration?.Rules, [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" }, BucketKeyEnabled: false }]);
            await rejectsWith(sse.s3.send(new GetBucketEncryptionCommand({ Bucket: "no-such-bucket" })), "NoSuchBucket", 404);
        });
    });

    describe("IAM on copies", () => {
        it("requires s3:GetObject on a copy's source as well as s3:PutObject on its destination", async () => {
            const role = { accessKeyId: "ROLEKEY", secretAccessKey: "role-secret" };
            const allowed = new Set(["s3:PutObject arn:aws:s3:::iam-bucket/dest/copy", "s3:GetObject arn:aws:s3:::iam-bucket/public/file"]);
            const iam = await startServedEmulator(
                { ...CREDENTIALS, region: REGION, roleKeys: { [role.accessKeyId]: role.secretAccessKey }, authorize: (_key, action, resource) => allowed.has(`${action} ${resource}`) },
                ["iam-bucket"],
            );
            try {
                for (const key of ["public/file", "secret/file"]) await iam.s3.send(new PutObjectCommand({ Bucket: "iam-bucket", Key: key, Body: key }));
                const asRole = new S3Client({ endpoint: iam.server.endpoint, region: REGION, credentials: role, forcePathStyle: true });
                await rejectsWith(asRole.send(new CopyObjectCommand({ Bucket: "iam-bucket", Key: "dest/copy", CopySource: "iam-bucket/secret/file" })), "AccessDenied", 403);
                await asRole.send(new CopyObjectCommand({ Bucket: "iam-bucket", Key: "dest/copy", CopySource: "iam-bucket/public/file" }));
                assert.equal(await text(await iam.s3.send(new GetObjectCommand({ Bucket: "iam-bucket", Key: "dest/copy" }))), "public/file");
            } finally {
                await iam.close();
            }
        });
    });

    describe("files", () => {
        it("creates owner-only folders (0700) and files (0600)", async () => {
            await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "mode/small", Body: "s" }));
            await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "mode/large", Body: Buffer.alloc(2 * 1024 * 1024) }));
            const entries = [dataDir, ...(await walk(dataDir))];
            for (const entry of entries) {
                const stat = await fsp.stat(entry);
                assert.equal(stat.mode & 0o777, stat.isDirectory() ? 0o700 : 0o600, `${entry}: ${(stat.mode & 0o777).toString(8)}`);
            }
        });

        it("keeps its spool and objects under scratchDir when given, and removes its folder there on close", async () => {
            const scratchDir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-scratch-"));
            try {
                const scratch = await startServedEmulator({ scratchDir, ...CREDENTIALS, region: REGION }, [BUCKET]);
                await scratch.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "in-scratch", Body: "s" }));
                const files = await walk(scratchDir);
                assert.ok(files.some((f) => f.includes(`${path.sep}spool`)), "the spool is there");
                assert.ok(files.some((f) => /[0-9a-f]{64}$/.test(f)), "the object is there");
                await scratch.close();
                assert.deepEqual(await fsp.readdir(scratchDir), []);
            } finally {
                await fsp.rm(scratchDir, { recursive: true, force: true });
            }
        });
    });
});

/** A raw request to another running emulator. */
function rawRequestTo(running: RunningEmulator, method: string, rawPath: string, options: { headers?: Record<string, string>; body?: Buffer }): Promise<RawAnswer> {
    return rawRequest(running.server.endpoint, method, rawPath, options);
}
