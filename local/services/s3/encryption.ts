/**
 * Server-side encryption as S3 reports it. Nothing is encrypted on disk (a local store has no one to hide from but
 * its owner, and its files are owner-only); what is emulated is what a client sees: the settings a write asks for
 * are validated as S3 validates them, stored with the object, and returned in the `x-amz-server-side-encryption*`
 * headers of PUT, GET and HEAD; a bucket's default applies when a write names none (and every bucket defaults to
 * SSE-S3, as all of S3's have since January 2023); an SSE-C object is only readable with its key.
 *
 * KMS is not served locally: `aws:kms` may name only keys the stack declares (none do today) or leave the key out
 * (S3 then uses the account's AWS managed key, aws/s3, which always exists).
 */
import * as crypto from "crypto";
import * as http from "http";
import { BucketEncryption, StoredEncryption, storeError } from "./store";

const SSE_ALGORITHMS = ["AES256", "aws:kms", "aws:kms:dsse"];
const CUSTOMER = "x-amz-server-side-encryption-customer-";
const COPY_SOURCE_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-";

/** An SSE-C key as a request presents it: its algorithm and the base64 MD5 S3 identifies it by. */
export interface CustomerKey {
    algorithm: string;
    keyMd5: string;
}

export interface EncryptionSettings {
    region: string;
    accountId: string;
    /** ARNs of the KMS keys the stack declares; `aws:kms` may name these (by ARN, key id or alias) and no others. */
    kmsKeyArns: string[];
}

/** What a request says about encryption, validated. */
export interface RequestEncryption {
    /** The encryption an object written by this request gets, before the bucket's default applies. */
    requested?: StoredEncryption;
    /** The SSE-C key for the object the request reads or writes. */
    customerKey?: CustomerKey;
    /** The SSE-C key for a copy's source object. */
    copySourceKey?: CustomerKey;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
    const value = headers[name];
    return Array.isArray(value) ? value.join(",") : value;
}

function invalidArgument(message: string, name: string, value: string | undefined) {
    return storeError("InvalidArgument", message, 400, { ArgumentName: name, ArgumentValue: value ?? "" });
}

/** Reads an SSE-C key from the headers with this prefix; throws S3's InvalidArgument for a malformed one. */
function customerKeyOf(headers: http.IncomingHttpHeaders, prefix: string, requireMd5: boolean): CustomerKey | undefined {
    const algorithm = header(headers, `${prefix}algorithm`);
    const key = header(headers, `${prefix}key`);
    const keyMd5 = header(headers, `${prefix}key-md5`);
    if (algorithm === undefined && key === undefined && keyMd5 === undefined) return undefined;
    const what = "Requests specifying Server Side Encryption with Customer provided keys must provide";
    if (algorithm !== "AES256") throw invalidArgument(`${what} a valid encryption algorithm.`, `${prefix}algorithm`, algorithm);
    if (key === undefined) throw invalidArgument(`${what} an appropriate secret key.`, `${prefix}key`, key);
    const bytes = Buffer.from(key, "base64");
    if (bytes.length !== 32 || bytes.toString("base64") !== key) {
        throw invalidArgument("The secret key was invalid for the specified algorithm.", `${prefix}key`, "");
    }
    const computed = crypto.createHash("md5").update(bytes).digest("base64");
    if (keyMd5 === undefined && requireMd5) throw invalidArgument(`${what} the client calculated MD5 of the secret key.`, `${prefix}key-MD5`, keyMd5);
    if (keyMd5 !== undefined && keyMd5 !== computed) {
        throw invalidArgument("The calculated MD5 hash of the key did not match the hash that was provided.", `${prefix}key-MD5`, keyMd5);
    }
    return { algorithm, keyMd5: computed };
}

/** The ARN S3 reports for a KMS key the request (or a bucket configuration) names; throws if the stack has no such key. */
function kmsKeyArn(keyId: string | undefined, settings: EncryptionSettings): string {
    if (keyId === undefined || keyId === "") return `arn:aws:kms:${settings.region}:${settings.accountId}:alias/aws/s3`;
    const arn = settings.kmsKeyArns.find((candidate) => candidate === keyId || candidate.endsWith(`:key/${keyId}`) || candidate.endsWith(`:${keyId}`));
    if (arn === undefined) {
        throw storeError(
            "KMS.NotFoundException",
            `Invalid keyId ${keyId} (KMS is not served locally: aws:kms can name only the KMS keys the stack declares, or none for the AWS managed key aws/s3)`,
            400,
        );
    }
    return arn;
}

/**
 * The encryption headers of a request that writes an object (PutObject, CopyObject, CreateMultipartUpload) or reads
 * one (GetObject, HeadObject, UploadPart), validated as S3 does.
 */
