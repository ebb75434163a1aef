/**
 * Intermediate results live in S3 under the execution's name and are handed between steps as presigned URLs,
 * so a step that only needs to read one object holds no S3 permission at all.
 */
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as http from "node:http";
import * as https from "node:https";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { SDK_CLIENT_CONFIG } from "./task";
import { invalidInput, requireKeySegment } from "./validation";

export type PersonFileKind = "basic" | "cookies";

/** `<execution name>/<kind>-<name>.json`; both segments are checked so no key leaves the execution's prefix. */
export function personKey(executionName: string, kind: PersonFileKind, name: string): string {
    return `${requireKeySegment("executionName", executionName)}/${kind}-${requireKeySegment("name", name)}.json`;
}

/** The run's report sorts first in its prefix. */
export function reportKey(executionName: string): string {
    return `${requireKeySegment("executionName", executionName)}/0-cookies.json`;
}

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
 */
export function resultsStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ResultsStore {
    return { s3: new S3Client(SDK_CLIENT_CONFIG), bucket: bucketFromEnv(env) };
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

/**
 * GETs a URL with Node's own HTTP client, the transport the SDK already uses (kept alive by the global agents).
 * Not `fetch`: its separate stack (undici) costs about twice the CPU per small read and is one more body of code
 * for each container to load and optimise.
 */
function getText(url: URL): Promise<{ status: number; body: string }> {
    const client = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
        client
            .get(url, (response) => {
                response.setEncoding("utf8");
                let body = "";
                response.on("data", (chunk: string) => (body += chunk));
                response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
                response.on("error", reject);
            })
            .on("error", reject);
    });
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
        throw invalidInput(`${what}: the presigned URL has protocol ${parsed.protocol}, not https: or http:`);
    }
    return parsed;
}

/**
 * Reads JSON through a presigned URL. A refused URL (expired, tampered, object gone) is the input's fault:
 * retrying the same URL cannot succeed, so it fails the step with what S3 said.
 */
export async function fetchJson<T>(url: string, what: string): Promise<T> {
    const { status, body } = await getText(presignedUrl(url, what));
    if (status < 200 || status > 299) {
        throw invalidInput(`${what}: the presigned URL was refused: ${s3ErrorSummary(status, body)}`);
    }
    try {
        return JSON.parse(body) as T;
    } catch {
        throw invalidInput(`${what}: the object behind the presigned URL is not JSON`);
    }
}
