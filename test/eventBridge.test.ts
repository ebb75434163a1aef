/**
 * EventBridge in the offline runtime against hostile input (issue 11): wildcard patterns that would block the
 * process, names of Object.prototype's members as bus, rule and field names, members of the wrong type, deep
 * nesting, huge strings and other accounts', Regions' and services' ARNs as EventBusName. The critical items
 * are checked through the endpoint with raw HTTP, signed as the SDK signs; the rest on the service itself.
 */
import { strict as assert } from "assert";
import { ListTargetsByRuleCommand, PutEventsCommand, TestEventPatternCommand } from "@aws-sdk/client-eventbridge";
import { BusEvent, EventBridgeService, MAX_JSON_DEPTH, RuleSpec, TargetSpec, targetInput } from "../local/services/events/eventBridge";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { RawAnswer, rawCall as rawRequest } from "./support/rawRequest";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";

const PROTOTYPE_NAMES = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "__defineGetter__"];

const TOO_COMPLEX = "Event pattern is not valid. Reason: Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

/** A TestEventPattern event with every required field and this detail. */
function testEvent(detail: unknown, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
        id: "1",
        account: "000000000000",
        source: "test",
        time: "2026-01-01T00:00:00Z",
        region: "us-east-1",
        resources: [],
        "detail-type": "probe",
        detail,
        ...extra,
    });
}

/** JSON text of `levels` nested objects `{"a": ... }` around `inner`. */
function nestedObjects(levels: number, inner: string): string {
    return '{"a":'.repeat(levels) + inner + "}".repeat(levels);
}

/** The service alone, on account 000000000000 in us-east-1, recording what it would deliver. */
function service(): { events: EventBridgeService; delivered: Array<{ target: string; input: string }> } {
    const delivered: Array<{ target: string; input: string }> = [];
    const events = new EventBridgeService({
        region: "us-east-1",
        accountId: "000000000000",
        dispatcher: {
            deliver: async (target, _rule, input) => {
                delivered.push({ target: target.id, input });
            },
        },
    });
    return { events, delivered };
}

function rule(name: string, busName: string, pattern: object): RuleSpec {
    return { name, busName, arn: `arn:aws:events:us-east-1:000000000000:rule/${busName}/${name}`, eventPattern: JSON.stringify(pattern) };
}

function target(id: string, extra: Partial<TargetSpec> = {}): TargetSpec {
    return { id, arn: `arn:aws:lambda:us-east-1:000000000000:function:${id}`, ...extra };
}

