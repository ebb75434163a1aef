/**
 * API Gateway v2 through the endpoint, on test/fixtures/apigateway (a user's program): HTTP routes matched and
 * authorized as API Gateway does, their Lambda functions given payload format 2.0 events, results mapped by the 2.0
 * rules; a WebSocket API with $connect, routes by `action`, $default, $disconnect and the @connections API.
 */
import { strict as assert } from "assert";
import * as path from "path";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { ApiGatewayManagementApiClient, GetConnectionCommand, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { SignatureV4 } from "@smithy/signature-v4";
import { AwsClient } from "aws4fetch";
import WebSocket from "ws";
import { evaluateStack } from "../local/core/evaluate";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { NodeSha256 } from "../local/core/sigv4";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";

const PROGRAM = path.join(__dirname, "fixtures", "apigateway");

describe("API Gateway v2 through the endpoint, on test/fixtures/apigateway", function () {
    this.timeout(60_000);
    let runtime: TestRuntime;
    let outputs: Record<string, string>;
    let base: string;

    before(async () => {
        const evaluated = await evaluateStack({ program: PROGRAM, stack: "dev" });
        runtime = await startTestRuntime({ evaluated });
        outputs = evaluated.outputs as Record<string, string>;
        base = `${runtime.url}/_apis/${outputs.httpApiId}`;
    });
    after(async () => runtime?.close());

    /** A key the runtime issued for a function's role (the fixture's `invokerKey`/`outsiderKey` hold the roles). */
    function keyOf(functionName: string): { accessKeyId: string; secretAccessKey: string } {
        const spec = [...runtime.services.lambda.functions.values()].find((f) => f.name.startsWith(functionName));
        assert.ok(spec, `function ${functionName}`);
        return { accessKeyId: spec.environment.AWS_ACCESS_KEY_ID, secretAccessKey: spec.environment.AWS_SECRET_ACCESS_KEY };
    }

    async function signedGet(url: string, credentials: { accessKeyId: string; secretAccessKey: string }, service = "execute-api"): Promise<Response> {
        const target = new URL(url);
        const signer = new SignatureV4({ service, region: "us-east-1", credentials, sha256: NodeSha256 });
        const signed = await signer.sign({ method: "GET", protocol: target.protocol, hostname: target.hostname, port: Number(target.port), path: target.pathname, query: {}, headers: { host: target.host } });
        return fetch(url, { headers: signed.headers });
    }

    describe("HTTP API", () => {
        it("gives the function a payload 2.0 event and answers its plain result as 200 JSON", async () => {
            const response = await fetch(`${base}/items/42?tag=a&tag=b&q=x`, { headers: { "x-custom": "yes", cookie: "a=1; b=2" } });
            assert.equal(response.status, 200);
            assert.match(String(response.headers.get("content-type")), /application\/json/);
            const { event } = (await response.json()) as { event: Record<string, any> };
            assert.equal(event.version, "2.0");
            assert.equal(event.routeKey, "GET /items/{id}");
            assert.equal(event.rawPath, "/items/42");
            assert.equal(event.rawQueryString, "tag=a&tag=b&q=x");
            assert.deepEqual(event.queryStringParameters, { tag: "a,b", q: "x" });
            assert.deepEqual(event.pathParameters, { id: "42" });
            assert.deepEqual(event.cookies, ["a=1", "b=2"]);
            assert.equal(event.headers["x-custom"], "yes");
            assert.equal(event.requestContext.apiId, outputs.httpApiId);
            assert.equal(event.requestContext.stage, "$default");
            assert.equal(event.requestContext.http.method, "GET");
            assert.equal(event.requestContext.http.path, "/items/42");
            assert.equal(event.isBase64Encoded, false);
            assert.ok(Math.abs(event.requestContext.timeEpoch - Date.now()) < 10_000);
        });

        it("picks the most specific route: a literal over {id}, {id} over {proxy+}; a method over ANY", async () => {
            const routeOf = async (method: string, p: string) => ((await (await fetch(`${base}${p}`, { method })).json()) as { event: { routeKey: string; pathParameters?: Record<string, string> } }).event;
            assert.equal((await routeOf("GET", "/items/special")).routeKey, "GET /items/special");
            assert.equal((await routeOf("GET", "/items/7")).routeKey, "GET /items/{id}");
            const greedy = await routeOf("DELETE", "/items/a/b/c");
            assert.equal(greedy.routeKey, "ANY /items/{proxy+}");
            assert.deepEqual(greedy.pathParameters, { proxy: "a/b/c" });
            assert.equal((await routeOf("PUT", "/items/7")).routeKey, "ANY /items/{proxy+}");
        });

        it("maps a structured result (status, headers, cookies, body) and passes the request body", async () => {
            const response = await fetch(`${base}/items/9`, { method: "POST", body: "a pear", headers: { "content-type": "text/plain" } });
            assert.equal(response.status, 201);
            assert.equal(response.headers.get("content-type"), "text/plain");
            assert.equal(response.headers.get("x-item"), "9");
            assert.match(String(response.headers.get("set-cookie")), /session=abc/);
            assert.equal(await response.text(), "created a pear");
        });

        it("serves a named stage with its variables under its path segment", async () => {
            const { event } = (await (await fetch(`${base}/prod/items/1`)).json()) as { event: Record<string, any> };
            assert.equal(event.requestContext.stage, "prod");
            assert.deepEqual(event.stageVariables, { flavour: "production" });
            assert.equal(event.rawPath, "/prod/items/1");
        });

        it("answers API Gateway's own errors: 404 without a route, 500 for a failing function or one it may not invoke", async () => {
            const missing = await fetch(`${base}/nowhere`);
            assert.equal(missing.status, 404);
            assert.deepEqual(await missing.json(), { message: "Not Found" });
            const failing = await fetch(`${base}/boom`);
            assert.equal(failing.status, 500);
            assert.deepEqual(await failing.json(), { message: "Internal Server Error" });
            const unpermitted = await fetch(`${base}/unpermitted`);
            assert.equal(unpermitted.status, 500, "no aws.lambda.Permission for apigateway.amazonaws.com: API Gateway cannot invoke it");
            assert.equal((await fetch(`${runtime.url}/_apis/nosuchapi/items/1`)).status, 404);
        });

        it("requires IAM on an AWS_IAM route: unsigned 403, a role without execute-api:Invoke 403, an allowed role 200", async () => {
            const unsigned = await fetch(`${base}/private`);
            assert.equal(unsigned.status, 403);
            const outsider = await signedGet(`${base}/private`, keyOf("outsiderKey"));
            assert.equal(outsider.status, 403);
            const wrongService = await signedGet(`${base}/private`, keyOf("invokerKey"), "lambda");
            assert.equal(wrongService.status, 403);
            const allowed = await signedGet(`${base}/private`, keyOf("invokerKey"));
            assert.equal(allowed.status, 200);
            const { event } = (await allowed.json()) as { event: { requestContext: { authorizer: { iam: { accessKey: string } } } } };
            assert.equal(event.requestContext.authorizer.iam.accessKey, keyOf("invokerKey").accessKeyId);
        });

        it("takes a signature in the query as browsers send it (aws4fetch signQuery): allowed 200, altered or stale 403", async () => {
            const presign = async (credentials: { accessKeyId: string; secretAccessKey: string }, datetime?: string, expires?: string) => {
                const url = new URL(`${base}/private`);
                if (expires) url.searchParams.set("X-Amz-Expires", expires);
                const client = new AwsClient({ ...credentials, service: "execute-api", region: "us-east-1" });
                return (await client.sign(url.toString(), { method: "GET", aws: { signQuery: true, datetime } })).url;
            };
            assert.equal((await fetch(await presign(keyOf("invokerKey")))).status, 200);
            assert.equal((await fetch(await presign(keyOf("outsiderKey")))).status, 403, "a role without execute-api:Invoke");
            const altered = (await presign(keyOf("invokerKey"))).replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`);
            assert.equal((await fetch(altered)).status, 403, "an altered signature");
            const hourAgo = new Date(Date.now() - 3600_000).toISOString().replace(/[:-]|\.\d{3}/g, "");
            assert.equal((await fetch(await presign(keyOf("invokerKey"), hourAgo))).status, 403, "signed an hour ago, no X-Amz-Expires");
            assert.equal((await fetch(await presign(keyOf("invokerKey"), hourAgo, "7200"))).status, 200, "signed an hour ago, valid for two");
        });

        it("runs the REQUEST authorizer: no identity 401, refused 403, allowed with its context passed on", async () => {
            assert.equal((await fetch(`${base}/guarded`)).status, 401);
            assert.equal((await fetch(`${base}/guarded`, { headers: { "x-token": "wrong" } })).status, 403);
            const allowed = await fetch(`${base}/guarded`, { headers: { "x-token": "open-sesame" } });
            assert.equal(allowed.status, 200);
            const { event } = (await allowed.json()) as { event: { requestContext: { authorizer: { lambda: unknown } } } };
            assert.deepEqual(event.requestContext.authorizer.lambda, { who: "tester" });
        });

        it("answers a CORS preflight from the API's corsConfiguration", async () => {
            const preflight = await fetch(`${base}/items/1`, { method: "OPTIONS", headers: { origin: "https://shop.example", "access-control-request-method": "GET" } });
            assert.equal(preflight.status, 204);
            assert.equal(preflight.headers.get("access-control-allow-origin"), "https://shop.example");
            assert.match(String(preflight.headers.get("access-control-allow-methods")), /GET/);
            const other = await fetch(`${base}/items/1`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
            assert.equal(other.headers.get("access-control-allow-origin"), null);
        });
    });

    describe("WebSocket API", () => {
        const url = () => `${runtime.url.replace(/^http/, "ws")}/_apis/${outputs.webSocketApiId}/live`;
        const open = (suffix = "") =>
            new Promise<WebSocket>((resolve, reject) => {
                const socket = new WebSocket(`${url()}${suffix}`);
                socket.once("open", () => resolve(socket));
                socket.once("error", reject);
                socket.once("unexpected-response", (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
            });
        const next = (socket: WebSocket) => new Promise<unknown>((resolve) => socket.once("message", (data) => resolve(JSON.parse(String(data)))));
        const recorded = async () => {
            const dynamodb = new DynamoDBClient({ endpoint: runtime.url, region: "us-east-1", credentials: LOCAL_CREDENTIALS });
            const items = (await dynamodb.send(new ScanCommand({ TableName: outputs.connectionsTable }))).Items ?? [];
            dynamodb.destroy();
            return items.map((item) => item.id.S ?? "");
        };

        it("refuses the connection when $connect answers 403", async () => {
            await assert.rejects(open("?deny=1"), /refused with 403/);
        });

        it("routes by action: a custom route replies through @connections, anything else reaches $default's route response", async () => {
            const socket = await open();
            const echoed = next(socket);
            socket.send(JSON.stringify({ action: "echo", text: "hello" }));
            assert.deepEqual(await echoed, { echoed: "hello", route: "echo" });
            const fallback = next(socket);
            socket.send(JSON.stringify({ action: "unknown" }));
            assert.deepEqual(await fallback, { fallback: JSON.stringify({ action: "unknown" }) });
            socket.close();
        });

        it("serves @connections to signed callers, then answers GoneException once the client left; $disconnect runs", async () => {
            const socket = await open();
            const connectionIds = async () => (await recorded()).filter((id) => id.endsWith("#connect")).map((id) => id.slice(0, -"#connect".length));
            // The connection ids this socket could have: ask each with GetConnection; only an open one answers.
            const management = new ApiGatewayManagementApiClient({ endpoint: `${runtime.url}/_apis/${outputs.webSocketApiId}/live`, region: "us-east-1", credentials: LOCAL_CREDENTIALS });
            let mine: string | undefined;
            for (const candidate of await connectionIds()) {
                const found = await management.send(new GetConnectionCommand({ ConnectionId: candidate })).then(() => true, () => false);
                if (found) mine = candidate;
            }
            assert.ok(mine, "GetConnection finds the open connection");
            const pushed = next(socket);
            await management.send(new PostToConnectionCommand({ ConnectionId: mine, Data: Buffer.from(JSON.stringify({ pushed: true })) }));
            assert.deepEqual(await pushed, { pushed: true });
            socket.close();
            await new Promise((r) => setTimeout(r, 200));
            await assert.rejects(management.send(new PostToConnectionCommand({ ConnectionId: mine, Data: Buffer.from("late") })), (error: Error) => error.name === "GoneException");
            await runtime.idle();
            for (let i = 0; i < 40 && !(await recorded()).includes(`${mine}#disconnect`); i++) await new Promise((r) => setTimeout(r, 50));
            assert.ok((await recorded()).includes(`${mine}#disconnect`), "$disconnect ran for the connection");
            management.destroy();
        });
    });
});
