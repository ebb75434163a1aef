/** Starting the offline runtime in a test, and talking to it over HTTP with the AWS SDK. */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
    DescribeExecutionCommand,
    DescribeExecutionCommandOutput,
    ExecutionListItem,
    GetExecutionHistoryCommand,
    HistoryEvent,
    ListExecutionsCommand,
    SFNClient,
} from "@aws-sdk/client-sfn";
import { waitForEvent } from "../../protocol/asl";
import { BusEvent } from "../services/events/eventBridge";
import { LOCAL_CREDENTIALS, Runtime, RuntimeOptions, startRuntime } from "../core/runtime";
import { devStack } from "./stack";
import { cookieReport } from "./stack";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

export interface Clients {
    events: EventBridgeClient;
    sfn: SFNClient;
    s3: S3Client;
}

/** What driving a runtime over HTTP needs: its stack's outputs and clients of its endpoint (tests and the benchmark). */
export interface DrivenRuntime {
    stack: Runtime["stack"];
    clients: Clients;
}

export interface TestRuntime extends Runtime, DrivenRuntime {
    /** Every event accepted on any bus since start. */
    events: BusEvent[];
}

/** SDK clients of the runtime's endpoint, signing with the runtime's own key. */
export function clientsFor(runtime: Runtime): Clients {
    const config = { endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS };
    return { events: new EventBridgeClient(config), sfn: new SFNClient(config), s3: new S3Client(config) };
}

/** A runtime on a free port with the dev stack; quick retries so fault tests finish in seconds. */
export async function startTestRuntime(options: RuntimeOptions = {}): Promise<TestRuntime> {
    const runtime = await startRuntime({
        port: 0,
        retryDelaysMs: [50, 100],
        ...options,
        evaluated: options.evaluated ?? (options.config ? undefined : await devStack()),
    });
    const events: BusEvent[] = [];
    runtime.services.events.service.onEvent((event) => events.push(event));
    return { ...runtime, events, clients: clientsFor(runtime) };
}

/** Puts a `start` event the way the seed command does, with the given detail text. */
export async function putStart(runtime: TestRuntime, detail: string): Promise<void> {
    const response = await runtime.clients.events.send(
        new PutEventsCommand({ Entries: [{ Source: "project", DetailType: "start", EventBusName: "default", Detail: detail }] }),
    );
    if (response.FailedEntryCount) throw new Error(`start refused: ${JSON.stringify(response.Entries)}`);
}

/** An execution's whole history, all pages; `includeExecutionData: false` leaves out inputs and outputs. */
export async function historyOf(runtime: DrivenRuntime, executionArn: string, includeExecutionData = true): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
        const page = await runtime.clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken, includeExecutionData }));
        events.push(...(page.events ?? []));
        nextToken = page.nextToken;
    } while (nextToken);
    return events;
}

/** Every execution of the workflow, all pages of ListExecutions. */
export async function listWorkflowExecutions(runtime: DrivenRuntime): Promise<ExecutionListItem[]> {
    const items: ExecutionListItem[] = [];
    let nextToken: string | undefined;
    do {
        const page = await runtime.clients.sfn.send(
            new ListExecutionsCommand({ stateMachineArn: String(runtime.stack.outputs.workflowArn), maxResults: 1000, nextToken }),
        );
        items.push(...(page.executions ?? []));
        nextToken = page.nextToken;
    } while (nextToken);
    return items;
}

/** Waits over HTTP until the workflow has `count` executions more than `known`, adds them to `known` and returns their ARNs. */
export async function newExecutions(runtime: DrivenRuntime, known: Set<string>, count = 1, timeoutMs = 20_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const fresh = (await listWorkflowExecutions(runtime)).map((e) => e.executionArn!).filter((arn) => !known.has(arn));
        if (fresh.length >= count) {
            fresh.forEach((arn) => known.add(arn));
            return fresh;
        }
        if (Date.now() > deadline) throw new Error(`expected ${count} new executions, saw ${fresh.length}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

/** Polls DescribeExecution over HTTP until the execution is no longer RUNNING. */
export async function finished(runtime: TestRuntime, executionArn: string, timeoutMs = 30_000): Promise<DescribeExecutionCommandOutput> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const execution = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
        if (execution.status !== "RUNNING") return execution;
        if (Date.now() > deadline) throw new Error(`${executionArn} still RUNNING after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

export async function readJson<T>(runtime: DrivenRuntime, key: string): Promise<T> {
    const object = await runtime.clients.s3.send(new GetObjectCommand({ Bucket: String(runtime.stack.outputs.bucketName), Key: key }));
    return JSON.parse(await object.Body!.transformToString()) as T;
}

export function executionName(executionArn: string): string {
    return executionArn.slice(executionArn.lastIndexOf(":") + 1);
}

/**
 * A real task token: a one-step STANDARD machine added to the runtime emits `detailType` and waits, and the
 * token is read off the bus. Handlers invoked with it answer a real waiting task.
 *
 * `asWorkflow` registers that machine under the workflow's ARN, replacing the workflow in this runtime: the
 * roles that may answer or heartbeat the workflow's tasks (the TaskFinisher's, postProcessAll's) then may
 * answer this one too, as the local IAM checks require.
 */
export async function waitingTask(
    runtime: TestRuntime,
    step: string,
    { timeoutSeconds = 30, asWorkflow = false }: { timeoutSeconds?: number; asWorkflow?: boolean } = {},
): Promise<{ taskToken: string; executionArn: string; executionName: string }> {
    const name = asWorkflow ? cookieReport("workflow") : `waiting-${step}-${Math.random().toString(36).slice(2, 8)}`;
    const arn = asWorkflow ? String(runtime.stack.outputs.workflowArn) : `arn:aws:states:${runtime.stack.region}:${runtime.stack.accountId}:stateMachine:${name}`;
    const detailType = `test-${name}-${Math.random().toString(36).slice(2, 8)}`;
    runtime.services.states.service.addStateMachine({
        arn,
        name,
        type: "STANDARD",
        // The workflow's role: it may put events on the default bus, which the local IAM check requires.
        roleArn: String(runtime.stack.resources.find((r) => r.type === "aws:iam/role:Role" && r.name === cookieReport("workflow"))!.state.arn),
        definition: JSON.stringify({
            StartAt: step,
            States: {
                [step]: {
                    ...waitForEvent({ step, busName: "default", source: "test", detailType, detail: {}, timeoutSeconds }),
                    End: true,
                },
            },
        }),
    });
    const { executionArn } = await runtime.services.states.service.startExecution({ stateMachineArn: arn, input: "{}" });
    const deadline = Date.now() + 5000;
    for (;;) {
        const event = runtime.events.find((e) => e["detail-type"] === detailType);
        if (event) return { taskToken: String(event.detail.taskToken), executionArn, executionName: executionName(executionArn) };
        if (Date.now() > deadline) throw new Error(`no ${detailType} event`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

/** Polls `probe` every 50 ms until it gives a value; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const found = await probe();
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

/** The environment the real AWS CLI is run with against a runtime: its own key, its region, no pager, no IMDS lookup. */
export function awsCliEnvironment(runtime: Runtime): NodeJS.ProcessEnv {
    return {
        ...process.env,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_DEFAULT_REGION: runtime.stack.region,
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_PAGER: "",
    };
}
