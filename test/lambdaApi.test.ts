import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InvokeCommand, LambdaClient, ListFunctionsCommand, ResourceNotFoundException } from "@aws-sdk/client-lambda";
import { AwsError } from "../local/core/awsError";
import { RestRequest, RestResponse, RestService, startEndpoint } from "../local/core/endpoint";
import { createLambdaApi, LambdaApiAction, logTail } from "../local/services/lambda/api";
import { FunctionSpec, LambdaService } from "../local/services/lambda/lambda";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "lambda-api-test-"));
const ACCOUNT = "123456789012";
const arnOf = (name: string) => `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${name}`;

function spec(name: string, source: string, extra: Partial<FunctionSpec> = {}): FunctionSpec {
    return {
        name,
        arn: arnOf(name),
        handler: "__index.handler",
        timeoutSeconds: 3,
        memorySizeMb: 256,
        environment: { TABLE: "orders", AWS_ACCESS_KEY_ID: "AKIAFUNCTIONKEY", AWS_SECRET_ACCESS_KEY: "function-secret" },
        files: { "__index.js": source },
        role: `arn:aws:iam::${ACCOUNT}:role/${name}-role`,
        runtime: "nodejs22.x",
        ...extra,
    };
}

function request(method: string, pathAndQuery: string, extra: Partial<RestRequest> = {}): RestRequest {
    const url = new URL(pathAndQuery, "http://localhost");
    return { method, path: url.pathname, query: url.searchParams, headers: {}, body: Buffer.alloc(0), accessKeyId: "AKIACALLER", ...extra };
}

function json(response: RestResponse): unknown {
    const body = response.body;
    if (Buffer.isBuffer(body)) return JSON.parse(body.toString("utf8"));
    if (typeof body === "string") return JSON.parse(body);
    return JSON.parse(JSON.stringify(body));
}

async function rejectsWith(promise: Promise<unknown>, code: string, status: number, message?: RegExp): Promise<void> {
    await assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof AwsError, `expected an AwsError, got ${String(error)}`);
        assert.equal(error.code, code);
        assert.equal(error.statusCode, status);
        if (message) assert.match(error.message, message);
        return true;
    });
}

