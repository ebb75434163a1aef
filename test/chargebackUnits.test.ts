/** The chargeback's pure parts: the webhook's checks, the report's sums and CSV, its settings. */
import { strict as assert } from "assert";
import type * as pulumi from "@pulumi/pulumi";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { DEFAULT_HOSTED_RATES, readSettings } from "../settings";
import type { WorkflowJobDetail } from "../systems/chargeback/model";
import { reportCsv, summarise } from "../systems/chargeback/reportApi";
import { handleWebhook, signBody, signatureMatches } from "../systems/chargeback/webhook";

const SECRET = "unit-secret";
const BODY = JSON.stringify({ action: "queued", workflow_job: { id: 1, run_id: 2, status: "queued", labels: [] }, repository: { full_name: "o/r", owner: { login: "o" } } });

function request(headers: Record<string, string>, body = BODY, isBase64Encoded = false): APIGatewayProxyEventV2 {
    return { version: "2.0", routeKey: "POST /github/webhook", rawPath: "/github/webhook", rawQueryString: "", headers, body, isBase64Encoded } as unknown as APIGatewayProxyEventV2;
}
const github = (event: string, body = BODY, contentType = "application/json") => ({
    "content-type": contentType,
    "x-github-event": event,
    "x-github-delivery": "d-1",
    "x-hub-signature-256": signBody(SECRET, body),
});

describe("chargeback: the webhook's checks", () => {
    const forwarded: WorkflowJobDetail[] = [];
    const deps = { secret: async () => SECRET, forward: async (detail: WorkflowJobDetail) => (forwarded.push(detail), "event-1") };
    beforeEach(() => (forwarded.length = 0));

    it("compares HMAC-SHA256 of the raw body: one changed byte, another secret, sha1= or no prefix all fail", () => {
        const body = Buffer.from(BODY);
        assert.equal(signatureMatches(SECRET, body, signBody(SECRET, body)), true);
        assert.equal(signatureMatches(SECRET, Buffer.from(BODY.replace("queued", "queueD")), signBody(SECRET, body)), false);
        assert.equal(signatureMatches(SECRET, body, signBody("other", body)), false);
        assert.equal(signatureMatches(SECRET, body, signBody(SECRET, body).replace("sha256=", "sha1=")), false);
        assert.equal(signatureMatches(SECRET, body, signBody(SECRET, body).slice("sha256=".length)), false);
        assert.equal(signatureMatches(SECRET, body, signBody(SECRET, body).slice(0, -2)), false, "a shorter digest");
        assert.equal(signatureMatches("", body, signBody("", body)), false, "an empty secret never matches");
    });

    it("forwards a JSON or form-encoded workflow_job with its delivery id, and a base64 body as its bytes", async () => {
        assert.equal((await handleWebhook(request(github("workflow_job")), deps)).statusCode, 202);
        const form = `payload=${encodeURIComponent(BODY)}`;
        assert.equal((await handleWebhook(request(github("workflow_job", form, "application/x-www-form-urlencoded"), form), deps)).statusCode, 202);
        assert.equal((await handleWebhook(request(github("workflow_job"), Buffer.from(BODY).toString("base64"), true), deps)).statusCode, 202);
        assert.equal(forwarded.length, 3);
        assert.deepEqual(forwarded[0], { ...JSON.parse(BODY), delivery: "d-1" });
        assert.deepEqual(forwarded[1], forwarded[0]);
    });

    it("answers 500 and forwards nothing when the secret cannot be read; 400 for a signed body that is not JSON", async () => {
        const unreadable = { ...deps, secret: async () => Promise.reject(new Error("ResourceNotFoundException")) };
        assert.equal((await handleWebhook(request(github("workflow_job")), unreadable)).statusCode, 500);
        assert.equal((await handleWebhook(request(github("workflow_job", "not json"), "not json"), deps)).statusCode, 400);
        const { "x-github-delivery": _d, ...noDelivery } = github("workflow_job");
        assert.equal((await handleWebhook(request(noDelivery), deps)).statusCode, 400);
        assert.equal(forwarded.length, 0);
    });
});

describe("chargeback: the report's sums", () => {
    it("sums per organisation and repository at full precision, counts unknown prices, and writes RFC 4180 CSV", () => {
        const job = (organisation: string, repository: string, billedMinutes: number, cost: number, priceSource = "github-rate-table") => ({ jobId: String(Math.random()), organisation, repository, billedMinutes, cost, priceSource });
        const report = summarise("2025-06", [job("b", "b/x", 1, 0.1), job("a", "a/y", 2, 0.2), job("b", "b/x", 3, 0.2), job("a", 'a/"q,1"', 1.5, 0, "price_unknown")]);
        assert.deepEqual(report.rows.map((r) => [r.repository, r.jobs, r.minutes, r.cost, r.priceUnknownJobs]), [
            ['a/"q,1"', 1, 1.5, 0, 1],
            ["a/y", 1, 2, 0.2, 0],
            ["b/x", 2, 4, 0.3, 0],
        ]);
        assert.deepEqual(report.total, { jobs: 4, minutes: 7.5, cost: 0.5, priceUnknownJobs: 1 });
        assert.equal(reportCsv(report).split("\r\n")[1], 'a,"a/""q,1""",1,1.5,0,1');
        assert.deepEqual(summarise("2025-07", []).total, { jobs: 0, minutes: 0, cost: 0, priceUnknownJobs: 0 });
    });
});

describe("chargeback: settings", () => {
    const config = (values: Record<string, string>) =>
        ({ get: (key: string) => values[key], getBoolean: (key: string) => (values[key] === undefined ? undefined : values[key] === "true"), getSecret: () => undefined }) as unknown as pulumi.Config;
    it("takes GitHub's rates by default and a stack's own table, and refuses bad values naming the key", () => {
        assert.deepEqual(readSettings(["chargeback"], config({})).chargeback.hostedRates, DEFAULT_HOSTED_RATES);
        assert.deepEqual(readSettings(["chargeback"], config({ chargebackHostedRates: '{"big-runner": 0.064}' })).chargeback.hostedRates, { "big-runner": 0.064 });
        assert.throws(() => readSettings(["chargeback"], config({ chargebackHostedRates: '{"x": "cheap"}' })), /chargebackHostedRates .* "x" is "cheap"/);
        assert.throws(() => readSettings(["chargeback"], config({ chargebackHostedRates: "[1]" })), /chargebackHostedRates must map runner labels/);
        assert.throws(() => readSettings(["chargeback"], config({ chargebackEventSource: "aws.github" })), /chargebackEventSource/);
        assert.throws(() => readSettings(["chargeback"], config({ chargebackRunnerNameTag: "aws:name" })), /chargebackRunnerNameTag/);
        assert.equal(readSettings(["chargeback"], config({})).chargeback.webhookSecret, undefined);
    });
});
