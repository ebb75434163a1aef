/** Helpers for the fault and bad-input suites: swapping a handler's code, and reading what a run left behind. */
import { PutEventsCommand, PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, HistoryEvent, ListExecutionsCommand } from "@aws-sdk/client-sfn";
import { buildClosureArchive } from "../../components/closureArchive";
import { waitForEvent } from "../../protocol/asl";
import { BusEvent } from "../../local/services/events/eventBridge";
import { FunctionSpec } from "../../local/services/lambda/lambda";
import { redactTaskToken } from "../../protocol/redact";
import { TestRuntime, executionName, newExecutions, putStart } from "../../local/testing/runtime";
import { one } from "../../local/testing/stack";

/**
 * Replaces a served function's code with `factory`, packaged as the stack packages its handlers, keeping the
 * function's environment, role and destination. `overrides` change the spec (a shorter timeout, say).
 */
export async function replaceHandler(
    runtime: TestRuntime,
    name: string,
    factory: () => unknown,
    overrides: Partial<Pick<FunctionSpec, "timeoutSeconds">> = {},
): Promise<void> {
    const spec = runtime.services.lambda.functions.get(name);
    if (!spec) throw new Error(`no function ${name} is served`);
    const { files } = await buildClosureArchive(factory, { bundleAwsSdk: false });
    await runtime.services.lambda.service.addFunction({ ...spec, ...overrides, files });
}

/** Puts a `start` event with this detail and returns the execution it started (no other start may be in flight). */
export async function startRun(runtime: TestRuntime, known: Set<string>, detail: unknown): Promise<string> {
    await putStart(runtime, JSON.stringify(detail));
    const [arn] = await newExecutions(runtime, known);
    return arn;
}

/** The task failure of a history: its event (TaskFailed / TaskTimedOut) and the Task state it happened in. */
export interface TaskFailure {
    type: string;
    stateName: string;
    error?: string;
    cause?: string;
    /** From the task's TaskScheduled event to its failure. */
    waitedMs: number;
}

/**
 * Every failed or timed-out task of a history, with the Task state each belongs to: the latest TaskStateEntered
 * before it (unambiguous for the one-person runs the fault tests use).
 */
export function taskFailures(events: HistoryEvent[]): TaskFailure[] {
    const failures: TaskFailure[] = [];
    let state = "";
    let scheduledAt = Number.NaN;
    for (const event of events) {
        if (event.type === "TaskStateEntered") state = event.stateEnteredEventDetails?.name ?? "";
        if (event.type === "TaskScheduled") scheduledAt = event.timestamp?.getTime() ?? Number.NaN;
        const details = event.type === "TaskFailed" ? event.taskFailedEventDetails : event.type === "TaskTimedOut" ? event.taskTimedOutEventDetails : undefined;
        if (details) {
            const waitedMs = (event.timestamp?.getTime() ?? Number.NaN) - scheduledAt;
            failures.push({ type: event.type!, stateName: state, error: details.error, cause: details.cause, waitedMs });
        }
    }
    return failures;
}

/** Waits until the bus has carried an event matching `match`, and returns it. */
export async function busEvent(runtime: TestRuntime, match: (event: BusEvent) => boolean, timeoutMs = 10_000): Promise<BusEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const found = runtime.events.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error("no matching event on the bus");
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

/** The task event a step of an execution emitted (`getMultiple`, `processSingle` ...), with its token. */
export function taskEvent(runtime: TestRuntime, detailType: string, executionArn: string, name?: string): Promise<BusEvent> {
    return busEvent(runtime, (e) => e["detail-type"] === detailType && e.detail.executionId === executionArn && (name === undefined || e.detail.name === name));
}

/** Puts `taskFinished` entries (as a handler would) and fails on any refused entry. */
export async function putTaskFinished(runtime: TestRuntime, details: object[]): Promise<void> {
    const entries: PutEventsRequestEntry[] = details.map((detail) => ({
        Source: "project",
        DetailType: "taskFinished",
        EventBusName: "default",
        Detail: JSON.stringify(detail),
    }));
    const response = await runtime.clients.events.send(new PutEventsCommand({ Entries: entries }));
    if (response.FailedEntryCount) throw new Error(`taskFinished refused: ${JSON.stringify(response.Entries)}`);
}

export interface FinisherRun {
    executionArn: string;
    status?: string;
    input: { detail: { taskToken?: string } };
    output?: { tokenNotWaiting?: { Error?: string; Cause?: string } };
}

/** The TaskFinisher's executions that answered `taskToken`, once `count` of them have ended, over HTTP. */
export async function finisherRunsFor(runtime: TestRuntime, taskToken: string, count: number, timeoutMs = 10_000): Promise<FinisherRun[]> {
    const finisherArn = String(runtime.stack.outputs.finisherArn);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const listed = await runtime.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: finisherArn, maxResults: 1000 }));
        const runs: FinisherRun[] = [];
        for (const item of listed.executions ?? []) {
            if (item.status === "RUNNING") continue;
            const described = await runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
            const input = JSON.parse(described.input ?? "{}") as FinisherRun["input"];
            // The runtime stores a token as its fingerprint (local/core/redact.ts).
            if (input.detail?.taskToken !== redactTaskToken(taskToken)) continue;
            runs.push({ executionArn: item.executionArn!, status: described.status, input, output: described.output ? (JSON.parse(described.output) as FinisherRun["output"]) : undefined });
        }
        if (runs.length >= count) return runs;
        if (Date.now() > deadline) throw new Error(`expected ${count} finished TaskFinisher executions for the token, saw ${runs.length}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

/** Every key in the results bucket, over HTTP. */
export async function bucketKeys(runtime: TestRuntime): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
        const page = await runtime.clients.s3.send(new ListObjectsV2Command({ Bucket: String(runtime.stack.outputs.bucketName), ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
}


