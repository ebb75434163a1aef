import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { Readable, Transform } from "stream";
import {
    CompleteMultipartUploadCommand,
    CreateMultipartUploadCommand,
    DeleteObjectCommand,
    DeleteObjectsCommand,
    GetObjectCommand,
    HeadObjectCommand,
    ListObjectsV2Command,
    PutObjectCommand,
    S3Client,
    S3ServiceException,
    UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { S3Emulator } from "../local/services/s3/s3";
import { RunningEmulator, ServedEmulator, startServedEmulator } from "./support/s3";

const CREDENTIALS = { accessKeyId: "LOCALKEY", secretAccessKey: "local-secret" };
const REGION = "us-east-1";
const BUCKET = "test-bucket";

function client(endpoint: string, credentials = CREDENTIALS, region = REGION): S3Client {
    // Default settings on purpose: flexible checksums, no forcePathStyle.
    return new S3Client({ endpoint, region, credentials });
}

/** For clients expected to fail mid-stream: the SDK would otherwise warn on the console that it can't retry. */
const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };

async function bodyOf(output: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> {
    assert.ok(output.Body, "the object has a body");
    return Buffer.from(await output.Body.transformToByteArray());
}

async function rejectsWith(promise: Promise<unknown>, name: string, status: number): Promise<S3ServiceException> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof S3ServiceException, `expected an S3 error, got ${String(err)}`);
        assert.equal(err.name, name);
        assert.equal(err.$metadata.httpStatusCode, status);
        return err;
    }
    assert.fail(`expected ${name}`);
}

/** Replaces the body of the signed request just before it is sent, to play a client that corrupts its payload. */
function corruptBody(s3: S3Client, corrupt: (body: unknown) => unknown): void {
    s3.middlewareStack.add(
        (next) => async (args) => {
            const request = args.request as { body?: unknown };
            request.body = corrupt(request.body);
            return next(args);
        },
        { step: "deserialize", name: "corruptBody" },
    );
}

