/**
 * Scheduled EventBridge rules: the rate() and 6-field cron() expressions as AWS reads them (UTC, `? L W #`,
 * day-of-week 1 = Sunday), what is refused, and rules firing on an injected clock, on a clock run 200 times
 * faster with real timers, and not at all after close().
 */
import { strict as assert } from "assert";
import { BusEvent, EventBridgeService, ScheduleClock } from "../local/services/events/eventBridge";
import { Schedule, nextFireTime, parseScheduleExpression } from "../local/services/events/schedule";
import { AwsError } from "../local/core/awsError";

const ACCOUNT = "000000000000";
const REGION = "us-east-1";

/** The next fire time after `after` (ISO text), as ISO text, or undefined. */
function next(expression: string, after: string, origin = after): string | undefined {
    const schedule: Schedule = parseScheduleExpression(expression);
    const at = nextFireTime(schedule, Date.parse(origin), Date.parse(after));
    return at === undefined ? undefined : new Date(at).toISOString();
}

function refused(expression: string, reason: RegExp): void {
    assert.throws(
        () => parseScheduleExpression(expression),
        (error: unknown) => error instanceof AwsError && error.code === "ValidationException" && /^Parameter ScheduleExpression is not valid\./.test(error.message) && reason.test(error.message),
        expression,
    );
}

/** A clock the test moves by hand; it records the timer the service arms. */
class ManualClock implements ScheduleClock {
    public time: number;
    public timers = new Map<number, { fire: () => void; at: number }>();
    private nextHandle = 1;
    constructor(start: string) {
        this.time = Date.parse(start);
    }
    now(): number {
        return this.time;
    }
    setTimeout(fire: () => void, ms: number): unknown {
        const handle = this.nextHandle++;
        this.timers.set(handle, { fire, at: this.time + ms });
        return handle;
    }
    clearTimeout(handle: unknown): void {
        this.timers.delete(handle as number);
    }
    /** Moves the clock and fires every timer that came due, as the event loop would. */
    advance(ms: number): void {
        this.time += ms;
        for (const [handle, timer] of [...this.timers]) {
            if (timer.at <= this.time) {
                this.timers.delete(handle);
                timer.fire();
            }
        }
    }
}

function service(clock?: ScheduleClock) {
    const delivered: Array<{ target: string; rule: string; input: string }> = [];
    const events = new EventBridgeService({
        region: REGION,
        accountId: ACCOUNT,
        clock,
        dispatcher: {
            deliver: async (target, rule, input) => {
                delivered.push({ target: target.id, rule: rule.name, input });
            },
        },
    });
    return { events, delivered };
}

const lambdaArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

