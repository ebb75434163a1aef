/**
 * CloudWatch Logs, served by the offline runtime (local/services/logs/): the JSON protocol through the endpoint with
 * the real SDK client and the AWS CLI, local IAM on a function's key, redaction of what is stored, the bound on
 * events kept, and what Lambda writes for each invocation (checked against the runtime's own invocation count).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
    CloudWatchLogsClient,
    CreateLogGroupCommand,
    CreateLogStreamCommand,
    DescribeLogGroupsCommand,
    DescribeLogStreamsCommand,
    FilteredLogEvent,
    FilterLogEventsCommand,
    FilterLogEventsCommandInput,
    GetLogEventsCommand,
    PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { finished, newExecutions, putStart, startTestRuntime, type TestRuntime, awsCliEnvironment } from "../local/testing/runtime";
import { LogsService } from "../local/services/logs/logs";
import { compileFilterPattern } from "../local/services/logs/filterPattern";

const run = promisify(execFile);

async function rejects(promise: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
    await assert.rejects(promise, (error: Error) => {
        assert.equal(error.name, name, `${error.name}: ${error.message}`);
        if (message) assert.match(error.message, message);
        return true;
    });
}

async function filterAll(client: CloudWatchLogsClient, input: FilterLogEventsCommandInput): Promise<FilteredLogEvent[]> {
    const events: FilteredLogEvent[] = [];
    let nextToken: string | undefined;
    do {
        const page = await client.send(new FilterLogEventsCommand({ ...input, nextToken }));
        events.push(...(page.events ?? []));
        nextToken = page.nextToken;
    } while (nextToken);
    return events;
}

describe("filter patterns", () => {
    it("matches terms (all), quoted phrases, ?alternatives and -exclusions case-sensitively", () => {
        assert.equal(compileFilterPattern("ERROR timeout")("an ERROR after a timeout"), true);
        assert.equal(compileFilterPattern("ERROR timeout")("an ERROR"), false);
        assert.equal(compileFilterPattern("error")("an ERROR"), false);
        assert.equal(compileFilterPattern('"REPORT RequestId"')("REPORT RequestId: 1"), true);
        assert.equal(compileFilterPattern('"REPORT RequestId"')("REPORT  RequestId: 1"), false);
        assert.equal(compileFilterPattern("?WARN ?ERROR")("a WARN"), true);
        assert.equal(compileFilterPattern("?WARN ?ERROR")("an INFO"), false);
        assert.equal(compileFilterPattern("ERROR -Exiting")("ERROR Exiting now"), false);
        assert.equal(compileFilterPattern("ERROR -Exiting")("ERROR going on"), true);
        assert.equal(compileFilterPattern("")("anything"), true);
    });

    it("matches the JSON form: comparisons, wildcards, && and || with parentheses, IS NULL, NOT EXISTS", () => {
        const report = JSON.stringify({ type: "platform.report", record: { metrics: { billedDurationMs: 13, list: [1, 2] }, status: "success", none: null } });
        const yes = (pattern: string) => assert.equal(compileFilterPattern(pattern)(report), true, pattern);
        const no = (pattern: string) => assert.equal(compileFilterPattern(pattern)(report), false, pattern);
        yes('{ $.type = "platform.report" }');
        yes("{ $.type = platform.* }");
        no('{ $.type = "platform.start" }');
        yes("{ $.record.metrics.billedDurationMs >= 13 && $.record.status = success }");
        no("{ $.record.metrics.billedDurationMs > 13 }");
        yes("{ ($.record.metrics.billedDurationMs < 5) || ($.record.metrics.list[1] = 2) }");
        yes("{ $.record.none IS NULL && $.record.missing NOT EXISTS }");
        no('{ $.type != "platform.report" }');
        assert.equal(compileFilterPattern('{ $.type = "x" }')("not json"), false);
    });

    it("refuses what it does not serve by name, with InvalidParameterException", () => {
        const refused = (pattern: string, message: RegExp) =>
            assert.throws(() => compileFilterPattern(pattern), (error: Error) => error.name === "InvalidParameterException" && message.test(error.message));
        refused("[ip, user, status=404]", /space-delimited/);
        refused("%ERR.R%", /regular expression/);
        refused("{ $.a = %x% }", /regular expression/);
        refused("{ $.a[*] = 1 }", /selector/);
        refused("a:b", /double quotes/);
        refused("?a b", /mixing/);
        refused('{ $.a > "x" }', /numbers only/);
    });
});

describe("LogsService bound", () => {
    it("keeps at most maxEventsPerGroup events, dropping the oldest first, in every read", () => {
        let now = 1_000_000;
        const logs = new LogsService({ region: "us-east-1", accountId: "000000000000", maxEventsPerGroup: 3, now: () => now });
        logs.createLogGroup({ logGroupName: "g" });
        logs.createLogStream({ logGroupName: "g", logStreamName: "a" });
        logs.createLogStream({ logGroupName: "g", logStreamName: "b" });
        for (let i = 0; i < 10; i++) {
            now++;
            logs.putLogEvents({ logGroupName: "g", logStreamName: i % 2 ? "b" : "a", logEvents: [{ timestamp: now, message: `m${i}` }] });
        }
        assert.deepEqual(logs.filterLogEvents({ logGroupName: "g" }).events?.map((e) => e.message), ["m7", "m8", "m9"]);
        assert.deepEqual(logs.getLogEvents({ logGroupName: "g", logStreamName: "a", startFromHead: true }).events?.map((e) => e.message), ["m8"]);
        const streamA = logs.describeLogStreams({ logGroupName: "g" }).logStreams?.find((s) => s.logStreamName === "a");
        assert.equal(streamA?.firstEventTimestamp, 1_000_009);
        const group = logs.describeLogGroups({}).logGroups?.[0];
        assert.equal(group?.storedBytes, 6);
    });
});

describe("CloudWatch Logs through the endpoint", function () {
    this.timeout(120_000);
    let runtime: TestRuntime;
    let logs: CloudWatchLogsClient;
    const group = `/test/logs-${process.pid}`;

    before(async () => {
        runtime = await startTestRuntime();
        logs = new CloudWatchLogsClient({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
    });
    after(async () => runtime?.close());

    it("lists the log groups the program declares, with their retention and ARNs", async () => {
        const page = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: "/choreography/dev/" }));
        const names = (page.logGroups ?? []).map((g) => g.logGroupName);
        assert.ok(names.includes("/choreography/dev/cookieReport-processSingle"), names.join(", "));
        const processSingle = page.logGroups?.find((g) => g.logGroupName === "/choreography/dev/cookieReport-processSingle");
        assert.equal(processSingle?.retentionInDays, 14);
        assert.equal(processSingle?.arn, `arn:aws:logs:us-east-1:000000000000:log-group:/choreography/dev/cookieReport-processSingle:*`);
        const paged = await logs.send(new DescribeLogGroupsCommand({ limit: 1 }));
        assert.equal(paged.logGroups?.length, 1);
        const second = await logs.send(new DescribeLogGroupsCommand({ limit: 1, nextToken: paged.nextToken }));
        assert.notEqual(second.logGroups?.[0].logGroupName, paged.logGroups?.[0].logGroupName);
    });

    it("creates groups and streams, puts events, reads them back with GetLogEvents and FilterLogEvents", async () => {
        await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
        await rejects(logs.send(new CreateLogGroupCommand({ logGroupName: group })), "ResourceAlreadyExistsException");
        await rejects(logs.send(new CreateLogGroupCommand({ logGroupName: "bad name!" })), "InvalidParameterException", /logGroupName/);
        await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: "one" }));
        await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: "two" }));
        await rejects(logs.send(new CreateLogStreamCommand({ logGroupName: "/no/such", logStreamName: "x" })), "ResourceNotFoundException");
        const t0 = Date.now() - 10_000;
        await logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: "one", logEvents: [0, 1, 2, 3, 4].map((i) => ({ timestamp: t0 + i * 2, message: `one ${i} ${i % 2 ? "ERROR" : "INFO"}` })) }));
        await logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: "two", logEvents: [0, 1, 2].map((i) => ({ timestamp: t0 + i * 2 + 1, message: `two ${i} ERROR` })) }));
        await rejects(
            logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: "one", logEvents: [{ timestamp: t0 + 5, message: "b" }, { timestamp: t0, message: "a" }] })),
            "InvalidParameterException",
            /chronological/,
        );
        await rejects(logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: "three", logEvents: [{ timestamp: t0, message: "a" }] })), "ResourceNotFoundException");

        const head = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: "one", startFromHead: true, limit: 2 }));
        assert.deepEqual(head.events?.map((e) => e.message), ["one 0 INFO", "one 1 ERROR"]);
        const next = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: "one", nextToken: head.nextForwardToken, limit: 10 }));
        assert.deepEqual(next.events?.map((e) => e.message), ["one 2 INFO", "one 3 ERROR", "one 4 INFO"]);
        const end = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: "one", nextToken: next.nextForwardToken }));
        assert.equal(end.events?.length, 0);
        assert.equal(end.nextForwardToken, next.nextForwardToken, "at the end the same forward token comes back");
        const tail = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: "one", limit: 1 }));
        assert.deepEqual(tail.events?.map((e) => e.message), ["one 4 INFO"]);

        const errors = await filterAll(logs, { logGroupName: group, filterPattern: "ERROR", limit: 2 });
        assert.deepEqual(errors.map((e) => e.message), ["two 0 ERROR", "one 1 ERROR", "two 1 ERROR", "two 2 ERROR", "one 3 ERROR"]);
        const window = await filterAll(logs, { logGroupName: group, startTime: t0 + 2, endTime: t0 + 4 });
        assert.deepEqual(window.map((e) => e.message), ["one 1 ERROR", "two 1 ERROR", "one 2 INFO"]);
        const onlyTwo = await filterAll(logs, { logGroupIdentifier: `arn:aws:logs:us-east-1:000000000000:log-group:${group}`, logStreamNames: ["two"] });
        assert.deepEqual(onlyTwo.map((e) => e.logStreamName), ["two", "two", "two"]);
        await rejects(logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: "[a, b]" })), "InvalidParameterException", /space-delimited/);
        await rejects(logs.send(new FilterLogEventsCommand({ logGroupName: "/no/such" })), "ResourceNotFoundException", /log group does not exist/);

        const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, orderBy: "LastEventTime", descending: true }));
        assert.deepEqual(streams.logStreams?.map((s) => s.logStreamName), ["one", "two"]);
        assert.equal(streams.logStreams?.[0].firstEventTimestamp, t0);
        assert.equal(streams.logStreams?.[0].lastEventTimestamp, t0 + 8);
    });

    it("stores no presigned URL query and no task token in clear", async () => {
        await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: "secrets" }));
        const url = "https://bucket.s3.amazonaws.com/key.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abcdef0123";
        await logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: "secrets", logEvents: [{ timestamp: Date.now(), message: JSON.stringify({ url, taskToken: "secret-token-value" }) }] }));
        const [event] = await filterAll(logs, { logGroupName: group, logStreamNames: ["secrets"] });
        assert.doesNotMatch(event.message ?? "", /abcdef0123|AKIA|secret-token-value/);
        assert.match(event.message ?? "", /bucket\.s3\.amazonaws\.com\/key\.json\?REDACTED/);
        assert.match(event.message ?? "", /REDACTED-task-token-[0-9a-f]{16}/);
    });

    it("checks a function's key against its role: its own group's streams yes, another group no", async () => {
        const spec = runtime.services.lambda.functions.get("cookieReport-sideEffect");
        assert.ok(spec, "the sideEffect function");
        const asFunction = new CloudWatchLogsClient({
            endpoint: runtime.url,
            region: runtime.stack.region,
            credentials: { accessKeyId: spec.environment.AWS_ACCESS_KEY_ID, secretAccessKey: spec.environment.AWS_SECRET_ACCESS_KEY },
        });
        const own = spec.logGroupName as string;
        await asFunction.send(new CreateLogStreamCommand({ logGroupName: own, logStreamName: "by-hand" }));
        await asFunction.send(new PutLogEventsCommand({ logGroupName: own, logStreamName: "by-hand", logEvents: [{ timestamp: Date.now(), message: "hello" }] }));
        await rejects(asFunction.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: "x" })), "AccessDeniedException", /logs:CreateLogStream/);
        await rejects(asFunction.send(new FilterLogEventsCommand({ logGroupName: own })), "AccessDeniedException", /logs:FilterLogEvents/);
    });

    it("holds, after a cookie report, one START and one REPORT per invocation the runtime recorded, in Lambda's format", async () => {
        await runtime.idle();
        const before = runtime.services.lambda.service.stats().invocations;
        const startedAt = Date.now();
        const known = new Set<string>();
        await putStart(runtime, JSON.stringify({ count: 4 }));
        const [arn] = await newExecutions(runtime, known);
        assert.equal((await finished(runtime, arn)).status, "SUCCEEDED");
        await runtime.idle();
        const invocations = runtime.services.lambda.service.stats().invocations - before;
        let reports = 0;
        let starts = 0;
        for (const spec of runtime.services.lambda.functions.values()) {
            const logGroupName = spec.logGroupName ?? `/aws/lambda/${spec.name}`;
            const found = await filterAll(logs, { logGroupName, startTime: startedAt, filterPattern: '{ $.type = "platform.report" }' });
            for (const event of found) {
                assert.match(event.logStreamName ?? "", /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
                const record = JSON.parse(event.message ?? "{}") as { record: { requestId: string; metrics: Record<string, number>; status: string } };
                const { durationMs, billedDurationMs, memorySizeMB, maxMemoryUsedMB, initDurationMs } = record.record.metrics;
                // Billed: the duration (a cold start's init included) rounded up to the ms; the metrics carry 2 decimals.
                const worked = durationMs + (initDurationMs ?? 0);
                assert.ok(Number.isInteger(billedDurationMs) && billedDurationMs >= worked - 0.02 && billedDurationMs < Math.max(1, worked) + 1.02, `billed ${billedDurationMs} for ${worked}`);
                assert.equal(memorySizeMB, spec.memorySizeMb);
                assert.ok(maxMemoryUsedMB > 0 && maxMemoryUsedMB <= spec.memorySizeMb, `max memory used ${maxMemoryUsedMB}`);
            }
            reports += found.length;
            starts += (await filterAll(logs, { logGroupName, startTime: startedAt, filterPattern: '{ $.type = "platform.start" }' })).length;
        }
        assert.ok(invocations > 4, `invocations ${invocations}`);
        assert.equal(reports, invocations, "one platform.report per invocation");
        assert.equal(starts, invocations, "one platform.start per invocation");
        // The handlers' own lines are there too: the powertools Logger's JSON, with no presigned query in clear.
        const lines = await filterAll(logs, { logGroupName: "/choreography/dev/cookieReport-sideEffect", startTime: startedAt });
        const own = lines.filter((e) => /"message":"side effect done"/.test(e.message ?? ""));
        assert.equal(own.length, 4, "the handler's own log line, once per name");
        assert.equal((JSON.parse(own[0].message ?? "{}") as { level?: string }).level, "INFO");
        for (const e of lines) assert.doesNotMatch(e.message ?? "", /X-Amz-Signature=(?!REDACTED)/);
    });

    it("writes Lambda's text lines for a Text-format function, and the AWS CLI filters them", async function () {
        const spec = runtime.services.lambda.functions.get("cookieReport-getMultiple");
        assert.ok(spec);
        await runtime.services.lambda.service.addFunction({ ...spec, logFormat: "Text" });
        const startedAt = Date.now();
        const result = await runtime.services.lambda.service.invoke(spec.name, { detail: { count: 1 } });
        assert.ok(result.logs.includes("REPORT RequestId"));
        const env = awsCliEnvironment(runtime);
        const args = ["logs", "filter-log-events", "--endpoint-url", runtime.url, "--log-group-name", spec.logGroupName as string, "--start-time", String(startedAt), "--filter-pattern", '"REPORT RequestId"', "--output", "json"];
        let stdout: string;
        try {
            ({ stdout } = await run("aws", args, { env }));
        } catch (error) {
            if ((error as NodeJS.ErrnoException).code === "ENOENT") return this.skip();
            throw error;
        }
        const events = (JSON.parse(stdout) as { events: Array<{ message: string }> }).events;
        assert.equal(events.length, 1);
        assert.match(events[0].message, /^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: \d+ MB\tMax Memory Used: \d+ MB(\tInit Duration: \d+\.\d{2} ms)?$/);
        const starts = await filterAll(logs, { logGroupName: spec.logGroupName, startTime: startedAt, filterPattern: '"START RequestId"' });
        assert.match(starts[0].message ?? "", /^START RequestId: [0-9a-f-]{36} Version: \$LATEST$/);
        const ends = await filterAll(logs, { logGroupName: spec.logGroupName, startTime: startedAt, filterPattern: '"END RequestId"' });
        assert.equal(ends.length, 1);
        await runtime.services.lambda.service.addFunction(spec);
    });

    it("writes nothing where the function's role may not, as in AWS", async () => {
        const spec = runtime.services.lambda.functions.get("cookieReport-getMultiple");
        assert.ok(spec);
        // Its role may write its own group only: Lambda's default group would need logs:CreateLogGroup.
        await runtime.services.lambda.service.addFunction({ ...spec, logGroupName: undefined });
        await runtime.services.lambda.service.invoke(spec.name, { detail: { count: 1 } });
        const listed = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: `/aws/lambda/${spec.name}` }));
        assert.equal(listed.logGroups?.length, 0);
        await runtime.services.lambda.service.addFunction(spec);
    });
});
