/**
 * ObjectStore (local/s3Store.ts) on its own: the layout it writes, the data directories s3rver's FilesystemStore left
 * (converted at open, damaged objects included), tagging bound to one version of an object, and cleanup at open.
 */
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fsp from "fs/promises";
import * as os from "os";
import * as path from "path";
import { Readable } from "stream";
import { GetObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand, PutObjectTaggingCommand } from "@aws-sdk/client-s3";
import { ObjectStore, S3rverObjectModel } from "../local/services/s3/store";
import { startServedEmulator } from "./support/s3";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const CREDENTIALS = { accessKeyId: "STOREKEY", secretAccessKey: "store-secret" };
const REGION = "us-east-1";

async function read(stream: Readable | Buffer | null): Promise<string> {
    if (stream === null) return "";
    if (Buffer.isBuffer(stream)) return stream.toString();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
}

describe("ObjectStore", () => {
    let dir: string;
    beforeEach(async () => {
        dir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-store-"));
    });
    afterEach(async () => fsp.rm(dir, { recursive: true, force: true }));

    it("stores an object as one file named by its key's SHA-256, holding the key, and nothing else in the bucket", async () => {
        const store = await ObjectStore.open(dir, { writeSmallObjectsSync: false });
        await store.putBucket("bucket");
        const key = "../../etc/passwd";
        await store.putObject(new S3rverObjectModel("bucket", key, Buffer.from("hello"), { "content-type": "text/plain" }));
        const hash = crypto.createHash("sha256").update(key).digest("hex");
        const file = path.join(dir, "bucket", ".objects", hash.slice(0, 2), hash);
        const bytes = await fsp.readFile(file);
        assert.ok(bytes.subarray(0, 5).equals(Buffer.from("hello")));
        assert.ok(bytes.includes(JSON.stringify(key).slice(1, -1)));
        const object = await store.getObject("bucket", key);
        assert.equal(await read(object!.content), "hello");
        assert.equal(object!.metadata["content-type"], "text/plain");
        assert.equal(object!.metadata.etag, JSON.stringify(crypto.createHash("md5").update("hello").digest("hex")));
        assert.deepEqual(await fsp.readdir(path.join(dir, ".tmp")), []);
    });

    it("removes temporary files a crash left, at open", async () => {
        await fsp.mkdir(path.join(dir, ".tmp"), { recursive: true });
        await fsp.writeFile(path.join(dir, ".tmp", "left-by-a-crash"), "partial");
        await ObjectStore.open(dir, { writeSmallObjectsSync: false });
        assert.deepEqual(await fsp.readdir(path.join(dir, ".tmp")), []);
    });

    it("converts a data directory s3rver's FilesystemStore wrote, an object without its metadata included", async () => {
        const bucket = path.join(dir, "legacy-bucket");
        await fsp.mkdir(path.join(bucket, "people"), { recursive: true });
        await fsp.writeFile(path.join(bucket, "people", "ann.json._S3rver_object"), '{"name":"Ann"}');
        await fsp.writeFile(path.join(bucket, "people", "ann.json._S3rver_object.md5"), crypto.createHash("md5").update('{"name":"Ann"}').digest("hex"));
        await fsp.writeFile(path.join(bucket, "people", "ann.json._S3rver_metadata.json"), JSON.stringify({ "content-type": "application/json", "x-amz-meta-step": "one" }));
        // What a 221-character name did to s3rver's store: the object written, its metadata file never.
        await fsp.writeFile(path.join(bucket, "people", "no-metadata._S3rver_object"), "bare");
        await fsp.writeFile(path.join(bucket, "._S3rver_cors.xml"), "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>");
        const modified = new Date("2024-01-02T03:04:05Z");
        await fsp.utimes(path.join(bucket, "people", "ann.json._S3rver_object"), modified, modified);

        const running = await startServedEmulator({ dataDir: dir, ...CREDENTIALS, region: REGION });
        try {
            const listed = await running.s3.send(new ListObjectsV2Command({ Bucket: "legacy-bucket" }));
            assert.deepEqual(listed.Contents?.map((o) => o.Key), ["people/ann.json", "people/no-metadata"]);
            const ann = await running.s3.send(new GetObjectCommand({ Bucket: "legacy-bucket", Key: "people/ann.json" }));
            assert.equal(await ann.Body!.transformToString(), '{"name":"Ann"}');
            assert.equal(ann.ContentType, "application/json");
            assert.deepEqual(ann.Metadata, { step: "one" });
            assert.equal(ann.LastModified?.toISOString(), modified.toISOString());
            const bare = await running.s3.send(new GetObjectCommand({ Bucket: "legacy-bucket", Key: "people/no-metadata" }));
            assert.equal(await bare.Body!.transformToString(), "bare");
        } finally {
            await running.close();
        }
        const left = await fsp.readdir(bucket);
        assert.deepEqual(left.sort(), [".config", ".objects", ".uploads"]);
        assert.match(await fsp.readFile(path.join(bucket, ".config", "cors.xml"), "utf8"), /AllowedOrigin/);
    });

    it("binds tagging to one version of an object: an overwrite starts without tags", async () => {
        const running = await startServedEmulator({ dataDir: dir, ...CREDENTIALS, region: REGION }, ["tag-bucket"]);
        try {
            const s3 = running.s3;
            await s3.send(new PutObjectCommand({ Bucket: "tag-bucket", Key: "../tagged", Body: "v1" }));
            await s3.send(new PutObjectTaggingCommand({ Bucket: "tag-bucket", Key: "../tagged", Tagging: { TagSet: [{ Key: "k", Value: "v" }] } }));
            assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: "tag-bucket", Key: "../tagged" }))).TagSet, [{ Key: "k", Value: "v" }]);
            await s3.send(new PutObjectCommand({ Bucket: "tag-bucket", Key: "../tagged", Body: "v2" }));
            assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: "tag-bucket", Key: "../tagged" }))).TagSet ?? [], []);
        } finally {
            await running.close();
        }
    });
});
