/**
 * No credential is kept by the offline Step Functions service: presigned URL queries and task tokens are redacted
 * (local/core/redact.ts) in every input, output, cause and history event it answers with or writes to disk. Last, end
 * to end: a handler that fails after its retries sends Lambda's failure record (the event, URL and token included)
 * to the TaskFinisher, and none of it is kept.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DescribeExecutionCommand, ListExecutionsCommand } from "@aws-sdk/client-sfn";
import type { EventBridgeEvent } from "aws-lambda";
import type { ProcessSinglePostDetail } from "../systems/cookieReport/events";
import { createHandlerContext, withTaskFailure } from "../handlers/task";
import { REDACTED, redactTaskToken, redactText, redactUrl, redactValue } from "../protocol/redact";
import { StepFunctionsService, type PutEventsEntry, type TaskIntegrations } from "../local/services/stepfunctions/stepFunctions";
import { busEvent, replaceHandler } from "./support/faults";
import { TestRuntime, finished, historyOf, putStart, startTestRuntime } from "../local/testing/runtime";
import { cookieReport } from "../local/testing/stack";

const REGION = "us-east-1";
const ACCOUNT = "123456789012";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/sfn`;
const SIGNATURE = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PRESIGNED =
    "http://127.0.0.1:4566/results/run-1/basic-Ann%20Lee.json?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
    `&X-Amz-Credential=AKIALOCAL%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-Security-Token=FwoGZXIvYXdzEKb&X-Amz-SignedHeaders=host&X-Amz-Signature=${SIGNATURE}`;

/** Every place a credential could be left, as one text. */
function assertNoCredential(text: string, tokens: string[], where: string): void {
    for (const secret of ["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", SIGNATURE, "AKIALOCAL", ...tokens]) {
        assert.ok(!text.includes(secret), `${where} holds ${secret.slice(0, 20)}...: ${text.slice(Math.max(0, text.indexOf(secret) - 200), text.indexOf(secret) + 100)}`);
    }
}

function modeOf(file: string): number {
    return fs.statSync(file).mode & 0o777;
}

describe("redact", () => {
    it("replaces the whole query of a presigned URL and leaves other URLs alone", () => {
        assert.equal(redactUrl(PRESIGNED), `http://127.0.0.1:4566/results/run-1/basic-Ann%20Lee.json?${REDACTED}`);
        assert.equal(redactUrl("see https://example.com/a?b=1&c=2 there"), "see https://example.com/a?b=1&c=2 there");
        assert.equal(redactText(`failed: GET ${PRESIGNED} returned 403`), `failed: GET http://127.0.0.1:4566/results/run-1/basic-Ann%20Lee.json?${REDACTED} returned 403`);
        assert.equal(redactText("sig X-Amz-Signature%3Dabc%26next"), `sig X-Amz-Signature%3D${REDACTED}%26next`, "a percent-encoded URL");
    });

    it("replaces task tokens in members named like one, in nested JSON text, and those the caller recognises in free text", () => {
        const token = "A".repeat(64);
        const nested = JSON.stringify({ TaskToken: token, Output: JSON.stringify({ taskToken: token, url: PRESIGNED, kept: "yes" }) });
        const redacted = JSON.parse(redactText(nested)) as { TaskToken: string; Output: string };
        assert.equal(redacted.TaskToken, redactTaskToken(token));
        const inner = JSON.parse(redacted.Output) as Record<string, string>;
        assert.deepEqual(inner, { taskToken: redactTaskToken(token), url: redactUrl(PRESIGNED), kept: "yes" });
        assert.equal(redactTaskToken(redactTaskToken(token)), redactTaskToken(redactTaskToken(token)), "stable");
        assert.equal(redactText(`answered ${token}.`, { isTaskToken: (t) => t === token }), `answered ${redactTaskToken(token)}.`);
        assert.equal(redactText(`answered ${token}.`), `answered ${token}.`, "free text is left alone unless the token is known");
        const plain = '{"a": 1}';
        assert.equal(redactText(plain), plain, "text without a secret is returned as it is, formatting included");
    });

    it("redacts a percent-encoded presigned URL, in time linear in the text, and JSON too deep to walk as text", () => {
        const encoded = "see https%3A%2F%2Fh%2Fk%3FX-Amz-Credential%3DAKID%252F2026%26X-Amz-Signature%3Dabcdef end";
        assert.equal(redactText(encoded), `see https%3A%2F%2Fh%2Fk%3FX-Amz-Credential%3D${REDACTED}%26X-Amz-Signature%3D${REDACTED} end`);
        // With the query required, the URL pattern retried from every `http://`: 56 KB took 650 ms, 256 KB seconds.
        const started = process.hrtime.bigint();
        redactText(`x-amz- ${"http://".repeat(40_000)}`);
        assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 200, "280 KB of URL-like text in under 200 ms");
        const deep = `{"a":${"[".repeat(10_000)}"x?X-Amz-Signature=1"${"]".repeat(10_000)}}`;
        assert.ok(!redactText(deep).includes("X-Amz-Signature=1"), "redacted without a recursive walk");
    });

    it("keeps a member named __proto__ a member, and shares what it did not change", () => {
        const parsed = JSON.parse(`{"__proto__": {"taskToken": "x"}, "other": {"n": 1}}`) as Record<string, unknown>;
        const redacted = redactValue(parsed);
        assert.deepEqual(Object.keys(redacted), ["__proto__", "other"]);
        assert.equal(Object.getPrototypeOf(redacted), Object.prototype);
        assert.equal(redacted.other, parsed.other);
        assert.equal(JSON.stringify(redacted), `{"__proto__":{"taskToken":"${redactTaskToken("x")}"},"other":{"n":1}}`);
    });
});