describe("Lambda REST API", () => {
    let lambda: LambdaService;
    let api: RestService;
    const checks: Array<[string, LambdaApiAction, string]> = [];

    before(async () => {
        lambda = new LambdaService({
            workDir: path.join(root, "work"),
            baseEnvironment: { AWS_REGION: "us-east-1" },
            sdkResolveDir: path.resolve(__dirname, ".."),
            retryDelaysMs: [10],
        });
        await lambda.addFunction(
            spec(
                "echo",
                `exports.handler = async (event, context) => {
                    console.log("line ".repeat(2000));
                    console.log("last words");
                    return { event, arn: context.invokedFunctionArn };
                 };`,
            ),
        );
        await lambda.addFunction(spec("fails", `exports.handler = async () => { throw new TypeError("no good"); };`));
        await lambda.addFunction(spec("text", `exports.handler = async () => "plain";`, { logGroupName: "/choreography/test/text", logFormat: "JSON" }));
        await lambda.addFunction(spec("denied", `exports.handler = async () => 1;`));
        api = createLambdaApi(lambda, {
            region: "us-east-1",
            accountId: ACCOUNT,
            authorizeCaller: (key, action, resource) => {
                checks.push([key, action, resource]);
                if (resource === arnOf("denied")) throw new AwsError("AccessDeniedException", `${key} may not ${action} on ${resource}`, 403);
            },
        });
    });
    beforeEach(() => (checks.length = 0));
    after(async () => {
        await lambda.close();
        fs.rmSync(root, { recursive: true, force: true });
    });

    describe("Invoke", () => {
        it("runs RequestResponse by name, partial or full ARN, and tails the last 4 KB of the log", async () => {
            for (const identifier of ["echo", `${ACCOUNT}:function:echo`, arnOf("echo"), "echo:$LATEST"]) {
                const response = await api.handle(
                    request("POST", `/2015-03-31/functions/${encodeURIComponent(identifier)}/invocations`, {
                        body: Buffer.from(JSON.stringify({ n: 1 })),
                        headers: { "x-amz-log-type": "Tail" },
                    }),
                );
                assert.equal(response.status, 200);
                assert.equal(response.headers?.["x-amz-function-error"], undefined);
                const invokedArn = identifier.startsWith("arn:") ? identifier : arnOf("echo");
                assert.deepEqual(json(response), { event: { n: 1 }, arn: invokedArn });
                const tail = Buffer.from(response.headers?.["x-amz-log-result"] ?? "", "base64").toString("utf8");
                assert.ok(Buffer.byteLength(tail) <= 4096 && Buffer.byteLength(tail) > 3000, `tail of ${Buffer.byteLength(tail)} bytes`);
                assert.match(tail, /last words/);
                assert.match(tail, /REPORT RequestId: /);
                assert.doesNotMatch(tail, /START RequestId/, "the start of a long log is cut off");
            }
            assert.deepEqual(checks[0], ["AKIACALLER", "lambda:InvokeFunction", arnOf("echo")]);
        });

        it("sends no log without Tail, and a string result as a JSON string", async () => {
            const response = await api.handle(request("POST", "/2015-03-31/functions/text/invocations"));
            assert.equal(response.headers?.["x-amz-log-result"], undefined);
            assert.equal((response.body as Buffer).toString("utf8"), '"plain"');
        });

        it("answers a function error with 200, X-Amz-Function-Error: Unhandled and the error payload", async () => {
            const response = await api.handle(request("POST", "/2015-03-31/functions/fails/invocations", { body: Buffer.from("{}") }));
            assert.equal(response.status, 200);
            assert.equal(response.headers?.["x-amz-function-error"], "Unhandled");
            const error = json(response) as { errorType: string; errorMessage: string; trace: string[] };
            assert.equal(error.errorType, "TypeError");
            assert.equal(error.errorMessage, "no good");
            assert.ok(Array.isArray(error.trace));
        });

        it("queues Event invocations with 202 and checks DryRun without running", async () => {
            const before = lambda.stats().invocations;
            const dry = await api.handle(request("POST", "/2015-03-31/functions/echo/invocations", { headers: { "x-amz-invocation-type": "DryRun" } }));
            assert.equal(dry.status, 204);
            assert.equal(lambda.stats().invocations, before);
            const queued = await api.handle(request("POST", "/2015-03-31/functions/echo/invocations", { headers: { "x-amz-invocation-type": "Event" }, body: Buffer.from('{"a":1}') }));
            assert.equal(queued.status, 202);
            assert.equal(queued.body, undefined);
            await lambda.idle();
            assert.equal(lambda.stats().invocations, before + 1);
        });

        it("refuses bad JSON, unknown functions, qualifiers, other accounts, bad headers and denied callers as AWS does", async () => {
            await rejectsWith(api.handle(request("POST", "/2015-03-31/functions/echo/invocations", { body: Buffer.from("{nope") })), "InvalidRequestContentException", 400, /Could not parse request body into json/);
            await rejectsWith(api.handle(request("POST", "/2015-03-31/functions/ghost/invocations")), "ResourceNotFoundException", 404, new RegExp(`^Function not found: ${arnOf("ghost")}$`));
            await rejectsWith(api.handle(request("POST", "/2015-03-31/functions/echo/invocations?Qualifier=live")), "ResourceNotFoundException", 404, /echo:live/);
            await rejectsWith(api.handle(request("POST", `/2015-03-31/functions/${encodeURIComponent("arn:aws:lambda:us-east-1:999999999999:function:echo")}/invocations`)), "ResourceNotFoundException", 404);
            await rejectsWith(api.handle(request("POST", "/2015-03-31/functions/echo/invocations", { headers: { "x-amz-invocation-type": "Sometimes" } })), "InvalidParameterValueException", 400, /"Sometimes"/);
            await rejectsWith(api.handle(request("POST", "/2015-03-31/functions/denied/invocations")), "AccessDeniedException", 403);
        });
    });

    describe("ListFunctions and GetFunction", () => {
        it("lists AWS's FunctionConfiguration without the runtime's injected credentials", async () => {
            const response = await api.handle(request("GET", "/2015-03-31/functions/"));
            const { Functions, NextMarker } = json(response) as { Functions: Array<Record<string, unknown>>; NextMarker?: string };
            assert.equal(NextMarker, undefined);
            assert.deepEqual(Functions.map((f) => f.FunctionName), ["denied", "echo", "fails", "text"]);
            const echo = Functions[1];
            assert.equal(echo.FunctionArn, arnOf("echo"));
            assert.equal(echo.Runtime, "nodejs22.x");
            assert.equal(echo.Handler, "__index.handler");
            assert.equal(echo.Role, `arn:aws:iam::${ACCOUNT}:role/echo-role`);
            assert.equal(echo.MemorySize, 256);
            assert.equal(echo.Timeout, 3);
            assert.equal(echo.Version, "$LATEST");
            assert.equal(echo.PackageType, "Zip");
            assert.deepEqual(echo.Architectures, ["x86_64"]);
            assert.deepEqual(echo.Environment, { Variables: { TABLE: "orders" } });
            assert.match(String(echo.LastModified), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
            assert.match(String(echo.CodeSha256), /^[A-Za-z0-9+/]{43}=$/);
            assert.ok(Number(echo.CodeSize) > 0);
            assert.doesNotMatch(JSON.stringify(Functions), /AKIAFUNCTIONKEY|function-secret/);
            // The function's own logging, as declared (a reader of its REPORT lines finds its group here).
            assert.deepEqual(echo.LoggingConfig, { LogFormat: "Text", LogGroup: "/aws/lambda/echo" });
            assert.deepEqual(Functions[3].LoggingConfig, { LogFormat: "JSON", LogGroup: "/choreography/test/text", ApplicationLogLevel: "INFO", SystemLogLevel: "INFO" });
            assert.deepEqual(checks, [["AKIACALLER", "lambda:ListFunctions", "*"]]);
        });

        it("pages with MaxItems and Marker", async () => {
            const names: string[] = [];
            let marker: string | undefined;
            let pages = 0;
            do {
                const query = `MaxItems=3${marker ? `&Marker=${encodeURIComponent(marker)}` : ""}`;
                const page = json(await api.handle(request("GET", `/2015-03-31/functions/?${query}`))) as { Functions: Array<{ FunctionName: string }>; NextMarker?: string };
                names.push(...page.Functions.map((f) => f.FunctionName));
                marker = page.NextMarker;
                pages++;
            } while (marker);
            assert.deepEqual(names, ["denied", "echo", "fails", "text"]);
            assert.equal(pages, 2);
            await rejectsWith(api.handle(request("GET", "/2015-03-31/functions/?MaxItems=0")), "InvalidParameterValueException", 400, /MaxItems/);
            await rejectsWith(api.handle(request("GET", "/2015-03-31/functions/?Marker=bogus!")), "InvalidParameterValueException", 400, /Marker/);
        });

        it("gets a function's configuration and code (no Location: the code is the program's archive)", async () => {
            const response = await api.handle(request("GET", `/2015-03-31/functions/${encodeURIComponent(arnOf("fails"))}`));
            const body = json(response) as { Configuration: Record<string, unknown>; Code: Record<string, unknown> };
            assert.equal(body.Configuration.FunctionName, "fails");
            assert.deepEqual(body.Code, { RepositoryType: "S3" });
            assert.deepEqual(checks, [["AKIACALLER", "lambda:GetFunction", arnOf("fails")]]);
            const configuration = json(await api.handle(request("GET", "/2015-03-31/functions/fails/configuration"))) as Record<string, unknown>;
            assert.equal(configuration.CodeSha256, body.Configuration.CodeSha256);
            await rejectsWith(api.handle(request("GET", "/2015-03-31/functions/ghost")), "ResourceNotFoundException", 404, new RegExp(`Function not found: ${arnOf("ghost")}`));
        });

        it("changes CodeSha256 when the code changes and keeps it for the same code", async () => {
            const first = lambda.getFunction("text").codeSha256;
            await lambda.addFunction(spec("text", `exports.handler = async () => "plain";`));
            assert.equal(lambda.getFunction("text").codeSha256, first);
            await lambda.addFunction(spec("text", `exports.handler = async () => "other";`));
            assert.notEqual(lambda.getFunction("text").codeSha256, first);
        });
    });

    it("refuses unknown paths and unserved operations by name", async () => {
        await rejectsWith(api.handle(request("GET", "/2015-03-31/layers")), "UnknownOperationException", 404, /GET \/2015-03-31\/layers/);
        await rejectsWith(api.handle(request("POST", "/2015-03-31/functions")), "UnknownOperationException", 404, /CreateFunction is not supported/);
        await rejectsWith(api.handle(request("PUT", "/2015-03-31/functions/echo/code")), "UnknownOperationException", 404, /UpdateFunctionCode/);
    });

    it("serves the AWS SDK through a real endpoint", async () => {
        const endpoint = await startEndpoint({ services: [{ name: "lambda", signingName: "lambda", rest: api }], defaultService: "lambda", secretOf: () => undefined }, "127.0.0.1", 0);
        const client = new LambdaClient({ endpoint: endpoint.url, region: "us-east-1", credentials: { accessKeyId: "AKIASDK", secretAccessKey: "x" } });
        try {
            const invoked = await client.send(new InvokeCommand({ FunctionName: arnOf("echo"), Payload: Buffer.from('{"via":"sdk"}'), LogType: "Tail" }));
            assert.equal(invoked.StatusCode, 200);
            assert.deepEqual(JSON.parse(Buffer.from(invoked.Payload ?? []).toString("utf8")), { event: { via: "sdk" }, arn: arnOf("echo") });
            assert.match(Buffer.from(invoked.LogResult ?? "", "base64").toString("utf8"), /last words/);
            const failed = await client.send(new InvokeCommand({ FunctionName: "fails" }));
            assert.equal(failed.FunctionError, "Unhandled");
            const listed = await client.send(new ListFunctionsCommand({ MaxItems: 2 }));
            assert.equal(listed.Functions?.length, 2);
            assert.ok(listed.NextMarker);
            await assert.rejects(client.send(new InvokeCommand({ FunctionName: "ghost" })), (error: unknown) => error instanceof ResourceNotFoundException);
            assert.ok(checks.some(([key]) => key === "AKIASDK"));
        } finally {
            client.destroy();
            await endpoint.close();
        }
    });
});

describe("logTail", () => {
    it("cuts on a character boundary", () => {
        const log = "é".repeat(3000);
        const tail = Buffer.from(logTail(log), "base64").toString("utf8");
        assert.ok(/^é+$/.test(tail));
        assert.ok(Buffer.byteLength(tail) <= 4096);
    });
});