describe("local S3 (s3rver behind our SigV4 and aws-chunked front)", () => {
    let running: RunningEmulator;
    let emulator: S3Emulator;
    let server: ServedEmulator;
    let s3: S3Client;
    let seen: http.IncomingMessage[] = [];

    before(async () => {
        running = await startServedEmulator({ ...CREDENTIALS, region: REGION }, [BUCKET, BUCKET]); // ensureBucket is idempotent
        ({ emulator, server, s3 } = running);
        seen = server.requests;
    });

    after(async () => running?.close());

    it("puts, gets, lists, heads and deletes objects", async () => {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "docs/a b.txt", Body: "hello world", ContentType: "text/plain" }));
        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "docs/a b.txt" }));
        assert.equal((await bodyOf(got)).toString(), "hello world");
        assert.equal(got.ContentType, "text/plain");

        const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "docs/" }));
        assert.deepEqual(listed.Contents?.map((o) => [o.Key, o.Size]), [["docs/a b.txt", 11]]);

        const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "docs/a b.txt" }));
        assert.equal(head.ContentLength, 11);

        await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "docs/a b.txt" }));
        await rejectsWith(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "docs/a b.txt" })), "NotFound", 404);
    });

    it("deletes several objects at once (a POST with a checksummed XML body)", async () => {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "batch/1", Body: "1" }));
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "batch/2", Body: "2" }));
        const deleted = await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: "batch/1" }, { Key: "batch/2" }] } }));
        assert.deepEqual(deleted.Deleted?.map((d) => d.Key).sort(), ["batch/1", "batch/2"]);
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "batch/" }));
        assert.equal(listed.KeyCount, 0);
    });

    it("assembles a multipart upload whose part is an aws-chunked stream", async () => {
        const bytes = crypto.randomBytes(50_000);
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "multi" }));
        const part = await s3.send(new UploadPartCommand({
            Bucket: BUCKET, Key: "multi", UploadId, PartNumber: 1, Body: Readable.from([bytes]), ContentLength: bytes.length,
        }));
        await s3.send(new CompleteMultipartUploadCommand({
            Bucket: BUCKET, Key: "multi", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }));
        assert.ok((await bodyOf(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "multi" })))).equals(bytes));
    });

    it("the SDK addresses buckets path-style on its own for an IP endpoint", async () => {
        seen.length = 0;
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "style", Body: "x" }));
        assert.match(seen[0].url ?? "", /^\/test-bucket\/style\?/);
        assert.match(seen[0].headers.host ?? "", /^127\.0\.0\.1:\d+$/);
    });

    it("stores string bodies as sent, with the SDK's default CRC32 checksum header", async () => {
        seen.length = 0;
        const text = "ünïcødé ✓\r\n0\r\n"; // looks a little like chunk framing, to be sure nothing strips it
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "string", Body: text }));
        assert.ok(seen[0].headers["x-amz-checksum-crc32"], "the SDK sent a CRC32 header");
        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "string" }));
        assert.equal((await bodyOf(got)).toString("utf8"), text);
    });

    it("decodes aws-chunked stream bodies (trailing CRC32) into byte-identical objects", async () => {
        seen.length = 0;
        const bytes = crypto.randomBytes(300_000); // several aws-chunked frames
        const pieces = [bytes.subarray(0, 1000), bytes.subarray(1000, 150_000), bytes.subarray(150_000)];
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "stream", Body: Readable.from(pieces), ContentLength: bytes.length }));
        assert.equal(seen[0].headers["content-encoding"], "aws-chunked");
        assert.equal(seen[0].headers["x-amz-trailer"], "x-amz-checksum-crc32");

        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "stream" }));
        assert.ok((await bodyOf(got)).equals(bytes), "the object is the stream's bytes, without framing");
        assert.equal(got.ContentLength, bytes.length);
        assert.equal(got.ContentEncoding, undefined, "aws-chunked is a transfer detail, not object metadata");
    });

    it("decodes file streams too (length known from the file)", async () => {
        const file = path.join(await fsp.mkdtemp(path.join(os.tmpdir(), "s3-test-")), "data.bin");
        const bytes = crypto.randomBytes(70_000);
        await fsp.writeFile(file, bytes);
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "file", Body: fs.createReadStream(file) }));
        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "file" }));
        assert.ok((await bodyOf(got)).equals(bytes));
        await fsp.rm(path.dirname(file), { recursive: true });
    });

    it("refuses a stream whose trailing checksum does not match, and stores nothing", async () => {
        const bad = new S3Client({ endpoint: server.endpoint, region: REGION, credentials: CREDENTIALS, logger: quietLogger });
        // Flip one payload byte inside the framed body; the trailer still carries the original CRC32.
        corruptBody(bad, (body) =>
            (body as Readable).pipe(
                new Transform({
                    transform(chunk: Buffer, _encoding, done) {
                        const copy = Buffer.from(chunk);
                        const at = copy.indexOf("payload");
                        if (at >= 0) copy[at] = "P".charCodeAt(0);
                        done(null, copy);
                    },
                }),
            ),
        );
        const put = bad.send(new PutObjectCommand({ Bucket: BUCKET, Key: "corrupt", Body: Readable.from([Buffer.from("payload")]), ContentLength: 7 }));
        await rejectsWith(put, "BadDigest", 400);
        await rejectsWith(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "corrupt" })), "NotFound", 404);
        bad.destroy();
    });

    it("refuses a body that does not match its signed x-amz-content-sha256", async () => {
        const bad = client(server.endpoint);
        corruptBody(bad, () => "hellp");
        await rejectsWith(bad.send(new PutObjectCommand({ Bucket: BUCKET, Key: "corrupt", Body: "hello" })), "XAmzContentSHA256Mismatch", 400);
        bad.destroy();
    });

    it("answers a missing key with NoSuchKey (404, an XML error document)", async () => {
        const err = await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "missing" })), "NoSuchKey", 404);
        assert.match(err.message, /does not exist/);
        const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "missing" }));
        const res = await fetch(url);
        assert.equal(res.status, 404);
        assert.match(res.headers.get("content-type") ?? "", /xml/);
        assert.match(await res.text(), /<Code>NoSuchKey<\/Code>/);
    });

    describe("presigned GET URLs", () => {
        before(async () => {
            await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "shared/report.txt", Body: "the report" }));
            await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "shared/secret.txt", Body: "the secret" }));
        });

        async function expectRefused(url: string, code: string, message?: RegExp): Promise<void> {
            const res = await fetch(url);
            const text = await res.text();
            assert.equal(res.status, 403, text);
            assert.match(text, new RegExp(`<Code>${code}</Code>`));
            if (message) assert.match(text, message);
        }

        it("a valid URL fetches the object with plain fetch", async () => {
            const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "shared/report.txt" }), { expiresIn: 60 });
            const res = await fetch(url);
            assert.equal(res.status, 200);
            assert.equal(await res.text(), "the report");
        });

        it("a presigned PUT uploads with plain fetch, despite the SDK's empty-body CRC32 in its query", async () => {
            // With default checksums the presigner signs x-amz-checksum-crc32=AAAAAA== (CRC32 of no body) into the
            // URL; S3 ignores checksums in the query string (LocalStack matches AWS here), so the upload must work.
            const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: BUCKET, Key: "shared/upload.txt" }), { expiresIn: 60 });
            assert.equal(new URL(url).searchParams.get("x-amz-checksum-crc32"), "AAAAAA==");
            const res = await fetch(url, { method: "PUT", body: "uploaded by a browser" });
            assert.equal(res.status, 200, await res.text());
            const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "shared/upload.txt" }));
            assert.equal((await bodyOf(got)).toString(), "uploaded by a browser");
        });

        it("an expired URL is refused", async () => {
            const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "shared/report.txt" }), {
                expiresIn: 60,
                signingDate: new Date(Date.now() - 120_000),
            });
            await expectRefused(url, "AccessDenied", /Request has expired/);
        });

        it("a tampered URL is refused (signature, query or path changed)", async () => {
            const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "shared/report.txt" }), { expiresIn: 60 }));

            const badSignature = new URL(url);
            const signature = url.searchParams.get("X-Amz-Signature") ?? "";
            badSignature.searchParams.set("X-Amz-Signature", (signature[0] === "a" ? "b" : "a") + signature.slice(1));
            await expectRefused(badSignature.href, "SignatureDoesNotMatch");

            const longer = new URL(url);
            longer.searchParams.set("X-Amz-Expires", "604800");
            await expectRefused(longer.href, "SignatureDoesNotMatch");

            const extraParam = new URL(url);
            extraParam.searchParams.set("response-content-type", "text/html");
            await expectRefused(extraParam.href, "SignatureDoesNotMatch");
        });

        it("a URL for one key cannot read another key", async () => {
            const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "shared/report.txt" }), { expiresIn: 60 }));
            url.pathname = url.pathname.replace("report.txt", "secret.txt");
            await expectRefused(url.href, "SignatureDoesNotMatch");
        });
    });

    describe("SigV2 presigned URLs (what AWS CLI v1's `aws s3 presign` makes for us-east-1)", () => {
        function presignV2(key: string, expires: number, accessKeyId = CREDENTIALS.accessKeyId, secret = CREDENTIALS.secretAccessKey): URL {
            const resource = `/${BUCKET}/${key.split("/").map(encodeURIComponent).join("/")}`;
            const signature = crypto.createHmac("sha1", secret).update(`GET\n\n\n${expires}\n${resource}`).digest("base64");
            const url = new URL(server.endpoint + resource);
            url.search = new URLSearchParams({ AWSAccessKeyId: accessKeyId, Expires: String(expires), Signature: signature }).toString();
            return url;
        }
        const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

        it("a valid one fetches the object; expired, tampered or foreign ones are refused", async () => {
            await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "v2/file.txt", Body: "signed the old way" }));
            const valid = await fetch(presignV2("v2/file.txt", inAMinute()));
            assert.equal(await valid.text(), "signed the old way");

            const expired = await fetch(presignV2("v2/file.txt", Math.floor(Date.now() / 1000) - 1));
            assert.equal(expired.status, 403);
            assert.match(await expired.text(), /Request has expired/);

            const otherKey = presignV2("v2/file.txt", inAMinute());
            otherKey.pathname = otherKey.pathname.replace("file", "other");
            const tampered = await fetch(otherKey);
            assert.equal(tampered.status, 403);
            assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/);

            // A key the emulator does not know is the user's, with any secret (as LocalStack takes `test`/`test`);
            // s3rver's built-in S3RVER/S3RVER pair is no such thing: it is not known, so not verified either.
            const anyKey = await fetch(presignV2("v2/file.txt", inAMinute(), "test", "test"));
            assert.equal(await anyKey.text(), "signed the old way");
            const builtIn = await fetch(presignV2("v2/file.txt", inAMinute(), "S3RVER", "anything"));
            assert.equal(builtIn.status, 200);
            // The known key with another secret is still refused.
            const wrongSecret = await fetch(presignV2("v2/file.txt", inAMinute(), CREDENTIALS.accessKeyId, "not-the-secret"));
            assert.equal(wrongSecret.status, 403);
            assert.match(await wrongSecret.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
            // Expiry needs no secret: an unknown key's expired URL is refused too.
            const expiredAnyKey = await fetch(presignV2("v2/file.txt", Math.floor(Date.now() / 1000) - 1, "test", "test"));
            assert.equal(expiredAnyKey.status, 403);
        });
    });

    describe("header-signed requests", () => {
        it("refuses a wrong secret key", async () => {
            const wrong = client(server.endpoint, { ...CREDENTIALS, secretAccessKey: "not-the-secret" });
            await rejectsWith(wrong.send(new GetObjectCommand({ Bucket: BUCKET, Key: "string" })), "SignatureDoesNotMatch", 403);
            await rejectsWith(wrong.send(new PutObjectCommand({ Bucket: BUCKET, Key: "intruder", Body: "x" })), "SignatureDoesNotMatch", 403);
            wrong.destroy();
            await rejectsWith(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "intruder" })), "NotFound", 404);
        });

        it("accepts an access key it does not know, with any secret, as the user's", async () => {
            const stranger = client(server.endpoint, { accessKeyId: "test", secretAccessKey: "test" });
            await stranger.send(new PutObjectCommand({ Bucket: BUCKET, Key: "from-a-stranger", Body: "hello" }));
            assert.equal((await bodyOf(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "from-a-stranger" })))).toString(), "hello");
            stranger.destroy();
        });

        it("refuses a signature scoped to another region", async () => {
            const elsewhere = client(server.endpoint, CREDENTIALS, "eu-west-1");
            await rejectsWith(elsewhere.send(new GetObjectCommand({ Bucket: BUCKET, Key: "string" })), "AuthorizationHeaderMalformed", 400);
            elsewhere.destroy();
        });

        it("refuses anonymous requests", async () => {
            const res = await fetch(`${server.endpoint}/${BUCKET}/string`);
            assert.equal(res.status, 403);
            assert.match(await res.text(), /<Code>AccessDenied<\/Code>/);
        });
    });
});

describe("local S3 persistence", () => {
    it("keeps objects written with a dataDir across close() and a new emulator", async () => {
        const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-data-"));
        try {
            const first = await startServedEmulator({ dataDir, ...CREDENTIALS, region: REGION }, [BUCKET]);
            await first.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "kept.json", Body: '{"kept":true}' }));
            const streamed = crypto.randomBytes(20_000);
            await first.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "kept.bin", Body: Readable.from([streamed]), ContentLength: streamed.length }));
            await first.close();

            const second = await startServedEmulator({ dataDir, ...CREDENTIALS, region: REGION });
            assert.equal((await bodyOf(await second.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "kept.json" })))).toString(), '{"kept":true}');
            assert.ok((await bodyOf(await second.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "kept.bin" })))).equals(streamed));
            await second.close();
        } finally {
            await fsp.rm(dataDir, { recursive: true, force: true });
        }
    });
});