describe("EventBridge schedule expressions", () => {
    describe("rate()", () => {
        it("counts whole periods from when the rule was put", () => {
            assert.equal(next("rate(1 minute)", "2026-03-01T10:00:30.000Z"), "2026-03-01T10:01:30.000Z");
            assert.equal(next("rate(5 minutes)", "2026-03-01T10:07:00.000Z", "2026-03-01T10:00:00.000Z"), "2026-03-01T10:10:00.000Z");
            assert.equal(next("rate(1 hour)", "2026-03-01T10:00:00.000Z"), "2026-03-01T11:00:00.000Z");
            assert.equal(next("rate(2 days)", "2026-03-01T10:00:00.000Z"), "2026-03-03T10:00:00.000Z");
        });
        it("refuses what AWS refuses: singular/plural mismatch, zero, unknown units, other forms", () => {
            refused("rate(1 minutes)", /use minute with 1/);
            refused("rate(5 minute)", /use minutes with 5/);
            refused("rate(0 minutes)", /positive whole number/);
            refused("rate(1 second)", /minute\(s\), hour\(s\) or day\(s\)/);
            refused("rate(1.5 hours)", /expected rate\(value unit\)/);
            refused("every 5 minutes", /neither rate/);
            refused("rate(1 constructor)", /minute\(s\)/);
        });
    });

    describe("cron()", () => {
        it("fires at 12:00 UTC every day for cron(0 12 * * ? *)", () => {
            assert.equal(next("cron(0 12 * * ? *)", "2026-01-01T13:00:00Z"), "2026-01-02T12:00:00.000Z");
            assert.equal(next("cron(0 12 * * ? *)", "2026-01-01T11:59:59Z"), "2026-01-01T12:00:00.000Z");
            // Strictly after: the minute itself is past once it has begun.
            assert.equal(next("cron(0 12 * * ? *)", "2026-01-01T12:00:00Z"), "2026-01-02T12:00:00.000Z");
        });
        it("reads increments, ranges, lists and names", () => {
            assert.equal(next("cron(0/15 * * * ? *)", "2026-01-01T10:16:00Z"), "2026-01-01T10:30:00.000Z");
            assert.equal(next("cron(5,35 8-9 * * ? *)", "2026-01-01T09:40:00Z"), "2026-01-02T08:05:00.000Z");
            // 2026-01-03 is a Saturday: MON-FRI resumes on Monday the 5th.
            assert.equal(next("cron(0 10 ? * MON-FRI *)", "2026-01-02T11:00:00Z"), "2026-01-05T10:00:00.000Z");
            // Day-of-week 1 is Sunday (not Monday, as in Unix cron).
            assert.equal(next("cron(0 10 ? * 1 *)", "2026-01-01T00:00:00Z"), "2026-01-04T10:00:00.000Z");
            assert.equal(next("cron(0 0 1 JAN,JUL ? *)", "2026-02-01T00:00:00Z"), "2026-07-01T00:00:00.000Z");
        });
        it("reads L, LW, nW, nL and n#k", () => {
            assert.equal(next("cron(0 0 L * ? *)", "2028-02-10T00:00:00Z"), "2028-02-29T00:00:00.000Z", "leap year's last day");
            assert.equal(next("cron(0 0 L * ? *)", "2026-02-10T00:00:00Z"), "2026-02-28T00:00:00.000Z");
            // May 2026 ends on a Sunday: its last weekday is Friday the 29th.
            assert.equal(next("cron(0 0 LW * ? *)", "2026-05-01T00:00:00Z"), "2026-05-29T00:00:00.000Z");
            // 2026-08-15 is a Saturday: the nearest weekday is Friday the 14th; 2026-03-01 a Sunday, so Monday the 2nd.
            assert.equal(next("cron(0 0 15W * ? *)", "2026-08-01T00:00:00Z"), "2026-08-14T00:00:00.000Z");
            assert.equal(next("cron(0 0 1W * ? *)", "2026-02-15T00:00:00Z"), "2026-03-02T00:00:00.000Z");
            // The third Friday of January 2026 is the 16th; the last Monday the 26th.
            assert.equal(next("cron(0 9 ? * 6#3 *)", "2026-01-01T00:00:00Z"), "2026-01-16T09:00:00.000Z");
            assert.equal(next("cron(0 9 ? * FRI#3 *)", "2026-01-01T00:00:00Z"), "2026-01-16T09:00:00.000Z");
            assert.equal(next("cron(0 9 ? * 2L *)", "2026-01-01T00:00:00Z"), "2026-01-26T09:00:00.000Z");
        });
        it("honours the year field, and answers no time once its years are past", () => {
            assert.equal(next("cron(0 0 1 1 ? 2030)", "2026-06-01T00:00:00Z"), "2030-01-01T00:00:00.000Z");
            assert.equal(next("cron(0 0 1 1 ? 2025)", "2026-06-01T00:00:00Z"), undefined);
            assert.equal(next("cron(0 0 31 2 ? *)", "2026-06-01T00:00:00Z"), undefined, "February never has a 31st");
        });
        it("refuses what it does not read, naming it", () => {
            refused("cron(0 12 * * *)", /6 fields .* not 5/);
            refused("cron(0 12 * * * *)", /exactly one of day-of-month and day-of-week must be \?/);
            refused("cron(0 12 ? * ? *)", /exactly one of day-of-month and day-of-week must be \?/);
            refused("cron(60 12 * * ? *)", /minutes "60" is not a value from 0 to 59/);
            refused("cron(0 12 * 13 ? *)", /month "13"/);
            refused("cron(0 12 ? * 0 *)", /day-of-week "0" is not a value from 1 to 7/);
            refused("cron(0 22-2 * * ? *)", /range that wraps around is not supported/);
            refused("cron(0 12 L-2 * ? *)", /day-of-month "L-2" is not supported/);
            refused("cron(0 12 * * ? 1969)", /year "1969"/);
        });
    });
});

