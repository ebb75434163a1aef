/**
 * The GitHub Actions chargeback end to end, through the endpoint: signed deliveries POSTed to the HTTP API's webhook
 * (test/fixtures/chargeback/deliveries.json), the workflow's DynamoDB and EC2 calls (EC2 answered from
 * test/fixtures/chargeback/ec2.json), the dead-letter queue read with SQS, and the report GET with SigV4.
 */
import { strict as assert } from "assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { AttributeValue, DeleteItemCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { DeleteStateMachineCommand, DescribeExecutionCommand, ListExecutionsCommand } from "@aws-sdk/client-sfn";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { AwsClient } from "aws4fetch";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";
import { DEFAULT_HOSTED_RATES } from "../settings";
import type { WorkflowJobPayload } from "../systems/chargeback/model";
import type { ChargebackReport } from "../systems/chargeback/reportApi";
import { signBody } from "../systems/chargeback/webhook";
import type { FixtureDelivery } from "./fixtures/chargeback/generate";

const FIXTURES = path.join(__dirname, "fixtures", "chargeback");
const { secret: SECRET, deliveries: DELIVERIES } = JSON.parse(fs.readFileSync(path.join(FIXTURES, "deliveries.json"), "utf8")) as { secret: string; deliveries: FixtureDelivery[] };
const EC2 = JSON.parse(fs.readFileSync(path.join(FIXTURES, "ec2.json"), "utf8")) as Ec2Fixture;

interface Ec2Fixture {
    instances: Array<{ InstanceId: string; InstanceType: string; Placement: { AvailabilityZone: string }; InstanceLifecycle?: string; SpotInstanceRequestId?: string; Tags?: Array<{ Key: string; Value: string }> }>;
    spotInstanceRequests: Array<{ SpotInstanceRequestId: string; SpotPrice: string }>;
    spotPriceHistory: Array<{ InstanceType: string; AvailabilityZone: string; ProductDescription: string; SpotPrice: string; Timestamp: string }>;
}

/** An item as plain values (the SDK's util-dynamodb is not a dependency; the record uses S, N, L and SS only). */
function plain(item: Record<string, AttributeValue>): Record<string, unknown> {
    const value = (v: AttributeValue): unknown => (v.S !== undefined ? v.S : v.N !== undefined ? Number(v.N) : v.SS !== undefined ? [...v.SS].sort() : v.L !== undefined ? v.L.map(value) : v.BOOL);
    return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, value(v)]));
}

const permutations = <T>(items: T[]): T[][] => (items.length <= 1 ? [items] : items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])));