describe("StepFunctionsService: no credential in what it keeps", function () {
    this.timeout(20_000);
    let dataDir: string;
    let service: StepFunctionsService;
    const sent: PutEventsEntry[] = [];

    beforeEach(() => {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sfn-credentials-"));
        sent.length = 0;
    });
    afterEach(async () => {
        await service?.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("redacts URLs and tokens in input, output, cause, history and the file, while the run itself sees them", async () => {
        let seenByHandler: unknown;
        const integrations: TaskIntegrations = {
            putEvents: async (entries) => {
                sent.push(...entries);
                return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `e-${i}` })) };
            },
            invokeFunction: async (_name, payload) => {
                seenByHandler = payload;
                const error = new Error(`could not read ${PRESIGNED}`);
                error.name = "ReadFailed";
                throw error;
            },
            dynamodb: async () => ({}),
        };
        service = new StepFunctionsService({ integrations, region: REGION, accountId: ACCOUNT, dataDir });
        const waiting = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:Waiting`;
        service.addStateMachine({
            arn: waiting,
            name: "Waiting",
            type: "STANDARD",
            roleArn: ROLE,
            definition: JSON.stringify({
                StartAt: "Ask",
                States: {
                    Ask: {
                        Type: "Task",
                        Resource: "arn:aws:states:::events:putEvents.waitForTaskToken",
                        Parameters: { Entries: [{ Source: "t", DetailType: "ask", EventBusName: "b", Detail: { "taskToken.$": "$$.Task.Token", "url.$": "$.url" } }] },
                        Next: "Read",
                    },
                    Read: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", Parameters: { FunctionName: "reader", "Payload.$": "$" }, End: true },
                },
            }),
        });
        const finisher = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:Finisher`;
        service.addStateMachine({
            arn: finisher,
            name: "Finisher",
            type: "EXPRESS",
            roleArn: ROLE,
            // The token under a member not named like one: recognised because this service issued it.
            definition: JSON.stringify({
                StartAt: "Send",
                States: { Send: { Type: "Task", Resource: "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess", Parameters: { "TaskToken.$": "$.token", "Output.$": "States.JsonToString($)" }, End: true } },
            }),
        });

        const { executionArn } = await service.startExecution({ stateMachineArn: waiting, name: "leaky", input: JSON.stringify({ url: PRESIGNED }) });
        for (let i = 0; i < 100 && sent.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        const token = String((JSON.parse(sent[0].Detail ?? "{}") as { taskToken: string }).taskToken);
        const answer = await service.startExecution({ stateMachineArn: finisher, input: JSON.stringify({ token, url: PRESIGNED }) });
        assert.equal((await service.waitForExecution(answer.executionArn, 5000)).status, "SUCCEEDED");
        const done = await service.waitForExecution(executionArn, 5000);

        assert.equal(done.status, "FAILED");
        assert.equal(done.error, "ReadFailed");
        assert.deepEqual((seenByHandler as { url: string }).url, PRESIGNED, "the run itself gets the URL as sent");
        assert.ok(String(sent[0].Detail).includes(SIGNATURE), "and so does the event it emits");
        const stopped = await service.startExecution({ stateMachineArn: waiting, name: "stopped", input: "{}" });
        await service.stopExecution({ executionArn: stopped.executionArn, error: "Stop", cause: `because of ${PRESIGNED}` });

        for (const arn of [executionArn, answer.executionArn, stopped.executionArn]) {
            const described = await service.describeExecution({ executionArn: arn });
            assertNoCredential(JSON.stringify(described), [token], `DescribeExecution of ${arn}`);
            const history = await service.getExecutionHistory({ executionArn: arn, maxResults: 1000 });
            assertNoCredential(JSON.stringify(history), [token], `GetExecutionHistory of ${arn}`);
        }
        const described = await service.describeExecution({ executionArn });
        assert.deepEqual(JSON.parse(described.input ?? "null"), { url: redactUrl(PRESIGNED) }, "the stored input keeps the URL's path");
        assert.match(described.cause ?? "", /could not read http:\/\/127\.0\.0\.1:4566\/results\/run-1\/basic-Ann%20Lee\.json\?REDACTED/);
        const history = JSON.stringify(await service.getExecutionHistory({ executionArn, maxResults: 1000 }));
        assert.ok(history.includes(redactTaskToken(token)), "the history names the token by its fingerprint");

        await service.close();
        const executionsDir = path.join(dataDir, "executions");
        const files = fs.readdirSync(executionsDir);
        assert.equal(files.length, 3);
        for (const file of files) assertNoCredential(fs.readFileSync(path.join(executionsDir, file), "utf8"), [token], file);
    });
});

