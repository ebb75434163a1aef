/**
 * The ASL engine run directly (no runtime, no HTTP): every state type, both query languages, variables,
 * intrinsics, errors, Map tolerance. Time is virtual: Wait states, retries and timeouts advance a fake clock.
 */
import { strict as assert } from "node:assert";
import { runExecution, validateDefinition, InvalidDefinitionError, type ExecutionResult, type HistoryEvent, type JsonValue, type TaskCall } from "../local/services/stepfunctions/engine";

const START = Date.parse("2024-01-01T00:00:00.000Z");

/** A clock whose sleeps complete in order of their due time as soon as the engine is otherwise idle. */
function virtualClock() {
    let now = START;
    let seq = 0;
    const timers: { at: number; id: number; resolve: () => void }[] = [];
    let scheduled = false;
    const pump = () => {
        scheduled = false;
        if (!timers.length) return;
        timers.sort((a, b) => a.at - b.at || a.id - b.id);
        const timer = timers.shift()!;
        now = Math.max(now, timer.at);
        timer.resolve();
        schedule();
    };
    const schedule = () => {
        if (!scheduled) {
            scheduled = true;
            setImmediate(pump);
        }
    };
    return {
        now: () => now,
        sleep: (ms: number, signal: AbortSignal) =>
            new Promise<void>((resolve) => {
                const timer = { at: now + ms, id: seq++, resolve };
                timers.push(timer);
                signal.addEventListener(
                    "abort",
                    () => {
                        const i = timers.indexOf(timer);
                        if (i >= 0) timers.splice(i, 1);
                        resolve();
                    },
                    { once: true },
                );
                schedule();
            }),
        sleeps: () => seq,
    };
}

type TaskHandler = (call: TaskCall) => unknown;

interface Run {
    result: ExecutionResult;
    events: HistoryEvent[];
    calls: TaskCall[];
    elapsedMs: number;
}

async function run(definition: unknown, input: JsonValue = {}, opts: { task?: TaskHandler; signal?: AbortSignal; startAt?: { stateName: string; input: JsonValue } } = {}): Promise<Run> {
    const clock = virtualClock();
    const events: HistoryEvent[] = [];
    const calls: TaskCall[] = [];
    let tokens = 0;
    const result = await runExecution(definition, input, {
        context: {
            Execution: { Id: "arn:aws:states:us-east-1:123456789012:execution:Machine:exec-1", Name: "exec-1", StartTime: "2024-01-01T00:00:00.000Z", RoleArn: "arn:aws:iam::123456789012:role/sfn", Input: input, RedriveCount: 0 },
            StateMachine: { Id: "arn:aws:states:us-east-1:123456789012:stateMachine:Machine", Name: "Machine" },
        },
        hooks: {
            runTask: async (call) => {
                calls.push(call);
                return (opts.task ?? ((c) => c.parameters))(call);
            },
            onEvent: (e) => events.push(e),
            now: clock.now,
            sleep: clock.sleep,
            newTaskToken: () => `token-${++tokens}`,
            random: () => 0.5,
        },
        signal: opts.signal,
        startAt: opts.startAt,
    });
    return { result, events, calls, elapsedMs: clock.now() - START };
}

function output(r: Run): JsonValue {
    assert.equal(r.result.status, "SUCCEEDED", JSON.stringify(r.result));
    return (r.result as { output: JsonValue }).output;
}

function failure(r: Run): { error?: string; cause?: string } {
    assert.equal(r.result.status, "FAILED", JSON.stringify(r.result));
    return r.result as { error?: string; cause?: string };
}

const pass = (extra: object = {}) => ({ StartAt: "P", States: { P: { Type: "Pass", End: true, ...extra } } });
const jsonata = (states: object, startAt = Object.keys(states)[0]) => ({ QueryLanguage: "JSONata", StartAt: startAt, States: states });

function refuses(definition: unknown, pathPart: string, code?: string) {
    assert.throws(
        () => validateDefinition(definition),
        (e: unknown) => {
            assert.ok(e instanceof InvalidDefinitionError, String(e));
            assert.ok(e.message.includes(pathPart), e.message);
            if (code) assert.ok(e.diagnostics.some((d) => d.code === code), e.message);
            return true;
        },
    );
}

async function intrinsic(expr: string, input: JsonValue = {}): Promise<JsonValue> {
    const r = await run(pass({ Parameters: { "v.$": expr } }), input);
    return (output(r) as { v: JsonValue }).v;
}

