/**
 * S3's request authentication (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html):
 * SigV4 header signatures and presigned URLs, verified for the keys the runtime knows with S3's own error codes
 * and details (the canonical request and string to sign, which S3 returns on a mismatch); which keys are
 * IAM-checked; and the IAM action of each request.
 */
import * as crypto from "crypto";
import type * as http from "http";
import { S3Error } from "./errors";
import type { S3EmulatorOptions } from "./s3";

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

/** Throws S3's error for a request that is not signed right; says which signature version it carries. */
export function verifySignature(req: http.IncomingMessage, opts: S3EmulatorOptions, keys: KeyPolicy, now: Date): { version: "v2" | "v4"; accessKeyId: string } {
    const [rawPath, rawQuery = ""] = (req.url ?? "/").split(/\?(.*)/s, 2);
    const query = parseQuery(rawQuery);
    const claim = readClaim(req, query);
    // SigV2 (AWS CLI v1's presign) is verified by s3rver, with the secret of a key we know (see forwardInScope).
    if (claim.kind === "v2") return { version: "v2", accessKeyId: claim.accessKeyId };
    checkCredential(claim, opts);
    checkTime(claim, now);
    const secret = keys.secretOf(claim.accessKeyId);
    // A key the runtime does not know is the user's, signed with whatever secret they chose: nothing to check it by.
    if (secret === undefined) return { version: "v4", accessKeyId: claim.accessKeyId };
    const canonicalRequest = canonicalRequestOf(req, claim, rawPath, query);
    const stringToSign = [ALGORITHM, claim.amzDate, claim.scope.join("/"), sha256Hex(canonicalRequest)].join("\n");
    const expected = signingKeyHmac(secret, claim.scope, stringToSign).toString("hex");
    if (!sameText(expected, claim.signature)) {
        throw new S3Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            403,
            { AWSAccessKeyId: claim.accessKeyId, StringToSign: stringToSign, CanonicalRequest: canonicalRequest },
        );
    }
    return { version: "v4", accessKeyId: claim.accessKeyId };
}

/**
 * The IAM action and resource of an S3 request, as AWS authorizes it: objects by `arn:aws:s3:::bucket/key`,
 * bucket-level requests by the bucket's ARN. Subresource requests (`?acl`, `?tagging` ...) count as the base
 * action here, which is looser than IAM's own list.
 */
export function s3ActionOf(method: string, rawPath: string): { action: string; resource: string } {
    const [bucket = "", ...keyParts] = rawPath.replace(/^\//, "").split("/");
    const key = keyParts.map((part) => decodeURIComponent(part)).join("/");
    if (!key) {
        const action = method === "PUT" ? "s3:CreateBucket" : method === "DELETE" ? "s3:DeleteBucket" : "s3:ListBucket";
        return { action, resource: `arn:aws:s3:::${bucket}` };
    }
    const action = method === "GET" || method === "HEAD" ? "s3:GetObject" : method === "DELETE" ? "s3:DeleteObject" : "s3:PutObject";
    return { action, resource: `arn:aws:s3:::${bucket}/${key}` };
}

/**
 * Which keys are verified and which are IAM-checked: from `secretOf`/`roleOf`/`authorizeRole`, or from the fixed
 * `accessKeyId`/`roleKeys`/`authorize` of the options that came before them.
 */
export interface KeyPolicy {
    /** A known key's secret; undefined for a key the runtime does not know (accepted unverified, as the user's). */
    secretOf(accessKeyId: string): string | undefined;
    /** How IAM answers for the key's identity; undefined when the key is not IAM-checked (the user's). */
    authorizerOf(accessKeyId: string): ((action: string, resourceArn: string) => boolean) | undefined;
}

export function keyPolicy(opts: S3EmulatorOptions): KeyPolicy {
    const { secretOf, roleOf, authorizeRole, authorize } = opts;
    if (secretOf) {
        return {
            secretOf,
            authorizerOf(accessKeyId) {
                const role = roleOf?.(accessKeyId);
                if (role === undefined) return undefined;
                if (authorizeRole) return (action, resource) => authorizeRole(role, action, resource);
                return authorize && ((action, resource) => authorize(accessKeyId, action, resource));
            },
        };
    }
    if (opts.accessKeyId === undefined || opts.secretAccessKey === undefined) {
        throw new Error("S3EmulatorOptions needs secretOf, or accessKeyId and secretAccessKey");
    }
    const user = { id: opts.accessKeyId, secret: opts.secretAccessKey };
    const roleKeys = opts.roleKeys ?? {};
    return {
        secretOf: (accessKeyId) => (accessKeyId === user.id ? user.secret : Object.hasOwn(roleKeys, accessKeyId) ? roleKeys[accessKeyId] : undefined),
        authorizerOf: (accessKeyId) =>
            authorize && accessKeyId !== user.id && Object.hasOwn(roleKeys, accessKeyId) ? (action, resource) => authorize(accessKeyId, action, resource) : undefined,
    };
}

/** A request signed with a role's key must be allowed by that role's policies. */
export function authorizeRequest(req: http.IncomingMessage, keys: KeyPolicy, accessKeyId: string): void {
    const authorize = keys.authorizerOf(accessKeyId);
    if (!authorize) return;
    const require = ({ action, resource }: { action: string; resource: string }) => {
        if (!authorize(action, resource)) {
            throw new S3Error("AccessDenied", `User ${accessKeyId} is not authorized to perform: ${action} on resource: "${resource}"`, 403);
        }
    };
    require(s3ActionOf(req.method ?? "GET", (req.url ?? "/").split("?")[0]));
    // A copy reads its source as well: IAM requires s3:GetObject on it (checkCopySource left the header decodable).
    const source = req.headers["x-amz-copy-source"];
    if (typeof source === "string") {
        const [bucket, ...key] = decodeURI(source).replace(/^\//, "").split("?")[0].split("/");
        require({ action: "s3:GetObject", resource: `arn:aws:s3:::${bucket}/${key.join("/")}` });
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
    if (region !== opts.region) throw malformed(`the region '${region}' is wrong; expecting '${opts.region}'`);
    if (service !== "s3") throw malformed(`incorrect service '${service}'. This endpoint belongs to 's3'.`);
    if (date !== claim.amzDate.slice(0, 8)) throw malformed(`incorrect date '${date}'. This date is not the date of the request.`);
    if (!claim.signedHeaders.includes("host")) throw malformed("'Host' must be a 'SignedHeader' in the AWS Authorization.");
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

export function parseQuery(rawQuery: string): [string, string][] {
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

export function uriDecode(text: string): string {
    try {
        return decodeURIComponent(text);
    } catch {
        return text; // a stray "%" is signed as sent
    }
}

/** Derived signing keys by secret and scope: a key serves every request of its day, as SigV4 intends. */
const signingKeys = new Map<string, Buffer>();

function signingKeyHmac(secret: string, scope: string[], stringToSign: string): Buffer {
    const id = `${secret}\n${scope.join("/")}`;
    let key = signingKeys.get(id);
    if (!key) {
        key = scope.reduce<Buffer | string>((k, part) => hmac(k, part), `AWS4${secret}`) as Buffer;
        if (signingKeys.size >= 64) signingKeys.clear();
        signingKeys.set(id, key);
    }
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

export function splitOnce(text: string, separator: string): [string, string] {
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