export function readRequestEncryption(headers: http.IncomingHttpHeaders, writes: boolean, settings: EncryptionSettings): RequestEncryption {
    const result: RequestEncryption = {
        customerKey: customerKeyOf(headers, CUSTOMER, writes),
        copySourceKey: customerKeyOf(headers, COPY_SOURCE_CUSTOMER, false),
    };
    if (!writes) return result;
    const algorithm = header(headers, "x-amz-server-side-encryption");
    const kmsKeyId = header(headers, "x-amz-server-side-encryption-aws-kms-key-id");
    const bucketKey = header(headers, "x-amz-server-side-encryption-bucket-key-enabled");
    if (algorithm !== undefined && !SSE_ALGORITHMS.includes(algorithm)) {
        throw invalidArgument("The encryption method specified is not supported", "x-amz-server-side-encryption", algorithm);
    }
    if (algorithm !== undefined && result.customerKey) {
        throw invalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            "x-amz-server-side-encryption",
            algorithm,
        );
    }
    const kms = algorithm === "aws:kms" || algorithm === "aws:kms:dsse";
    if (kmsKeyId !== undefined && !kms) {
        throw invalidArgument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id",
            kmsKeyId,
        );
    }
    if (bucketKey !== undefined && bucketKey !== "true" && bucketKey !== "false") {
        throw invalidArgument("Invalid value for x-amz-server-side-encryption-bucket-key-enabled", "x-amz-server-side-encryption-bucket-key-enabled", bucketKey);
    }
    if (algorithm !== undefined) {
        result.requested = kms
            ? { algorithm, kmsKeyId: kmsKeyArn(kmsKeyId, settings), ...(bucketKey === "true" ? { bucketKeyEnabled: true } : {}) }
            : { algorithm };
    } else if (result.customerKey) {
        result.requested = { customerAlgorithm: result.customerKey.algorithm, customerKeyMd5: result.customerKey.keyMd5 };
    }
    return result;
}

/** What a write stores: what it asked for, else the bucket's default, else SSE-S3 (every bucket's base level). */
export function effectiveEncryption(requested: StoredEncryption | undefined, bucketDefault: BucketEncryption | null): StoredEncryption {
    if (requested) return requested;
    if (!bucketDefault) return { algorithm: "AES256" };
    const kms = bucketDefault.sseAlgorithm !== "AES256";
    return kms
        ? { algorithm: bucketDefault.sseAlgorithm, kmsKeyId: bucketDefault.kmsMasterKeyId, ...(bucketDefault.bucketKeyEnabled ? { bucketKeyEnabled: true } : {}) }
        : { algorithm: "AES256" };
}

/** Throws S3's error unless the request presents the SSE-C key the object was stored with (or the object has none). */
export function checkCustomerKey(stored: StoredEncryption | undefined, presented: CustomerKey | undefined): void {
    const storedMd5 = stored?.customerKeyMd5;
    if (storedMd5 === undefined) {
        if (presented) throw storeError("InvalidRequest", "The encryption parameters are not applicable to this object.", 400);
        return;
    }
    if (!presented) {
        throw storeError(
            "InvalidRequest",
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
            400,
        );
    }
    if (presented.keyMd5 !== storedMd5) {
        throw storeError("AccessDenied", "Access Denied: the SSE-C key provided is not the key the object was stored with.", 403);
    }
}

/** A bucket encryption configuration as the stack declares it (aws.s3.BucketServerSideEncryptionConfiguration's inputs). */
export interface BucketEncryptionConfiguration {
    rules?: Array<{
        applyServerSideEncryptionByDefault?: { sseAlgorithm?: string; kmsMasterKeyId?: string };
        bucketKeyEnabled?: boolean;
    }>;
}

/** The default a declared configuration sets, validated as PutBucketEncryption would validate it. */
export function bucketEncryptionOf(configuration: BucketEncryptionConfiguration, settings: EncryptionSettings): BucketEncryption {
    const rule = configuration.rules?.find((r) => r.applyServerSideEncryptionByDefault !== undefined);
    const algorithm = rule?.applyServerSideEncryptionByDefault?.sseAlgorithm;
    if (algorithm === undefined || !SSE_ALGORITHMS.includes(algorithm)) {
        throw storeError("MalformedXML", `The bucket encryption's SSEAlgorithm must be one of ${SSE_ALGORITHMS.join(", ")}, not ${JSON.stringify(algorithm)}`, 400);
    }
    const keyId = rule?.applyServerSideEncryptionByDefault?.kmsMasterKeyId;
    if (algorithm === "AES256") {
        if (keyId) throw invalidArgument("a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse", "ApplyServerSideEncryptionByDefault", keyId);
        return { sseAlgorithm: algorithm, ...(rule?.bucketKeyEnabled ? { bucketKeyEnabled: true } : {}) };
    }
    return { sseAlgorithm: algorithm, kmsMasterKeyId: kmsKeyArn(keyId, settings), ...(rule?.bucketKeyEnabled ? { bucketKeyEnabled: true } : {}) };
}

/** GetBucketEncryption's answer. */
export function bucketEncryptionXml(encryption: BucketEncryption | null): string {
    const effective = encryption ?? { sseAlgorithm: "AES256" };
    const keyId = effective.kmsMasterKeyId ? `<KMSMasterKeyID>${escapeXml(effective.kmsMasterKeyId)}</KMSMasterKeyID>` : "";
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault>' +
        `<SSEAlgorithm>${escapeXml(effective.sseAlgorithm)}</SSEAlgorithm>${keyId}</ApplyServerSideEncryptionByDefault>` +
        `<BucketKeyEnabled>${effective.bucketKeyEnabled ? "true" : "false"}</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`
    );
}

/** Text for an XML element or attribute (S3's answers). */
export function escapeXml(text: string): string {
    return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
