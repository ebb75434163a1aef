/**
 * `POST /github/webhook`, as a function of an API Gateway payload-2.0 event (the Lambda and SDK setup is in
 * handlers/webhook.ts). GitHub signs each delivery with HMAC-SHA256 of its raw body under the webhook's secret
 * (`X-Hub-Signature-256: sha256=<hex>`); API Gateway cannot check that (its authorizers know SigV4, JWTs and
 * Lambda authorizers, not GitHub's HMAC), so the route has no authorization and this function is the check:
 *
 *   no or bad signature        401, nothing put on the bus
 *   `ping`                     200 `pong` (GitHub sends it when the hook is created)
 *   `workflow_job`             the payload put on the bus (detail-type `workflow_job`, `delivery` = X-GitHub-Delivery), 202
 *   any other event type       202, ignored
 *
 * GitHub gives up after 10 s: the function only verifies and forwards; the state machine does the rest.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { WORKFLOW_JOB, type WorkflowJobDetail, type WorkflowJobPayload } from "./model";

export interface WebhookDeps {
    /** The webhook secret (read once per container by the handler); rejects when it cannot be read. */
    secret(): Promise<string>;
    /** Puts a `workflow_job` delivery on the bus; resolves to the event's id. */
    forward(detail: WorkflowJobDetail): Promise<string>;
    log?(message: string, fields: Record<string, unknown>): void;
}

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

/** Whether `header` is `sha256=` and the HMAC-SHA256 of `body` under `secret`, compared in constant time. */
export function signatureMatches(secret: string, body: Buffer, header: string | undefined): boolean {
    const given = header === undefined ? undefined : SIGNATURE.exec(header.trim())?.[1];
    if (!given || secret === "") return false;
    const expected = createHmac("sha256", secret).update(body).digest();
    const actual = Buffer.from(given, "hex");
    return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** `sha256=<hex>`: what GitHub sends in X-Hub-Signature-256 for `body` (the demo and tests sign with it). */
export function signBody(secret: string, body: string | Buffer): string {
    return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

const answer = (statusCode: number, body: Record<string, unknown>): APIGatewayProxyStructuredResultV2 => ({
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
});

/** The body's bytes exactly as GitHub sent them: HMAC is over those, not over a re-serialised JSON. */
function rawBody(event: APIGatewayProxyEventV2): Buffer {
    if (event.body === undefined) return Buffer.alloc(0);
    return event.isBase64Encoded ? Buffer.from(event.body, "base64") : Buffer.from(event.body, "utf8");
}

/** Payload 2.0 lowercases header names; a test or another proxy may not. */
function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
    const headers = event.headers ?? {};
    return headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

/** The payload of a JSON delivery, or of a form-encoded one (`payload=<json>`, GitHub's other content type). */
function parsePayload(contentType: string | undefined, body: Buffer): unknown {
    const type = (contentType ?? "application/json").split(";")[0].trim().toLowerCase();
    const text = body.toString("utf8");
    if (type === "application/x-www-form-urlencoded") {
        const payload = new URLSearchParams(text).get("payload");
        if (payload === null) throw new Error("a form-encoded delivery has no payload field");
        return JSON.parse(payload);
    }
    if (type !== "application/json") throw new Error(`content type ${type} is neither application/json nor application/x-www-form-urlencoded`);
    return JSON.parse(text);
}

export async function handleWebhook(event: APIGatewayProxyEventV2, deps: WebhookDeps): Promise<APIGatewayProxyStructuredResultV2> {
    const log = deps.log ?? (() => undefined);
    const delivery = header(event, "x-github-delivery");
    const eventType = header(event, "x-github-event");
    const signature = header(event, "x-hub-signature-256");
    if (signature === undefined) {
        log("delivery refused: no signature", { delivery, eventType });
        return answer(401, { message: "X-Hub-Signature-256 is required: set a secret on the webhook (GitHub signs deliveries only then)" });
    }
    let secret: string;
    try {
        secret = await deps.secret();
    } catch (error) {
        // The stack's fault, not GitHub's: GitHub shows the delivery failed and may redeliver it once this is fixed.
        log("the webhook secret could not be read", { delivery, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
        return answer(500, { message: "the webhook secret is not available" });
    }
    const body = rawBody(event);
    if (!signatureMatches(secret, body, signature)) {
        log("delivery refused: signature does not match", { delivery, eventType });
        return answer(401, { message: "X-Hub-Signature-256 does not match the body under the webhook's secret" });
    }
    if (!delivery) return answer(400, { message: "X-GitHub-Delivery is required" });
    if (!eventType) return answer(400, { message: "X-GitHub-Event is required" });

    let payload: unknown;
    try {
        payload = parsePayload(header(event, "content-type"), body);
    } catch (error) {
        return answer(400, { message: `the body is not a webhook payload: ${error instanceof Error ? error.message : String(error)}` });
    }
    if (eventType === "ping") {
        const zen = (payload as { zen?: unknown }).zen;
        return answer(200, { message: "pong", ...(typeof zen === "string" ? { zen } : {}) });
    }
    if (eventType !== WORKFLOW_JOB) return answer(202, { message: `ignored: this hook records workflow_job events, not ${eventType}` });
    if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return answer(400, { message: "a workflow_job payload must be a JSON object" });
    // Forwarded as it came: the state machine checks its members and fails the execution naming a missing one.
    const eventId = await deps.forward({ ...(payload as WorkflowJobPayload), delivery });
    log("delivery forwarded", { delivery, eventId });
    return answer(202, { message: "accepted", delivery, eventId });
}
