/**
 * JSON in S3 for handlers of any system: intermediate results are written to a bucket and handed between steps as
 * presigned URLs, so a step that only needs to read one object holds no S3 permission at all.
 */
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as http from "node:http";
import * as https from "node:https";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { countRequestsOf, s3RequestCounter } from "./requests";
import { SDK_CLIENT_CONFIG } from "./task";
import { invalidInput } from "./validation";

export function bucketFromEnv(env: NodeJS.ProcessEnv = process.env): string {
    if (!env.BUCKET) throw new Error("BUCKET must be set");
    return env.BUCKET;
}

/** The results bucket and the client that addresses it. */
export interface ResultsStore {
    s3: S3Client;
    bucket: string;
}

/**
 * The handler's S3 client, built once per container and bound to the one bucket in `BUCKET`. The binding is what
 * makes `SDK_CLIENT_CONFIG` safe here: with `cacheMiddleware`, concurrent calls of one command class share one
 * context, endpoint included, so a client sending to two buckets at once can send a request to the wrong one.
 * Its requests are counted for the run's bill (`countRequestsOf`).
 */
export function resultsStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ResultsStore {
    const s3 = new S3Client(SDK_CLIENT_CONFIG);
    countRequestsOf(s3, "s3");
    return { s3, bucket: bucketFromEnv(env) };
}

export async function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
    await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(value), ContentType: "application/json" }),
    );
}

export async function getJson<T>(s3: S3Client, bucket: string, key: string): Promise<T> {
    try {
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!response.Body) throw new Error(`GetObject s3://${bucket}/${key} returned no body`);
        return JSON.parse(await response.Body.transformToString()) as T;
    } catch (error) {
        if (error instanceof NoSuchKey || (error as { name?: string }).name === "NoSuchKey") {
            throw invalidInput(`object s3://${bucket}/${key} does not exist`);
        }
        throw error;
    }
}

export function presignGet(s3: S3Client, bucket: string, key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: expiresInSeconds });
}

/** S3 answers a refused request with an XML error; its code and message are what a user needs to see. */
function s3ErrorSummary(status: number, body: string): string {
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    return [String(status), code, message && `(${message})`].filter(Boolean).join(" ");
}

/** No byte for this long fails a read with an ordinary, retryable error, well inside a handler's timeout. */
const READ_TIMEOUT_MS = 10_000;

/** A read sent on a kept-alive connection that the server had closed, e.g. while the container was frozen. */
class StaleConnectionError extends Error {}

/**
 * GETs a URL with Node's http/https client, the core module the SDK's request handler is built on (with its own
 * keep-alive pool here: the global agents). Not `fetch`: its separate stack (undici) cost about twice the CPU
 * per small read locally, and is one more body of code for each container to load and optimise. As the SDK
 * does, a read that met a stale kept-alive connection is sent once more on a fresh one; a GET repeats safely.
 */
async function getText(url: URL): Promise<{ status: number; body: string }> {
    try {
        return await getOnce(url);
    } catch (error) {
        if (!(error instanceof StaleConnectionError)) throw error;
        return getOnce(url);
    }
}

function getOnce(url: URL): Promise<{ status: number; body: string }> {
    const client = url.protocol === "https:" ? https : http;
    const counted = s3RequestCounter("GetObject");
    return new Promise((resolve, reject) => {
        const request = client.get(url, { timeout: READ_TIMEOUT_MS }, (response) => {
            counted();
            response.setEncoding("utf8");
            let body = "";
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
            response.on("error", reject);
        });
        request.on("timeout", () => request.destroy(new Error(`no answer within ${READ_TIMEOUT_MS} ms`)));
        request.on("error", (error: NodeJS.ErrnoException) => {
            const stale = request.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE");
            reject(stale ? new StaleConnectionError(error.message, { cause: error }) : error);
        });
    });
}

/** S3 answers that another attempt may get past: throttling, a server error, a request timeout. */
function isRetryableStatus(status: number): boolean {
    return status >= 500 || status === 408 || status === 429;
}

/**
 * A presigned URL is an http(s) URL; anything else is the input's fault, not worth a retry. The message leaves the
 * URL out: its query is a credential for the object until it expires.
 */
function presignedUrl(url: string, what: string): URL {
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        throw invalidInput(`${what}: the presigned URL is not a valid URL`);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
        throw invalidInput(`${what}: the presigned URL is not an http(s) URL`);
    }
    return parsed;
}

/**
 * Reads JSON through a presigned URL. A refused URL (expired, tampered, object gone) is the input's fault:
 * retrying the same URL cannot succeed, so it fails the step with what S3 said. Throttling, S3's server errors and
 * network errors are thrown as they are, so Lambda retries the invocation.
 */
export async function fetchJson<T>(url: string, what: string): Promise<T> {
    const { status, body } = await getText(presignedUrl(url, what));
    if (status < 200 || status > 299) {
        const refused = `${what}: the presigned URL was refused: ${s3ErrorSummary(status, body)}`;
        throw isRetryableStatus(status) ? new Error(refused) : invalidInput(refused);
    }
    try {
        return JSON.parse(body) as T;
    } catch {
        throw invalidInput(`${what}: the object behind the presigned URL is not JSON`);
    }
}
