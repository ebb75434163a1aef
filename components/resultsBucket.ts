/**
 * ResultsBucket: where steps leave intermediate results for each other. Private (public access blocked),
 * encrypted at rest, reachable over TLS only; steps share objects through short-lived presigned URLs.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ResultsBucketArgs {
    /** Delete the bucket with its objects on `pulumi destroy` (handy for dev stacks, risky for prod). */
    forceDestroy: boolean;
}

export class ResultsBucket extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly name: pulumi.Output<string>;
    public readonly arn: pulumi.Output<string>;

    constructor(name: string, args: ResultsBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:storage:ResultsBucket", name, {}, opts);
        const parent = { parent: this };
        this.bucket = new aws.s3.Bucket(name, { forceDestroy: args.forceDestroy }, parent);
        this.name = this.bucket.bucket;
        this.arn = this.bucket.arn;

        const publicAccess = new aws.s3.BucketPublicAccessBlock(
            name,
            { bucket: this.bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            parent,
        );
        new aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            { bucket: this.bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
            parent,
        );
        new aws.s3.BucketPolicy(
            name,
            {
                bucket: this.bucket.id,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Sid: "DenyInsecureTransport",
                            Effect: "Deny",
                            Principal: "*",
                            Action: "s3:*",
                            Resource: [this.arn, pulumi.interpolate`${this.arn}/*`],
                            Condition: { Bool: { "aws:SecureTransport": "false" } },
                        },
                    ],
                }),
            },
            // A bucket policy is refused while public access settings are being applied.
            { parent: this, dependsOn: [publicAccess] },
        );
        this.registerOutputs({ name: this.name, arn: this.arn });
    }
}