/** postProcessSingle failing on every attempt with an error that quotes its URL and token (packaged like the real one). */
export function leakyPostProcessSingleFactory() {
    const ctx = createHandlerContext("postProcessSingle");
    return async (event: EventBridgeEvent<"processSinglePost", ProcessSinglePostDetail>): Promise<void> =>
        withTaskFailure(ctx, event, async (task) => {
            const error = new Error(`cannot read ${task.url} for ${task.taskToken}`);
            error.name = "LeakyFault";
            throw error;
        });
}

describe("offline runtime: a handler failing after its retries leaves no credential behind", function () {
    this.timeout(90_000);
    let runtime: TestRuntime;
    let dataDir: string;
    let closed = false;

    before(async () => {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "choreography-credentials-"));
        runtime = await startTestRuntime({ dataDir });
        await replaceHandler(runtime, cookieReport("postProcessSingle"), leakyPostProcessSingleFactory);
    });
    after(async () => {
        if (!closed) await runtime?.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("keeps the finisher's execution, its history and every file free of the URL's query and the token; files 0600, folders 0700", async () => {
        await putStart(runtime, JSON.stringify({ count: 1 }));
        const post = await busEvent(runtime, (e) => e["detail-type"] === "processSinglePost", 30_000);
        const url = String(post.detail.url);
        const token = String(post.detail.taskToken);
        assert.match(url, /X-Amz-Signature=/, "the handler got a presigned URL");
        const workflowRun = String(post.detail.executionId);
        const record = await busEvent(runtime, (e) => e.source === "lambda" && (e.detail.requestPayload as { detail?: { taskToken?: string } }).detail?.taskToken === token, 30_000);
        const response = record.detail.responsePayload as { errorType: string; errorMessage: string; trace?: string[] };
        assert.equal(response.errorType, "LeakyFault");
        // What AWS would forward as the task's cause (and keep in the workflow's history and log): scrubbed by the handler.
        assertNoCredential(JSON.stringify(response), [token, new URL(url).searchParams.get("X-Amz-Signature")!], "the handler's error in the failure record");

        const run = await finished(runtime, workflowRun);
        assert.equal(run.status, "FAILED");
        assert.equal(run.error, "LeakyFault");
        assert.match(run.cause ?? "", /^ProcessSingle failed after retries: cannot read http:\/\/\S+\?REDACTED for REDACTED-task-token$/, `the forwarded cause holds neither: ${run.cause}`);
        const signature = new URL(url).searchParams.get("X-Amz-Signature")!;
        const secrets = [token, signature];

        const finisherArn = String(runtime.stack.outputs.finisherArn);
        const listed = await runtime.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: finisherArn, maxResults: 1000 }));
        let handlerFailure: string | undefined;
        for (const item of listed.executions ?? []) {
            const described = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
            const { $metadata, ...answer } = described;
            assertNoCredential(JSON.stringify(answer), secrets, `DescribeExecution of ${item.executionArn}`);
            assertNoCredential(JSON.stringify(await historyOf(runtime, item.executionArn!)), secrets, `GetExecutionHistory of ${item.executionArn}`);
            if (JSON.parse(described.input ?? "{}").source === "lambda") handlerFailure = item.executionArn;
        }
        assert.ok(handlerFailure, "the finisher ran for the failure record");
        const failure = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn: handlerFailure }));
        const input = JSON.parse(failure.input ?? "{}") as { detail: { requestPayload: { detail: { url: string; taskToken: string } } } };
        assert.equal(input.detail.requestPayload.detail.url, redactUrl(url), "the record keeps the object's path");
        assert.equal(input.detail.requestPayload.detail.taskToken, redactTaskToken(token));
        assertNoCredential(JSON.stringify(await historyOf(runtime, workflowRun)), secrets, "the workflow's history");

        await runtime.close();
        closed = true;
        const sfnDir = path.join(dataDir, "stepfunctions");
        const executionsDir = path.join(sfnDir, "executions");
        assert.equal(modeOf(sfnDir), 0o700);
        assert.equal(modeOf(executionsDir), 0o700);
        const files = fs.readdirSync(executionsDir);
        assert.ok(files.length > 2, "the workflow's and the finisher's executions were saved");
        for (const file of files) {
            assert.equal(modeOf(path.join(executionsDir, file)), 0o600, file);
            assertNoCredential(fs.readFileSync(path.join(executionsDir, file), "utf8"), secrets, file);
        }
    });
});
