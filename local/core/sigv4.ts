/**
 * SigV4 verification for the JSON-protocol services (EventBridge, Step Functions, DynamoDB): AWS checks the
 * signature of every request before it reads the body, so a function's access key with a forged signature must
 * not act as that function. The canonical request and signature are computed by `@smithy/signature-v4`, the
 * signer the SDK itself uses, over the request as it arrived; we only parse the claim and compare.
 */
import { createHash, createHmac, timingSafeEqual } from "crypto";
import type * as http from "http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Checksum, HttpRequest, SourceData } from "@smithy/types";
import { AwsError } from "./awsError";

/** What a request's `Authorization` header claims. */
export interface SignatureClaim {
    accessKeyId: string;
    /** `<date>/<region>/<service>/aws4_request`, split. */
    scope: { date: string; region: string; service: string };
    signedHeaders: string[];
    signature: string;
}

/** The caller a request was verified as (for a key the runtime does not know, the user's own: unverified). */
export interface VerifiedCaller {
    accessKeyId: string;
}

const ALGORITHM = "AWS4-HMAC-SHA256";
/** AWS refuses a signature whose time is more than 15 minutes from its own clock. */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

const incomplete = (why: string) => new AwsError("IncompleteSignatureException", why, 400);

/** Reads the claim of an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header. */
export function parseAuthorization(authorization: string): SignatureClaim {
    if (!authorization.startsWith(`${ALGORITHM} `)) throw incomplete(`Authorization header must use ${ALGORITHM}`);
    const fields = new Map<string, string>();
    for (const part of authorization.slice(ALGORITHM.length + 1).split(",")) {
        const at = part.indexOf("=");
        if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
    }
    const credential = fields.get("Credential");
    const signedHeaders = fields.get("SignedHeaders");
    const signature = fields.get("Signature");
    if (!credential) throw incomplete("Authorization header requires 'Credential' parameter.");
    if (!signedHeaders) throw incomplete("Authorization header requires 'SignedHeaders' parameter.");
    if (!signature) throw incomplete("Authorization header requires 'Signature' parameter.");
    return claimOf(credential, signedHeaders, signature);
}

/** `<key>/<YYYYMMDD>/<region>/<service>/aws4_request`, the signed header names and the signature, checked. */
function claimOf(credential: string, signedHeaders: string, signature: string): SignatureClaim {
    const parts = credential.split("/");
    if (parts.length !== 5 || parts[4] !== "aws4_request" || !/^\d{8}$/.test(parts[1]) || parts[0] === "") {
        throw incomplete(`Credential should be scoped to a valid region, not '${parts[2] ?? ""}'. The credential must be <key>/<YYYYMMDD>/<region>/<service>/aws4_request.`);
    }
    if (!/^[0-9a-f]{64}$/.test(signature)) throw new AwsError("InvalidSignatureException", "The request signature is not 64 hexadecimal digits.", 403);
    return {
        accessKeyId: parts[0],
        scope: { date: parts[1], region: parts[2], service: parts[3] },
        signedHeaders: signedHeaders.split(";"),
        signature,
    };
}

/** What a request's SigV4 signature claims, from its Authorization header or its query; undefined when unsigned. */
export function signatureClaimOf(req: http.IncomingMessage): SignatureClaim | undefined {
    const authorization = req.headers.authorization;
    if (typeof authorization === "string" && authorization !== "") return parseAuthorization(authorization);
    return parseQuerySignature(new URLSearchParams((req.url ?? "").split("?", 2)[1] ?? ""));
}

/** The query parameters of a presigned (query-string signed) request. */
const QUERY_SIGNATURE_PARAMS = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"] as const;

/** A presigned request's claim, read from its query; undefined when the query carries no signature. */
export function parseQuerySignature(query: URLSearchParams): (SignatureClaim & { amzDate: string; expiresSeconds?: number }) | undefined {
    if (!query.has("X-Amz-Signature")) return undefined;
    const missing = QUERY_SIGNATURE_PARAMS.filter((name) => !query.get(name));
    if (missing.length) throw incomplete(`AWS query-string parameters must include ${missing.map((m) => `'${m}'`).join(", ")}. Re-examine the query-string parameters.`);
    if (query.get("X-Amz-Algorithm") !== ALGORITHM) throw incomplete(`X-Amz-Algorithm must be ${ALGORITHM}`);
    const expires = query.get("X-Amz-Expires");
    const expiresSeconds = expires === null ? undefined : Number(expires);
    if (expiresSeconds !== undefined && (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > 604800)) {
        throw incomplete(`X-Amz-Expires must be a whole number of seconds from 1 to 604800, not '${expires}'.`);
    }
    const claim = claimOf(query.get("X-Amz-Credential")!, query.get("X-Amz-SignedHeaders")!, query.get("X-Amz-Signature")!);
    return { ...claim, amzDate: query.get("X-Amz-Date")!, expiresSeconds };
}

