/**
 * S3 for the offline runtime: s3rver (a Koa app storing objects on disk) mounted behind our own endpoint.
 *
 * s3rver stores and serves objects well but trusts every request: it never checks SigV4 signatures
 * (so presigned URLs never expire or fail), and it writes `aws-chunked` bodies (what SDK v3 sends for
 * streams, with trailing CRC32 checksums) to disk frame and all. So every request passes through
 * this file first: we verify its signature as S3 would, read any body into a spool file while decoding
 * chunk framing and checking the declared digests, and only then hand s3rver a plain request.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { Readable, Transform, TransformCallback } from "stream";
import { pipeline } from "stream/promises";
import * as zlib from "zlib";
import { AwsError } from "./awsError";

export interface S3Emulator {
    /** Handles one HTTP request (path-style addressing: /bucket/key). Must not need the body to have been read. */
    handle(req: http.IncomingMessage, res: http.ServerResponse): void;
    /** Creates the bucket unless it exists (idempotent). */
    ensureBucket(name: string): Promise<void>;
    /** Releases everything; a temporary data directory is removed, a given `dataDir` is kept. */
    close(): Promise<void>;
}

export interface S3EmulatorOptions {
    /** Objects persist there; absent: a temp dir removed on close. */
    dataDir?: string;
    /** The only credentials requests may be signed with. */
    accessKeyId: string;
    secretAccessKey: string;
    /** The region signatures must be scoped to, as S3 refuses a signature made for another region. */
    region: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Typings for the parts of s3rver 3.7.1 we use (it ships none). Loaded with `require` because a `declare module`
// cannot describe an untyped package from inside a module file.

interface S3rverOptions {
    directory: string;
    silent: boolean;
    /** Only path-style addressing is routed here; s3rver's own vhost guessing would misread `127.0.0.1`. */
    vhostBuckets: boolean;
    configureBuckets: [];
}
interface S3rverApp {
    callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
    store: { putBucket(name: string): Promise<unknown> };
    logger: { close(): void };
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverApp;
interface S3rverAccountModule {
    DUMMY_ACCOUNT: {
        createKeyPair(accessKeyId: string, secretAccessKey: string): void;
        revokeAccessKey(accessKeyId: string): void;
    };
}

const S3rver = require("s3rver") as S3rverConstructor;
// s3rver looks the access key of every signed request up in this registry and refuses unknown ones. It also
// verifies SigV2 signatures with it, which we leave to it; its built-in S3RVER/S3RVER key must not work here.
const s3rverAccounts = require("s3rver/lib/models/account") as S3rverAccountModule;
s3rverAccounts.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");

// ---------------------------------------------------------------------------------------------------------------
// The emulator

export async function createS3Emulator(opts: S3EmulatorOptions): Promise<S3Emulator> {
    const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), "choreography-s3-"));
    const spoolDir = path.join(workDir, "spool");
    const dataDir = opts.dataDir ?? path.join(workDir, "objects");
    await fsp.mkdir(spoolDir);
    await fsp.mkdir(dataDir, { recursive: true });

    s3rverAccounts.DUMMY_ACCOUNT.createKeyPair(opts.accessKeyId, opts.secretAccessKey);
    const app = new S3rver({ directory: dataDir, silent: true, vhostBuckets: false, configureBuckets: [] });
    const forward = app.callback();

    return {
        handle(req, res) {
            serve(req, res, opts, spoolDir, forward).catch((err: unknown) => sendError(req, res, err));
        },
        async ensureBucket(name) {
            checkBucketName(name);
            await app.store.putBucket(name);
        },
        async close() {
            app.logger.close();
            // The data stays when it lives in the caller's dataDir, which is outside workDir.
            await fsp.rm(workDir, { recursive: true, force: true });
        },
    };
}

async function serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    opts: S3EmulatorOptions,
    spoolDir: string,
    forward: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<void> {
    // A CORS preflight carries no signature by design; s3rver answers it from the bucket's CORS rules.
    if (req.method !== "OPTIONS") verifySignature(req, opts, new Date());
    if (!hasBody(req)) return forward(req, res);
    const spooled = await spoolBody(req, spoolDir);
    const replay = new ReplayedRequest(req, spooled.headers, fs.createReadStream(spooled.file));
    res.on("close", () => {
        replay.destroy();
        void fsp.rm(spooled.file, { force: true });
    });
    forward(replay, res);
}

