/**
 * Step Functions conformance: every case in test/conformance/stepFunctions/*.json, each taken from the AWS page it
 * cites, run through the runtime's endpoint with the real SDK: CreateStateMachine (or its refusal), StartExecution
 * named `conformance`, DescribeExecution until it ends. Task states call the Lambda ARN of the suite's README, served
 * by a Task integration of this runner that answers each call from the case's `taskResults`, in call order.
 *
 * The cases the runtime does not agree with yet are listed, with what it does instead, in `stepFunctions.known.json`:
 * the test fails on any disagreement not listed there, and on any listed case that now agrees (so the list, and the
 * figure printed, stay true).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { TaskFailure, type IntegrationCall, type TaskIntegration } from "../../local/core/registry";
import { LOCAL_CREDENTIALS, Runtime, startRuntime } from "../../local/core/runtime";
import { eachLimited } from "../../local/testing/load";
import { emptyStack, loadCases } from "./support";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

type Expectation =
    | { status: "SUCCEEDED"; output: unknown }
    | { status: "FAILED" | "TIMED_OUT" | "ABORTED"; error?: string | null; cause?: string | null }
    | { refused: string };

interface ConformanceCase {
    name: string;
    source: string;
    definition: unknown;
    input?: unknown;
    taskResults?: Record<string, unknown>;
    expect: Expectation;
}

const CASES_DIR = path.join(__dirname, "stepFunctions");
const KNOWN_FILE = path.join(__dirname, "stepFunctions.known.json");
const TASK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:Conformance";
const ACCOUNT = "123456789012";
const REGION = "us-east-1";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/conformance`;

/** What each case's Task states answer, by execution and state, in call order. */
class ScriptedTasks implements TaskIntegration {
    readonly patterns = ["", ".waitForTaskToken"] as const;
    readonly errorService = "Lambda";
    private readonly scripts = new Map<string, Record<string, unknown>>();
    private readonly calls = new Map<string, number>();

    script(stateMachineArn: string, results: Record<string, unknown> | undefined): void {
        this.scripts.set(stateMachineArn, results ?? {});
    }
    matches(resource: string): boolean {
        return resource === TASK_ARN;
    }
    permissions(): Array<{ action: string; resource: string }> {
        return [];
    }
    async run(call: IntegrationCall): Promise<unknown> {
        const results = this.scripts.get(call.stateMachineArn) ?? {};
        if (!(call.stateName in results)) throw new TaskFailure("Conformance.NoResult", `the case gives no result for ${call.stateName}`);
        const key = `${call.executionArn}/${call.stateName}`;
        const index = this.calls.get(key) ?? 0;
        this.calls.set(key, index + 1);
        const scripted = results[call.stateName];
        const result = Array.isArray(scripted) ? scripted[index] : scripted;
        if (Array.isArray(scripted) && index >= scripted.length) throw new TaskFailure("Conformance.NoResult", `${call.stateName} called more often than the case says`);
        if (typeof result === "object" && result !== null && "error" in result && typeof (result as { error: unknown }).error === "string") {
            const { error, cause } = result as { error: string; cause?: string };
            throw new TaskFailure(error, cause ?? "");
        }
        return result;
    }
}

type Outcome = { status: string; output?: unknown; error?: string | null; cause?: string | null } | { refused: string; message?: string };