describe("chargeback: GitHub workflow_job deliveries to a cost report, through the endpoint", function () {
    this.timeout(120_000);
    let runtime: TestRuntime;
    let outputs: Record<string, string>;
    let dynamodb: DynamoDBClient;
    let sqs: SQSClient;
    let apiBase: string;
    /** Executions of the workflow already waited for. */
    const seen = new Set<string>();

    before(async () => {
        runtime = await startTestRuntime({
            config: { "choreography:systems": JSON.stringify(["chargeback"]), "choreography:chargebackWebhookSecret": SECRET },
            fixtures: { ec2: path.join(FIXTURES, "ec2.json") },
        });
        outputs = runtime.stack.outputs as Record<string, string>;
        const config = { endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS };
        dynamodb = new DynamoDBClient(config);
        sqs = new SQSClient(config);
        // The stack's URL names the mocks' default endpoint; the runtime listens on a port of its own.
        apiBase = new URL(new URL(outputs.chargebackApiUrl).pathname, runtime.url).toString();
    });
    after(async () => runtime?.close());

    const post = (delivery: Pick<FixtureDelivery, "headers" | "body">) => fetch(`${apiBase}/github/webhook`, { method: "POST", headers: delivery.headers, body: delivery.body });
    const byLabel = (label: string) => DELIVERIES.find((d) => d.label === label)!;
    const ofJob = (jobId: number) => DELIVERIES.filter((d) => d.jobId === jobId);

    /** Waits until every execution started so far has ended; returns the ones not returned before. */
    async function settle(expectAtLeast = 0, timeoutMs = 30_000): Promise<Array<{ arn: string; status: string; error?: string; cause?: string; output?: string }>> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            await runtime.services.events.service.idle();
            const { executions = [] } = await runtime.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: outputs.chargebackWorkflowArn, maxResults: 1000 }));
            const fresh = executions.filter((e) => !seen.has(e.executionArn!));
            if (fresh.length >= expectAtLeast && fresh.every((e) => e.status !== "RUNNING")) {
                const described = await Promise.all(fresh.map((e) => runtime.clients.sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }))));
                fresh.forEach((e) => seen.add(e.executionArn!));
                return described.map((d) => ({ arn: d.executionArn!, status: d.status!, error: d.error, cause: d.cause, output: d.output }));
            }
            if (Date.now() > deadline) throw new Error(`executions still running or missing: ${fresh.length} of ${expectAtLeast}`);
            await new Promise((r) => setTimeout(r, 25));
        }
    }
    async function record(jobId: number): Promise<Record<string, unknown> | undefined> {
        const { Item } = await dynamodb.send(new GetItemCommand({ TableName: outputs.chargebackTableName, Key: { jobId: { S: String(jobId) } }, ConsistentRead: true }));
        return Item ? plain(Item) : undefined;
    }
    const signedClient = () => new AwsClient({ ...LOCAL_CREDENTIALS, service: "execute-api", region: runtime.stack.region });

    describe("the webhook", () => {
        it("answers ping, ignores other event types with 202, and puts nothing on the bus for either", async () => {
            const before = runtime.events.length;
            const ping = await post(byLabel("ping"));
            assert.equal(ping.status, 200);
            assert.equal(((await ping.json()) as { message: string }).message, "pong");
            const push = await post(byLabel("push (ignored)"));
            assert.equal(push.status, 202);
            assert.match(((await push.json()) as { message: string }).message, /not push/);
            assert.equal(runtime.events.length, before);
        });

        it("refuses a bad or missing signature with 401: nothing on the bus, no execution, nothing stored", async () => {
            const forged = byLabel("forged: a job signed with the wrong secret");
            const before = runtime.events.length;
            const bad = await post(forged);
            assert.equal(bad.status, 401);
            const { "x-hub-signature-256": _dropped, ...unsigned } = forged.headers;
            assert.equal((await post({ headers: unsigned, body: forged.body })).status, 401);
            // The right signature of another body: the body was changed on the way.
            const genuine = ofJob(29001002)[0];
            assert.equal((await post({ headers: genuine.headers, body: genuine.body.replace('"lint"', '"lint "') })).status, 401);
            assert.equal((await post({ headers: { ...forged.headers, "x-hub-signature-256": "sha1=0123" }, body: forged.body })).status, 401);
            assert.equal(runtime.events.length, before, "no event was put on the bus");
            assert.deepEqual(await settle(0), [], "no execution started");
            assert.equal(await record(forged.jobId!), undefined);
        });

        it("puts a signed workflow_job on the bus as the payload with its delivery id, under the configured source", async () => {
            const queued = ofJob(29001005)[0];
            const response = await post(queued);
            assert.equal(response.status, 202);
            const event = runtime.events.find((e) => e["detail-type"] === "workflow_job" && (e.detail as { delivery?: string }).delivery === queued.headers["x-github-delivery"]);
            assert.ok(event, "the delivery is on the bus");
            assert.equal(event.source, "github.webhook");
            const { trace: _trace, delivery: _delivery, ...payload } = event.detail as Record<string, unknown>;
            assert.deepEqual(payload, JSON.parse(queued.body));
            const [execution] = await settle(1);
            assert.equal(execution.status, "SUCCEEDED");
            assert.equal((await record(29001005))?.status, "queued");
        });

        it("is the Lambda GitHub reaches: invoked directly with a payload-2.0 event, base64 bodies included", async () => {
            const delivery = ofJob(29001005)[1];
            const event = {
                version: "2.0",
                routeKey: "POST /github/webhook",
                rawPath: "/github/webhook",
                rawQueryString: "",
                headers: delivery.headers,
                body: Buffer.from(delivery.body).toString("base64"),
                isBase64Encoded: true,
                requestContext: { http: { method: "POST", path: "/github/webhook" } },
            } as unknown as APIGatewayProxyEventV2;
            const webhook = [...runtime.services.lambda.functions.values()].find((f) => f.name.startsWith("chargeback-webhook"))!;
            const result = await runtime.services.lambda.service.invoke(webhook.name, event);
            assert.equal((result.payload as { statusCode: number }).statusCode, 202);
            const [execution] = await settle(1);
            assert.equal(execution.status, "SUCCEEDED");
            assert.equal((await record(29001005))?.status, "in_progress");
        });
    });

    describe("the workflow", () => {
        const SPOT_JOB = 29001001;

        async function runInOrder(order: FixtureDelivery[]): Promise<Record<string, unknown>> {
            await dynamodb.send(new DeleteItemCommand({ TableName: outputs.chargebackTableName, Key: { jobId: { S: String(SPOT_JOB) } } }));
            for (const delivery of order) {
                assert.equal((await post(delivery)).status, 202);
                const [execution] = await settle(1);
                assert.equal(execution.status, "SUCCEEDED", `${delivery.label}: ${execution.error} ${execution.cause}`);
            }
            return (await record(SPOT_JOB))!;
        }

        it("ends every permutation of queued/in_progress/completed, with and without repeats, in the same record", async () => {
            const [queued, inProgress, completed] = ofJob(SPOT_JOB);
            const orders = permutations([queued, inProgress, completed]);
            const records: Array<Record<string, unknown>> = [];
            for (const order of orders) {
                records.push(await runInOrder(order));
                // Each delivery again, some twice, in another order: GitHub's redeliveries and EventBridge's at-least-once.
                records.push(await runInOrder([...order, order[1], order[0], order[2], order[0]]));
            }
            const first = records[0];
            records.forEach((r, i) => assert.deepEqual(r, first, `order ${i} ended differently`));
            assert.equal(first.status, "completed");
            assert.equal(first.statusRank, 4);
            assert.deepEqual(first.deliveries, [queued, inProgress, completed].map((d) => d.headers["x-github-delivery"]).sort());
            assert.equal(first.startedAt, "2025-06-02T10:00:00Z");
            assert.equal(first.completedAt, "2025-06-02T10:25:30Z");
            assert.equal(first.instanceType, "m5.large");
            assert.equal(first.availabilityZone, "us-east-1a");
            assert.equal(first.priceSource, "spot-price-history");
            // 600 s at 0.0352, 600 s at 0.0371, 330 s at 0.0365 (the in-effect price, then two changes).
            const hourly = (600 * 0.0352 + 600 * 0.0371 + 330 * 0.0365) / 1530;
            assert.ok(Math.abs((first.price as number) - hourly) < 1e-12, `price ${first.price} vs ${hourly}`);
            assert.ok(Math.abs((first.cost as number) - (1530 / 3600) * hourly) < 1e-12);
            assert.equal(first.month, "2025-06");
        });

        it("applies each delivery once when the three arrive at once, each twice", async () => {
            await dynamodb.send(new DeleteItemCommand({ TableName: outputs.chargebackTableName, Key: { jobId: { S: String(SPOT_JOB) } } }));
            const sequential = await runInOrder(ofJob(SPOT_JOB));
            await dynamodb.send(new DeleteItemCommand({ TableName: outputs.chargebackTableName, Key: { jobId: { S: String(SPOT_JOB) } } }));
            const burst = [...ofJob(SPOT_JOB), ...ofJob(SPOT_JOB)].reverse();
            const answers = await Promise.all(burst.map(post));
            answers.forEach((a) => assert.equal(a.status, 202));
            const executions = await settle(6);
            assert.ok(executions.every((e) => e.status === "SUCCEEDED"), JSON.stringify(executions));
            const outcomes = executions.map((e) => JSON.parse(e.output!) as { applied: boolean });
            assert.ok(outcomes.filter((o) => o.applied).length <= 3);
            assert.deepEqual(await record(SPOT_JOB), sequential);
        });

        it("fails the execution of a payload with a missing field, naming it, and sends the failure to the dead-letter queue", async () => {
            const payload = JSON.parse(ofJob(29001002)[2].body) as WorkflowJobPayload;
            delete (payload.workflow_job as Partial<WorkflowJobPayload["workflow_job"]>).run_id;
            delete (payload.repository as Partial<WorkflowJobPayload["repository"]>).full_name;
            const body = JSON.stringify({ ...payload, workflow_job: { ...payload.workflow_job, id: 29008888 } });
            const delivery = "5e1fdead-4a2b-11f0-8c3d-000000000001";
            const response = await post({ headers: { ...ofJob(29001002)[2].headers, "x-github-delivery": delivery, "x-hub-signature-256": signBody(SECRET, body) }, body });
            assert.equal(response.status, 202, "the webhook only verifies and forwards");
            const [execution] = await settle(1);
            assert.equal(execution.status, "FAILED");
            assert.equal(execution.error, "Chargeback.InvalidPayload");
            assert.match(execution.cause!, /detail\.workflow_job\.run_id is missing/);
            assert.match(execution.cause!, /detail\.repository\.full_name is missing/);
            assert.match(execution.cause!, new RegExp(delivery));
            assert.equal(await record(29008888), undefined);

            // EventBridge delivered the event (the execution started), so the rule's DLQ would not see this failure in
            // AWS; the execution's status event carries it to the same queue.
            const messages = await receiveAll();
            const failure = messages.find((m) => (JSON.parse(m.Body!) as { detail?: { executionArn?: string } }).detail?.executionArn === execution.arn);
            assert.ok(failure, "the failed execution's status event is in the dead-letter queue");
            const detail = (JSON.parse(failure.Body!) as { detail: { status: string; error: string; cause: string; input: string } }).detail;
            assert.equal(detail.status, "FAILED");
            assert.equal(detail.error, "Chargeback.InvalidPayload");
            assert.match(detail.cause, /run_id/);
            assert.equal((JSON.parse(detail.input) as { detail: { delivery: string } }).detail.delivery, delivery, "the event it ran on, for a redrive");
            assert.equal(failure.MessageAttributes?.ERROR_CODE, undefined, "not a failed delivery of the rule");
        });

        it("records a runner it cannot price as price_unknown, never a failed execution", async () => {
            for (const jobId of [29003001, 29003002, 29001004]) {
                for (const delivery of ofJob(jobId)) {
                    await post(delivery);
                    const [execution] = await settle(1);
                    assert.equal(execution.status, "SUCCEEDED", `${delivery.label}: ${execution.cause}`);
                }
            }
            const onDemand = (await record(29003001))!;
            assert.equal(onDemand.priceSource, "price_unknown");
            assert.match(String(onDemand.priceNote), /i-0c1a00000000000d4 is on-demand/);
            assert.equal(onDemand.cost, 0);
            assert.ok(Math.abs((onDemand.billedMinutes as number) - 460 / 60) < 1e-9);
            const gone = (await record(29003002))!;
            assert.equal(gone.priceSource, "price_unknown");
            assert.match(String(gone.runnerNote), /no EC2 instance .* i-0c1a000000000dead/);
            const unlisted = (await record(29001004))!;
            assert.equal(unlisted.priceSource, "price_unknown");
            assert.match(String(unlisted.priceNote), /no rate .* ubuntu-24\.04-arm/);
        });
    });

    describe("the report", () => {
        before(async () => {
            // Every fixture delivery, shuffled, a third of them twice; the forged one refused.
            const jobDeliveries = DELIVERIES.filter((d) => d.jobId !== undefined);
            const mixed = [...jobDeliveries, ...jobDeliveries.filter((_, i) => i % 3 === 0)].sort(() => Math.random() - 0.5);
            const answers = await Promise.all(mixed.map(async (d) => ({ label: d.label, status: (await post(d)).status })));
            for (const a of answers) assert.equal(a.status, a.label.startsWith("forged") ? 401 : 202, a.label);
            const executions = await settle(answers.filter((a) => a.status === 202).length, 60_000);
            assert.ok(executions.every((e) => e.status === "SUCCEEDED"), JSON.stringify(executions.filter((e) => e.status !== "SUCCEEDED")));
        });

        it("equals, per organisation and repository, a sum computed independently from the fixtures", async () => {
            const response = await signedClient().fetch(`${apiBase}/chargeback?month=2025-06`);
            assert.equal(response.status, 200);
            const report = (await response.json()) as ChargebackReport;
            const expected = independentReport("2025-06");
            assert.deepEqual(
                report.rows.map((r) => [r.organisation, r.repository, r.jobs, r.priceUnknownJobs]),
                expected.map((r) => [r.organisation, r.repository, r.jobs, r.priceUnknownJobs]),
            );
            for (const [i, row] of report.rows.entries()) {
                assert.ok(Math.abs(row.minutes - expected[i].minutes) < 0.006, `${row.repository} minutes ${row.minutes} vs ${expected[i].minutes}`);
                assert.ok(Math.abs(row.cost - expected[i].cost) < 1e-6, `${row.repository} cost ${row.cost} vs ${expected[i].cost}`);
            }
            const totalCost = expected.reduce((sum, r) => sum + r.cost, 0);
            assert.ok(Math.abs(report.total.cost - totalCost) < 1e-6, `total ${report.total.cost} vs ${totalCost}`);
            assert.equal(report.total.jobs, expected.reduce((sum, r) => sum + r.jobs, 0));
            // May's job and the running one are not in June's report.
            assert.ok(!report.rows.some((r) => r.jobs === 0));
            assert.equal(report.rows.find((r) => r.repository === "ada-lovelace/engine")?.jobs, 1);
        });

        it("is served from the month index (a Query), answers CSV, and refuses a bad month and an unsigned caller", async () => {
            const csv = await signedClient().fetch(`${apiBase}/chargeback?month=2025-06&format=csv`);
            assert.equal(csv.status, 200);
            assert.match(String(csv.headers.get("content-type")), /text\/csv/);
            const lines = (await csv.text()).trim().split("\r\n");
            assert.equal(lines[0], "organisation,repository,jobs,minutes,cost_usd,price_unknown_jobs");
            assert.match(lines.at(-1)!, /^TOTAL,,\d+,/);
            const bad = await signedClient().fetch(`${apiBase}/chargeback?month=2025-13`);
            assert.equal(bad.status, 400);
            assert.match(((await bad.json()) as { message: string }).message, /month is required as YYYY-MM/);
            assert.equal((await fetch(`${apiBase}/chargeback?month=2025-06`)).status, 403, "AWS_IAM: unsigned is refused");
            const may = (await (await signedClient().fetch(`${apiBase}/chargeback?month=2025-05`)).json()) as ChargebackReport;
            assert.deepEqual(may.rows.map((r) => [r.repository, r.jobs]), [["ada-lovelace/engine", 1]]);
            // The report function's role may Query the month index and nothing else: no Scan, not the table itself.
            const policy = runtime.stack.resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name === "chargeback-report")!;
            const statements = (JSON.parse(String(policy.inputs.policy)) as { Statement: Array<{ Action: string[]; Resource: string }> }).Statement;
            assert.deepEqual(statements.filter((st) => st.Action.some((a) => a.startsWith("dynamodb:"))), [
                { Effect: "Allow", Action: ["dynamodb:Query"], Resource: `arn:aws:dynamodb:us-east-1:000000000000:table/${outputs.chargebackTableName}/index/byMonth` },
            ]);
        });
    });

    describe("the rule's dead-letter queue", () => {
        it("receives an event whose execution EventBridge cannot start, with the rule, target and error", async () => {
            await runtime.clients.sfn.send(new DeleteStateMachineCommand({ stateMachineArn: outputs.chargebackWorkflowArn }));
            const delivery = ofJob(29001002)[0];
            assert.equal((await post(delivery)).status, 202);
            await runtime.services.events.service.idle();
            const messages = await receiveAll();
            const dead = messages.find((m) => m.MessageAttributes?.RULE_ARN !== undefined);
            assert.ok(dead, "a dead letter with EventBridge's attributes");
            assert.match(String(dead.MessageAttributes!.RULE_ARN.StringValue), /rule\/chargeback-workflowJob$/);
            assert.equal(dead.MessageAttributes!.TARGET_ARN.StringValue, outputs.chargebackWorkflowArn);
            assert.ok(dead.MessageAttributes!.ERROR_CODE.StringValue);
            assert.equal((JSON.parse(dead.Body!) as { detail: { delivery: string } }).detail.delivery, delivery.headers["x-github-delivery"]);
        });
    });

    async function receiveAll() {
        const messages = [];
        for (let i = 0; i < 5; i++) {
            const { Messages = [] } = await sqs.send(
                new ReceiveMessageCommand({ QueueUrl: new URL(new URL(outputs.chargebackDeadLetterQueueUrl).pathname, runtime.url).toString(), MaxNumberOfMessages: 10, MessageAttributeNames: ["All"], WaitTimeSeconds: 1 }),
            );
            messages.push(...Messages);
            if (Messages.length === 0 && messages.length > 0) break;
        }
        return messages;
    }
});

