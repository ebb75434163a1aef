import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { ListObjectsCommand, ListObjectsCommandOutput, ListObjectsV2Command, ListObjectsV2CommandOutput, S3ServiceException, paginateListObjectsV2 } from "@aws-sdk/client-s3";
import { ObjectStore, compareKeys } from "../local/services/s3/store";
import { continuationToken, listPage, readContinuationToken } from "../local/services/s3/listing";
import { RunningEmulator, startServedEmulator } from "./support/s3";

const CREDENTIALS = { accessKeyId: "LISTINGKEY", secretAccessKey: "listing-secret" };
const REGION = "us-east-1";
const BUCKET = "many-objects";
const COUNT = 2500;

/** Keys S3 orders by their UTF-8 bytes (not by UTF-16 code units), with folders, spaces and URL-special characters. */
function keyOf(i: number): string {
    const folder = ["reports", "r\u00e9sum\u00e9s", "a+b", "100%", "\u{1F36A}", "plain"][i % 6];
    return `${folder}/${i % 7 === 0 ? "deep/" : ""}item ${i}.json`;
}

const byS3Order = (keys: string[]) => [...keys].sort(compareKeys);

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

describe("S3 listings of any length (ListObjectsV2 tokens, ListObjects markers)", function () {
    this.timeout(120_000);
    let dataDir: string;
    let running: RunningEmulator;
    const keys: string[] = [];

    before(async () => {
        dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "s3-listing-"));
        // Written through the store on the emulator's data directory: 2,500 PUTs over HTTP would take most of the run.
        const store = await ObjectStore.open(dataDir, { writeSmallObjectsSync: true });
        await store.putBucket(BUCKET);
        for (let i = 0; i < COUNT; i++) {
            const key = keyOf(i);
            keys.push(key);
            await store.writeObject(BUCKET, key, Buffer.from(`{"i":${i}}`), { "content-type": "application/json" });
        }
        running = await startServedEmulator({ ...CREDENTIALS, region: REGION, dataDir }, [BUCKET]);
    });

    after(async () => {
        await running?.close();
        if (dataDir) await fsp.rm(dataDir, { recursive: true, force: true });
    });

    it("ListObjectsV2 through the SDK paginator returns every key once, in S3's order, 1,000 to a page", async () => {
        const listed: string[] = [];
        let pages = 0;
        for await (const page of paginateListObjectsV2({ client: running.s3 }, { Bucket: BUCKET })) {
            pages++;
            assert.ok((page.KeyCount ?? 0) <= 1000);
            for (const object of page.Contents ?? []) listed.push(object.Key ?? "");
        }
        assert.equal(pages, 3);
        assert.deepEqual(listed, byS3Order(keys));
    });

    it("pages of MaxKeys, StartAfter and a prefix, with the token echoed back", async () => {
        const expected = byS3Order(keys).filter((key) => key.startsWith("a+b/") && compareKeys(key, "a+b/item 1000.json") > 0);
        const listed: string[] = [];
        let token: string | undefined;
        let first = true;
        do {
            const page: ListObjectsV2CommandOutput = await running.s3.send(
                new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "a+b/", MaxKeys: 37, ContinuationToken: token, StartAfter: first ? "a+b/item 1000.json" : undefined }),
            );
            assert.ok((page.Contents?.length ?? 0) <= 37);
            if (token !== undefined) assert.equal(page.ContinuationToken, token);
            assert.equal(page.StartAfter, first ? "a+b/item 1000.json" : undefined);
            for (const object of page.Contents ?? []) listed.push(object.Key ?? "");
            assert.equal(page.IsTruncated, page.NextContinuationToken !== undefined);
            token = page.NextContinuationToken;
            first = false;
        } while (token !== undefined);
        assert.deepEqual(listed, expected);

        // A token takes precedence over StartAfter, which is still echoed.
        const both = await running.s3.send(
            new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 2, StartAfter: "", ContinuationToken: continuationToken(BUCKET, expected[0]) }),
        );
        assert.equal(both.Contents?.[0].Key, byS3Order(keys)[byS3Order(keys).indexOf(expected[0]) + 1]);
        const echoed = await running.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1, StartAfter: "plain/", ContinuationToken: continuationToken(BUCKET, expected[0]) }));
        assert.equal(echoed.StartAfter, "plain/");
    });

    it("ListObjects (v1) with Marker returns every key once; NextMarker with a delimiter, common prefixes counted in MaxKeys", async () => {
        const listed: string[] = [];
        let marker: string | undefined;
        for (;;) {
            const page = await running.s3.send(new ListObjectsCommand({ Bucket: BUCKET, Marker: marker }));
            const contents = page.Contents ?? [];
            for (const object of contents) listed.push(object.Key ?? "");
            assert.equal(page.NextMarker, undefined, "S3 gives NextMarker only with a delimiter");
            if (!page.IsTruncated) break;
            marker = contents[contents.length - 1].Key;
        }
        assert.deepEqual(listed, byS3Order(keys));

        // reports/ holds ~360 keys directly and one deep/ subfolder: pages of 50 mix the two.
        const entries: string[] = [];
        marker = undefined;
        for (;;) {
            const page: ListObjectsCommandOutput = await running.s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: "reports/", Delimiter: "/", MaxKeys: 50, Marker: marker }));
            const shown = [...(page.Contents ?? []).map((o) => o.Key ?? ""), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix ?? "")];
            assert.ok(shown.length <= 50, `a page holds at most MaxKeys entries, got ${shown.length}`);
            entries.push(...shown);
            if (!page.IsTruncated) break;
            assert.ok(page.NextMarker, "a truncated page with a delimiter names its NextMarker");
            marker = page.NextMarker;
        }
        const direct = keys.filter((key) => key.startsWith("reports/") && !key.startsWith("reports/deep/"));
        assert.deepEqual(entries.sort(compareKeys), byS3Order([...direct, "reports/deep/"]));
    });

    it("a common prefix ending a page is not shown again on the next", () => {
        const records = ["a/1", "a/2", "b", "c/1"].map((key) => ({ key, md5: "", size: 0, modified: 0, metadata: {}, version: "" }));
        const first = listPage(records, { prefix: "", delimiter: "/", after: "", maxKeys: 1 });
        assert.deepEqual([first.commonPrefixes, first.isTruncated, first.lastEntry], [["a/"], true, "a/"]);
        const second = listPage(records, { prefix: "", delimiter: "/", after: "a/", maxKeys: 2 });
        assert.deepEqual([second.contents.map((r) => r.key), second.commonPrefixes, second.isTruncated], [["b"], ["c/"], false]);
    });

    it("refuses a token it did not issue, or one issued for another bucket, with InvalidArgument", async () => {
        for (const token of ["garbage", "bm90IGEgdG9rZW4", continuationToken("another-bucket", "reports/item 6.json"), "%%%"]) {
            const err = await rejectsWith(running.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token })), "InvalidArgument", 400);
            assert.equal(err.message, "The continuation token provided is incorrect");
        }
        assert.equal(readContinuationToken(BUCKET, continuationToken(BUCKET, "r\u00e9sum\u00e9s/x")), "r\u00e9sum\u00e9s/x");
        await rejectsWith(running.s3.send(new ListObjectsCommand({ Bucket: BUCKET, MaxKeys: -1 })), "InvalidArgument", 400);
        await rejectsWith(running.s3.send(new ListObjectsV2Command({ Bucket: "no-such-bucket" })), "NoSuchBucket", 404);
    });

    describe("with the real AWS CLI", () => {
        const cli = ["/usr/bin/aws", "/usr/local/bin/aws"].find((p) => fs.existsSync(p));
        const aws = async (...args: string[]) => {
            const env = {
                ...process.env,
                AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
                AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
                AWS_DEFAULT_REGION: REGION,
                AWS_EC2_METADATA_DISABLED: "true",
                AWS_PAGER: "",
                AWS_CONFIG_FILE: "/dev/null",
                AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
            };
            const { stdout } = await promisify(execFile)(cli!, ["--endpoint-url", running.server.endpoint, ...args], { env, maxBuffer: 64 * 1024 * 1024 });
            return stdout;
        };
        before(function () {
            if (!cli) {
                console.log("      skipped: the AWS CLI is not installed here (.ci/run installs it with apt-get install awscli)");
                this.skip();
            }
        });

        it("aws s3 ls --recursive lists all 2,500 keys", async () => {
            const lines = (await aws("s3", "ls", "--recursive", `s3://${BUCKET}`)).split("\n").filter((line) => line !== "");
            // `2026-01-01 00:00:00         8 reports/item 0.json`: the key is everything after the size.
            const listed = lines.map((line) => line.replace(/^\S+\s+\S+\s+\d+\s/, ""));
            assert.deepEqual(listed, byS3Order(keys));
        });

        it("aws s3 ls shows a folder's common prefixes and keys", async () => {
            const top = (await aws("s3", "ls", `s3://${BUCKET}/`)).split("\n").filter((line) => line !== "");
            assert.deepEqual(top.map((line) => line.trim()), byS3Order(["reports/", "r\u00e9sum\u00e9s/", "a+b/", "100%/", "\u{1F36A}/", "plain/"]).map((p) => `PRE ${p}`));
            const folder = (await aws("s3", "ls", `s3://${BUCKET}/100%/`)).split("\n").filter((line) => line !== "");
            const expected = keys.filter((key) => key.startsWith("100%/") && !key.startsWith("100%/deep/")).map((key) => key.slice("100%/".length));
            assert.deepEqual(folder.map((line) => line.trim().replace(/^PRE /, "").replace(/^\S+\s+\S+\s+\d+\s/, "")), byS3Order(["deep/", ...expected]));
        });

        it("aws s3api list-objects-v2 with --page-size and --max-items resumes from its NextToken", async () => {
            const first = JSON.parse(await aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--page-size", "300", "--max-items", "700")) as { Contents: { Key: string }[]; NextToken: string };
            assert.equal(first.Contents.length, 700);
            const rest = JSON.parse(await aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--page-size", "300", "--starting-token", first.NextToken)) as { Contents: { Key: string }[]; NextToken?: string };
            assert.equal(rest.NextToken, undefined);
            assert.deepEqual([...first.Contents, ...rest.Contents].map((o) => o.Key), byS3Order(keys));
        });

        it("aws s3api list-objects (v1) pages with markers", async () => {
            const all = JSON.parse(await aws("s3api", "list-objects", "--bucket", BUCKET, "--page-size", "400")) as { Contents: { Key: string }[] };
            assert.deepEqual(all.Contents.map((o) => o.Key), byS3Order(keys));
        });
    });
});
