/**
 * The endpoint as an attacker on the same machine meets it (issue 11): prototype names as targets, oversized and
 * deeply nested bodies, missing and forged signatures, slow and too many connections. Each is answered with AWS's
 * code, or the connection is closed within its bound, and the endpoint keeps serving.
 */
import { strict as assert } from "assert";
import * as http from "http";
import * as net from "net";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { ConnectionLimits, Endpoint, JsonService, startEndpoint } from "../local/core/endpoint";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { Credentials, rawCall, send, signedHeaders } from "./support/rawRequest";
import { TestRuntime, startTestRuntime } from "../local/testing/runtime";
import { cookieReport } from "../local/testing/stack";

const PROTOTYPE_NAMES = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "__defineGetter__"];

/** An endpoint with one JSON service (`Svc.Echo` answers its request) and one raw service, under small limits. */
async function testEndpoint(limits: Partial<ConnectionLimits> = {}, maxBodyBytes = 64 * 1024): Promise<Endpoint> {
    const echo: JsonService = { targetPrefix: "Svc", contentType: "application/x-amz-json-1.1", operations: { Echo: (request) => ({ echoed: request }) } };
    const raw = {
        handle(_req: http.IncomingMessage, res: http.ServerResponse) {
            res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
            res.end("{}");
        },
    };
    const broken = {
        handle(): void {
            throw new Error("a raw service bug");
        },
    };
    // As dynalite does with a body it did not expect: throws from inside the request's `end` listener.
    const throwsLater = {
        handle(req: http.IncomingMessage): void {
            req.on("data", () => undefined);
            req.on("end", () => {
                throw new TypeError("Cannot read properties of null");
            });
        },
    };
    return startEndpoint(
        {
            // Signed for `events` (rawCall's default scope), so routed by target prefix, then to the default.
            services: [
                { name: "svc", signingName: "svc", json: echo },
                { name: "raw", signingName: "raw", rawJson: { targetPrefix: "Raw", service: raw } },
                { name: "broken", signingName: "broken", rawJson: { targetPrefix: "Broken", service: broken } },
                { name: "throws-later", signingName: "throws-later", rawJson: { targetPrefix: "ThrowsLater", service: throwsLater } },
                { name: "plain", signingName: "plain", raw },
            ],
            defaultService: "plain",
            secretOf: (key) => (key === LOCAL_CREDENTIALS.accessKeyId ? LOCAL_CREDENTIALS.secretAccessKey : undefined),
            maxBodyBytes,
            limits,
        },
        "127.0.0.1",
        0,
    );
}

/** Opens a socket, writes `chunks` with pauses, and resolves with how long the server took to close it and what it said. */
function heldConnection(url: string, first: string, pauseMs: number, more: string[]): Promise<{ closedAfterMs: number; answer: string }> {
    const { port } = new URL(url);
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const socket = net.connect(Number(port), "127.0.0.1");
        let answer = "";
        let timer: NodeJS.Timeout | undefined;
        socket.on("data", (data) => (answer += data.toString()));
        socket.on("error", () => undefined);
        socket.on("close", () => {
            clearTimeout(timer);
            resolve({ closedAfterMs: Date.now() - started, answer });
        });
        socket.write(first);
        const rest = [...more];
        const next = () => {
            const chunk = rest.shift();
            if (chunk === undefined) return;
            if (!socket.destroyed) socket.write(chunk);
            timer = setTimeout(next, pauseMs);
        };
        timer = setTimeout(next, pauseMs);
        setTimeout(() => {
            socket.destroy();
            reject(new Error("the server held the connection for 15 s"));
        }, 15_000).unref();
    });
}