/** The report computed from the fixture files alone: the completed deliveries' payloads, the rate table, ec2.json. */
function independentReport(month: string) {
    const completed = DELIVERIES.filter((d) => d.status === "completed" && !d.label.startsWith("forged")).map((d) => JSON.parse(d.body) as WorkflowJobPayload);
    const rows = new Map<string, { organisation: string; repository: string; jobs: number; minutes: number; cost: number; priceUnknownJobs: number }>();
    for (const payload of completed) {
        const job = payload.workflow_job;
        if (job.completed_at!.slice(0, 7) !== month) continue;
        const seconds = Math.max(0, (Date.parse(job.completed_at!) - Date.parse(job.started_at!)) / 1000);
        let minutes = 0;
        let cost = 0;
        let unknown = false;
        if (!job.runner_name) {
            minutes = 0;
        } else if (!job.labels.includes("self-hosted")) {
            minutes = Math.ceil(seconds / 60);
            const label = job.labels.find((l) => l in DEFAULT_HOSTED_RATES);
            if (label) cost = minutes * DEFAULT_HOSTED_RATES[label];
            else unknown = true;
        } else {
            minutes = seconds / 60;
            const instance = EC2.instances.find((i) => i.InstanceId === job.runner_name || i.Tags?.some((t) => t.Key === "github-runner-name" && t.Value === job.runner_name));
            const hourly = instance?.InstanceLifecycle === "spot" ? spotHourly(instance, job.started_at!, job.completed_at!) : undefined;
            if (hourly === undefined) unknown = true;
            else cost = (seconds / 3600) * hourly;
        }
        const organisation = payload.organization?.login ?? payload.repository.owner.login;
        const key = `${organisation}/${payload.repository.full_name}`;
        const row = rows.get(key) ?? { organisation, repository: payload.repository.full_name, jobs: 0, minutes: 0, cost: 0, priceUnknownJobs: 0 };
        row.jobs++;
        row.minutes += minutes;
        row.cost += cost;
        if (unknown) row.priceUnknownJobs++;
        rows.set(key, row);
    }
    return [...rows.values()].sort((a, b) => a.organisation.localeCompare(b.organisation) || a.repository.localeCompare(b.repository));
}

/** The price in effect at each second of [start, end): the last change at or before it; else the request's price. */
function spotHourly(instance: Ec2Fixture["instances"][number], startedAt: string, completedAt: string): number | undefined {
    const start = Date.parse(startedAt) / 1000;
    const end = Date.parse(completedAt) / 1000;
    const changes = EC2.spotPriceHistory
        .filter((p) => p.InstanceType === instance.InstanceType && p.AvailabilityZone === instance.Placement.AvailabilityZone && p.ProductDescription === "Linux/UNIX")
        .map((p) => ({ at: Date.parse(p.Timestamp) / 1000, price: Number(p.SpotPrice) }))
        .sort((a, b) => a.at - b.at);
    const relevant = changes.filter((c) => c.at <= end);
    if (relevant.length === 0) return Number(EC2.spotInstanceRequests.find((r) => r.SpotInstanceRequestId === instance.SpotInstanceRequestId)?.SpotPrice);
    let weighted = 0;
    for (let second = start; second < end; second++) {
        const inEffect = [...relevant].reverse().find((c) => c.at <= second) ?? relevant[0];
        weighted += inEffect.price;
    }
    return weighted / (end - start);
}