function checkBucketName(name: string): void {
    // Keeps names that would escape the data directory (or that S3 would refuse) off the disk.
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes("..")) {
        throw new S3Error("InvalidBucketName", `The specified bucket is not valid: ${name}`, 400);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Errors in S3's XML shape

/** An AwsError that also carries the extra elements S3 puts in its `<Error>` document. */
class S3Error extends AwsError {
    constructor(code: string, message: string, statusCode: number, readonly details: Record<string, string> = {}) {
        super(code, message, statusCode);
    }
}

function sendError(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
    }
    const error = err instanceof AwsError ? err : new S3Error("InternalError", "We encountered an internal error.", 500);
    const details = error instanceof S3Error ? error.details : {};
    const requestId = crypto.randomBytes(8).toString("hex").toUpperCase();
    const elements = { Code: error.code, Message: error.message, ...details, RequestId: requestId };
    const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
        Object.entries(elements).map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join("") +
        "</Error>";
    res.statusCode = error.statusCode;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("x-amz-request-id", requestId);
    // HEAD answers carry no body, so SDKs read the code from the status alone, as with real S3.
    res.end(req.method === "HEAD" ? undefined : body);
}

function escapeXml(text: string): string {
    return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------------------------------------------
// SigV4 verification (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html)

const ALGORITHM = "AWS4-HMAC-SHA256";
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;

/** What a signed request claims about its signature, from the Authorization header or the query string. */
interface SignatureClaim {
    kind: "header" | "query";
    accessKeyId: string;
    scope: string[]; // date, region, service, "aws4_request"
    signedHeaders: string[];
    signature: string;
    amzDate: string;
    payloadHash: string;
    expiresSeconds?: number;
}

function verifySignature(req: http.IncomingMessage, opts: S3EmulatorOptions, now: Date): void {
    const [rawPath, rawQuery = ""] = (req.url ?? "/").split(/\?(.*)/s, 2);
    const query = parseQuery(rawQuery);
    const claim = readClaim(req, query);
    if (claim.kind === "v2") return checkAccessKey(claim.accessKeyId, opts); // s3rver verifies the rest
    checkCredential(claim, opts);
    checkTime(claim, now);
    const canonicalRequest = canonicalRequestOf(req, claim, rawPath, query);
    const stringToSign = [ALGORITHM, claim.amzDate, claim.scope.join("/"), sha256Hex(canonicalRequest)].join("\n");
    const expected = signingKeyHmac(opts.secretAccessKey, claim.scope, stringToSign).toString("hex");
    if (!sameText(expected, claim.signature)) {
        throw new S3Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            403,
            { AWSAccessKeyId: claim.accessKeyId, StringToSign: stringToSign, CanonicalRequest: canonicalRequest },
        );
    }
}

