/**
 * Raw HTTP requests to the offline runtime's endpoint, as a client without an SDK (or an attacker) sends them:
 * any target and body, signed with SigV4 by the SDK's own signer or left unsigned, and the answer read whole.
 */
import * as http from "http";
import { SignatureV4 } from "@smithy/signature-v4";
import { NodeSha256 } from "../../local/core/sigv4";

export interface Credentials {
    accessKeyId: string;
    secretAccessKey: string;
}

export interface RawAnswer {
    status: number;
    /** AWS's error code (`__type` without a `com.amazon...#` qualifier), or "" for a success. */
    type: string;
    message: string;
    body: string;
    headers: http.IncomingHttpHeaders;
}

/** The signing name of each target prefix the runtime serves. */
const SIGNING_NAMES: Record<string, string> = { AWSEvents: "events", AWSStepFunctions: "states", DynamoDB_20120810: "dynamodb" };

export interface RawCallOptions {
    /** Signs with these; unsigned when absent. */
    credentials?: Credentials;
    region?: string;
    /** Headers that replace what signing produced (a forged signature, a stale date). */
    override?: Record<string, string>;
    contentType?: string;
}

/**
 * Signs a JSON-protocol request as the SDK would: the headers and signature it sends. `payloadHashHeader: false`
 * signs as botocore (the AWS CLI) does, without an `x-amz-content-sha256` header.
 */
export async function signedHeaders(
    url: string,
    target: string,
    body: string,
    credentials: Credentials,
    region = "us-east-1",
    contentType?: string,
    payloadHashHeader = true,
): Promise<Record<string, string>> {
    const { hostname, port, host } = new URL(url);
    const service = SIGNING_NAMES[target.split(".")[0]] ?? "events";
    const signer = new SignatureV4({ credentials, region, service, sha256: NodeSha256, applyChecksum: payloadHashHeader });
    const signed = await signer.sign({
        method: "POST",
        protocol: "http:",
        hostname,
        port: Number(port),
        path: "/",
        query: {},
        headers: {
            host,
            "content-type": contentType ?? (target.startsWith("AWSEvents.") ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0"),
            "x-amz-target": target,
        },
        body,
    });
    return signed.headers;
}

/** Sends one request over a fresh connection and reads the whole answer; rejects when the connection is cut. */
export function send(url: string, headers: Record<string, string>, body: string | Buffer, method = "POST", path = "/"): Promise<RawAnswer> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
        const req = http.request({ hostname, port, method, path, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("error", reject);
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                let json: { __type?: unknown; message?: unknown; Message?: unknown } = {};
                try {
                    json = JSON.parse(text) as typeof json;
                } catch {
                    // S3 answers XML; the caller reads `body`.
                }
                resolve({
                    status: res.statusCode ?? 0,
                    type: String(json.__type ?? res.headers["x-amzn-errortype"] ?? "").split("#").pop()!.split(":")[0],
                    message: String(json.message ?? json.Message ?? ""),
                    body: text,
                    headers: res.headers,
                });
            });
        });
        req.on("error", reject);
        req.end(body);
    });
}

/** One JSON-protocol call with any target and body, signed when credentials are given. */
export async function rawCall(url: string, target: string, body: string, options: RawCallOptions = {}): Promise<RawAnswer> {
    const contentType = options.contentType ?? (target.startsWith("AWSEvents.") ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0");
    const headers = options.credentials
        ? await signedHeaders(url, target, body, options.credentials, options.region, contentType)
        : { "content-type": contentType, "x-amz-target": target };
    return send(url, { ...headers, ...options.override }, body);
}
