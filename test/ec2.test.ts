/**
 * EC2's describe calls through the runtime's endpoint, answered from `local/services/ec2/fixtures.example.json`
 * (`--ec2-fixtures`), with the real `@aws-sdk/client-ec2` (query protocol, XML), the AWS CLI, and Step Functions'
 * `aws-sdk:ec2:*` integrations, on a runtime of `test/fixtures/queuesAndSecrets`.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import * as Ec2 from "@aws-sdk/client-ec2";
import * as Sfn from "@aws-sdk/client-sfn";
import { evaluateStack } from "../local/core/evaluate";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { TestRuntime, finished, startTestRuntime, awsCliEnvironment } from "../local/testing/runtime";
import { parseArgs } from "../local/cli";

const PROGRAM = path.join(__dirname, "fixtures", "queuesAndSecrets");
const FIXTURES = path.join(__dirname, "..", "local", "services", "ec2", "fixtures.example.json");
const fixtures = JSON.parse(fs.readFileSync(FIXTURES, "utf8")) as { spotPriceHistory: Ec2.SpotPrice[] };

async function refusedWith(call: Promise<unknown>, name: string, messagePart?: RegExp): Promise<void> {
    await assert.rejects(call, (error: Error) => {
        assert.equal(error.name, name, error.message);
        if (messagePart) assert.match(error.message, messagePart);
        return true;
    });
}

describe("EC2 describe calls from a fixture file, through the endpoint", function () {
    this.timeout(30_000);
    let runtime: TestRuntime;
    let ec2: Ec2.EC2Client;

    before(async () => {
        const evaluated = await evaluateStack({ program: PROGRAM, stack: "dev" });
        runtime = await startTestRuntime({ evaluated, fixtures: parseArgs(["--ec2-fixtures", FIXTURES]).fixtures });
        ec2 = new Ec2.EC2Client({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
    });
    after(async () => {
        ec2?.destroy();
        await runtime?.close();
    });

    const instanceIds = (result: Ec2.DescribeInstancesResult) => (result.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId).sort();
    const describe = (input: Ec2.DescribeInstancesRequest) => ec2.send(new Ec2.DescribeInstancesCommand(input));

    it("takes --ec2-fixtures FILE, refusing a file that is not there, and a file of the wrong shape at start", async () => {
        assert.deepEqual(parseArgs(["--ec2-fixtures", FIXTURES]).fixtures, { ec2: FIXTURES });
        assert.throws(() => parseArgs(["--ec2-fixtures", "/no/such/file.json"]), /--ec2-fixtures \/no\/such\/file.json: no such file/);
        const folder = fs.mkdtempSync(path.join(os.tmpdir(), "ec2-fixtures-"));
        const bad = path.join(folder, "bad.json");
        fs.writeFileSync(bad, JSON.stringify({ instances: [{ InstanceType: "m5.large" }] }));
        try {
            await assert.rejects(startTestRuntime({ evaluated: runtime.stack, fixtures: { ec2: bad } }), /--ec2-fixtures .*bad\.json: instances\[0\] has no InstanceId/);
        } finally {
            fs.rmSync(folder, { recursive: true, force: true });
        }
    });

    it("describes the fixture's instances in reservations, in the SDK's shape", async () => {
        const all = await describe({});
        assert.equal(instanceIds(all).length, 7);
        const shared = all.Reservations!.find((r) => r.ReservationId === "r-0f1e2d3c4b5a69871")!;
        assert.deepEqual(shared.Instances!.map((i) => i.InstanceId), ["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002"]);
        assert.equal(shared.OwnerId, "000000000000");
        const first = shared.Instances![0];
        assert.ok(first.LaunchTime instanceof Date && first.LaunchTime.toISOString() === "2025-06-01T08:15:00.000Z");
        assert.deepEqual([first.State?.Name, first.State?.Code, first.Placement?.AvailabilityZone], ["running", 16, "us-east-1a"]);
        assert.deepEqual(first.Tags?.find((t) => t.Key === "team"), { Key: "team", Value: "platform" });
        assert.equal(first.SecurityGroups?.[0].GroupId, "sg-0123456789abcdef0");
    });

    it("applies filters as AWS does: values ORed, filters ANDed, * and ? wildcards, tag:Key", async () => {
        const ids = async (Filters: Ec2.Filter[]) => instanceIds(await describe({ Filters }));
        assert.deepEqual(await ids([{ Name: "instance-type", Values: ["m5.large"] }, { Name: "availability-zone", Values: ["us-east-1b"] }]), ["i-0a1b2c3d4e5f60002"]);
        assert.deepEqual(await ids([{ Name: "instance-type", Values: ["c5.*"] }]), ["i-0a1b2c3d4e5f60003", "i-0a1b2c3d4e5f60004"]);
        assert.deepEqual(await ids([{ Name: "instance-type", Values: ["t3.micro", "g4dn.xlarge"] }]), ["i-0a1b2c3d4e5f60005", "i-0a1b2c3d4e5f60007"]);
        assert.deepEqual(await ids([{ Name: "availability-zone", Values: ["us-east-1?d"] }]), ["i-0a1b2c3d4e5f60005"], "? matches zero or one character");
        assert.deepEqual(await ids([{ Name: "tag:team", Values: ["ml", "data"] }, { Name: "instance-state-name", Values: ["running", "terminated"] }]), ["i-0a1b2c3d4e5f60003", "i-0a1b2c3d4e5f60007"]);
        assert.deepEqual(await ids([{ Name: "instance-lifecycle", Values: ["spot"] }]), ["i-0a1b2c3d4e5f60003", "i-0a1b2c3d4e5f60006"]);
        assert.deepEqual(await ids([{ Name: "tag-key", Values: ["nothing"] }]), []);
        await refusedWith(describe({ Filters: [{ Name: "colour", Values: ["red"] }] }), "InvalidParameterValue", /colour/);
    });

    it("finds instances by id, refusing unknown and malformed ids with EC2's codes", async () => {
        assert.deepEqual(instanceIds(await describe({ InstanceIds: ["i-0a1b2c3d4e5f60004"] })), ["i-0a1b2c3d4e5f60004"]);
        await refusedWith(describe({ InstanceIds: ["i-0a1b2c3d4e5f60004", "i-00000000000000000"] }), "InvalidInstanceID.NotFound", /i-00000000000000000/);
        await refusedWith(describe({ InstanceIds: ["web-1"] }), "InvalidInstanceID.Malformed");
        await refusedWith(describe({ InstanceIds: ["i-0a1b2c3d4e5f60004"], MaxResults: 5 }), "InvalidParameterCombination");
        await refusedWith(describe({ DryRun: true }), "DryRunOperation");
    });

    it("pages with MaxResults and NextToken (the SDK's paginator reads every page)", async () => {
        const first = await describe({ MaxResults: 5 });
        assert.equal(instanceIds(first).length, 5);
        assert.ok(first.NextToken);
        const rest = await describe({ MaxResults: 5, NextToken: first.NextToken });
        assert.equal(instanceIds(rest).length, 2);
        assert.equal(rest.NextToken, undefined);
        const seen: string[] = [];
        for await (const page of Ec2.paginateDescribeInstances({ client: ec2, pageSize: 5 }, {})) seen.push(...instanceIds(page).map(String));
        assert.equal(new Set(seen).size, 7);
        await refusedWith(describe({ MaxResults: 3 }), "InvalidParameterValue");
    });

    it("describes spot instance requests by id and filter", async () => {
        const active = await ec2.send(new Ec2.DescribeSpotInstanceRequestsCommand({ Filters: [{ Name: "state", Values: ["active"] }] }));
        assert.deepEqual(active.SpotInstanceRequests?.map((r) => [r.SpotInstanceRequestId, r.InstanceId]), [
            ["sir-8k3j2h1a", "i-0a1b2c3d4e5f60003"],
            ["sir-5m9q7w2b", "i-0a1b2c3d4e5f60006"],
        ]);
        const byType = await ec2.send(new Ec2.DescribeSpotInstanceRequestsCommand({ Filters: [{ Name: "launch.instance-type", Values: ["c5.xlarge"] }, { Name: "status-code", Values: ["pending-*"] }] }));
        assert.deepEqual(byType.SpotInstanceRequests?.map((r) => [r.SpotInstanceRequestId, r.Status?.Code, r.LaunchSpecification?.Placement?.AvailabilityZone]), [["sir-2p4r6t8v", "pending-evaluation", "us-east-1d"]]);
        const one = await ec2.send(new Ec2.DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: ["sir-9b8v7c6x"] }));
        assert.equal(one.SpotInstanceRequests?.[0].State, "closed");
        assert.ok(one.SpotInstanceRequests?.[0].CreateTime instanceof Date);
        await refusedWith(ec2.send(new Ec2.DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: ["sir-00000000"] })), "InvalidSpotInstanceRequestID.NotFound");
    });

    it("answers spot price history for a time range with the price in effect at StartTime, newest first", async () => {
        const StartTime = new Date("2025-06-02T00:00:00Z");
        const EndTime = new Date("2025-06-03T00:00:00Z");
        const result = await ec2.send(
            new Ec2.DescribeSpotPriceHistoryCommand({ StartTime, EndTime, InstanceTypes: ["c5.xlarge"], ProductDescriptions: ["Linux/UNIX"], AvailabilityZone: "us-east-1a" }),
        );
        // Independently of the service: the changes inside the range and the last one before it, from the file.
        const series = fixtures.spotPriceHistory
            .filter((p) => p.InstanceType === "c5.xlarge" && p.AvailabilityZone === "us-east-1a" && p.ProductDescription === "Linux/UNIX")
            .map((p) => ({ at: Date.parse(String(p.Timestamp)), price: p.SpotPrice }))
            .sort((a, b) => b.at - a.at);
        const inside = series.filter((p) => p.at >= StartTime.getTime() && p.at <= EndTime.getTime());
        const inEffect = series.find((p) => p.at < StartTime.getTime())!;
        assert.ok(inside.length >= 1 && inEffect, "the fixture has changes inside and before the range");
        assert.deepEqual(
            result.SpotPriceHistory?.map((p) => [p.Timestamp?.getTime(), p.SpotPrice]),
            [...inside, inEffect].map((p) => [p.at, p.price]),
        );
        const windows = await ec2.send(new Ec2.DescribeSpotPriceHistoryCommand({ Filters: [{ Name: "product-description", Values: ["Windows"] }, { Name: "availability-zone", Values: ["us-east-1a", "us-east-1b"] }] }));
        assert.deepEqual(windows.SpotPriceHistory?.map((p) => [p.InstanceType, p.AvailabilityZone]).sort(), [["m5.large", "us-east-1a"], ["m5.large", "us-east-1b"]]);
        const page = await ec2.send(new Ec2.DescribeSpotPriceHistoryCommand({ MaxResults: 10 }));
        assert.equal(page.SpotPriceHistory?.length, 10);
        assert.ok(page.NextToken);
        await refusedWith(ec2.send(new Ec2.DescribeSpotPriceHistoryCommand({ StartTime: EndTime, EndTime: StartTime })), "InvalidParameterValue");
    });

    it("checks a function's key against its role (UnauthorizedOperation)", async () => {
        const environment = runtime.services.lambda.functions.get("probe")!.environment;
        const asProbe = new Ec2.EC2Client({ endpoint: runtime.url, region: runtime.stack.region, credentials: { accessKeyId: environment.AWS_ACCESS_KEY_ID, secretAccessKey: environment.AWS_SECRET_ACCESS_KEY } });
        try {
            assert.equal(instanceIds(await asProbe.send(new Ec2.DescribeInstancesCommand({}))).length, 7);
            await refusedWith(asProbe.send(new Ec2.DescribeSpotPriceHistoryCommand({})), "UnauthorizedOperation");
        } finally {
            asProbe.destroy();
        }
    });

    it("is driven by the AWS CLI", async function () {
        const env = awsCliEnvironment(runtime);
        const aws = (...args: string[]) => promisify(execFile)("aws", ["--endpoint-url", runtime.url, "--output", "json", ...args], { env }).then((r) => r.stdout);
        try {
            await aws("--version");
        } catch {
            this.skip();
        }
        const out = JSON.parse(await aws("ec2", "describe-instances", "--filters", "Name=instance-type,Values=m5.large", "Name=availability-zone,Values=us-east-1a")) as Ec2.DescribeInstancesResult;
        assert.deepEqual(instanceIds(out), ["i-0a1b2c3d4e5f60001"]);
        await assert.rejects(aws("ec2", "describe-instances", "--instance-ids", "i-00000000000000000"), /InvalidInstanceID\.NotFound/);
    });

    it("serves Step Functions' aws-sdk:ec2 integrations: PascalCase parameters and result, Ec2.<Code>Exception errors", async () => {
        const sfn = runtime.clients.sfn;
        const roleArn = String(runtime.stack.outputs.machineRoleArn);
        const definition = {
            StartAt: "Prices",
            States: {
                Prices: {
                    Type: "Task",
                    Resource: "arn:aws:states:::aws-sdk:ec2:describeSpotPriceHistory",
                    Parameters: { InstanceTypes: ["r5.2xlarge"], AvailabilityZone: "us-east-1b", StartTime: "2025-06-03T00:00:00Z", EndTime: "2025-06-03T12:00:00Z" },
                    ResultSelector: { "prices.$": "$.SpotPriceHistory[*].SpotPrice", "zones.$": "$.SpotPriceHistory[*].AvailabilityZone" },
                    Next: "Request",
                },
                Request: {
                    Type: "Task",
                    Resource: "arn:aws:states:::aws-sdk:ec2:describeSpotInstanceRequests",
                    Parameters: { SpotInstanceRequestIds: ["sir-00000000"] },
                    Catch: [{ ErrorEquals: ["Ec2.InvalidSpotInstanceRequestIDNotFoundException"], ResultPath: "$.caught", Next: "Instances" }],
                    End: true,
                },
                Instances: { Type: "Task", Resource: "arn:aws:states:::aws-sdk:ec2:describeInstances", End: true },
            },
        };
        const { stateMachineArn } = await sfn.send(new Sfn.CreateStateMachineCommand({ name: "ec2-calls", roleArn, definition: JSON.stringify(definition) }));
        const { executionArn } = await sfn.send(new Sfn.StartExecutionCommand({ stateMachineArn, input: "{}" }));
        const execution = await finished(runtime, executionArn!);
        // The role may describe spot requests and prices, not instances: the last call is refused by local IAM.
        assert.equal(execution.status, "FAILED", JSON.stringify(execution));
        assert.equal(execution.error, "Ec2.AccessDeniedException");
        const history = await sfn.send(new Sfn.GetExecutionHistoryCommand({ executionArn }));
        const prices = history.events?.find((e) => e.type === "TaskStateExited" && e.stateExitedEventDetails?.name === "Prices");
        const output = JSON.parse(prices?.stateExitedEventDetails?.output ?? "{}") as { prices: string[]; zones: string[] };
        const expected = fixtures.spotPriceHistory.filter((p) => p.InstanceType === "r5.2xlarge" && p.AvailabilityZone === "us-east-1b");
        assert.ok(output.prices.length >= 1 && output.prices.every((price) => expected.some((p) => p.SpotPrice === price)), JSON.stringify(output));
        assert.ok(output.zones.every((zone) => zone === "us-east-1b"));
        const caught = history.events?.find((e) => e.type === "TaskStateExited" && e.stateExitedEventDetails?.name === "Request");
        assert.match(caught?.stateExitedEventDetails?.output ?? "", /Ec2\.InvalidSpotInstanceRequestIDNotFoundException/);
    });
});