function canonicalRequestOf(req: http.IncomingMessage, claim: SignatureClaim, rawPath: string, query: [string, string][]): string {
    return [
        req.method ?? "GET",
        canonicalUri(rawPath),
        canonicalQuery(claim.kind === "query" ? query.filter(([name]) => name !== "X-Amz-Signature") : query),
        claim.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req, name)}\n`).join(""),
        claim.signedHeaders.join(";"),
        claim.payloadHash,
    ].join("\n");
}

/**
 * A legacy SigV2 signature: what AWS CLI v1's `aws s3 presign` produces for us-east-1. s3rver implements SigV2
 * verification (signature and Expires) itself, so only the access key is ours to check.
 */
interface V2Claim {
    kind: "v2";
    accessKeyId: string;
}

function readClaim(req: http.IncomingMessage, query: [string, string][]): SignatureClaim | V2Claim {
    const authorization = req.headers.authorization;
    const presigned = query.some(([name]) => name === "X-Amz-Algorithm");
    const presignedV2 = query.find(([name]) => name === "AWSAccessKeyId")?.[1];
    if ([authorization !== undefined, presigned, presignedV2 !== undefined].filter(Boolean).length > 1) {
        throw new S3Error("InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", 400);
    }
    if (authorization?.startsWith("AWS ")) return { kind: "v2", accessKeyId: authorization.slice(4).split(":")[0].trim() };
    if (authorization !== undefined) return readHeaderClaim(req, authorization);
    if (presigned) return readQueryClaim(query);
    if (presignedV2 !== undefined) return { kind: "v2", accessKeyId: presignedV2 };
    // Real buckets are private unless a policy opens them; this stack declares none.
    throw new S3Error("AccessDenied", "Access Denied", 403);
}

function readHeaderClaim(req: http.IncomingMessage, authorization: string): SignatureClaim {
    const malformed = (why: string) => new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; ${why}`, 400);
    const [algorithm, rest = ""] = authorization.trim().split(/\s+(.*)/s, 2);
    if (algorithm !== ALGORITHM) {
        throw new S3Error("InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", 400);
    }
    const parts = new Map(rest.split(",").map((part) => splitOnce(part.trim(), "=")));
    const credential = parts.get("Credential");
    const signedHeaders = parts.get("SignedHeaders");
    const signature = parts.get("Signature");
    if (!credential || !signedHeaders || !signature) throw malformed("it requires Credential, SignedHeaders and Signature.");
    const payloadHash = req.headers["x-amz-content-sha256"];
    if (typeof payloadHash !== "string") {
        throw new S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400);
    }
    const claim: SignatureClaim = {
        kind: "header",
        ...splitCredential(credential, malformed),
        signedHeaders: signedHeaders.split(";"),
        signature,
        amzDate: headerDate(req, malformed),
        payloadHash,
    };
    checkAllAmzHeadersSigned(req, claim.signedHeaders);
    return claim;
}

function readQueryClaim(query: [string, string][]): SignatureClaim {
    const malformed = (why: string) => new S3Error("AuthorizationQueryParametersError", why, 400);
    const param = (name: string) => query.find(([key]) => key === name)?.[1];
    const [algorithm, credential, amzDate, expires, signedHeaders, signature] = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
    ].map(param);
    if (algorithm !== ALGORITHM) throw malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    if (!credential || !amzDate || !expires || !signedHeaders || !signature) {
        throw malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
    }
    const expiresSeconds = Number(expires);
    if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_PRESIGN_SECONDS) {
        throw malformed("X-Amz-Expires must be between 1 and 604800 seconds");
    }
    if (parseAmzDate(amzDate) === undefined) throw malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    return {
        kind: "query",
        ...splitCredential(credential, (why) => malformed(`Error parsing the X-Amz-Credential parameter; ${why}`)),
        signedHeaders: signedHeaders.split(";"),
        signature,
        amzDate,
        // Presigned URLs never sign the payload: whoever holds the URL chooses the body.
        payloadHash: param("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD",
        expiresSeconds,
    };
}

function splitCredential(credential: string, malformed: (why: string) => S3Error): { accessKeyId: string; scope: string[] } {
    const [accessKeyId, ...scope] = credential.split("/");
    if (scope.length !== 4 || scope[3] !== "aws4_request") {
        throw malformed("the Credential must be <key>/<yyyyMMdd>/<region>/<service>/aws4_request.");
    }
    return { accessKeyId, scope };
}

