/**
 * EventBridge conformance: every case in test/conformance/eventBridge/*.json, each taken from the AWS page (or the
 * event-ruler README) it cites, run through the runtime's endpoint with the real SDK's TestEventPatternCommand.
 * A case expects a match result, or an error code (and AWS's message only where AWS documents it).
 */
import { strict as assert } from "assert";
import * as path from "path";
import { EventBridgeClient, TestEventPatternCommand } from "@aws-sdk/client-eventbridge";
import { LOCAL_CREDENTIALS, Runtime, startRuntime } from "../../local/core/runtime";
import { emptyStack, loadCases } from "./support";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

type Expectation = { matches: boolean } | { error: "InvalidEventPatternException" | "ValidationException"; message?: string };

interface ConformanceCase {
    name: string;
    source: string;
    /** A pattern object, or JSON text when the case is about text that is not a valid pattern object. */
    pattern: unknown;
    /** A full event object, or JSON text when the case is about text that is not a valid event. */
    event: unknown;
    expect: Expectation;
}

const CASES_DIR = path.join(__dirname, "eventBridge");

const asText = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

/** What the endpoint answered, in the vocabulary of the cases. */
async function outcome(client: EventBridgeClient, c: ConformanceCase): Promise<Expectation> {
    try {
        const answer = await client.send(new TestEventPatternCommand({ EventPattern: asText(c.pattern), Event: asText(c.event) }));
        return { matches: answer.Result === true };
    } catch (error) {
        const { name, message } = error as { name: string; message: string };
        return { error: name as "ValidationException", message };
    }
}

function agrees(expected: Expectation, actual: Expectation): boolean {
    if ("matches" in expected) return "matches" in actual && actual.matches === expected.matches;
    if (!("error" in actual) || actual.error !== expected.error) return false;
    return expected.message === undefined || actual.message === expected.message;
}

describe("EventBridge conformance (TestEventPattern through the endpoint)", function () {
    this.timeout(120_000);
    const cases = loadCases<ConformanceCase>(CASES_DIR);
    let runtime: Runtime;
    let client: EventBridgeClient;
    const disagreements: string[] = [];

    before(async () => {
        const stack = emptyStack("000000000000");
        runtime = await startRuntime({ port: 0, evaluated: stack, log: () => undefined });
        client = new EventBridgeClient({ endpoint: runtime.url, region: stack.region, credentials: LOCAL_CREDENTIALS });
    });
    after(async () => {
        client?.destroy();
        await runtime?.close();
    });

    it("has at least 160 cases, each with a name, a cited https source and an expectation", () => {
        assert.ok(cases.length >= 160, `only ${cases.length} cases`);
        const names = new Set<string>();
        for (const c of cases) {
            assert.ok(c.name && !names.has(c.name), `${c.file}: missing or duplicate name ${c.name}`);
            names.add(c.name);
            assert.match(c.source, /^https:\/\//, `${c.file}: ${c.name} cites no https source`);
            assert.ok("matches" in c.expect || "error" in c.expect, `${c.file}: ${c.name} expects nothing`);
        }
    });

    it("every case agrees with the documentation it cites", async () => {
        for (const c of cases) {
            const actual = await outcome(client, c);
            if (!agrees(c.expect, actual)) {
                disagreements.push(`${c.file}: ${c.name}\n    expected ${JSON.stringify(c.expect)}\n    got      ${JSON.stringify(actual)}`);
            }
        }
        const agreeing = cases.length - disagreements.length;
        console.log(`      EventBridge conformance: ${agreeing}/${cases.length} cases agree (${((100 * agreeing) / cases.length).toFixed(1)}%)`);
        assert.deepEqual(disagreements, [], `${disagreements.length} disagreements:\n${disagreements.join("\n")}`);
    });
});