/** `20260101T000000Z` to a Date; undefined when malformed. */
function parseAmzDate(text: string): Date | undefined {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) return undefined;
    const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Node's crypto as the `Checksum` the smithy signer hashes and HMACs with (also for signing requests in tests). */
export class NodeSha256 implements Checksum {
    private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
    constructor(private readonly secret?: SourceData) {
        this.hash = this.fresh();
    }
    private fresh() {
        return this.secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(this.secret));
    }
    update(data: Uint8Array): void {
        this.hash.update(data);
    }
    async digest(): Promise<Uint8Array> {
        return new Uint8Array(this.hash.digest());
    }
    reset(): void {
        this.hash = this.fresh();
    }
}

function toBuffer(data: SourceData): Buffer {
    if (typeof data === "string") return Buffer.from(data, "utf8");
    if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return Buffer.from(data);
}

/** One signer per key and scope: smithy caches signing keys inside each signer. */
const signers = new Map<string, SignatureV4>();
function signerFor(claim: SignatureClaim, secretAccessKey: string): SignatureV4 {
    const id = [claim.accessKeyId, secretAccessKey, claim.scope.region, claim.scope.service].join("\n");
    let signer = signers.get(id);
    if (!signer) {
        if (signers.size >= 1000) signers.clear();
        signer = new SignatureV4({
            credentials: { accessKeyId: claim.accessKeyId, secretAccessKey },
            region: claim.scope.region,
            service: claim.scope.service,
            sha256: NodeSha256,
            uriEscapePath: true,
            // Its default adds and signs an `x-amz-content-sha256` the client may not have sent (botocore, so the
            // AWS CLI, does not), which would make every such signature mismatch.
            applyChecksum: false,
        });
        signers.set(id, signer);
    }
    return signer;
}

/** Percent-decoding that keeps a malformed escape (`%zz`) as it is instead of throwing. */
function decodeLeniently(text: string): string {
    try {
        return decodeURIComponent(text);
    } catch {
        return text;
    }
}

/** The request as the client signed it: only the headers it named, the path and query as they arrived. */
function requestToVerify(req: http.IncomingMessage, claim: SignatureClaim, body: Buffer): HttpRequest {
    const [rawPath, rawQuery = ""] = (req.url ?? "/").split("?", 2);
    const query: Record<string, string | string[]> = {};
    for (const pair of rawQuery.split("&")) {
        if (pair === "") continue;
        const at = pair.indexOf("=");
        const name = decodeLeniently(at < 0 ? pair : pair.slice(0, at));
        const value = decodeLeniently(at < 0 ? "" : pair.slice(at + 1));
        const existing = query[name];
        query[name] = existing === undefined ? value : ([] as string[]).concat(existing, value);
    }
    const headers: Record<string, string> = {};
    const distinct = req.headersDistinct;
    for (const name of claim.signedHeaders) {
        const values = distinct[name];
        if (values === undefined) throw new AwsError("InvalidSignatureException", `The request names the signed header ${name} but does not carry it.`, 403);
        headers[name] = values.join(",");
    }
    // The signer takes a declared payload hash on trust; the one that counts is the body's own, so a body other
    // than the one signed fails the comparison.
    if ("x-amz-content-sha256" in headers) headers["x-amz-content-sha256"] = createHash("sha256").update(body).digest("hex");
    return { method: req.method ?? "POST", protocol: "http:", hostname: String(req.headers.host ?? ""), path: rawPath, query, headers, body };
}

/**
 * Verifies the request's SigV4 header signature when `secretOf` knows its key. A request with no signature is
 * refused as AWS refuses it; a key the runtime does not know passes unverified (it is the user's, with any secret).
 * @param body the whole request body, as received.
 */