function checkCredential(claim: SignatureClaim, opts: S3EmulatorOptions): void {
    const [date, region, service] = claim.scope;
    const malformed = (why: string) =>
        claim.kind === "header"
            ? new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; ${why}`, 400, { Region: opts.region })
            : new S3Error("AuthorizationQueryParametersError", `Error parsing the X-Amz-Credential parameter; ${why}`, 400, { Region: opts.region });
    checkAccessKey(claim.accessKeyId, opts);
    if (region !== opts.region) throw malformed(`the region '${region}' is wrong; expecting '${opts.region}'`);
    if (service !== "s3") throw malformed(`incorrect service '${service}'. This endpoint belongs to 's3'.`);
    if (date !== claim.amzDate.slice(0, 8)) throw malformed(`incorrect date '${date}'. This date is not the date of the request.`);
    if (!claim.signedHeaders.includes("host")) throw malformed("'Host' must be a 'SignedHeader' in the AWS Authorization.");
}

function checkAccessKey(accessKeyId: string, opts: S3EmulatorOptions): void {
    if (accessKeyId !== opts.accessKeyId) {
        throw new S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403, {
            AWSAccessKeyId: accessKeyId,
        });
    }
}

function checkTime(claim: SignatureClaim, now: Date): void {
    const signedAt = parseAmzDate(claim.amzDate);
    if (signedAt === undefined) throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403);
    if (claim.expiresSeconds === undefined) {
        if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
            throw new S3Error("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", 403, {
                RequestTime: claim.amzDate,
                ServerTime: now.toISOString(),
            });
        }
        return;
    }
    const expiresAt = new Date(signedAt.getTime() + claim.expiresSeconds * 1000);
    if (now > expiresAt) {
        throw new S3Error("AccessDenied", "Request has expired", 403, {
            "X-Amz-Expires": String(claim.expiresSeconds),
            Expires: expiresAt.toISOString(),
            ServerTime: now.toISOString(),
        });
    }
}

/** S3 refuses x-amz-* headers that ride along unsigned, since they change what the request does. */
function checkAllAmzHeadersSigned(req: http.IncomingMessage, signedHeaders: string[]): void {
    const unsigned = Object.keys(req.headers).filter((name) => name.startsWith("x-amz-") && !signedHeaders.includes(name));
    if (unsigned.length > 0) {
        throw new S3Error("AccessDenied", "There were headers present in the request which were not signed", 403, {
            HeadersNotSigned: unsigned.join(", "),
        });
    }
}

function headerDate(req: http.IncomingMessage, malformed: (why: string) => S3Error): string {
    const amzDate = req.headers["x-amz-date"];
    if (typeof amzDate === "string") return amzDate;
    const date = req.headers.date ? new Date(req.headers.date) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw malformed("it requires an X-Amz-Date or Date header.");
    return toAmzDate(date);
}

function canonicalUri(rawPath: string): string {
    // S3 signs the path encoded once, segment by segment, with RFC 3986's unreserved set left alone.
    return rawPath.split("/").map((segment) => uriEncode(uriDecode(segment))).join("/");
}

function canonicalQuery(pairs: [string, string][]): string {
    return pairs
        .map(([name, value]) => [uriEncode(name), uriEncode(value)])
        .sort(([n1, v1], [n2, v2]) => (n1 === n2 ? compareText(v1, v2) : compareText(n1, n2)))
        .map(([name, value]) => `${name}=${value}`)
        .join("&");
}

function canonicalHeaderValue(req: http.IncomingMessage, name: string): string {
    const values = req.headersDistinct[name] ?? [];
    return values.map((value) => value.trim().replace(/\s+/g, " ")).join(",");
}

function parseQuery(rawQuery: string): [string, string][] {
    return rawQuery
        .split("&")
        .filter((pair) => pair !== "")
        .map((pair) => {
            const [name, value] = splitOnce(pair, "=");
            return [uriDecode(name), uriDecode(value)];
        });
}

function uriEncode(text: string): string {
    return encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

function uriDecode(text: string): string {
    try {
        return decodeURIComponent(text);
    } catch {
        return text; // a stray "%" is signed as sent
    }
}

function signingKeyHmac(secret: string, scope: string[], stringToSign: string): Buffer {
    const key = scope.reduce<Buffer | string>((k, part) => hmac(k, part), `AWS4${secret}`);
    return hmac(key, stringToSign);
}

function hmac(key: Buffer | string, data: string): Buffer {
    return crypto.createHmac("sha256", key).update(data, "utf8").digest();
}

function sha256Hex(text: string): string {
    return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

/** Constant-time comparison, so the signature can't be guessed byte by byte from response times. */
function sameText(a: string, b: string): boolean {
    const [x, y] = [Buffer.from(a), Buffer.from(b)];
    return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function compareText(a: string, b: string): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

function splitOnce(text: string, separator: string): [string, string] {
    const at = text.indexOf(separator);
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + separator.length)];
}

function toAmzDate(date: Date): string {
    return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

function parseAmzDate(text: string): Date | undefined {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Request bodies: decode aws-chunked framing and check declared digests before s3rver stores anything.

type DigestName = "md5" | "sha1" | "sha256" | "crc32";

/** A digest the request declares up front (a header) or at the end (an aws-chunked trailer). */
interface DeclaredDigest {
    algorithm: DigestName;
    /** `undefined` until the trailer has been read. */
    expected: () => string | undefined;
    encoding: "hex" | "base64";
    error: () => S3Error;
}

interface SpooledBody {
    file: string;
    /** The headers s3rver should see: those of a plain (unframed) request of the decoded length. */
    headers: http.IncomingHttpHeaders;
}

function hasBody(req: http.IncomingMessage): boolean {
    return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/** Only STREAMING-* payloads are framed; a bare `Content-Encoding: aws-chunked` on a plain body is not (S3 agrees). */
function isFramed(req: http.IncomingMessage): boolean {
    return String(req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
}

async function spoolBody(req: http.IncomingMessage, spoolDir: string): Promise<SpooledBody> {
    const file = path.join(spoolDir, crypto.randomUUID());
    const decoder = isFramed(req) ? new AwsChunkedDecoder() : undefined;
    const declared = declaredDigests(req, decoder);
    const meter = new DigestMeter([...new Set(declared.map((d) => d.algorithm))]);
    try {
        await pipeline([req, ...(decoder ? [decoder] : []), meter, fs.createWriteStream(file)]);
        checkLength(req, decoder, meter.length);
        for (const digest of declared) {
            const expected = digest.expected();
            if (expected !== undefined && meter.digest(digest.algorithm, digest.encoding) !== expected) throw digest.error();
        }
    } catch (err) {
        await fsp.rm(file, { force: true });
        throw err;
    }
    return { file, headers: plainHeaders(req.headers, meter.length) };
}

function declaredDigests(req: http.IncomingMessage, decoder: AwsChunkedDecoder | undefined): DeclaredDigest[] {
    const digests: DeclaredDigest[] = [];
    const header = (name: string) => {
        const value = req.headers[name];
        return typeof value === "string" ? value : undefined;
    };
    const contentSha256 = header("x-amz-content-sha256");
    if (contentSha256 && /^[0-9a-f]{64}$/i.test(contentSha256)) {
        digests.push({
            algorithm: "sha256",
            encoding: "hex",
            expected: () => contentSha256.toLowerCase(),
            error: () => new S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", 400),
        });
    }
    const contentMd5 = header("content-md5");
    if (contentMd5) {
        digests.push({
            algorithm: "md5",
            encoding: "base64",
            expected: () => contentMd5,
            error: () => new S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400),
        });
    }
    for (const algorithm of ["crc32", "sha1", "sha256"] as const) {
        const name = `x-amz-checksum-${algorithm}`;
        const error = () => new S3Error("BadDigest", `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`, 400);
        const fromHeader = header(name);
        if (fromHeader) digests.push({ algorithm, encoding: "base64", expected: () => fromHeader, error });
        // CRC32C and CRC64NVME trailers go unchecked: Node has no implementation of them built in.
        if (decoder && header("x-amz-trailer")?.toLowerCase() === name) {
            digests.push({ algorithm, encoding: "base64", expected: () => decoder.trailers.get(name), error });
        }
    }
    return digests;
}

function checkLength(req: http.IncomingMessage, decoder: AwsChunkedDecoder | undefined, length: number): void {
    const declared = req.headers["x-amz-decoded-content-length"];
    if (decoder && declared !== undefined && Number(declared) !== length) {
        throw new S3Error("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header", 400, {
            NumberBytesExpected: String(declared),
            NumberBytesProvided: String(length),
        });
    }
}

/** The headers of the same request sent unframed: what s3rver understands and what S3 records as metadata. */
function plainHeaders(headers: http.IncomingHttpHeaders, length: number): http.IncomingHttpHeaders {
    const plain: http.IncomingHttpHeaders = { ...headers, "content-length": String(length) };
    for (const name of ["transfer-encoding", "x-amz-decoded-content-length", "x-amz-trailer"]) delete plain[name];
    const encodings = (headers["content-encoding"] ?? "")
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e !== "" && e.toLowerCase() !== "aws-chunked");
    if (encodings.length > 0) plain["content-encoding"] = encodings.join(", ");
    else delete plain["content-encoding"];
    return plain;
}

/** Counts the bytes passing through and digests them with each algorithm a check needs. */
class DigestMeter extends Transform {
    length = 0;
    private readonly hashes = new Map<DigestName, crypto.Hash>();
    private crc: number | undefined;

    constructor(algorithms: DigestName[]) {
        super();
        for (const algorithm of algorithms) {
            if (algorithm === "crc32") this.crc = 0;
            else this.hashes.set(algorithm, crypto.createHash(algorithm));
        }
    }

    override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        this.length += chunk.length;
        for (const hash of this.hashes.values()) hash.update(chunk);
        if (this.crc !== undefined) this.crc = zlib.crc32(chunk, this.crc);
        done(null, chunk);
    }

    /** Only valid once the stream has finished. */
    digest(algorithm: DigestName, encoding: "hex" | "base64"): string {
        if (algorithm !== "crc32") return this.hashes.get(algorithm)?.copy().digest(encoding) ?? "";
        const bytes = Buffer.alloc(4);
        bytes.writeUInt32BE((this.crc ?? 0) >>> 0);
        return bytes.toString(encoding);
    }
}

const MAX_FRAME_LINE = 8192;

/**
 * Strips aws-chunked framing: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0[;…]\r\n<trailers>\r\n`.
 * Chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are skipped; the seed signature was verified.
 */
class AwsChunkedDecoder extends Transform {
    /** Trailing headers, lower-cased names, e.g. `x-amz-checksum-crc32`. */
    readonly trailers = new Map<string, string>();
    private pending: Buffer = Buffer.alloc(0);
    private state: "size" | "data" | "dataEnd" | "trailer" | "done" = "size";
    private remaining = 0;

    override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
        try {
            this.drain();
            done();
        } catch (err) {
            done(err as Error);
        }
    }

    override _flush(done: TransformCallback): void {
        // A missing blank line after the trailers is forgiven; missing data is not.
        const complete = this.state === "done" || (this.state === "trailer" && this.pending.length === 0);
        done(complete ? null : new S3Error("IncompleteBody", "The request body terminated unexpectedly", 400));
    }

    private drain(): void {
        while (this.pending.length > 0 && this.state !== "done") {
            if (this.state === "data") {
                const n = Math.min(this.remaining, this.pending.length);
                this.push(this.pending.subarray(0, n));
                this.pending = this.pending.subarray(n);
                this.remaining -= n;
                if (this.remaining === 0) this.state = "dataEnd";
                continue;
            }
            const line = this.takeLine();
            if (line === undefined) return;
            this.onLine(line);
        }
    }

    private takeLine(): string | undefined {
        const end = this.pending.indexOf("\r\n");
        if (end < 0) {
            if (this.pending.length > MAX_FRAME_LINE) throw invalidChunk();
            return undefined;
        }
        const line = this.pending.subarray(0, end).toString("latin1");
        this.pending = this.pending.subarray(end + 2);
        return line;
    }

    private onLine(line: string): void {
        if (this.state === "dataEnd") {
            if (line !== "") throw invalidChunk();
            this.state = "size";
        } else if (this.state === "size") {
            const size = line.split(";", 1)[0].trim();
            if (!/^[0-9a-f]{1,16}$/i.test(size)) throw invalidChunk();
            this.remaining = parseInt(size, 16);
            this.state = this.remaining === 0 ? "trailer" : "data";
        } else if (line === "") {
            this.state = "done";
        } else {
            const [name, value] = splitOnce(line, ":");
            this.trailers.set(name.trim().toLowerCase(), value.trim());
        }
    }
}

function invalidChunk(): S3Error {
    return new S3Error("InvalidRequest", "The aws-chunked request body is malformed.", 400);
}

/**
 * A request whose body we already consumed, replayed from the spool file for s3rver. It borrows the original's
 * socket only so code reading `req.socket` keeps working; its own stream never touches that socket.
 */
class ReplayedRequest extends http.IncomingMessage {
    constructor(original: http.IncomingMessage, headers: http.IncomingHttpHeaders, private readonly body: Readable) {
        super(original.socket);
        this.method = original.method;
        this.url = original.url;
        this.httpVersion = original.httpVersion;
        this.httpVersionMajor = original.httpVersionMajor;
        this.httpVersionMinor = original.httpVersionMinor;
        this.headers = headers;
        body.on("data", (chunk: Buffer) => {
            if (!this.push(chunk)) body.pause();
        });
        body.on("end", () => {
            this.complete = true;
            this.push(null);
        });
        body.on("error", (err) => this.destroy(err));
    }

    override _read(): void {
        this.body.resume();
    }

    // IncomingMessage's own _destroy would destroy the shared socket, cutting off the response too.
    override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
        this.body.destroy();
        done(err);
    }
}