describe("ASL engine", function () {
    this.timeout(10000);

    describe("JSONPath input and output processing", () => {
        it("applies InputPath, Parameters, ResultPath and OutputPath in order (Pass state, spec 'Input and Output Processing')", async () => {
            const r = await run(pass({ InputPath: "$.a", Parameters: { "x.$": "$.b", fixed: 1 }, ResultPath: "$.r", OutputPath: "$.r" }), { a: { b: 2 } });
            assert.deepEqual(output(r), { x: 2, fixed: 1 });
        });
        it("Result replaces the input; ResultPath null keeps the input; InputPath null gives {}", async () => {
            assert.deepEqual(output(await run(pass({ Result: { k: 1 }, ResultPath: "$.res" }), { a: 1 })), { a: 1, res: { k: 1 } });
            assert.deepEqual(output(await run(pass({ Result: 5, ResultPath: null }), { a: 1 })), { a: 1 });
            assert.deepEqual(output(await run(pass({ InputPath: null }), { a: 1 })), {});
            assert.deepEqual(output(await run(pass({ OutputPath: null }), { a: 1 })), {});
        });
        it("ResultPath creates missing objects along the path", async () => {
            assert.deepEqual(output(await run(pass({ Result: 1, ResultPath: "$.a.b.c" }), { a: {} })), { a: { b: { c: 1 } } });
        });
        it("a missing InputPath is States.Runtime with AWS's cause", async () => {
            const f = failure(await run(pass({ InputPath: "$.missing" }), { a: 1 }));
            assert.equal(f.error, "States.Runtime");
            assert.equal(f.cause, "An error occurred while executing the state 'P' (entered at the event id #2). The JSONPath '$.missing' specified for the field 'InputPath' could not be found in the input '{\"a\":1}'");
        });
        it("a missing Parameters path names the field 'x.$'", async () => {
            const f = failure(await run(pass({ Parameters: { "x.$": "$.nope" } }), {}));
            assert.match(f.cause!, /The JSONPath '\$.nope' specified for the field 'x.\$' could not be found in the input '\{\}'/);
        });
        it("wildcards, slices, unions and filters that match nothing give []", async () => {
            const input = { items: [{ n: 1 }, { n: 2 }, { n: 3 }], empty: [] };
            const r = await run(
                pass({
                    Parameters: {
                        "all.$": "$.items[*].n",
                        "slice.$": "$.items[1:].n",
                        "none.$": "$.empty[*]",
                        "noslice.$": "$.empty[0:2]",
                        "filtered.$": "$.items[?(@.n > 1)].n",
                        "nofilter.$": "$.items[?(@.n > 9)]",
                        "union.$": "$.items[0,2].n",
                        "deep.$": "$..n",
                        "last.$": "$.items[-1:]",
                    },
                }),
                input,
            );
            assert.deepEqual(output(r), { all: [1, 2, 3], slice: [2, 3], none: [], noslice: [], filtered: [2, 3], nofilter: [], union: [1, 3], deep: [1, 2, 3], last: [{ n: 3 }] });
        });
        it("Parameters templates recurse into nested objects and arrays", async () => {
            const r = await run(pass({ Parameters: { outer: { "inner.$": "$.a" }, list: [{ "v.$": "$.b" }, 3] } }), { a: 1, b: 2 });
            assert.deepEqual(output(r), { outer: { inner: 1 }, list: [{ v: 2 }, 3] });
        });
        it("ResultPath onto a non-object is States.ResultPathMatchFailure (the spec's predefined error)", async () => {
            const f = failure(await run(pass({ Result: 1, ResultPath: "$.a.b" }), { a: "text" }));
            assert.equal(f.error, "States.ResultPathMatchFailure");
        });
    });

    describe("Context object", () => {
        it("exposes Execution, State, StateMachine fields (Context object reference)", async () => {
            const r = await run(
                pass({
                    Parameters: {
                        "id.$": "$$.Execution.Id",
                        "name.$": "$$.Execution.Name",
                        "start.$": "$$.Execution.StartTime",
                        "role.$": "$$.Execution.RoleArn",
                        "input.$": "$$.Execution.Input",
                        "redrive.$": "$$.Execution.RedriveCount",
                        "state.$": "$$.State.Name",
                        "entered.$": "$$.State.EnteredTime",
                        "retry.$": "$$.State.RetryCount",
                        "sm.$": "$$.StateMachine.Name",
                        "smId.$": "$$.StateMachine.Id",
                    },
                }),
                { q: 1 },
            );
            assert.deepEqual(output(r), {
                id: "arn:aws:states:us-east-1:123456789012:execution:Machine:exec-1",
                name: "exec-1",
                start: "2024-01-01T00:00:00.000Z",
                role: "arn:aws:iam::123456789012:role/sfn",
                input: { q: 1 },
                redrive: 0,
                state: "P",
                entered: "2024-01-01T00:00:00.000Z",
                retry: 0,
                sm: "Machine",
                smId: "arn:aws:states:us-east-1:123456789012:stateMachine:Machine",
            });
        });
        it("$$.Task.Token is the token runTask receives for .waitForTaskToken", async () => {
            const def = { StartAt: "T", States: { T: { Type: "Task", Resource: "arn:aws:states:::events:putEvents.waitForTaskToken", Parameters: { "token.$": "$$.Task.Token" }, End: true } } };
            const r = await run(def, {}, { task: (c) => ({ sawToken: c.taskToken, param: c.parameters }) });
            assert.deepEqual(output(r), { sawToken: "token-1", param: { token: "token-1" } });
        });
        it("$$.Map.Item.Index and Value in ItemSelector", async () => {
            const def = { StartAt: "M", States: { M: { Type: "Map", ItemsPath: "$.xs", ItemSelector: { "i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k" }, ItemProcessor: { StartAt: "I", States: { I: { Type: "Pass", End: true } } }, End: true } } };
            assert.deepEqual(output(await run(def, { xs: ["a", "b"], k: 7 })), [
                { i: 0, v: "a", k: 7 },
                { i: 1, v: "b", k: 7 },
            ]);
        });
    });

    describe("Intrinsic functions", () => {
        it("States.Format renders strings, numbers, objects and arrays as AWS does", async () => {
            assert.equal(await intrinsic("States.Format('Hello, {}!', $.n)", { n: "World" }), "Hello, World!");
            assert.equal(await intrinsic("States.Format('{} {} {}', 1, true, null)"), "1 true null");
            assert.equal(await intrinsic("States.Format('{}', $.o)", { o: { Arg1: 1, Arg2: [] } }), "{Arg1=1, Arg2=[]}");
            assert.equal(await intrinsic("States.Format('{}', $.a)", { a: [1, "x", { b: 2 }] }), "[1, x, {b=2}]");
            assert.equal(await intrinsic("States.Format('\\{\\} {}', 'x')"), "{} x");
        });
        it("States.StringToJson and JsonToString; empty string gives null", async () => {
            assert.deepEqual(await intrinsic("States.StringToJson($.s)", { s: '{"a":[1]}' }), { a: [1] });
            assert.equal(await intrinsic("States.StringToJson($.s)", { s: "" }), null);
            assert.equal(await intrinsic("States.JsonToString($.o)", { o: { a: 1 } }), '{"a":1}');
            assert.equal(failure(await run(pass({ Parameters: { "v.$": "States.StringToJson('{bad')" } }))).error, "States.Runtime");
        });
        it("array functions", async () => {
            assert.deepEqual(await intrinsic("States.Array(1, 'a', $.x)", { x: { y: 1 } }), [1, "a", { y: 1 }]);
            assert.deepEqual(await intrinsic("States.ArrayPartition($.a, 2)", { a: [1, 2, 3, 4, 5] }), [[1, 2], [3, 4], [5]]);
            assert.equal(await intrinsic("States.ArrayContains($.a, $.v)", { a: [1, { b: 2 }], v: { b: 2 } }), true);
            assert.equal(await intrinsic("States.ArrayContains($.a, 3)", { a: [1, 2] }), false);
            assert.deepEqual(await intrinsic("States.ArrayRange(1, 9, 2)"), [1, 3, 5, 7, 9]);
            assert.deepEqual(await intrinsic("States.ArrayRange(5, 1, -2)"), [5, 3, 1]);
            assert.equal(await intrinsic("States.ArrayGetItem($.a, 1)", { a: ["x", "y"] }), "y");
            assert.equal(await intrinsic("States.ArrayLength($.a)", { a: [1, 2, 3] }), 3);
            assert.deepEqual(await intrinsic("States.ArrayUnique($.a)", { a: [1, 2, 1, { a: 1 }, { a: 1 }] }), [1, 2, { a: 1 }]);
        });
        it("encoding, hashing, merging", async () => {
            assert.equal(await intrinsic("States.Base64Encode('Data to encode')"), "RGF0YSB0byBlbmNvZGU=");
            assert.equal(await intrinsic("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')"), "Data to encode");
            assert.equal(await intrinsic("States.Hash('input data', 'SHA-1')"), "aaff4a450a104cd177d28d18d74485e8cae074b7");
            assert.deepEqual(await intrinsic("States.JsonMerge($.a, $.b, false)", { a: { x: 1, y: { z: 1 } }, b: { y: { w: 2 } } }), { x: 1, y: { w: 2 } });
            assert.equal(failure(await run(pass({ Parameters: { "v.$": "States.JsonMerge($.a, $.a, true)" } }), { a: {} })).error, "States.Runtime");
        });
        it("math: MathAdd rounds its arguments; MathRandom accepts non-integer bounds", async () => {
            assert.equal(await intrinsic("States.MathAdd(1.6, 2)"), 4);
            assert.equal(await intrinsic("States.MathAdd($.v, -1)", { v: 111 }), 110);
            const n = (await intrinsic("States.MathRandom(1.2, 10.7)")) as number;
            assert.ok(Number.isInteger(n) && n >= 1 && n < 11, String(n));
            assert.equal(await intrinsic("States.MathRandom(1, 1000, 7)"), await intrinsic("States.MathRandom(1, 1000, 7)"));
        });
        it("StringSplit splits on any separator character and drops empty strings; UUID is v4", async () => {
            assert.deepEqual(await intrinsic("States.StringSplit('1,2,,3', ',')"), ["1", "2", "3"]);
            assert.deepEqual(await intrinsic("States.StringSplit('a-b+c', '-+')"), ["a", "b", "c"]);
            assert.match((await intrinsic("States.UUID()")) as string, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        });
        it("nested intrinsics and out-of-range failures", async () => {
            assert.equal(await intrinsic("States.ArrayLength(States.StringSplit($.s, ' '))", { s: "a b c" }), 3);
            assert.equal(failure(await run(pass({ Parameters: { "v.$": "States.ArrayGetItem($.a, 5)" } }), { a: [] })).error, "States.Runtime");
        });
        it("unknown functions and wrong arities are refused at validation", () => {
            refuses(pass({ Parameters: { "v.$": "States.Nope(1)" } }), "/States/P/Parameters/v.$");
            refuses(pass({ Parameters: { "v.$": "States.ArrayLength(1, 2)" } }), "/States/P/Parameters/v.$");
        });
    });

    describe("Choice (JSONPath)", () => {
        const choice = (rule: object, extra: object = {}) => ({
            StartAt: "C",
            States: { C: { Type: "Choice", Choices: [{ ...rule, Next: "Yes" }], Default: "No", ...extra }, Yes: { Type: "Pass", Result: "yes", End: true }, No: { Type: "Pass", Result: "no", End: true } },
        });
        const decide = async (rule: object, input: JsonValue) => output(await run(choice(rule), input));
        it("string, numeric, boolean and timestamp comparisons, with Path forms", async () => {
            assert.equal(await decide({ Variable: "$.s", StringEquals: "a" }, { s: "a" }), "yes");
            assert.equal(await decide({ Variable: "$.s", StringLessThan: "b" }, { s: "a" }), "yes");
            assert.equal(await decide({ Variable: "$.s", StringGreaterThanEquals: "b" }, { s: "a" }), "no");
            assert.equal(await decide({ Variable: "$.n", NumericEquals: 1 }, { n: 1.0 }), "yes");
            assert.equal(await decide({ Variable: "$.n", NumericLessThanPath: "$.m" }, { n: 1, m: 2 }), "yes");
            assert.equal(await decide({ Variable: "$.n", NumericGreaterThanEquals: 2 }, { n: 2 }), "yes");
            assert.equal(await decide({ Variable: "$.b", BooleanEquals: false }, { b: false }), "yes");
            assert.equal(await decide({ Variable: "$.b", BooleanEqualsPath: "$.c" }, { b: true, c: true }), "yes");
            assert.equal(await decide({ Variable: "$.t", TimestampLessThan: "2024-01-02T00:00:00Z" }, { t: "2024-01-01T23:59:59.5Z" }), "yes");
            assert.equal(await decide({ Variable: "$.t", TimestampEqualsPath: "$.u" }, { t: "2024-01-01T00:00:00Z", u: "2024-01-01T01:00:00+01:00" }), "yes");
        });
        it("timestamps are strict RFC3339 instants: calendar-checked, fractions kept past the millisecond", async () => {
            assert.equal(await decide({ Variable: "$.t", IsTimestamp: true }, { t: "2024-02-29T00:00:00Z" }), "yes");
            assert.equal(await decide({ Variable: "$.t", IsTimestamp: true }, { t: "2023-02-29T00:00:00Z" }), "no");
            assert.equal(await decide({ Variable: "$.t", IsTimestamp: true }, { t: "2024-01-01T24:00:00Z" }), "no");
            assert.equal(await decide({ Variable: "$.t", TimestampLessThan: "2024-01-01T00:00:00.0002Z" }, { t: "2024-01-01T00:00:00.0001Z" }), "yes");
            assert.equal(await decide({ Variable: "$.t", TimestampEquals: "2024-01-01T00:00:00.00010Z" }, { t: "2024-01-01T00:00:00.0001Z" }), "yes");
            assert.equal(await decide({ Variable: "$.t", TimestampGreaterThan: "2024-01-01T00:00:00Z" }, { t: "2024-01-01T00:00:00.000000001Z" }), "yes");
            assert.throws(() => validateDefinition({ StartAt: "W", States: { W: { Type: "Wait", Timestamp: "2023-02-29T00:00:00Z", End: true } } }), InvalidDefinitionError);
            const r = await run({ StartAt: "W", States: { W: { Type: "Wait", TimestampPath: "$.t", End: true } } }, { t: "2024-01-01" });
            assert.equal(r.result.status, "FAILED");
            assert.equal(r.result.status === "FAILED" ? r.result.error : undefined, "States.Runtime");
        });
        it("a value of another type compares false", async () => {
            assert.equal(await decide({ Variable: "$.n", StringEquals: "1" }, { n: 1 }), "no");
            assert.equal(await decide({ Variable: "$.s", NumericEquals: 1 }, { s: "1" }), "no");
            assert.equal(await decide({ Variable: "$.t", TimestampEquals: "2024-01-01T00:00:00Z" }, { t: "not a time" }), "no");
        });
        it("type tests honour false", async () => {
            assert.equal(await decide({ Variable: "$.v", IsBoolean: false }, { v: 1 }), "yes");
            assert.equal(await decide({ Variable: "$.v", IsNull: false }, { v: 1 }), "yes");
            assert.equal(await decide({ Variable: "$.v", IsNull: true }, { v: null }), "yes");
            assert.equal(await decide({ Variable: "$.v", IsNumeric: false }, { v: "1" }), "yes");
            assert.equal(await decide({ Variable: "$.v", IsString: false }, { v: 1 }), "yes");
            assert.equal(await decide({ Variable: "$.v", IsPresent: false }, {}), "yes");
            assert.equal(await decide({ Variable: "$.v", IsPresent: true }, {}), "no");
            assert.equal(await decide({ Variable: "$.v", IsTimestamp: true }, { v: "2016-03-14T01:59:00Z" }), "yes");
            assert.equal(await decide({ Variable: "$.v", IsTimestamp: false }, { v: "2016-03-14" }), "yes");
        });
        it("And, Or, Not and StringMatches with escapes", async () => {
            assert.equal(await decide({ And: [{ Variable: "$.a", NumericGreaterThan: 1 }, { Not: { Variable: "$.b", StringEquals: "x" } }] }, { a: 2, b: "y" }), "yes");
            assert.equal(await decide({ Or: [{ Variable: "$.a", NumericGreaterThan: 5 }, { Variable: "$.b", StringEquals: "x" }] }, { a: 2, b: "y" }), "no");
            assert.equal(await decide({ Variable: "$.f", StringMatches: "log-*.txt" }, { f: "log-2024.txt" }), "yes");
            assert.equal(await decide({ Variable: "$.f", StringMatches: "a\\*b" }, { f: "a*b" }), "yes");
            assert.equal(await decide({ Variable: "$.f", StringMatches: "a\\*b" }, { f: "axxb" }), "no");
        });
        it("a missing Variable is States.Runtime; no match and no Default is States.NoChoiceMatched", async () => {
            assert.equal(failure(await run(choice({ Variable: "$.x", StringEquals: "a" }), {})).error, "States.Runtime");
            const noDefault = { StartAt: "C", States: { C: { Type: "Choice", Choices: [{ Variable: "$.x", NumericEquals: 1, Next: "D" }] }, D: { Type: "Succeed" } } };
            assert.equal(failure(await run(noDefault, { x: 2 })).error, "States.NoChoiceMatched");
        });
        it("variables in Variable paths and per-rule Assign", async () => {
            const def = {
                StartAt: "Set",
                States: {
                    Set: { Type: "Pass", Assign: { limit: 3 }, Next: "C" },
                    C: { Type: "Choice", Choices: [{ Variable: "$limit", NumericGreaterThanPath: "$.n", Assign: { "picked.$": "$.n" }, Next: "Out" }], Default: "Out" },
                    Out: { Type: "Pass", Parameters: { "picked.$": "$picked" }, End: true },
                },
            };
            assert.deepEqual(output(await run(def, { n: 2 })), { picked: 2 });
        });
        it("rule shapes are validated", () => {
            refuses(choice({ Variable: "$.a", StringEquals: 1 }), "/States/C/Choices[0]/StringEquals");
            refuses(choice({ Variable: "$.a", Foo: 1 }), "/States/C/Choices[0]");
            refuses(choice({ Variable: "$.a", StringEquals: "x", NumericEquals: 1 }), "/States/C/Choices[0]");
        });
    });

    describe("Wait, Succeed, Fail", () => {
        it("Wait Seconds, SecondsPath, Timestamp and TimestampPath advance the clock", async () => {
            const r = await run({ StartAt: "W", States: { W: { Type: "Wait", Seconds: 10, Next: "W2" }, W2: { Type: "Wait", SecondsPath: "$.s", Next: "W3" }, W3: { Type: "Wait", TimestampPath: "$.t", End: true } } }, { s: 5, t: "2024-01-01T00:01:00Z" });
            assert.deepEqual(output(r), { s: 5, t: "2024-01-01T00:01:00Z" });
            assert.equal(r.elapsedMs, 60000);
            assert.deepEqual(
                r.events.map((e) => e.type),
                ["ExecutionStarted", "WaitStateEntered", "WaitStateExited", "WaitStateEntered", "WaitStateExited", "WaitStateEntered", "WaitStateExited", "ExecutionSucceeded"],
            );
        });
        it("Wait SecondsPath that is not a non-negative integer is States.Runtime", async () => {
            assert.equal(failure(await run({ StartAt: "W", States: { W: { Type: "Wait", SecondsPath: "$.s", End: true } } }, { s: "x" })).error, "States.Runtime");
        });
        it("Succeed applies InputPath/OutputPath", async () => {
            assert.deepEqual(output(await run({ StartAt: "S", States: { S: { Type: "Succeed", InputPath: "$.a" } } }, { a: { b: 1 } })), { b: 1 });
        });
        it("Fail with Error/Cause, ErrorPath/CausePath (intrinsics allowed), and no invented defaults", async () => {
            const fail = (f: object) => ({ StartAt: "F", States: { F: { Type: "Fail", ...f } } });
            assert.deepEqual(failure(await run(fail({ Error: "E", Cause: "C" }))), { status: "FAILED", error: "E", cause: "C", failedState: "F" });
            const f2 = failure(await run(fail({ ErrorPath: "$.e", CausePath: "States.Format('bad {}', $.n)" }), { e: "Custom", n: 3 }));
            assert.equal(f2.error, "Custom");
            assert.equal(f2.cause, "bad 3");
            const f3 = failure(await run(fail({})));
            assert.equal(f3.error, undefined);
            assert.equal(f3.cause, undefined);
            const last = (await run(fail({}))).events.at(-1)!;
            assert.deepEqual(last.executionFailedEventDetails, {});
        });
    });

    describe("Task, Retry and Catch", () => {
        const task = (extra: object = {}) => ({ StartAt: "T", States: { T: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", End: true, ...extra }, Caught: { Type: "Pass", End: true } } });
        const failing = (name: string, message: string, times = Infinity) => {
            let n = 0;
            return () => {
                if (n++ < times) throw Object.assign(new Error(message), { name });
                return { ok: n };
            };
        };
        it("Parameters go to runTask; ResultSelector, ResultPath, OutputPath shape the output", async () => {
            const r = await run(task({ Parameters: { "FunctionName": "f", "Payload.$": "$.p" }, ResultSelector: { "body.$": "$.Payload" }, ResultPath: "$.res", OutputPath: "$.res.body" }), { p: { x: 1 } });
            assert.deepEqual(r.calls[0].parameters, { FunctionName: "f", Payload: { x: 1 } });
            assert.deepEqual(output(r), { x: 1 });
            const types = r.events.map((e) => e.type);
            assert.deepEqual(types, ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]);
            const scheduled = r.events[2].taskScheduledEventDetails!;
            assert.deepEqual([scheduled.resourceType, scheduled.resource, scheduled.region], ["lambda", "invoke", "us-east-1"]);
            r.events.forEach((e, i) => assert.equal(e.id, i + 1));
        });
        it("a task error fails the execution with its name and message", async () => {
            const f = failure(await run(task(), {}, { task: failing("Lambda.ServiceException", "boom") }));
            assert.deepEqual([f.error, f.cause], ["Lambda.ServiceException", "boom"]);
        });
        it("Retry with IntervalSeconds, BackoffRate, MaxDelaySeconds waits as AWS computes", async () => {
            const r = await run(task({ Retry: [{ ErrorEquals: ["E"], IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 3, MaxDelaySeconds: 10 }] }), {}, { task: failing("E", "x", 3) });
            assert.deepEqual(output(r), { ok: 4 });
            assert.equal(r.elapsedMs, (2 + 6 + 10) * 1000);
            assert.deepEqual(r.calls.map((c) => c.context.State!.RetryCount), [0, 1, 2, 3]);
        });
        it("JitterStrategy FULL scales the delay by a random factor", async () => {
            const r = await run(task({ Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 4, MaxAttempts: 1, JitterStrategy: "FULL" }] }), {}, { task: failing("E", "x", 1) });
            assert.equal(r.elapsedMs, 2000);
        });
        it("MaxAttempts 0 never retries; the first matching retrier wins", async () => {
            const r = await run(task({ Retry: [{ ErrorEquals: ["E"], MaxAttempts: 0 }, { ErrorEquals: ["States.ALL"], MaxAttempts: 5 }] }), {}, { task: failing("E", "x") });
            assert.equal(failure(r).error, "E");
            assert.equal(r.calls.length, 1);
        });
        it("Catch puts the error output at ResultPath and goes to Next; States.TaskFailed matches task errors", async () => {
            const r = await run(task({ Catch: [{ ErrorEquals: ["States.TaskFailed"], ResultPath: "$.err", Next: "Caught" }] }), { a: 1 }, { task: failing("Custom", "why") });
            assert.deepEqual(output(r), { a: 1, err: { Error: "Custom", Cause: "why" } });
        });
        it("States.ALL does not catch States.Runtime", async () => {
            const r = await run(task({ Parameters: { "x.$": "$.missing" }, Catch: [{ ErrorEquals: ["States.ALL"], Next: "Caught" }] }), {});
            assert.equal(failure(r).error, "States.Runtime");
        });
        it("TimeoutSeconds ends a hung task with States.Timeout; TimeoutSecondsPath and HeartbeatSecondsPath reach runTask", async () => {
            const hang = () => new Promise(() => undefined);
            const r = await run(task({ TimeoutSeconds: 30 }), {}, { task: hang });
            assert.equal(failure(r).error, "States.Timeout");
            assert.equal(r.elapsedMs, 30000);
            assert.ok(r.calls[0].signal.aborted);
            assert.ok(r.events.some((e) => e.type === "TaskTimedOut"));
            const r2 = await run(task({ TimeoutSecondsPath: "$.t", HeartbeatSecondsPath: "$.h" }), { t: 100, h: 10 });
            assert.deepEqual([r2.calls[0].timeoutSeconds, r2.calls[0].heartbeatSeconds], [100, 10]);
        });
        it("a heartbeat timeout reported by runTask is retried and recorded as TaskTimedOut", async () => {
            const r = await run(task({ HeartbeatSeconds: 5, Retry: [{ ErrorEquals: ["States.HeartbeatTimeout"], MaxAttempts: 1 }] }), {}, { task: failing("States.HeartbeatTimeout", "no heartbeat", 1) });
            assert.deepEqual(output(r), { ok: 2 });
            assert.equal(r.calls[0].heartbeatSeconds, 5);
            assert.equal(r.events.filter((e) => e.type === "TaskTimedOut").length, 1);
        });
        it("a plain Error from runTask is States.TaskFailed", async () => {
            const f = failure(await run(task(), {}, { task: () => Promise.reject(new Error("plain")) }));
            assert.deepEqual([f.error, f.cause], ["States.TaskFailed", "plain"]);
        });
        it("a task result over 256 KiB is States.DataLimitExceeded, which States.ALL does not catch", async () => {
            const r = await run(task({ Catch: [{ ErrorEquals: ["States.ALL"], Next: "Caught" }] }), {}, { task: () => "x".repeat(300 * 1024) });
            assert.equal(failure(r).error, "States.DataLimitExceeded");
        });
        it("Retry/Catch shapes are validated (States.ALL alone and last)", () => {
            refuses(task({ Retry: [{ ErrorEquals: ["States.ALL", "E"] }] }), "/States/T/Retry[0]/ErrorEquals");
            refuses(task({ Catch: [{ ErrorEquals: ["States.ALL"], Next: "Caught" }, { ErrorEquals: ["E"], Next: "Caught" }] }), "/States/T/Catch[0]/ErrorEquals");
            refuses(task({ Catch: [{ ErrorEquals: ["E"], Next: "Nowhere" }] }), "/States/T/Catch[0]/Next", "MISSING_TRANSITION_TARGET");
            refuses(task({ Retry: [{ ErrorEquals: ["E"], BackoffRate: 0.5 }] }), "/States/T/Retry[0]/BackoffRate");
        });
    });

    describe("Parallel and Map", () => {
        it("Parallel runs branches on the same input and returns their outputs in order", async () => {
            const def = {
                StartAt: "P",
                States: {
                    P: {
                        Type: "Parallel",
                        Branches: [
                            { StartAt: "A", States: { A: { Type: "Pass", Parameters: { "a.$": "$.v" }, End: true } } },
                            { StartAt: "B", States: { B: { Type: "Wait", Seconds: 1, End: true } } },
                        ],
                        ResultPath: "$.out",
                        End: true,
                    },
                },
            };
            const r = await run(def, { v: 1 });
            assert.deepEqual(output(r), { v: 1, out: [{ a: 1 }, { v: 1 }] });
            assert.ok(r.events.some((e) => e.type === "ParallelStateStarted") && r.events.some((e) => e.type === "ParallelStateSucceeded"));
        });
        it("a failing branch fails the Parallel state, catchable", async () => {
            const def = {
                StartAt: "P",
                States: {
                    P: { Type: "Parallel", Branches: [{ StartAt: "F", States: { F: { Type: "Fail", Error: "BranchErr", Cause: "c" } } }, { StartAt: "W", States: { W: { Type: "Wait", Seconds: 100, End: true } } }], Catch: [{ ErrorEquals: ["BranchErr"], Next: "Done" }], End: true },
                    Done: { Type: "Pass", End: true },
                },
            };
            const r = await run(def, {});
            assert.deepEqual(output(r), { Error: "BranchErr", Cause: "c" });
            assert.ok(r.elapsedMs < 100000, "the waiting branch was stopped");
        });
        it("Map with ItemsPath, Parameters (legacy Iterator), MaxConcurrency", async () => {
            let running = 0;
            let peak = 0;
            const def = { StartAt: "M", States: { M: { Type: "Map", ItemsPath: "$.xs", MaxConcurrency: 2, Parameters: { "v.$": "$$.Map.Item.Value" }, Iterator: { StartAt: "T", States: { T: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", End: true } } }, End: true } } };
            const r = await run(def, { xs: [1, 2, 3, 4, 5] }, {
                task: async (c) => {
                    running++;
                    peak = Math.max(peak, running);
                    await new Promise((resolve) => setImmediate(resolve));
                    running--;
                    return (c.parameters as { v: number }).v * 10;
                },
            });
            assert.deepEqual(output(r), [10, 20, 30, 40, 50]);
            assert.equal(peak, 2);
            const started = r.events.find((e) => e.type === "MapStateStarted")!;
            assert.deepEqual(started.mapStateStartedEventDetails, { length: 5 });
            assert.equal(r.events.filter((e) => e.type === "MapIterationSucceeded").length, 5);
        });
        it("MaxConcurrencyPath limits concurrency from the input", async () => {
            let running = 0;
            let peak = 0;
            const def = { StartAt: "M", States: { M: { Type: "Map", ItemsPath: "$.xs", MaxConcurrencyPath: "$.max", ItemProcessor: { StartAt: "T", States: { T: { Type: "Task", Resource: "r", End: true } } }, End: true } } };
            await run(def, { xs: [1, 2, 3, 4], max: 1 }, {
                task: async () => {
                    peak = Math.max(peak, ++running);
                    await new Promise((resolve) => setImmediate(resolve));
                    running--;
                    return null;
                },
            });
            assert.equal(peak, 1);
        });
        it("ItemsPath on a non-array is States.Runtime", async () => {
            const def = { StartAt: "M", States: { M: { Type: "Map", ItemsPath: "$.x", ItemProcessor: { StartAt: "I", States: { I: { Type: "Pass", End: true } } }, End: true } } };
            assert.equal(failure(await run(def, { x: 1 })).error, "States.Runtime");
        });
        const tolerant = (extra: object) => ({
            StartAt: "M",
            States: {
                M: {
                    Type: "Map",
                    ItemProcessor: { StartAt: "C", States: { C: { Type: "Choice", Choices: [{ Variable: "$", NumericEquals: 0, Next: "Bad" }], Default: "Good" }, Bad: { Type: "Fail", Error: "ItemFailed" }, Good: { Type: "Pass", End: true } } },
                    End: true,
                    ...extra,
                },
            },
        });
        it("ToleratedFailureCount and ToleratedFailurePercentage (0.5 legal) decide whether failures fail the Map", async () => {
            const items = [0, 1, 2, 0, 3];
            const ok = output(await run(tolerant({ ToleratedFailureCount: 2 }), items)) as JsonValue[];
            assert.deepEqual(ok[1], 1);
            assert.deepEqual(ok[0], { Error: "ItemFailed" });
            assert.equal(failure(await run(tolerant({ ToleratedFailureCount: 1 }), items)).error, "States.ExceedToleratedFailureThreshold");
            assert.equal(output(await run(tolerant({ ToleratedFailurePercentage: 40 }), items)) !== undefined, true);
            assert.equal(failure(await run(tolerant({ ToleratedFailurePercentage: 0.5 }), items)).error, "States.ExceedToleratedFailureThreshold");
            assert.equal(failure(await run(tolerant({ ItemsPath: "$.xs", ToleratedFailureCountPath: "$.n" }), { xs: items, n: 1 })).error, "States.ExceedToleratedFailureThreshold");
            assert.equal(failure(await run(tolerant({ ItemsPath: "$.xs", ToleratedFailureCountPath: "$.n" }), { xs: items, n: "two" })).error, "States.Runtime");
            assert.equal(output(await run(tolerant({ ItemsPath: "$.xs", ToleratedFailurePercentagePath: "$.p" }), { xs: items, p: 50 })) !== undefined, true);
            validateDefinition(tolerant({ ToleratedFailurePercentage: 0.5 }));
            refuses(tolerant({ ToleratedFailurePercentage: 101 }), "/States/M/ToleratedFailurePercentage");
            refuses(tolerant({ ToleratedFailureCount: 1.5 }), "/States/M/ToleratedFailureCount");
        });
        it("without tolerance the first failed item fails the Map with its error", async () => {
            assert.equal(failure(await run(tolerant({}), [1, 0, 2])).error, "ItemFailed");
        });
        it("ItemReader and ResultWriter are refused by name; a distributed Map over its input needs an ExecutionType", () => {
            const map = (extra: object, processor: object = {}) => ({ StartAt: "M", States: { M: { Type: "Map", ItemProcessor: { StartAt: "I", States: { I: { Type: "Pass", End: true } }, ...processor }, End: true, ...extra } } });
            validateDefinition(map({}, { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" } }));
            refuses(map({}, { ProcessorConfig: { Mode: "DISTRIBUTED" } }), "/States/M/ItemProcessor/ProcessorConfig/ExecutionType", "SCHEMA_VALIDATION_FAILED");
            refuses(map({ ItemReader: { Resource: "arn:aws:states:::s3:getObject" } }), "/States/M/ItemReader", "LOCAL_RUNTIME_UNSUPPORTED");
            refuses(map({ ResultWriter: { Resource: "arn:aws:states:::s3:putObject" } }), "/States/M/ResultWriter", "LOCAL_RUNTIME_UNSUPPORTED");
            validateDefinition(map({}, { ProcessorConfig: { Mode: "INLINE" } }));
        });
    });

    describe("Variables", () => {
        it("Assign in JSONPath states, read with $name in paths and intrinsics; values evaluated before assignment", async () => {
            const def = {
                StartAt: "A",
                States: {
                    A: { Type: "Pass", Assign: { x: 1, "y.$": "$.in", obj: { "z.$": "$.in" } }, Next: "B" },
                    B: { Type: "Pass", Assign: { "x.$": "States.MathAdd($x, 1)", "old.$": "$x" }, Next: "C" },
                    C: { Type: "Pass", Parameters: { "x.$": "$x", "old.$": "$old", "y.$": "$y", "z.$": "$obj.z", "f.$": "States.Format('{}-{}', $x, $y)" }, End: true },
                },
            };
            const r = await run(def, { in: "v" });
            assert.deepEqual(output(r), { x: 2, old: 1, y: "v", z: "v", f: "2-v" });
            const exited = r.events.find((e) => e.type === "PassStateExited")!;
            assert.deepEqual(exited.stateExitedEventDetails!.assignedVariables, { x: "1", y: '"v"', obj: '{"z":"v"}' });
        });
        it("Task Assign sees the ResultSelector output as $", async () => {
            const def = { StartAt: "T", States: { T: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", ResultSelector: { "r.$": "$.v" }, Assign: { "saved.$": "$.r" }, ResultPath: null, Next: "O" }, O: { Type: "Pass", Parameters: { "saved.$": "$saved" }, End: true } } };
            assert.deepEqual(output(await run(def, { v: 9 })), { saved: 9 });
        });
        it("Catch Assign sees the error output", async () => {
            const def = { StartAt: "T", States: { T: { Type: "Task", Resource: "r", Catch: [{ ErrorEquals: ["States.ALL"], Assign: { "err.$": "$.Error" }, Next: "O" }], End: true }, O: { Type: "Pass", Parameters: { "err.$": "$err" }, End: true } } };
            const r = await run(def, {}, { task: () => Promise.reject(Object.assign(new Error("m"), { name: "Oops" })) });
            assert.deepEqual(output(r), { err: "Oops" });
        });
        it("inner scopes read outer variables; their own variables do not leak out", async () => {
            const def = {
                StartAt: "Set",
                States: {
                    Set: { Type: "Pass", Assign: { outer: "o" }, Next: "M" },
                    M: { Type: "Map", ItemsPath: "$.xs", ItemProcessor: { StartAt: "I", States: { I: { Type: "Pass", Assign: { inner: 1 }, Parameters: { "o.$": "$outer", "v.$": "$" }, End: true } } }, Next: "After" },
                    After: { Type: "Pass", Parameters: { "inner.$": "$inner" }, End: true },
                },
            };
            const r = await run(def, { xs: [1] });
            assert.equal(failure(r).error, "States.Runtime");
            const def2 = { ...def, States: { ...def.States, After: { Type: "Pass", End: true } } };
            assert.deepEqual(output(await run(def2, { xs: [1, 2] })), [
                { o: "o", v: 1 },
                { o: "o", v: 2 },
            ]);
        });
        it("an inner scope cannot assign an outer variable (refused at validation)", () => {
            refuses(
                {
                    StartAt: "Set",
                    States: {
                        Set: { Type: "Pass", Assign: { shared: 1 }, Next: "P" },
                        P: { Type: "Parallel", Branches: [{ StartAt: "B", States: { B: { Type: "Pass", Assign: { shared: 2 }, End: true } } }], End: true },
                    },
                },
                "/States/P/Branches[0]/States",
            );
        });
    });

    describe("JSONata", () => {
        it("{% %} in Output and Arguments with $states.input, $states.result and $states.context", async () => {
            const def = jsonata({
                T: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", Arguments: { sum: "{% $states.input.a + $states.input.b %}", name: "{% $states.context.State.Name %}", literal: "$notEvaluated" }, Output: { r: "{% $states.result %}", input: "{% $states.input %}" }, End: true },
            });
            const r = await run(def, { a: 1, b: 2 });
            assert.deepEqual(r.calls[0].parameters, { sum: 3, name: "T", literal: "$notEvaluated" });
            assert.deepEqual(output(r), { r: { sum: 3, name: "T", literal: "$notEvaluated" }, input: { a: 1, b: 2 } });
        });
        it("a Task's default output is its result; a Pass state's is its input", async () => {
            assert.deepEqual(output(await run(jsonata({ T: { Type: "Task", Resource: "r", End: true } }), { a: 1 }, { task: () => ({ b: 2 }) })), { b: 2 });
            assert.deepEqual(output(await run(jsonata({ P: { Type: "Pass", End: true } }), { a: 1 })), { a: 1 });
        });
        it("a whole-field expression and QueryLanguage per state", async () => {
            const def = { StartAt: "A", States: { A: { Type: "Pass", Parameters: { "v.$": "$.v" }, Next: "B" }, B: { Type: "Pass", QueryLanguage: "JSONata", Output: "{% $states.input.v * 2 %}", End: true } } };
            assert.equal(output(await run(def, { v: 21 })), 42);
        });
        it("Assign and Output see the variables as they were before the state", async () => {
            const def = jsonata({
                A: { Type: "Pass", Assign: { n: 1 }, Next: "B" },
                B: { Type: "Pass", Assign: { n: "{% $n + 1 %}" }, Output: { before: "{% $n %}" }, Next: "C" },
                C: { Type: "Pass", Output: { after: "{% $n %}" }, End: true },
            });
            const r = await run(def);
            assert.deepEqual(output(r), { after: 2 });
            assert.ok(r.events.some((e) => JSON.stringify(e.stateExitedEventDetails?.output) === JSON.stringify('{"before":1}')));
        });
        it("Choice Condition, with per-rule Output and Assign", async () => {
            const def = jsonata({
                C: { Type: "Choice", Choices: [{ Condition: "{% $states.input.n > 5 %}", Output: { big: true }, Assign: { seen: "{% $states.input.n %}" }, Next: "Done" }], Default: "Small" },
                Done: { Type: "Pass", Output: { big: "{% $states.input.big %}", seen: "{% $seen %}" }, End: true },
                Small: { Type: "Pass", Output: "small", End: true },
            });
            assert.deepEqual(output(await run(def, { n: 9 })), { big: true, seen: 9 });
            assert.equal(output(await run(def, { n: 1 })), "small");
        });
        it("a non-boolean Condition is States.QueryEvaluationError", async () => {
            const def = jsonata({ C: { Type: "Choice", Choices: [{ Condition: "{% $states.input.n %}", Next: "D" }], Default: "D" }, D: { Type: "Succeed" } });
            assert.equal(failure(await run(def, { n: 3 })).error, "States.QueryEvaluationError");
        });
        it("Map with Items, ItemSelector and $states.context.Map.Item", async () => {
            const def = jsonata({
                M: {
                    Type: "Map",
                    Items: "{% $states.input.xs %}",
                    ItemSelector: { i: "{% $states.context.Map.Item.Index %}", v: "{% $states.context.Map.Item.Value %}" },
                    MaxConcurrency: "{% 1 %}",
                    ItemProcessor: { StartAt: "I", States: { I: { Type: "Pass", Output: "{% $states.input.v & '@' & $states.input.i %}", End: true } } },
                    Output: { all: "{% $states.result %}" },
                    End: true,
                },
            });
            assert.deepEqual(output(await run(def, { xs: ["a", "b"] })), { all: ["a@0", "b@1"] });
        });
        it("an expression that yields nothing, or throws, is States.QueryEvaluationError (catchable)", async () => {
            const f = failure(await run(jsonata({ P: { Type: "Pass", Output: "{% $states.input.missing %}", End: true } }), {}));
            assert.equal(f.error, "States.QueryEvaluationError");
            assert.match(f.cause!, /An error occurred while executing the state 'P' \(entered at the event id #2\)\. The JSONata expression '\$states.input.missing' specified for the field 'Output' returned nothing \(undefined\)\./);
            assert.equal(failure(await run(jsonata({ P: { Type: "Pass", Output: "{% 1 + 'a' %}", End: true } }))).error, "States.QueryEvaluationError");
            const caught = jsonata({
                T: { Type: "Task", Resource: "r", Arguments: "{% $error('nope') %}", Catch: [{ ErrorEquals: ["States.QueryEvaluationError"], Output: { e: "{% $states.errorOutput.Error %}" }, Next: "D" }], End: true },
                D: { Type: "Pass", End: true },
            });
            assert.deepEqual(output(await run(caught)), { e: "States.QueryEvaluationError" });
        });
        it("a JSONata failure is recorded as an EvaluationFailed event naming the state and field", async () => {
            const r = await run(jsonata({ P: { Type: "Pass", Output: { a: "{% $nope %}" }, End: true } }));
            const evaluation = r.events.find((e) => e.type === "EvaluationFailed")!;
            assert.equal(evaluation.evaluationFailedEventDetails!.state, "P");
            assert.equal(evaluation.evaluationFailedEventDetails!.location, "Output/a");
            assert.equal(r.events.filter((e) => e.type === "EvaluationFailed").length, 1);
        });
        it("Catch in JSONata: default output is the error output; Assign sees $states.errorOutput", async () => {
            const def = jsonata({
                T: { Type: "Task", Resource: "r", Catch: [{ ErrorEquals: ["States.ALL"], Assign: { why: "{% $states.errorOutput.Cause %}" }, Next: "D" }], End: true },
                D: { Type: "Pass", Output: { err: "{% $states.input %}", why: "{% $why %}" }, End: true },
            });
            const r = await run(def, {}, { task: () => Promise.reject(Object.assign(new Error("the cause"), { name: "Boom" })) });
            assert.deepEqual(output(r), { err: { Error: "Boom", Cause: "the cause" }, why: "the cause" });
        });
        it("AWS's added functions: $partition, $range, $hash, $random, $uuid, $parse", async () => {
            const def = jsonata({
                P: {
                    Type: "Pass",
                    Output: { p: "{% $partition([1,2,3,4,5], 2) %}", r: "{% $range(0, 10, 5) %}", h: "{% $hash('input data', 'SHA-1') %}", rnd: "{% $random() %}", u: "{% $uuid() %}", j: "{% $parse('{\"a\":[1]}') %}" },
                    End: true,
                },
            });
            const out = output(await run(def)) as Record<string, JsonValue>;
            assert.deepEqual(out.p, [[1, 2], [3, 4], [5]]);
            assert.deepEqual(out.r, [0, 5, 10]);
            assert.equal(out.h, "aaff4a450a104cd177d28d18d74485e8cae074b7");
            assert.equal(out.rnd, 0.5);
            assert.match(out.u as string, /^[0-9a-f-]{36}$/);
            assert.deepEqual(out.j, { a: [1] });
        });
        it("Wait Seconds, Fail Error/Cause and Task TimeoutSeconds as expressions", async () => {
            const r = await run(jsonata({ W: { Type: "Wait", Seconds: "{% $states.input.s %}", Next: "F" }, F: { Type: "Fail", Error: "{% 'E' & $states.input.s %}", Cause: "{% $string($states.input) %}" } }), { s: 3 });
            assert.deepEqual([failure(r).error, failure(r).cause], ["E3", '{"s":3}']);
            assert.equal(r.elapsedMs, 3000);
            const t = await run(jsonata({ T: { Type: "Task", Resource: "r", TimeoutSeconds: "{% 5 %}", End: true } }), {}, { task: () => new Promise(() => undefined) });
            assert.equal(failure(t).error, "States.Timeout");
            assert.equal(t.elapsedMs, 5000);
        });
        it("JSONPath-only fields in JSONata states, and JSONata fields in JSONPath states, are refused", () => {
            refuses(jsonata({ P: { Type: "Pass", InputPath: "$.a", End: true } }), "/States/P/InputPath");
            refuses(jsonata({ P: { Type: "Task", Resource: "r", Parameters: {}, End: true } }), "/States/P/Parameters");
            refuses(pass({ Output: "{% 1 %}" }), "/States/P/Output");
            refuses(jsonata({ P: { Type: "Pass", Output: "{% 1 + %}", End: true } }), "/States/P/Output", "INVALID_JSONATA");
        });
        it("Parallel with Arguments in JSONata; branches inherit the language", async () => {
            const def = jsonata({
                P: { Type: "Parallel", Arguments: { x: "{% $states.input.v %}" }, Branches: [{ StartAt: "A", States: { A: { Type: "Pass", Output: "{% $states.input.x + 1 %}", End: true } } }], Output: "{% $states.result[0] %}", End: true },
            });
            assert.equal(output(await run(def, { v: 1 })), 2);
        });
    });

    describe("Execution-level behaviour", () => {
        it("execution TimeoutSeconds ends the run TIMED_OUT", async () => {
            const r = await run({ TimeoutSeconds: 5, StartAt: "W", States: { W: { Type: "Wait", Seconds: 60, End: true } } });
            assert.equal(r.result.status, "TIMED_OUT");
            assert.equal(r.events.at(-1)!.type, "ExecutionTimedOut");
            assert.equal(r.elapsedMs, 5000);
        });
        it("aborting the signal ends the run ABORTED with the stop's error and cause, and aborts the pending task", async () => {
            const controller = new AbortController();
            let taskSignal: AbortSignal | undefined;
            const pending = run({ StartAt: "T", States: { T: { Type: "Task", Resource: "r", End: true } } }, {}, {
                signal: controller.signal,
                task: (c) => {
                    taskSignal = c.signal;
                    setImmediate(() => controller.abort({ error: "Stopped", cause: "by test" }));
                    return new Promise(() => undefined);
                },
            });
            const r = await pending;
            assert.deepEqual(r.result, { status: "ABORTED", error: "Stopped", cause: "by test" });
            assert.ok(taskSignal?.aborted);
            assert.equal(r.events.at(-1)!.type, "ExecutionAborted");
        });
        it("startAt resumes at a state with a given input (redrive) without a new ExecutionStarted", async () => {
            const def = { StartAt: "A", States: { A: { Type: "Fail", Error: "X" }, B: { Type: "Pass", Result: "resumed", End: true } } };
            const r = await run(def, {}, { startAt: { stateName: "B", input: { any: 1 } } });
            assert.equal(output(r), "resumed");
            assert.notEqual(r.events[0].type, "ExecutionStarted");
        });
        it("the failed top-level state is reported for a failure inside a Map", async () => {
            const def = { StartAt: "M", States: { M: { Type: "Map", ItemProcessor: { StartAt: "F", States: { F: { Type: "Fail", Error: "E" } } }, End: true } } };
            assert.equal((failure(await run(def, [1])) as { failedState?: string }).failedState, "M");
        });
        it("a state output over 256 KiB is States.DataLimitExceeded", async () => {
            const r = await run(pass({ Parameters: { "v.$": "States.Array($.s, $.s, $.s)" } }), { s: "x".repeat(100 * 1024) });
            assert.equal(failure(r).error, "States.DataLimitExceeded");
        });
        it("previousEventId chains events within a lane", async () => {
            const r = await run({ StartAt: "A", States: { A: { Type: "Pass", Next: "B" }, B: { Type: "Pass", End: true } } });
            assert.deepEqual(
                r.events.map((e) => [e.id, e.previousEventId]),
                [[1, 0], [2, 1], [3, 2], [4, 3], [5, 4], [6, 5]],
            );
        });
    });

    describe("Definition validation", () => {
        it("names the field of each problem", () => {
            refuses({ StartAt: "Nope", States: { A: { Type: "Pass", End: true } } }, "/StartAt", "MISSING_TRANSITION_TARGET");
            refuses({ StartAt: "A", States: { A: { Type: "Pass", Next: "Z" } } }, "/States/A/Next", "MISSING_TRANSITION_TARGET");
            refuses({ StartAt: "A", States: { A: { Type: "Pass" } } }, "/States/A");
            refuses({ StartAt: "A", States: { A: { Type: "Bogus", End: true } } }, "/States/A/Type");
            refuses({ StartAt: "A", States: { A: { Type: "Pass", End: true, Frobnicate: 1 } } }, "/States/A/Frobnicate");
            refuses({ StartAt: "A", States: { A: { Type: "Pass", End: true, ResultPath: "$.a[*]" } } }, "/States/A/ResultPath", "INVALID_JSON_PATH");
            refuses({ StartAt: "A", States: { A: { Type: "Pass", End: true, InputPath: "a.b" } } }, "/States/A/InputPath", "INVALID_JSON_PATH");
            refuses({ StartAt: "A", States: { A: { Type: "Wait", End: true } } }, "/States/A");
            refuses({ StartAt: "A", States: { A: { Type: "Task", End: true } } }, "/States/A/Resource");
            refuses({ QueryLanguage: "XPath", StartAt: "A", States: { A: { Type: "Pass", End: true } } }, "/QueryLanguage");
            refuses({ StartAt: "A", States: { A: { Type: "Fail", Error: "E", ErrorPath: "$.e" } } }, "/States/A");
            refuses({ StartAt: "A", States: { A: { Type: "Pass", End: true, Assign: { "bad-name": 1 } } } }, "/States/A/Assign/bad-name");
        });
        it("accepts a definition with every state type", () => {
            validateDefinition({
                Comment: "all types",
                TimeoutSeconds: 60,
                StartAt: "Pass",
                States: {
                    Pass: { Type: "Pass", Next: "Task" },
                    Task: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", TimeoutSeconds: 10, HeartbeatSeconds: 5, Retry: [{ ErrorEquals: ["States.ALL"] }], Next: "Choice" },
                    Choice: { Type: "Choice", Choices: [{ Variable: "$.a", IsPresent: true, Next: "Wait" }], Default: "Parallel" },
                    Wait: { Type: "Wait", Seconds: 1, Next: "Parallel" },
                    Parallel: { Type: "Parallel", Branches: [{ StartAt: "S", States: { S: { Type: "Succeed" } } }], Next: "Map" },
                    Map: { Type: "Map", ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }, StartAt: "X", States: { X: { Type: "Pass", End: true } } }, Next: "Done" },
                    Done: { Type: "Succeed" },
                    Failed: { Type: "Fail", Error: "E" },
                },
            });
        });
    });
});