export async function verifySigV4(
    req: http.IncomingMessage,
    body: Buffer,
    secretOf: (accessKeyId: string) => string | undefined,
    now: Date = new Date(),
): Promise<VerifiedCaller> {
    const authorization = req.headers.authorization;
    if (authorization === undefined || authorization === "") {
        const presigned = parseQuerySignature(new URLSearchParams((req.url ?? "").split("?", 2)[1] ?? ""));
        if (presigned) return verifyQuerySignature(req, body, presigned, secretOf, now);
        throw new AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 400);
    }
    const claim = parseAuthorization(authorization);
    const secret = secretOf(claim.accessKeyId);
    if (secret === undefined) return { accessKeyId: claim.accessKeyId };
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const signedAt = parseAmzDate(amzDate);
    if (!signedAt || !claim.signedHeaders.includes("x-amz-date")) throw incomplete("Authorization header requires existence of a signed 'X-Amz-Date' header.");
    if (amzDate.slice(0, 8) !== claim.scope.date) {
        throw new AwsError("InvalidSignatureException", `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${claim.scope.date}' != '${amzDate.slice(0, 8)}'`, 403);
    }
    if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
        throw new AwsError("InvalidSignatureException", `Signature expired: ${amzDate} is now earlier or later than 15 minutes from the time of this request.`, 403);
    }
    const signed = await signerFor(claim, secret).sign(requestToVerify(req, claim, body), {
        signingDate: signedAt,
        signableHeaders: new Set(claim.signedHeaders),
    });
    const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1] ?? "";
    const matches = expected.length === claim.signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(claim.signature));
    if (!matches) throw signatureMismatch();
    return { accessKeyId: claim.accessKeyId };
}


const signatureMismatch = () =>
    new AwsError(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        403,
    );

/**
 * smithy's signer presigns only with an `X-Amz-Expires` it adds itself, while a browser's signer (aws4fetch) may
 * leave it out; its canonical request and string to sign, over the query exactly as the client sent it, are the
 * parts verification needs.
 */
class QuerySignatureVerifier extends SignatureV4 {
    async signatureOf(request: HttpRequest, claim: SignatureClaim, amzDate: string, payloadHash: string, secretAccessKey: string): Promise<string> {
        const headers: Record<string, string> = {};
        for (const name of claim.signedHeaders) headers[name] = String(request.headers[name] ?? "").trim().replace(/\s+/g, " ");
        const scope = `${claim.scope.date}/${claim.scope.region}/${claim.scope.service}/aws4_request`;
        const stringToSign = await this.createStringToSign(amzDate, scope, this.createCanonicalRequest(request, headers, payloadHash), ALGORITHM);
        let key: Buffer = Buffer.from(`AWS4${secretAccessKey}`);
        for (const part of [claim.scope.date, claim.scope.region, claim.scope.service, "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
        return createHmac("sha256", key).update(stringToSign).digest("hex");
    }
}

/** A presigned request: its time within its `X-Amz-Expires` (or AWS's clock skew when it names none), its signature. */
async function verifyQuerySignature(
    req: http.IncomingMessage,
    body: Buffer,
    claim: SignatureClaim & { amzDate: string; expiresSeconds?: number },
    secretOf: (accessKeyId: string) => string | undefined,
    now: Date,
): Promise<VerifiedCaller> {
    const secret = secretOf(claim.accessKeyId);
    if (secret === undefined) return { accessKeyId: claim.accessKeyId };
    const signedAt = parseAmzDate(claim.amzDate);
    if (!signedAt) throw incomplete(`X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z', not '${claim.amzDate}'.`);
    if (claim.amzDate.slice(0, 8) !== claim.scope.date) {
        throw new AwsError("InvalidSignatureException", `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${claim.scope.date}' != '${claim.amzDate.slice(0, 8)}'`, 403);
    }
    const age = now.getTime() - signedAt.getTime();
    if (age < -MAX_CLOCK_SKEW_MS || age > (claim.expiresSeconds === undefined ? MAX_CLOCK_SKEW_MS : claim.expiresSeconds * 1000)) {
        throw new AwsError("InvalidSignatureException", `Signature expired: ${claim.amzDate} is now earlier or later than its validity allows.`, 403);
    }
    const request = requestToVerify(req, claim, body);
    if (request.query) delete request.query["X-Amz-Signature"];
    const verifier = new QuerySignatureVerifier({ credentials: { accessKeyId: claim.accessKeyId, secretAccessKey: secret }, region: claim.scope.region, service: claim.scope.service, sha256: NodeSha256 });
    const expected = await verifier.signatureOf(request, claim, claim.amzDate, createHash("sha256").update(body).digest("hex"), secret);
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(claim.signature))) throw signatureMismatch();
    return { accessKeyId: claim.accessKeyId };
}
