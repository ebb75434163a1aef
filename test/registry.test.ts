/**
 * The registry's seams, through the endpoint: routing by the SigV4 credential scope first, any user's key accepted
 * on every JSON service, the runtime's own paths, and unserved resource types named (or refused with --strict).
 */
import * as assert from "assert";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, ListEventBusesCommand } from "@aws-sdk/client-eventbridge";
import { ListStateMachinesCommand, SFNClient } from "@aws-sdk/client-sfn";
import { SignatureV4 } from "@smithy/signature-v4";
import { startRuntime } from "../local/core/runtime";
import { NodeSha256 } from "../local/core/sigv4";
import { SERVICES } from "../local/services";
import { send } from "./support/rawRequest";
import { devStack } from "../local/testing/stack";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";

describe("the service registry", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    before(async () => (runtime = await startTestRuntime()));
    after(() => runtime?.close());

    it("gives every service its own signing name", () => {
        const names = Object.values(SERVICES).map((s) => s.signingName);
        assert.equal(new Set(names).size, names.length);
    });

    it("accepts any access key and secret (test/test) on every JSON service, as LocalStack does", async () => {
        const config = { endpoint: runtime.url, region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } };
        const buses = await new EventBridgeClient(config).send(new ListEventBusesCommand({}));
        assert.ok(buses.EventBuses?.some((b) => b.Name === "default"));
        const machines = await new SFNClient(config).send(new ListStateMachinesCommand({}));
        assert.deepEqual(machines.stateMachines?.map((m) => m.name).sort(), ["chargeback-workflow", "cookieReport-workflow", "finisher"]);
        const tables = await new DynamoDBClient(config).send(new ListTablesCommand({}));
        assert.ok(Array.isArray(tables.TableNames));
    });

    it("routes by the credential scope first: a Step Functions target signed for `events` reaches EventBridge, which refuses it", async () => {
        const { hostname, port, host } = new URL(runtime.url);
        const sign = (service: string) =>
            new SignatureV4({ credentials: { accessKeyId: "test", secretAccessKey: "test" }, region: "us-east-1", service, sha256: NodeSha256 }).sign({
                method: "POST",
                protocol: "http:",
                hostname,
                port: Number(port),
                path: "/",
                query: {},
                headers: { host, "content-type": "application/x-amz-json-1.0", "x-amz-target": "AWSStepFunctions.ListStateMachines" },
                body: "{}",
            });
        const misrouted = await send(runtime.url, (await sign("events")).headers, "{}");
        assert.deepEqual([misrouted.status, misrouted.type], [400, "UnknownOperationException"]);
        const routed = await send(runtime.url, (await sign("states")).headers, "{}");
        assert.equal(routed.status, 200);
    });

    it("answers /_choreography/health and /_choreography/resources with every served resource's service, type, URN and ARN", async () => {
        const health = (await (await fetch(`${runtime.url}/_choreography/health`)).json()) as { status: string; project: string; services: string[] };
        assert.deepEqual([health.status, health.project], ["running", "choreography"]);
        assert.deepEqual(health.services, Object.keys(SERVICES));
        const listed = (await (await fetch(`${runtime.url}/_choreography/resources`)).json()) as {
            resources: Array<{ service: string; type: string; urn: string; arn: string }>;
            notServed: Array<{ type: string; urn: string }>;
        };
        const functions = listed.resources.filter((r) => r.type === "aws:lambda/function:Function");
        assert.equal(functions.length, runtime.services.lambda.functions.size);
        for (const fn of functions) {
            assert.equal(fn.service, "lambda");
            assert.match(fn.urn, /^urn:pulumi:dev::choreography::.*aws:lambda\/function:Function::/);
            assert.match(fn.arn, /^arn:aws:lambda:us-east-1:000000000000:function:/);
        }
        assert.ok(listed.notServed.some((r) => r.type === "aws:s3/bucketPolicy:BucketPolicy"), "the bucket policy is named as not served");
        const missing = await fetch(`${runtime.url}/_choreography/nothing`);
        assert.equal(missing.status, 404);
    });

    it("refuses to start with --strict while a declared type is not served, naming it and its URN", async () => {
        await assert.rejects(
            startRuntime({ port: 0, strict: true, evaluated: await devStack() }),
            /--strict: no service serves .*aws:s3\/bucketPolicy:BucketPolicy \(urn:pulumi:dev::choreography::/,
        );
    });
});