describe("EventBridge scheduled rules", () => {
    const START = "2026-03-01T10:00:00.000Z";

    function scheduled(events: EventBridgeService, name: string, scheduleExpression: string, state: "ENABLED" | "DISABLED" = "ENABLED") {
        events.putRule({ Name: name, ScheduleExpression: scheduleExpression, State: state });
        events.putTargets({ Rule: name, Targets: [{ Id: `${name}-target`, Arn: lambdaArn(name) }] });
    }

    it("a rate(1 minute) rule fires after one minute with AWS's scheduled event, only to its own targets", async () => {
        const clock = new ManualClock(START);
        const { events, delivered } = service(clock);
        scheduled(events, "every-minute", "rate(1 minute)");
        // A rule matching aws.events' scheduled events by pattern: AWS does not send scheduled events through the bus.
        events.putRule({ Name: "watcher", EventPattern: JSON.stringify({ source: ["aws.events"] }) });
        events.putTargets({ Rule: "watcher", Targets: [{ Id: "watcher", Arn: lambdaArn("watcher") }] });
        const seen: BusEvent[] = [];
        events.onEvent((event) => seen.push(event));

        clock.advance(59_000);
        await events.idle();
        assert.equal(delivered.length, 0, "nothing before the minute is up");

        clock.advance(1_000);
        await events.idle();
        assert.equal(delivered.length, 1);
        assert.equal(delivered[0].target, "every-minute-target");
        const event = JSON.parse(delivered[0].input) as BusEvent;
        assert.deepEqual({ ...event, id: "?" }, {
            version: "0",
            id: "?",
            "detail-type": "Scheduled Event",
            source: "aws.events",
            account: ACCOUNT,
            time: "2026-03-01T10:01:00Z",
            region: REGION,
            resources: [`arn:aws:events:${REGION}:${ACCOUNT}:rule/every-minute`],
            detail: {},
        });
        assert.match(event.id, /^[0-9a-f-]{36}$/);
        assert.equal(seen.length, 1, "listeners see the scheduled event");

        clock.advance(60_000);
        await events.idle();
        assert.equal(delivered.length, 2, "and again a minute later");
        assert.equal((JSON.parse(delivered[1].input) as BusEvent).time, "2026-03-01T10:02:00Z");
        events.close();
    });

    it("a schedule that fell behind fires once, then keeps to its period", async () => {
        const clock = new ManualClock(START);
        const { events, delivered } = service(clock);
        scheduled(events, "behind", "rate(1 minute)");
        const fired = events.tickSchedules(Date.parse(START) + 10 * 60_000 + 5_000);
        await events.idle();
        assert.equal(fired.length, 1);
        assert.equal(delivered.length, 1);
        assert.equal(events.tickSchedules(Date.parse(START) + 10 * 60_000 + 30_000).length, 0);
        assert.equal(events.tickSchedules(Date.parse(START) + 11 * 60_000).length, 1);
        events.close();
    });

    it("a cron rule fires at its wall-clock minute", async () => {
        const clock = new ManualClock("2026-03-01T11:58:00.000Z");
        const { events, delivered } = service(clock);
        scheduled(events, "noon", "cron(0 12 * * ? *)");
        clock.advance(60_000);
        await events.idle();
        assert.equal(delivered.length, 0);
        clock.advance(60_000);
        await events.idle();
        assert.equal(delivered.length, 1);
        assert.equal((JSON.parse(delivered[0].input) as BusEvent).time, "2026-03-01T12:00:00Z");
        events.close();
    });

    it("a disabled rule does not fire; enabled again, it does", async () => {
        const clock = new ManualClock(START);
        const { events, delivered } = service(clock);
        scheduled(events, "paused", "rate(1 minute)", "DISABLED");
        assert.equal(clock.timers.size, 0, "no timer for a disabled schedule");
        clock.advance(120_000);
        await events.idle();
        assert.equal(delivered.length, 0);
        events.enableRule({ Name: "paused" });
        clock.advance(60_000);
        await events.idle();
        assert.equal(delivered.length, 1);
        events.disableRule({ Name: "paused" });
        clock.advance(600_000);
        await events.idle();
        assert.equal(delivered.length, 1);
        events.close();
    });

    it("a deleted rule's schedule stops, and close() clears the timer for good", async () => {
        const clock = new ManualClock(START);
        const { events, delivered } = service(clock);
        scheduled(events, "gone", "rate(1 minute)");
        scheduled(events, "kept", "rate(2 minutes)");
        events.removeTargets({ Rule: "gone", Ids: ["gone-target"] });
        events.deleteRule({ Name: "gone" });
        clock.advance(60_000);
        await events.idle();
        assert.equal(delivered.length, 0);
        assert.equal(clock.timers.size, 1);
        events.close();
        assert.equal(clock.timers.size, 0, "close() clears the armed timer");
        clock.advance(600_000);
        events.putRule({ Name: "after-close", ScheduleExpression: "rate(1 minute)" });
        assert.equal(clock.timers.size, 0, "nothing is armed after close()");
        await events.idle();
        assert.equal(delivered.length, 0);
    });

    it("a rule the stack declares with a schedule and no pattern is served (the runtime passes eventPattern '')", async () => {
        const clock = new ManualClock(START);
        const { events, delivered } = service(clock);
        events.addRule({ name: "nightly", arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/nightly`, busName: "default", eventPattern: "", scheduleExpression: "rate(1 day)" });
        events.addTarget("default", "nightly", { id: "t", arn: lambdaArn("nightly") });
        clock.advance(24 * 3600_000);
        await events.idle();
        assert.equal(delivered.length, 1);
        assert.equal(events.describeRule({ Name: "nightly" }).ScheduleExpression, "rate(1 day)");
        assert.equal(events.describeRule({ Name: "nightly" }).EventPattern, undefined);
        assert.throws(
            () => events.addRule({ name: "elsewhere", arn: "arn:x", busName: "custom", scheduleExpression: "rate(1 day)" }),
            (error: unknown) => error instanceof AwsError && error.message === "ScheduleExpression is supported only on the default event bus.",
        );
        assert.throws(
            () => events.addRule({ name: "neither", arn: "arn:x", busName: "default", eventPattern: "" }),
            (error: unknown) => error instanceof AwsError && error.code === "ValidationException" && /EventPattern or ScheduleExpression must be specified/.test(error.message),
        );
        events.close();
    });

    it("fires on real, unref'd timers (a clock run 200 times faster: one minute is 300 ms)", async function () {
        this.timeout(10_000);
        const base = Date.now();
        const speed = 200;
        const fast: ScheduleClock = {
            now: () => base + (Date.now() - base) * speed,
            setTimeout: (fire, ms) => setTimeout(fire, Math.ceil(ms / speed)).unref(),
            clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
        };
        const { events, delivered } = service(fast);
        scheduled(events, "fast", "rate(1 minute)");
        const started = Date.now();
        while (delivered.length < 2 && Date.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
        events.close();
        assert.ok(delivered.length >= 2, `fired ${delivered.length} times in ${Date.now() - started} ms`);
        const times = delivered.map((d) => Date.parse((JSON.parse(d.input) as BusEvent).time));
        assert.equal(times[1] - times[0], 60_000, "a minute apart on the schedule's clock");
        const count = delivered.length;
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(delivered.length, count, "nothing fires after close()");
    });
});
