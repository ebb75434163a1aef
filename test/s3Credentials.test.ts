import { strict as assert } from "assert";
import * as crypto from "crypto";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { RunningEmulator, startServedEmulator } from "./support/s3";

const REGION = "us-east-1";
const BUCKET = "private-bucket";
const RUNTIME_KEY = { accessKeyId: "RUNTIMEKEY", secretAccessKey: "runtime-secret" };
const ROLE_KEY = { accessKeyId: "LOCALFNKEY", secretAccessKey: "function-secret" };
const ROLE_ARN = "arn:aws:iam::000000000000:role/handler";

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

describe("S3 credentials as LocalStack users expect (secretOf / roleOf / authorizeRole)", () => {
    let running: RunningEmulator;
    /** Every IAM question asked: role, action, resource. */
    const asked: string[] = [];
    const allowed = new Set([`s3:GetObject arn:aws:s3:::${BUCKET}/shared/file`]);
    const clients: S3Client[] = [];
    const client = (credentials: { accessKeyId: string; secretAccessKey: string }) => {
        const made = new S3Client({ endpoint: running.server.endpoint, region: REGION, credentials, forcePathStyle: true });
        clients.push(made);
        return made;
    };

    before(async () => {
        const secrets = new Map([RUNTIME_KEY, ROLE_KEY].map((k) => [k.accessKeyId, k.secretAccessKey]));
        running = await startServedEmulator(
            {
                region: REGION,
                secretOf: (accessKeyId) => secrets.get(accessKeyId),
                roleOf: (accessKeyId) => (accessKeyId === ROLE_KEY.accessKeyId ? ROLE_ARN : undefined),
                authorizeRole: (roleArn, action, resource) => {
                    asked.push(`${roleArn} ${action} ${resource}`);
                    return allowed.has(`${action} ${resource}`);
                },
            },
            [BUCKET],
        );
        // The support client signs as test/test: a key the emulator does not know.
        await running.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "shared/file", Body: "shared" }));
        await running.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "private/file", Body: "private" }));
    });

    after(async () => {
        for (const made of clients) made.destroy();
        await running?.close();
    });

    it("accepts any unknown key with any secret as the user's, and asks IAM nothing for it", async () => {
        asked.length = 0;
        for (const credentials of [{ accessKeyId: "test", secretAccessKey: "test" }, { accessKeyId: "AKIAREALPROFILEKEY", secretAccessKey: crypto.randomBytes(20).toString("hex") }]) {
            const user = client(credentials);
            const got = await user.send(new GetObjectCommand({ Bucket: BUCKET, Key: "private/file" }));
            assert.equal(await got.Body?.transformToString(), "private");
            const listed = await user.send(new ListObjectsV2Command({ Bucket: BUCKET }));
            assert.deepEqual(listed.Contents?.map((o) => o.Key), ["private/file", "shared/file"]);
        }
        assert.deepEqual(asked, []);
    });

    it("verifies a key it knows: the runtime's own key with a wrong secret is refused", async () => {
        const right = client(RUNTIME_KEY);
        assert.equal(await (await right.send(new GetObjectCommand({ Bucket: BUCKET, Key: "private/file" }))).Body?.transformToString(), "private");
        const wrong = client({ ...RUNTIME_KEY, secretAccessKey: "guessed" });
        await rejectsWith(wrong.send(new GetObjectCommand({ Bucket: BUCKET, Key: "private/file" })), "SignatureDoesNotMatch", 403);
        assert.deepEqual(asked.filter((q) => !q.startsWith(ROLE_ARN)), [], "a known key without a role is not IAM-checked");
    });

    it("verifies a function's key and checks its role's policies, by role ARN", async () => {
        asked.length = 0;
        const fn = client(ROLE_KEY);
        assert.equal(await (await fn.send(new GetObjectCommand({ Bucket: BUCKET, Key: "shared/file" }))).Body?.transformToString(), "shared");
        await rejectsWith(fn.send(new GetObjectCommand({ Bucket: BUCKET, Key: "private/file" })), "AccessDenied", 403);
        assert.deepEqual(asked, [`${ROLE_ARN} s3:GetObject arn:aws:s3:::${BUCKET}/shared/file`, `${ROLE_ARN} s3:GetObject arn:aws:s3:::${BUCKET}/private/file`]);
        const forged = client({ ...ROLE_KEY, secretAccessKey: "forged" });
        await rejectsWith(forged.send(new GetObjectCommand({ Bucket: BUCKET, Key: "shared/file" })), "SignatureDoesNotMatch", 403);
    });

    it("presigned URLs: any key's work, a known key's are verified, the signer's role is checked", async () => {
        const presign = (credentials: { accessKeyId: string; secretAccessKey: string }, key: string) =>
            getSignedUrl(client(credentials), new GetObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 60 });
        assert.equal(await (await fetch(await presign({ accessKeyId: "test", secretAccessKey: "test" }, "private/file"))).text(), "private");
        assert.equal(await (await fetch(await presign(ROLE_KEY, "shared/file"))).text(), "shared");
        assert.equal((await fetch(await presign(ROLE_KEY, "private/file"))).status, 403);
        const forged = await fetch(await presign({ ...ROLE_KEY, secretAccessKey: "forged" }, "shared/file"));
        assert.equal(forged.status, 403);
        assert.match(await forged.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    });

    it("answers a request with no signature at all with AccessDenied (403): the bucket is not public", async () => {
        for (const path of [`/${BUCKET}/private/file`, `/${BUCKET}?list-type=2`, `/${BUCKET}`]) {
            const answer = await fetch(running.server.endpoint + path);
            assert.equal(answer.status, 403, path);
            assert.match(await answer.text(), /<Code>AccessDenied<\/Code>/);
        }
        const put = await fetch(`${running.server.endpoint}/${BUCKET}/anonymous`, { method: "PUT", body: "x" });
        assert.equal(put.status, 403);
        await rejectsWith(running.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "anonymous" })), "NoSuchKey", 404);
    });
});