describe("endpoint hardening", function () {
    this.timeout(30_000);

    describe("routing, bodies and signatures (a test endpoint)", () => {
        let endpoint: Endpoint;
        before(async () => {
            endpoint = await testEndpoint();
        });
        after(() => endpoint.close());
        const signed = { credentials: LOCAL_CREDENTIALS };

        it("answers a prototype name as service or operation with 400 UnknownOperationException, signed or not", async () => {
            const targets = [
                ...PROTOTYPE_NAMES.flatMap((name) => [`${name}.x`, `Svc.${name}`, name]),
                "Svc.Echo.extra",
                "Svc",
                "Svc.",
                ".Echo",
            ];
            for (const target of targets) {
                for (const options of [{}, signed]) {
                    const answer = await rawCall(endpoint.url, target, "{}", options);
                    assert.deepEqual([answer.status, answer.type], [400, "UnknownOperationException"], `${target} ${options === signed ? "signed" : "unsigned"}`);
                }
            }
            const echo = await rawCall(endpoint.url, "Svc.Echo", '{"a":1}', signed);
            assert.deepEqual([echo.status, JSON.parse(echo.body)], [200, { echoed: { a: 1 } }], "still serving");
        });

        it("refuses a body over the bound with 413, declared or streamed, and the client reads the answer", async () => {
            const big = "x".repeat(64 * 1024 + 1);
            const declared = await rawCall(endpoint.url, "Svc.Echo", JSON.stringify({ big }), signed);
            assert.deepEqual([declared.status, declared.type], [413, "RequestEntityTooLargeException"]);
            // No content-length: the body arrives chunked and is counted as it comes.
            const streamed = await new Promise<number>((resolve, reject) => {
                const { port } = new URL(endpoint.url);
                const req = http.request({ host: "127.0.0.1", port, method: "POST", headers: { "x-amz-target": "Svc.Echo" }, agent: false }, (res) => {
                    res.resume();
                    resolve(res.statusCode ?? 0);
                });
                req.on("error", reject);
                for (let i = 0; i < 8; i++) req.write(big.slice(0, 16 * 1024));
                req.end(big);
            });
            assert.equal(streamed, 413);
            const echo = await rawCall(endpoint.url, "Svc.Echo", "{}", signed);
            assert.equal(echo.status, 200, "still serving");
        });

        it("refuses JSON nested deeper than 128 levels with SerializationException, without recursing", async () => {
            const deep = `{"a":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
            const answer = await rawCall(endpoint.url, "Svc.Echo", deep, signed);
            assert.deepEqual([answer.status, answer.type], [400, "SerializationException"]);
            assert.match(answer.message, /deeper than 128/);
            const fine = `{"a":${"[".repeat(100)}${"]".repeat(100)}}`;
            assert.equal((await rawCall(endpoint.url, "Svc.Echo", fine, signed)).status, 200);
            // Brackets inside strings are text, not nesting.
            assert.equal((await rawCall(endpoint.url, "Svc.Echo", JSON.stringify({ s: "[".repeat(1000) }), signed)).status, 200);
        });

        it("refuses unsigned requests, forged or stale signatures of a known key, and a body other than the one signed", async () => {
            const unsigned = await rawCall(endpoint.url, "Svc.Echo", "{}");
            assert.deepEqual([unsigned.status, unsigned.type], [400, "MissingAuthenticationTokenException"]);

            const headers = await signedHeaders(endpoint.url, "Svc.Echo", "{}", LOCAL_CREDENTIALS);
            const forged = { ...headers, authorization: headers.authorization.replace(/Signature=[0-9a-f]+/, `Signature=${"0".repeat(64)}`) };
            const forgedAnswer = await send(endpoint.url, forged, "{}");
            assert.deepEqual([forgedAnswer.status, forgedAnswer.type], [403, "InvalidSignatureException"]);
            const short = await send(endpoint.url, { ...headers, authorization: headers.authorization.replace(/Signature=[0-9a-f]+/, "Signature=0") }, "{}");
            assert.deepEqual([short.status, short.type], [403, "InvalidSignatureException"]);

            // As botocore (the AWS CLI) signs: no x-amz-content-sha256 header, the body hashed by the verifier.
            const cliHeaders = await signedHeaders(endpoint.url, "Svc.Echo", "{}", LOCAL_CREDENTIALS, "us-east-1", undefined, false);
            assert.equal(cliHeaders["x-amz-content-sha256"], undefined);
            assert.equal((await send(endpoint.url, cliHeaders, "{}")).status, 200, "a signature without a payload hash header verifies");
            assert.deepEqual((await send(endpoint.url, cliHeaders, '{"a":1}')).status, 403, "and covers the body all the same");
            // A malformed escape in the query is a signature mismatch, not a crash.
            assert.equal((await send(endpoint.url, headers, "{}", "POST", "/?%zz")).status, 403);

            const otherBody = await send(endpoint.url, headers, '{"a":1}');
            assert.deepEqual([otherBody.status, otherBody.type], [403, "InvalidSignatureException"], "the body is part of the signature");

            const wrongSecret: Credentials = { accessKeyId: LOCAL_CREDENTIALS.accessKeyId, secretAccessKey: "not-the-secret" };
            const wrong = await rawCall(endpoint.url, "Svc.Echo", "{}", { credentials: wrongSecret });
            assert.deepEqual([wrong.status, wrong.type], [403, "InvalidSignatureException"]);

            const stale = new Date(Date.now() - 20 * 60 * 1000).toISOString().replace(/[-:]|\.\d{3}/g, "");
            const staleHeaders = await signedHeaders(endpoint.url, "Svc.Echo", "{}", LOCAL_CREDENTIALS);
            const staleAnswer = await send(endpoint.url, { ...staleHeaders, "x-amz-date": stale }, "{}");
            assert.equal(staleAnswer.status, 403);
            assert.equal(staleAnswer.type, "InvalidSignatureException");

            const malformed = await send(endpoint.url, { ...headers, authorization: "AWS4-HMAC-SHA256 Credential=x" }, "{}");
            assert.deepEqual([malformed.status, malformed.type], [400, "IncompleteSignatureException"]);

            // A key the runtime does not know is the user's: accepted, whatever its secret.
            const unknownKey = await rawCall(endpoint.url, "Svc.Echo", "{}", { credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "anything" } });
            assert.equal(unknownKey.status, 200);
            assert.equal((await rawCall(endpoint.url, "Svc.Echo", "{}", signed)).status, 200, "a good signature passes");
        });

        it("answers 500 for a service that throws while handling, and keeps serving", async () => {
            const answer = await rawCall(endpoint.url, "Broken.Anything", "{}", signed);
            assert.deepEqual([answer.status, answer.type], [500, "InternalFailure"]);
            const later = await rawCall(endpoint.url, "ThrowsLater.Anything", "{}", signed);
            assert.deepEqual([later.status, later.type], [500, "InternalFailure"], "a throw in the service's end listener is answered, not uncaught");
            const notAnObject = await rawCall(endpoint.url, "Raw.Anything", "null", signed);
            assert.deepEqual([notAnObject.status, notAnObject.type], [400, "SerializationException"], "a raw service gets JSON objects only");
            assert.equal((await rawCall(endpoint.url, "Raw.Anything", "{}", signed)).status, 200);
        });
    });

    describe("memory held by bodies", () => {
        it("throttles (503) a body that would pass the bytes held over all connections, and takes bodies again once answered", async () => {
            let release!: () => void;
            const held = new Promise<void>((resolve) => (release = resolve));
            const hold: JsonService = { targetPrefix: "Svc", contentType: "application/x-amz-json-1.1", operations: { Hold: () => held.then(() => ({})), Echo: (r) => r } };
            const endpoint = await startEndpoint(
                {
                    services: [
                        { name: "svc", signingName: "svc", json: hold },
                        { name: "plain", signingName: "plain", raw: { handle: (_req: http.IncomingMessage, res: http.ServerResponse) => res.end() } },
                    ],
                    defaultService: "plain",
                    secretOf: () => undefined,
                    maxBufferedBodyBytes: 100_000,
                },
                "127.0.0.1",
                0,
            );
            try {
                const body = JSON.stringify({ pad: "x".repeat(60_000) });
                const credentials = { accessKeyId: "AKIDUSER", secretAccessKey: "any" };
                const first = rawCall(endpoint.url, "Svc.Hold", body, { credentials });
                await new Promise((resolve) => setTimeout(resolve, 200));
                const second = await rawCall(endpoint.url, "Svc.Echo", body, { credentials });
                assert.deepEqual([second.status, second.type], [503, "ServiceUnavailableException"]);
                release();
                assert.equal((await first).status, 200);
                assert.equal((await rawCall(endpoint.url, "Svc.Echo", body, { credentials })).status, 200, "the budget is given back");
            } finally {
                await endpoint.close();
            }
        });
    });

    describe("slow and too many connections", () => {
        it("closes a connection whose headers trickle in past headersTimeout", async () => {
            const endpoint = await testEndpoint({ headersTimeoutMs: 500 });
            try {
                const held = await heldConnection(endpoint.url, "POST / HTTP/1.1\r\nHost: x\r\n", 200, Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: y\r\n`));
                assert.ok(held.closedAfterMs < 3000, `closed after ${held.closedAfterMs} ms`);
                assert.match(held.answer, /^HTTP\/1.1 408/);
            } finally {
                await endpoint.close();
            }
        });

        it("closes a connection whose body trickles in past requestTimeout", async () => {
            const endpoint = await testEndpoint({ requestTimeoutMs: 800, headersTimeoutMs: 500 });
            try {
                const head = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Svc.Echo\r\nContent-Length: 1000\r\n\r\n";
                const held = await heldConnection(endpoint.url, head, 200, Array.from({ length: 60 }, () => "a"));
                assert.ok(held.closedAfterMs < 4000, `closed after ${held.closedAfterMs} ms`);
            } finally {
                await endpoint.close();
            }
        });

        it("refuses connections over maxConnections and serves again once they close", async () => {
            const endpoint = await testEndpoint({ maxConnections: 2 });
            const { port } = new URL(endpoint.url);
            const open = async () => {
                const socket = net.connect(Number(port), "127.0.0.1");
                await new Promise((resolve) => socket.once("connect", resolve));
                return socket;
            };
            try {
                const held = [await open(), await open()];
                await new Promise((resolve) => setTimeout(resolve, 50));
                const third = await open();
                const closed = await new Promise<boolean>((resolve) => {
                    third.once("close", () => resolve(true));
                    setTimeout(() => resolve(false), 2000);
                });
                assert.ok(closed, "a third connection is closed at once");
                for (const socket of held) socket.destroy();
                await new Promise((resolve) => setTimeout(resolve, 100));
                assert.equal((await rawCall(endpoint.url, "Svc.Echo", "{}", { credentials: LOCAL_CREDENTIALS })).status, 200);
            } finally {
                await endpoint.close();
            }
        });
    });

    describe("the runtime's endpoint", () => {
        let runtime: TestRuntime;
        before(async () => {
            runtime = await startTestRuntime();
        });
        after(() => runtime.close());

        it("answers prototype-named targets of every service with 400 and keeps serving", async () => {
            for (const prefix of ["AWSEvents", "AWSStepFunctions", "DynamoDB_20120810", ...PROTOTYPE_NAMES]) {
                for (const name of PROTOTYPE_NAMES) {
                    const answer = await rawCall(runtime.url, `${prefix}.${name}`, "{}", { credentials: LOCAL_CREDENTIALS });
                    assert.equal(answer.status, 400, `${prefix}.${name}: ${answer.body}`);
                    assert.equal(answer.type, "UnknownOperationException", `${prefix}.${name}`);
                }
            }
            const put = await runtime.clients.events.send(new PutEventsCommand({ Entries: [{ Source: "probe", DetailType: "probe", Detail: "{}" }] }));
            assert.equal(put.FailedEntryCount, 0, "still serving");
        });

        it("answers a JSON body over 6 MB with 413, not a reset connection", async () => {
            const body = JSON.stringify({ Entries: [{ Source: "x", DetailType: "x", Detail: "x".repeat(6 * 1024 * 1024) }] });
            const answer = await rawCall(runtime.url, "AWSEvents.PutEvents", body, { credentials: LOCAL_CREDENTIALS });
            assert.deepEqual([answer.status, answer.type], [413, "RequestEntityTooLargeException"]);
        });

        it("does not let a function's access key act as that function without its secret", async () => {
            const spec = runtime.services.lambda.functions.get(cookieReport("processSingle")) ?? [...runtime.services.lambda.functions.values()][0];
            const key: Credentials = { accessKeyId: spec.environment.AWS_ACCESS_KEY_ID, secretAccessKey: spec.environment.AWS_SECRET_ACCESS_KEY };
            const forgedKey: Credentials = { accessKeyId: key.accessKeyId, secretAccessKey: "guessed" };
            const calls: Array<[string, string]> = [
                ["AWSEvents.PutEvents", JSON.stringify({ Entries: [{ Source: "project", DetailType: "taskFinished", Detail: "{}" }] })],
                ["AWSStepFunctions.SendTaskSuccess", JSON.stringify({ taskToken: "x", output: "{}" })],
                ["DynamoDB_20120810.ListTables", "{}"],
            ];
            for (const [target, body] of calls) {
                const forged = await rawCall(runtime.url, target, body, { credentials: forgedKey });
                assert.deepEqual([forged.status, forged.type], [403, "InvalidSignatureException"], target);
                const headers = await signedHeaders(runtime.url, target, body, key);
                const zero = await send(runtime.url, { ...headers, authorization: headers.authorization.replace(/Signature=[0-9a-f]+/, "Signature=0") }, body);
                assert.deepEqual([zero.status, zero.type], [403, "InvalidSignatureException"], `${target} Signature=0`);
                const unsigned = await rawCall(runtime.url, target, body);
                assert.equal(unsigned.status, 400, `${target} unsigned`);
                assert.match(unsigned.type, /MissingAuthenticationToken/, `${target} unsigned`);
            }
            // Signed with its real secret, the function's key is checked by its role's policy: it may put its events,
            // and DynamoDB, which its role does not name, refuses it.
            const own = await rawCall(runtime.url, "AWSEvents.PutEvents", calls[0][1], { credentials: key });
            assert.equal(own.status, 200, own.body);
            const denied = await rawCall(runtime.url, "DynamoDB_20120810.ListTables", "{}", { credentials: key });
            assert.deepEqual([denied.status, denied.type], [400, "AccessDeniedException"], denied.body);
        });
    });
});