describe("EventBridge under hostile input", function () {
    this.timeout(60_000);

    describe("through the endpoint", () => {
        let runtime: TestRuntime;
        const call = (target: string, body: unknown): Promise<RawAnswer> =>
            rawRequest(runtime.url, target, typeof body === "string" ? body : JSON.stringify(body), { credentials: LOCAL_CREDENTIALS });
        /** The endpoint answers a plain request: what every hostile request must leave true. */
        const stillServing = async () => {
            const answer = await call("AWSEvents.ListEventBuses", {});
            assert.equal(answer.status, 200, answer.body);
            assert.match(answer.body, /"Name":"default"/);
        };
        const entry = (fields: Record<string, unknown> = {}) => ({ Source: "probe", DetailType: "probe", Detail: "{}", ...fields });

        before(async () => {
            runtime = await startTestRuntime();
        });
        after(async () => runtime?.close());

        describe("wildcards cannot block the process", () => {
            it("TestEventPattern with 25 wildcards against a 56-character value: InvalidEventPatternException in milliseconds", async () => {
                const EventPattern = JSON.stringify({ detail: { v: [{ wildcard: "*a".repeat(25) + "*b" }] } });
                const started = Date.now();
                const answer = await call("AWSEvents.TestEventPattern", { EventPattern, Event: testEvent({ v: "a".repeat(56) }) });
                const ms = Date.now() - started;
                assert.deepEqual([answer.status, answer.type, answer.message], [400, "InvalidEventPatternException", TOO_COMPLEX]);
                assert.ok(ms < 1000, `answered in ${ms} ms`);
                await stillServing();
            });

            it("every wildcard pattern of up to 25 `*a` is answered in milliseconds, matched or refused", async () => {
                const started = Date.now();
                for (let stars = 1; stars <= 25; stars++) {
                    const EventPattern = JSON.stringify({ detail: { v: [{ wildcard: "*a".repeat(stars) + "*b" }] } });
                    const answer = await call("AWSEvents.TestEventPattern", { EventPattern, Event: testEvent({ v: "a".repeat(56) }) });
                    // Within the limit the pattern is valid and does not match (no trailing b); past it, refused.
                    if (answer.status === 200) assert.equal(JSON.parse(answer.body).Result, false, `${stars} stars`);
                    else assert.deepEqual([answer.status, answer.message], [400, TOO_COMPLEX], `${stars} stars`);
                }
                assert.ok(Date.now() - started < 3000, `25 calls took ${Date.now() - started} ms`);
            });

            it("a valid many-wildcard pattern matches through the SDK", async () => {
                const EventPattern = JSON.stringify({ detail: { key: [{ wildcard: "results/*/part-*.json" }] } });
                const test = async (key: string) =>
                    (await runtime.clients.events.send(new TestEventPatternCommand({ EventPattern, Event: testEvent({ key }) }))).Result;
                assert.equal(await test("results/2026/01/part-0001.json"), true);
                assert.equal(await test("results/2026/01/part-0001.json.tmp"), false);
                assert.equal(await test("other/2026/part-0001.json"), false);
            });
        });

        describe("names of Object.prototype's members are ordinary names", () => {
            it("as pattern and event fields: no match where the event lacks them, a match where it has them", async () => {
                for (const name of PROTOTYPE_NAMES) {
                    const test = async (pattern: object, detail: object) => {
                        const answer = await call("AWSEvents.TestEventPattern", { EventPattern: JSON.stringify({ detail: pattern }), Event: testEvent(detail) });
                        assert.equal(answer.status, 200, `${name}: ${answer.body}`);
                        return JSON.parse(answer.body).Result as boolean;
                    };
                    // JSON text, so "__proto__" is an own key of the parsed objects as it is of AWS's.
                    const field = (value: string) => JSON.parse(`{${JSON.stringify(name)}: ${value}}`) as object;
                    assert.equal(await test(field('[{"exists": true}]'), {}), false, `${name} exists in {}`);
                    assert.equal(await test(field('[{"exists": false}]'), {}), true, `${name} absent from {}`);
                    assert.equal(await test(field('["x"]'), field('"x"')), true, `${name}: "x" matches "x"`);
                    assert.equal(await test(field('["x"]'), field('"y"')), false, `${name}: "x" does not match "y"`);
                    assert.equal(await test(field('{"inner": ["x"]}'), field('{"inner": "x"}')), true, `${name}.inner`);
                    assert.equal(await test(field('[{"prefix": "x"}]'), field("5")), false, `${name}: prefix on a number`);
                }
                await stillServing();
            });

            it("as bus names: PutEvents fails the entry (the bus does not exist), ListRules is ResourceNotFoundException", async () => {
                for (const name of PROTOTYPE_NAMES.filter((n) => /^[._\-A-Za-z0-9]+$/.test(n))) {
                    const put = await call("AWSEvents.PutEvents", { Entries: [entry({ EventBusName: name })] });
                    assert.equal(put.status, 200, put.body);
                    assert.deepEqual(JSON.parse(put.body).Entries, [{ ErrorCode: "ResourceNotFoundException", ErrorMessage: `Event bus ${name} does not exist.` }]);
                    const rules = await call("AWSEvents.ListRules", { EventBusName: name });
                    assert.deepEqual([rules.status, rules.type], [400, "ResourceNotFoundException"], name);
                }
                await stillServing();
            });

            it("as rule names: ListTargetsByRule is ResourceNotFoundException; ListRules with such a prefix lists nothing", async () => {
                for (const name of PROTOTYPE_NAMES) {
                    await assert.rejects(runtime.clients.events.send(new ListTargetsByRuleCommand({ Rule: name, EventBusName: "default" })), {
                        name: "ResourceNotFoundException",
                        message: `Rule ${name} does not exist on EventBus default.`,
                    });
                    const listed = await call("AWSEvents.ListRules", { NamePrefix: name });
                    assert.deepEqual([listed.status, JSON.parse(listed.body).Rules], [200, []], name);
                }
            });

            it("in a put event's detail: accepted and delivered as data", async () => {
                const detail = '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "toString": 1}';
                const put = await call("AWSEvents.PutEvents", { Entries: [entry({ Detail: detail })] });
                assert.equal(put.status, 200, put.body);
                const id = JSON.parse(put.body).Entries[0].EventId as string;
                const event = runtime.events.find((e) => e.id === id)!;
                assert.deepEqual(Object.keys(event.detail), ["__proto__", "constructor", "toString"]);
                assert.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype untouched");
                await stillServing();
            });
        });

        describe("members of the wrong type: 400 SerializationException, never 500", () => {
            // Messages name the member as the SDK does: `Entries[0].Source must be a string, not a number`.
            const cases: Array<[string, string, unknown, RegExp]> = [
                ["PutEvents Entries a string", "PutEvents", { Entries: "x" }, /^Entries must be a list/],
                ["PutEvents Entries an object", "PutEvents", { Entries: { Source: "probe" } }, /^Entries must be a list/],
                ["PutEvents an entry a number", "PutEvents", { Entries: [5] }, /^Entries\[0\] must be an object/],
                ["PutEvents Source a number", "PutEvents", { Entries: [entry({ Source: 5 })] }, /^Entries\[0\]\.Source must be a string, not a number/],
                ["PutEvents EventBusName a number", "PutEvents", { Entries: [entry({ EventBusName: 5 })] }, /^Entries\[0\]\.EventBusName must be a string/],
                ["PutEvents EventBusName a list", "PutEvents", { Entries: [entry(), entry({ EventBusName: ["default"] })] }, /^Entries\[1\]\.EventBusName must be a string, not a list/],
                ["PutEvents Detail an object", "PutEvents", { Entries: [entry({ Detail: { a: 1 } })] }, /^Entries\[0\]\.Detail must be a string, not an object/],
                ["PutEvents Detail a number", "PutEvents", { Entries: [entry({ Detail: 5 })] }, /^Entries\[0\]\.Detail must be a string/],
                ["PutEvents DetailType a boolean", "PutEvents", { Entries: [entry({ DetailType: true })] }, /^Entries\[0\]\.DetailType must be a string/],
                ["PutEvents Resources a string", "PutEvents", { Entries: [entry({ Resources: "arn" })] }, /^Entries\[0\]\.Resources must be a list/],
                ["PutEvents a Resources member a number", "PutEvents", { Entries: [entry({ Resources: [1] })] }, /^Entries\[0\]\.Resources\[0\] must be a string/],
                ["PutEvents Time an object", "PutEvents", { Entries: [entry({ Time: {} })] }, /^Entries\[0\]\.Time must be a timestamp/],
                ["TestEventPattern EventPattern a number", "TestEventPattern", { EventPattern: 5, Event: testEvent({}) }, /^EventPattern must be a string/],
                ["TestEventPattern EventPattern an object", "TestEventPattern", { EventPattern: { source: ["x"] }, Event: testEvent({}) }, /^EventPattern must be a string/],
                ["TestEventPattern Event a number", "TestEventPattern", { EventPattern: '{"source":["x"]}', Event: 5 }, /^Event must be a string/],
                ["ListRules Limit a string", "ListRules", { Limit: "10" }, /^Limit must be a number/],
                ["ListRules EventBusName a number", "ListRules", { EventBusName: 5 }, /^EventBusName must be a string/],
                ["ListTargetsByRule Rule a list", "ListTargetsByRule", { Rule: ["workflow-start"] }, /^Rule must be a string/],
                ["ListEventBuses NamePrefix an object", "ListEventBuses", { NamePrefix: {} }, /^NamePrefix must be a string/],
            ];
            for (const [name, operation, body, names] of cases) {
                it(name, async () => {
                    const answer = await call(`AWSEvents.${operation}`, body);
                    assert.deepEqual([answer.status, answer.type], [400, "SerializationException"], answer.body);
                    assert.match(answer.message, names);
                });
            }
            it("and the endpoint still serves", stillServing);
        });

        describe("deep nesting and huge strings: 400 with AWS's code, and the endpoint keeps serving", () => {
            it("a pattern of 10,000 nested objects is over EventPattern's 4,096 characters: ValidationException", async () => {
                const answer = await call("AWSEvents.TestEventPattern", { EventPattern: nestedObjects(10_000, '["x"]'), Event: testEvent({}) });
                assert.deepEqual([answer.status, answer.type], [400, "ValidationException"]);
                assert.match(answer.message, /at 'eventPattern' failed to satisfy constraint: Member must have length less than or equal to 4096/);
                await stillServing();
            });

            it("a pattern as deep as 4,096 characters allow (680 objects) is read and matched; nested arrays in one are InvalidEventPatternException", async () => {
                const deep = nestedObjects(680, '["x"]');
                assert.ok(deep.length <= 4096);
                // An event whose top-level "a" holds `levels` - 1 more objects "a", the innermost "a" being "x".
                const eventOf = (levels: number) => testEvent(null, { a: "DEEP" }).replace('"DEEP"', nestedObjects(levels - 1, '"x"'));
                for (const [levels, expected] of [[680, true], [679, false]] as const) {
                    const answer = await call("AWSEvents.TestEventPattern", { EventPattern: deep, Event: eventOf(levels) });
                    assert.equal(answer.status, 200, answer.body);
                    assert.equal(JSON.parse(answer.body).Result, expected, `${levels} levels`);
                }
                const arrays = `{"a":${"[".repeat(2000)}${"]".repeat(2000)}}`;
                const refused = await call("AWSEvents.TestEventPattern", { EventPattern: arrays, Event: testEvent({}) });
                assert.deepEqual([refused.status, refused.type], [400, "InvalidEventPatternException"]);
            });

            it("an event nested 10,000 levels: ValidationException \"Parameter Event is not valid.\"", async () => {
                const Event = testEvent("DEEP").replace('"DEEP"', nestedObjects(10_000, "1"));
                const answer = await call("AWSEvents.TestEventPattern", { EventPattern: '{"detail":{"a":[{"exists":true}]}}', Event });
                assert.deepEqual([answer.status, answer.type, answer.message], [400, "ValidationException", "Parameter Event is not valid."]);
                for (const bad of ["not json", "[1]", "5", JSON.stringify({ source: "x" })]) {
                    const invalid = await call("AWSEvents.TestEventPattern", { EventPattern: '{"source":["x"]}', Event: bad });
                    assert.deepEqual([invalid.status, invalid.type, invalid.message], [400, "ValidationException", "Parameter Event is not valid."], bad);
                }
                await stillServing();
            });

            it(`a Detail nested deeper than ${MAX_JSON_DEPTH} levels fails its entry with MalformedDetail; ${MAX_JSON_DEPTH} levels are accepted`, async () => {
                const put = await call("AWSEvents.PutEvents", {
                    Entries: [
                        entry({ Detail: nestedObjects(10_000, "1") }),
                        entry({ Detail: nestedObjects(MAX_JSON_DEPTH, "1") }),
                        entry({ Detail: `{"a":${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}}` }),
                    ],
                });
                assert.equal(put.status, 200, put.body);
                const [tooDeep, atLimit, arrays] = JSON.parse(put.body).Entries;
                assert.equal(tooDeep.ErrorCode, "MalformedDetail");
                assert.match(tooDeep.ErrorMessage, /1100 levels/);
                assert.ok(atLimit.EventId, JSON.stringify(atLimit));
                assert.equal(arrays.ErrorCode, "MalformedDetail");
                await stillServing();
            });

            it("huge strings: a 5 MB Event, a 5 MB pattern and a 250 KB Source are answered in well under a second", async () => {
                const started = Date.now();
                const hugeEvent = await call("AWSEvents.TestEventPattern", {
                    EventPattern: '{"detail":{"v":[{"wildcard":"*x*y*z"}]}}',
                    Event: testEvent({ v: "x".repeat(5_000_000) }),
                });
                assert.deepEqual([hugeEvent.status, JSON.parse(hugeEvent.body).Result], [200, false]);
                const hugePattern = await call("AWSEvents.TestEventPattern", { EventPattern: `{"source":["${"s".repeat(5_000_000)}"]}`, Event: testEvent({}) });
                assert.deepEqual([hugePattern.status, hugePattern.type], [400, "ValidationException"]);
                assert.ok(hugePattern.message.length < 1000, "the message does not echo the whole pattern");
                const hugeSource = await call("AWSEvents.PutEvents", { Entries: [entry({ Source: "s".repeat(250_000) })] });
                assert.equal(hugeSource.status, 200, hugeSource.body.slice(0, 200));
                assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
                await stillServing();
            });
        });

        describe("EventBusName ARNs: only this account's buses in this Region", () => {
            const put = (EventBusName: string) => call("AWSEvents.PutEvents", { Entries: [entry({ EventBusName })] });

            it("another service's ARN, or a partner bus name, does not satisfy EventBusName's pattern: ValidationException, whole call", async () => {
                for (const name of ["arn:aws:sqs:us-east-1:000000000000:foo/default", "arn:aws:events:us-east-1:000000000000:rule/default", "aws.partner/x.com/1/default", "de fault"]) {
                    const seen = runtime.events.length;
                    const answer = await call("AWSEvents.PutEvents", { Entries: [entry(), entry({ EventBusName: name })] });
                    assert.deepEqual([answer.status, answer.type], [400, "ValidationException"], name);
                    assert.match(answer.message, /at 'entries\.2\.member\.eventBusName' failed to satisfy constraint: Member must satisfy regular expression pattern/);
                    assert.equal(runtime.events.length, seen, "no entry of the call was put");
                }
            });

            it("a bus ARN in another Region: ValidationException \"Cross-region API call is not allowed.\"", async () => {
                const answer = await put("arn:aws:events:eu-west-1:000000000000:event-bus/default");
                assert.deepEqual([answer.status, answer.type, answer.message], [400, "ValidationException", "Cross-region API call is not allowed."]);
            });

            it("another account's bus: the entry fails with AccessDeniedException, nothing is put on the local bus", async () => {
                const seen = runtime.events.length;
                const arn = "arn:aws:events:us-east-1:111122223333:event-bus/default";
                const answer = await put(arn);
                assert.equal(answer.status, 200, answer.body);
                const response = JSON.parse(answer.body);
                assert.equal(response.FailedEntryCount, 1);
                assert.equal(response.Entries[0].ErrorCode, "AccessDeniedException");
                assert.ok(response.Entries[0].ErrorMessage.includes(arn));
                assert.equal(runtime.events.length, seen);
            });

            it("this account's bus by ARN is the bus; an empty name is refused", async () => {
                const response = await runtime.clients.events.send(
                    new PutEventsCommand({ Entries: [{ Source: "probe", DetailType: "probe", Detail: "{}", EventBusName: "arn:aws:events:us-east-1:000000000000:event-bus/default" }] }),
                );
                assert.equal(response.FailedEntryCount, 0);
                assert.ok(runtime.events.some((e: BusEvent) => e.id === response.Entries![0].EventId));
                const empty = await put("");
                assert.deepEqual([empty.status, empty.type], [400, "ValidationException"]);
                assert.match(empty.message, /Member must have length greater than or equal to 1/);
            });
        });
    });

    describe("the service itself", () => {
        it("buses, rules and targets named after Object.prototype's members work as any name", async () => {
            const { events, delivered } = service();
            for (const name of ["constructor", "toString", "__proto__"]) {
                events.addBus(name);
                events.addRule(rule(name, name, { source: [name] }));
                events.addTarget(name, name, target(name));
            }
            for (const name of ["constructor", "toString", "__proto__"]) {
                const response = events.putEvents({ Entries: [{ Source: name, DetailType: "x", Detail: "{}", EventBusName: name }] });
                assert.equal(response.FailedEntryCount, 0, name);
                assert.deepEqual(events.listRules({ EventBusName: name }).Rules.map((r) => r.Name), [name]);
                assert.deepEqual(events.listTargetsByRule({ Rule: name, EventBusName: name }).Targets.map((t) => t.Id), [name]);
            }
            await events.idle();
            assert.deepEqual(delivered.map((d) => d.target).sort(), ["__proto__", "constructor", "toString"]);
            assert.throws(() => events.addTarget("default", "hasOwnProperty", target("x")), /rule hasOwnProperty does not exist/);
        });

        it("an input path naming a prototype member reads nothing (null), not the inherited function", () => {
            const event = { version: "0", id: "1", "detail-type": "x", source: "s", account: "0", time: "t", region: "r", resources: [], detail: {} } as BusEvent;
            for (const name of ["constructor", "toString", "__proto__"]) {
                assert.equal(targetInput(event, target("t", { inputPath: `$.detail.${name}` })), "null", name);
            }
        });

        it("a target whose input cannot be built fails its delivery, recorded; the process does not crash", async () => {
            const { events, delivered } = service();
            events.addRule(rule("r", "default", { source: ["s"] }));
            events.addTarget("default", "r", target("bad", { inputPath: "detail" })); // not a JSONPath: readPath throws
            events.addTarget("default", "r", target("good"));
            events.putEvents({ Entries: [{ Source: "s", DetailType: "x", Detail: "{}" }] });
            await events.idle();
            assert.deepEqual(delivered.map((d) => d.target), ["good"]);
            assert.equal(events.deliveryFailures.length, 1);
            assert.match(events.deliveryFailures[0].error, /unsupported JSONPath detail/);
        });

        it("PutEvents validates every entry's bus before putting any", () => {
            const { events } = service();
            const seen: string[] = [];
            events.onEvent((e) => seen.push(e.id));
            assert.throws(
                () => events.putEvents({ Entries: [{ Source: "s", DetailType: "x", Detail: "{}" }, { Source: "s", DetailType: "x", Detail: "{}", EventBusName: "arn:aws:events:eu-west-1:000000000000:event-bus/default" }] }),
                { code: "ValidationException", message: "Cross-region API call is not allowed." },
            );
            assert.deepEqual(seen, []);
        });

        it("a rule whose pattern is too complex is refused when declared, as PutRule refuses it", () => {
            const { events } = service();
            assert.throws(() => events.addRule(rule("r", "default", { detail: { v: [{ wildcard: "*a".repeat(25) }] } })), { message: TOO_COMPLEX });
            assert.throws(() => events.addRule({ ...rule("r", "default", {}), eventPattern: `{"source":["${"s".repeat(5000)}"]}` }), /length less than or equal to 4096/);
        });

        it("List operations check Limit and NextToken", () => {
            const { events } = service();
            assert.throws(() => events.listRules({ Limit: 0 }), { code: "ValidationException", message: /greater than or equal to 1/ });
            assert.throws(() => events.listRules({ Limit: 101 }), { code: "ValidationException", message: /less than or equal to 100/ });
            assert.throws(() => events.listRules({ NextToken: "constructor" }), { code: "ValidationException" });
            assert.throws(() => events.listTargetsByRule({}), { code: "ValidationException", message: /'rule'/ });
        });
    });
});
