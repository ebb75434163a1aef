/**
 * S3: the buckets the stack declares, on s3rver's routing over our object store. S3 reads and verifies its own
 * requests (presigned URLs, `aws-chunked` bodies), so it takes the raw request; unsigned requests without a target
 * come here, as anonymous and presigned S3 requests do in AWS.
 */
import { str } from "../../core/naming";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";
import { S3Emulator, createS3Emulator } from "./s3";

export interface S3Instance extends ServiceInstance {
    /** Created at provision (after the services it may look keys up in). */
    emulator(): S3Emulator;
}

const BUCKET = "aws:s3/bucket:Bucket";
const BUCKET_V2 = "aws:s3/bucketV2:BucketV2";
const ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration";
const ENCRYPTION_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2";

const bucketAttributes = (r: { name: string; inputs: Record<string, unknown> }) => {
    const bucket = typeof r.inputs.bucket === "string" ? r.inputs.bucket : r.name.toLowerCase();
    return { bucket, id: bucket, arn: `arn:aws:s3:::${bucket}`, bucketDomainName: `${bucket}.s3.amazonaws.com` };
};

export const s3Service: ServiceDefinition<S3Instance> = {
    name: "s3",
    signingName: "s3",
    resourceTypes: {
        [BUCKET]: { attributes: bucketAttributes, id: (state) => str(state.bucket) },
        [BUCKET_V2]: { attributes: bucketAttributes, id: (state) => str(state.bucket) },
        [ENCRYPTION]: {},
        [ENCRYPTION_V2]: {},
    },
    async create(context) {
        let emulator: S3Emulator | undefined;
        const created = () => {
            if (!emulator) throw new Error("S3 is not provisioned yet");
            return emulator;
        };
        return {
            emulator: created,
            routes: { raw: { handle: (req, res) => created().handle(req, res) } },
            async provision() {
                emulator = await createS3Emulator({
                    dataDir: context.dataDir(),
                    scratchDir: context.scratchDir(),
                    region: context.region,
                    accountId: context.accountId,
                    secretOf: (accessKeyId) => context.credentials.secretOf(accessKeyId),
                    roleOf: (accessKeyId) => context.credentials.roleOf(accessKeyId),
                    authorizeRole: (role, action, resource) => context.iam.allows(role, action, resource),
                });
                for (const bucket of [...context.declared.of(BUCKET), ...context.declared.of(BUCKET_V2)]) {
                    const name = str(bucket.state.bucket);
                    const encryption = [...context.declared.of(ENCRYPTION), ...context.declared.of(ENCRYPTION_V2)].find((config) => str(config.inputs.bucket) === name);
                    await emulator.ensureBucket(name, { serverSideEncryption: encryption?.inputs });
                    context.serve({ service: "s3", type: bucket.type, urn: bucket.urn, arn: str(bucket.state.arn), name, description: `bucket ${name}` });
                }
            },
            close: async () => emulator?.close(),
        };
    },
};