async function outcome(client: SFNClient, tasks: ScriptedTasks, c: ConformanceCase, index: number): Promise<Outcome> {
    let stateMachineArn: string;
    try {
        stateMachineArn = (await client.send(new CreateStateMachineCommand({ name: `conformance-${index}`, definition: JSON.stringify(c.definition), roleArn: ROLE, type: "STANDARD" }))).stateMachineArn!;
    } catch (error) {
        const { name, message } = error as Error;
        return { refused: name, message };
    }
    tasks.script(stateMachineArn, c.taskResults);
    const { executionArn } = await client.send(new StartExecutionCommand({ stateMachineArn, name: "conformance", input: JSON.stringify(c.input ?? {}) }));
    const deadline = Date.now() + 30_000;
    for (;;) {
        const described = await client.send(new DescribeExecutionCommand({ executionArn }));
        if (described.status !== "RUNNING" && described.status !== "PENDING_REDRIVE") {
            if (described.status === "SUCCEEDED") return { status: "SUCCEEDED", output: described.output === undefined ? undefined : JSON.parse(described.output) };
            return { status: described.status!, error: described.error ?? null, cause: described.cause ?? null };
        }
        if (Date.now() > deadline) return { status: "STILL RUNNING after 30 s" };
        await new Promise((resolve) => setTimeout(resolve, 25));
    }
}

function agrees(expected: Expectation, actual: Outcome): boolean {
    if ("refused" in expected) return "refused" in actual && actual.refused === expected.refused;
    if ("refused" in actual || actual.status !== expected.status) return false;
    if (expected.status === "SUCCEEDED") return JSON.stringify(canonical(actual.output)) === JSON.stringify(canonical(expected.output));
    if (expected.error !== undefined && actual.error !== expected.error) return false;
    return expected.cause === undefined || actual.cause === expected.cause;
}

/** JSON with object keys sorted: output equality is of values, not of key order. */
function canonical(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(canonical);
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
    return value;
}

describe("Step Functions conformance (through the endpoint)", function () {
    this.timeout(300_000);
    const cases = loadCases<ConformanceCase>(CASES_DIR);
    const known = JSON.parse(fs.readFileSync(KNOWN_FILE, "utf8")) as Record<string, string>;
    let runtime: Runtime;
    let client: SFNClient;
    const tasks = new ScriptedTasks();

    before(async () => {
        runtime = await startRuntime({ port: 0, evaluated: emptyStack(ACCOUNT, REGION), log: () => undefined });
        // The runner's Task integration is consulted before every service's own (Task resources resolve at creation).
        runtime.services.lambda.integrations!.unshift(tasks);
        client = new SFNClient({ endpoint: runtime.url, region: REGION, credentials: LOCAL_CREDENTIALS });
    });
    after(async () => {
        client?.destroy();
        await runtime?.close();
    });

    it("every case agrees with the documentation it cites, but those listed as known disagreements", async () => {
        const disagreeing = new Map<string, string>();
        await eachLimited(cases.map((c, index) => ({ c, index })), 16, async ({ c, index }) => {
            const actual = await outcome(client, tasks, c, index);
            if (!agrees(c.expect, actual)) disagreeing.set(c.name, `expected ${JSON.stringify(c.expect)}, got ${JSON.stringify(actual)}`);
        });
        const agreeing = cases.length - disagreeing.size;
        const byFile = new Map<string, [number, number]>();
        for (const c of cases) {
            const [ok, all] = byFile.get(c.file) ?? [0, 0];
            byFile.set(c.file, [ok + (disagreeing.has(c.name) ? 0 : 1), all + 1]);
        }
        console.log(`      Step Functions conformance: ${agreeing}/${cases.length} cases agree (${((100 * agreeing) / cases.length).toFixed(1)}%)`);
        console.log(`        ${[...byFile].map(([file, [ok, all]]) => `${file.replace(".json", "")} ${ok}/${all}`).join(", ")}`);
        const unexpected = [...disagreeing].filter(([name]) => !(name in known)).map(([name, why]) => `${name}: ${why}`);
        const fixed = Object.keys(known).filter((name) => !disagreeing.has(name));
        if (process.env.CONFORMANCE_WRITE_KNOWN) fs.writeFileSync(KNOWN_FILE, `${JSON.stringify(Object.fromEntries([...disagreeing].sort()), null, 2)}\n`);
        assert.deepEqual({ unexpected, fixed }, { unexpected: [], fixed: [] }, "update stepFunctions.known.json (CONFORMANCE_WRITE_KNOWN=1 rewrites it)");
    });
});
