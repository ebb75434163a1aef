import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Checks the FORMAT of the Step Functions conformance cases in test/conformance/stepFunctions/*.json (see
 * test/conformance/README.md). It does not run them: the runner that drives them through the endpoint is separate.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const casesDir = join(__dirname, "stepFunctions");
const caseKeys = new Set(["name", "source", "definition", "input", "taskResults", "expect", "note"]);
const statuses = new Set(["SUCCEEDED", "FAILED"]);

function isObject(value: Json | undefined): value is JsonObject {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns what is wrong with an `expect`, or undefined when it has one of the three known shapes. */
function expectProblem(expect: Json | undefined): string | undefined {
    if (!isObject(expect)) return "expect must be an object";
    const keys = Object.keys(expect);
    if ("refused" in expect) {
        if (expect.refused !== "InvalidDefinition") return `refused must be "InvalidDefinition", not ${JSON.stringify(expect.refused)}`;
        return keys.length === 1 ? undefined : `a refused expectation has no other fields (found ${keys.join(", ")})`;
    }
    if (typeof expect.status !== "string" || !statuses.has(expect.status)) return `status must be SUCCEEDED or FAILED`;
    if (expect.status === "SUCCEEDED") {
        if (!("output" in expect)) return "a SUCCEEDED expectation needs output";
        return keys.every((k) => k === "status" || k === "output") ? undefined : `unexpected fields ${keys.join(", ")}`;
    }
    for (const key of keys) {
        if (key !== "status" && key !== "error" && key !== "cause") return `unexpected field ${key} in a FAILED expectation`;
    }
    for (const key of ["error", "cause"] as const) {
        const value = expect[key];
        if (value !== undefined && value !== null && (typeof value !== "string" || value === "")) return `${key} must be a non-empty string or null`;
    }
    return undefined;
}

/** Returns what is wrong with a taskResults map, or undefined. Each value is a result, an error, or a list of them. */
function taskResultsProblem(taskResults: Json | undefined): string | undefined {
    if (taskResults === undefined) return undefined;
    if (!isObject(taskResults)) return "taskResults must be an object keyed by state name";
    for (const [state, value] of Object.entries(taskResults)) {
        if (Array.isArray(value) && value.length === 0) return `taskResults.${state} must not be an empty list`;
        for (const one of Array.isArray(value) ? value : [value]) {
            if (isObject(one) && "error" in one) {
                if (typeof one.error !== "string") return `taskResults.${state}: error must be a string`;
                if (Object.keys(one).some((k) => k !== "error" && k !== "cause")) return `taskResults.${state}: an error has only error and cause`;
                if (one.cause !== undefined && typeof one.cause !== "string") return `taskResults.${state}: cause must be a string`;
            }
        }
    }
    return undefined;
}

/** Every state name in a definition, branches and Map processors included. */
function stateNames(definition: JsonObject, into: Set<string> = new Set()): Set<string> {
    const states = definition.States;
    if (!isObject(states)) return into;
    for (const [name, state] of Object.entries(states)) {
        into.add(name);
        if (!isObject(state)) continue;
        for (const nested of [state.Iterator, state.ItemProcessor, ...(Array.isArray(state.Branches) ? state.Branches : [])]) {
            if (isObject(nested)) stateNames(nested, into);
        }
    }
    return into;
}

const files = readdirSync(casesDir).filter((f) => f.endsWith(".json")).sort();

describe("Step Functions conformance cases: format", () => {
    it("the shape checks reject malformed expectations and task results", () => {
        assert.notEqual(expectProblem({ status: "SUCCEEDED" }), undefined);
        assert.notEqual(expectProblem({ status: "DONE", output: 1 }), undefined);
        assert.notEqual(expectProblem({ refused: "InvalidDefinition", status: "FAILED" }), undefined);
        assert.notEqual(expectProblem({ status: "FAILED", error: "" }), undefined);
        assert.notEqual(expectProblem({ status: "FAILED", output: {} }), undefined);
        assert.equal(expectProblem({ status: "FAILED", error: null, cause: null }), undefined);
        assert.equal(expectProblem({ status: "SUCCEEDED", output: null }), undefined);
        assert.notEqual(taskResultsProblem({ T: [] }), undefined);
        assert.notEqual(taskResultsProblem({ T: { error: 1 } }), undefined);
        assert.notEqual(taskResultsProblem({ T: { error: "E", reason: "x" } }), undefined);
        assert.equal(taskResultsProblem({ T: [{ error: "E", cause: "C" }, { any: "result" }] }), undefined);
    });

    it("has case files and at least 320 cases", () => {
        const total = files.reduce((n, f) => n + (JSON.parse(readFileSync(join(casesDir, f), "utf8")) as Json[]).length, 0);
        assert.ok(files.length >= 10, `only ${files.length} files`);
        assert.ok(total >= 320, `only ${total} cases`);
    });

    const names = new Map<string, string>();
    for (const file of files) {
        describe(file, () => {
            const parsed = JSON.parse(readFileSync(join(casesDir, file), "utf8")) as Json;
            it("is a non-empty JSON array of objects", () => {
                assert.ok(Array.isArray(parsed) && parsed.length > 0);
                for (const entry of parsed) assert.ok(isObject(entry));
            });
            if (!Array.isArray(parsed)) return;
            parsed.forEach((entry, index) => {
                const testCase = isObject(entry) ? entry : {};
                const label = typeof testCase.name === "string" ? testCase.name : `#${index}`;
                it(label, () => {
                    assert.equal(typeof testCase.name, "string", "name");
                    assert.ok((testCase.name as string).trim().length > 0, "name is empty");
                    const firstFile = names.get(testCase.name as string);
                    assert.equal(firstFile, undefined, `name also used in ${firstFile}`);
                    names.set(testCase.name as string, file);
                    for (const key of Object.keys(testCase)) assert.ok(caseKeys.has(key), `unknown field ${key}`);
                    assert.equal(typeof testCase.source, "string", "source");
                    assert.match(testCase.source as string, /^https:\/\/[^\s]+$/, "source must be an https URL");
                    assert.ok(isObject(testCase.definition), "definition must be an object");
                    assert.ok("input" in testCase, "input is required (use {} for none)");
                    if (testCase.note !== undefined) assert.equal(typeof testCase.note, "string", "note");
                    assert.equal(expectProblem(testCase.expect), undefined);
                    assert.equal(taskResultsProblem(testCase.taskResults), undefined);
                    const definition = testCase.definition as JsonObject;
                    const known = stateNames(definition);
                    for (const state of Object.keys(isObject(testCase.taskResults) ? testCase.taskResults : {})) {
                        assert.ok(known.has(state), `taskResults names ${state}, which is not a state of the definition`);
                    }
                });
            });
        });
    }
});
