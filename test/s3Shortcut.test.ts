/**
 * The S3 emulator's fast path: small objects are cached as they are written, and plain GET, HEAD and PUT requests
 * are answered without s3rver's middleware. Everything observable must stay what s3rver answers: headers, ranges,
 * conditions, overwrites by any route, deletes, copies, listings, and the files a dataDir keeps.
 */
import { strict as assert } from "assert";
import * as fsp from "fs/promises";
import * as os from "os";
import * as path from "path";
import {
    CopyObjectCommand,
    DeleteObjectCommand,
    GetObjectCommand,
    HeadObjectCommand,
    ListObjectsV2Command,
    PutObjectCommand,
    S3Client,
    S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { S3Emulator } from "../local/services/s3/s3";
import { RunningEmulator, ServedEmulator, startServedEmulator } from "./support/s3";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const CREDENTIALS = { accessKeyId: "SHORTCUTKEY", secretAccessKey: "shortcut-secret" };
const REGION = "us-east-1";
const BUCKET = "shortcut-bucket";


async function text(output: { Body?: { transformToString(): Promise<string> } }): Promise<string> {
    assert.ok(output.Body);
    return output.Body.transformToString();
}

async function rejectsWith(promise: Promise<unknown>, name: string): Promise<void> {
    await assert.rejects(promise, (err: unknown) => err instanceof S3ServiceException && err.name === name);
}

/** What matters of an answer's headers: all but the ones that change with every response. */
function stable(headers: Record<string, string>): Record<string, string> {
    const { date, connection, "keep-alive": keepAlive, ...rest } = headers;
    return rest;
}

describe("local S3 fast path and object cache", () => {
    let running: RunningEmulator;
    let emulator: S3Emulator;
    let server: ServedEmulator;
    let s3: S3Client;

    before(async () => {
        running = await startServedEmulator({ ...CREDENTIALS, region: REGION }, [BUCKET]);
        ({ emulator, server, s3 } = running);
    });
    after(async () => running?.close());

    it("answers GET and HEAD of a cached object with s3rver's headers (compared with a fresh emulator reading the files)", async () => {
        const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-shortcut-"));
        try {
            const first = await startServedEmulator({ dataDir, ...CREDENTIALS, region: REGION }, [BUCKET]);
            const writer = first.s3;
            const body = '{"name":"Ann","n":1}';
            await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: "people/Ann Lee.json", Body: body, ContentType: "application/json", Metadata: { step: "one" } }));
            const cachedGet = await writer.send(new GetObjectCommand({ Bucket: BUCKET, Key: "people/Ann Lee.json" }));
            assert.equal(await text(cachedGet), body);
            await writer.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "people/Ann Lee.json" }));
            await first.close();

            // A new emulator has nothing cached: s3rver reads the object from the files the first one wrote.
            const second = await startServedEmulator({ dataDir, ...CREDENTIALS, region: REGION });
            const reader = second.s3;
            const fromFiles = await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: "people/Ann Lee.json" }));
            assert.equal(await text(fromFiles), body);
            assert.equal(fromFiles.ContentType, "application/json");
            assert.deepEqual(fromFiles.Metadata, { step: "one" });
            assert.equal(fromFiles.ETag, cachedGet.ETag);
            await reader.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "people/Ann Lee.json" }));
            await second.close();

            const answer = (served: ServedEmulator, method: string) => served.answers.find((a) => a.method === method && a.url.startsWith("/shortcut-bucket/people/"))!;
            assert.deepEqual(stable(answer(first.server, "GET").headers), stable(answer(second.server, "GET").headers));
            assert.deepEqual(stable(answer(first.server, "HEAD").headers), stable(answer(second.server, "HEAD").headers));
            assert.equal(stable(answer(first.server, "PUT").headers).etag, cachedGet.ETag);
        } finally {
            await fsp.rm(dataDir, { recursive: true, force: true });
        }
    });

    it("serves ranges and conditional GETs of cached objects as s3rver does", async () => {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "range.txt", Body: "0123456789" }));
        const ranged = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "range.txt", Range: "bytes=2-5" }));
        assert.equal(await text(ranged), "2345");
        assert.equal(ranged.ContentRange, "bytes 2-5/10");
        const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "range.txt" }));
        await assert.rejects(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "range.txt", IfNoneMatch: head.ETag })), (err: unknown) => {
            return err instanceof S3ServiceException && err.$metadata.httpStatusCode === 304;
        });
        await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "range.txt", Range: "bytes=20-30" })), "InvalidRange");
    });

    it("an empty object round-trips, and a missing bucket or key is still s3rver's error", async () => {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "empty", Body: Buffer.alloc(0) }));
        const empty = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "empty" }));
        assert.equal(await text(empty), "");
        assert.equal(empty.ContentLength, 0);
        await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "never-written" })), "NoSuchKey");
        await rejectsWith(s3.send(new PutObjectCommand({ Bucket: "no-such-bucket", Key: "k", Body: "x" })), "NoSuchBucket");
        await rejectsWith(s3.send(new GetObjectCommand({ Bucket: "no-such-bucket", Key: "k" })), "NoSuchBucket");
    });

    it("sees every change to a cached object: overwrite (small, then large), copy onto it, delete", async () => {
        const key = "changes.json";
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "v1" }));
        assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), "v1");
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "v2" }));
        assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), "v2");

        // Over the size kept in memory: spooled to a file, and s3rver's own route writes it.
        const large = "L".repeat(2 * 1024 * 1024);
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from(large) }));
        const got = await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
        assert.equal(got.length, large.length);
        assert.ok(got === large);

        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "source.json", Body: "copied" }));
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "v3" }));
        await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: key, CopySource: `${BUCKET}/source.json` }));
        assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), "copied");

        await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
        await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })), "NoSuchKey");
        await rejectsWith(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), "NotFound");
    });

    it("lists objects written by the fast path with their sizes and ETags", async () => {
        const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "listed/a.json", Body: "12345" }));
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "listed/" }));
        assert.deepEqual(listed.Contents?.map((o) => [o.Key, o.Size, o.ETag]), [["listed/a.json", 5, put.ETag]]);
    });

    it("checks presigned URLs before answering from the cache", async () => {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "signed.json", Body: "secret" }));
        const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "signed.json" }), { expiresIn: 60 });
        const ok = await fetch(url);
        assert.equal(ok.status, 200);
        assert.equal(await ok.text(), "secret");
        const tampered = await fetch(url.replace("signed.json", "range.txt"));
        assert.equal(tampered.status, 403);
        assert.match(await tampered.text(), /SignatureDoesNotMatch/);
    });
});
