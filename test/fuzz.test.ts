/**
 * Fuzzing the endpoint (issue 11): malformed and hostile requests to every operation of every JSON service the
 * SDK declares (EventBridge, Step Functions, DynamoDB: served or not) and to S3's REST paths, signed as a user
 * would sign them. Every answer is AWS-shaped and below 500; a member of the wrong JSON type is a 4xx; no request
 * resets the connection, writes outside the runtime's folders, or stops the runtime, which then runs a report.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as eventBridgeSdk from "@aws-sdk/client-eventbridge";
import * as dynamoDbSdk from "@aws-sdk/client-dynamodb";
import * as stepFunctionsSdk from "@aws-sdk/client-sfn";
import { NormalizedSchema } from "@smithy/core/schema";
import { SignatureV4 } from "@smithy/signature-v4";
import type { StaticOperationSchema } from "@smithy/types";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { scratchRoot } from "../local/core/scratch";
import { NodeSha256 } from "../local/core/sigv4";
import { CookieReport } from "../systems/cookieReport/handlers/postProcessAll";
import { signedHeaders } from "./support/rawRequest";
import { TestRuntime, finished, newExecutions, putStart, readJson, startTestRuntime } from "../local/testing/runtime";

/** A small seeded generator, so a failing case can be replayed. */
function generator(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
        state = (state * 1664525 + 1013904223) >>> 0;
        return state / 2 ** 32;
    };
}

const PROTOTYPE_NAMES = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "prototype"];
const HOSTILE_VALUES: unknown[] = [
    5,
    -1,
    1.5e308,
    true,
    [],
    {},
    "",
    ...PROTOTYPE_NAMES,
    "x".repeat(200_000),
    "\u0000",
    "../../x",
    "%2e%2e/x",
    "\ud800",
    ["constructor", 5, null],
    { __proto__: null, constructor: { prototype: { polluted: true } } },
];

function randomJson(random: () => number, depth = 0): unknown {
    const pick = Math.floor(random() * (depth > 3 ? 5 : 7));
    if (pick === 0) return Math.floor(random() * 2 ** 40) * (random() < 0.5 ? -1 : 1);
    if (pick === 1) return random() < 0.5;
    if (pick === 2) return null;
    if (pick === 3) return PROTOTYPE_NAMES[Math.floor(random() * PROTOTYPE_NAMES.length)];
    if (pick === 4) return String.fromCharCode(...Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 0xffff)));
    if (pick === 5) return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
    const object: Record<string, unknown> = {};
    for (let i = Math.floor(random() * 4); i > 0; i--) object[String(randomJson(random, 4))] = randomJson(random, depth + 1);
    return object;
}

/** Bodies that are not JSON objects, or nest or weigh more than any request. */
const MALFORMED_BODIES = [
    "",
    "[]",
    "5",
    '"x"',
    "null",
    "{",
    '{"a":',
    "\u0000\u0001\u0002",
    Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString("latin1"),
    `{"a":${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
    `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`,
    `{"Entries":[{"__proto__":{"Source":"project"}}]}`,
];

/** The JSON-protocol operations each SDK package declares, with their input members' shapes. */
function operationsOf(sdkModule: object): Array<{ name: string; members: Array<[string, NormalizedSchema]> }> {
    return Object.values(sdkModule)
        .filter((value): value is StaticOperationSchema => Array.isArray(value) && value[0] === 9)
        .map((schema) => ({ name: schema[2], members: [...NormalizedSchema.of(schema[4]).structIterator()] }));
}

/** Whether a value has the JSON type a member's shape takes (so a mismatch must be refused with 4xx). */
function fitsShape(shape: NormalizedSchema, value: unknown): boolean {
    if (value === null || shape.isDocumentSchema()) return true;
    if (shape.isListSchema()) return Array.isArray(value);
    if (shape.isMapSchema() || shape.isStructSchema() || shape.isUnionSchema()) return typeof value === "object" && !Array.isArray(value);
    if (shape.isBooleanSchema()) return typeof value === "boolean";
    if (shape.isTimestampSchema()) return typeof value === "number" || typeof value === "string";
    if (shape.isNumericSchema()) return typeof value === "number";
    return typeof value === "string";
}

interface Answer {
    status: number;
    body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function request(url: string, method: string, path: string, headers: Record<string, string>, body: string): Promise<Answer> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
        const req = http.request({ hostname, port, method, path, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
            res.on("error", reject);
        });
        req.on("error", (error) => reject(new Error(`${method} ${path}: the connection failed: ${error.message}`)));
        req.end(body);
    });
}

async function jsonCall(url: string, target: string, body: string): Promise<Answer> {
    const headers = await signedHeaders(url, target, body, LOCAL_CREDENTIALS);
    return request(url, "POST", "/", headers, body);
}

const s3Signer = new SignatureV4({ credentials: LOCAL_CREDENTIALS, region: "us-east-1", service: "s3", sha256: NodeSha256, uriEscapePath: false });

async function s3Call(url: string, method: string, rawPath: string, query: Record<string, string>, body: string, extra: Record<string, string> = {}): Promise<Answer> {
    const { host, hostname } = new URL(url);
    const signed = await s3Signer.sign({
        method,
        protocol: "http:",
        hostname,
        path: rawPath,
        query,
        headers: { host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...extra },
        body,
    });
    const search = Object.entries(query)
        .map(([k, v]) => (v === "" ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
        .join("&");
    return request(url, method, search ? `${rawPath}?${search}` : rawPath, signed.headers, body);
}

/** Entries of the places the runtime writes, to find files a request wrote where it should not. */
function outsideEntries(): Set<string> {
    const roots = [...new Set([scratchRoot(), os.tmpdir(), process.cwd(), "/"])];
    return new Set(roots.flatMap((root) => fs.readdirSync(root).map((entry) => `${root}/${entry}`)));
}

describe("fuzz: hostile requests to every operation leave the runtime serving", function () {
    this.timeout(180_000);
    let runtime: TestRuntime;
    before(async () => {
        runtime = await startTestRuntime();
    });
    after(async () => {
        agent.destroy();
        await runtime.close();
    });

    const failures: string[] = [];
    const expect = (what: string, answer: Answer, mustRefuse: boolean) => {
        // 501 NotImplemented is S3's own refusal, by name, of what it does not do.
        const refusedByName = answer.status === 501 && /<Code>NotImplemented<\/Code>|^$/.test(answer.body);
        if ((answer.status >= 500 && !refusedByName) || answer.status < 200) failures.push(`${what}: ${answer.status} ${answer.body.slice(0, 200)}`);
        else if (mustRefuse && answer.status < 400) failures.push(`${what}: accepted with ${answer.status}, expected a 4xx`);
        else if (answer.status >= 400 && !/"__type"|<Code>/.test(answer.body) && answer.body !== "") failures.push(`${what}: ${answer.status} without AWS's error shape: ${answer.body.slice(0, 200)}`);
    };

    for (const [prefix, sdkModule] of [
        ["AWSEvents", eventBridgeSdk],
        ["AWSStepFunctions", stepFunctionsSdk],
        ["DynamoDB_20120810", dynamoDbSdk],
    ] as const) {
        it(`${prefix}: every operation, malformed bodies, wrong-typed and hostile members, random JSON`, async () => {
            const random = generator(prefix.length * 7919);
            const operations = operationsOf(sdkModule);
            assert.ok(operations.length > 20, `${operations.length} operations`);
            let sent = 0;
            for (const { name, members } of operations) {
                const target = `${prefix}.${name}`;
                const cases: Array<[string, string, boolean]> = MALFORMED_BODIES.map((body, i) => [`malformed #${i}`, body, i > 0 && i !== 10 && i !== 11]);
                for (const [member, shape] of members) {
                    for (const value of HOSTILE_VALUES) {
                        const body = JSON.stringify({ [member]: value });
                        cases.push([`${member}=${JSON.stringify(value)?.slice(0, 40)}`, body, !fitsShape(shape, value)]);
                    }
                }
                for (let i = 0; i < 10; i++) cases.push([`random #${i}`, JSON.stringify(randomJson(random)), false]);
                for (const [what, body, mustRefuse] of cases) {
                    // A malformed body is refused only where the operation exists; an unknown one is 400 anyway.
                    expect(`${target} ${what}`, await jsonCall(runtime.url, target, body), mustRefuse);
                    sent++;
                }
            }
            assert.deepEqual(failures.splice(0), [], `${sent} requests`);
        });
    }

    it("S3: hostile keys, bucket names, sub-resources and upload ids, and nothing written outside the store", async () => {
        const before = outsideEntries();
        const bucket = String(runtime.stack.outputs.bucketName);
        const keys = ["../../fuzz-x", "..%2F..%2Ffuzz-x", "%2e%2e/fuzz-x", "a%00b", "x".repeat(1100), "constructor", "__proto__/x", "%ZZ", "%ED%A0%80", "a//b", "fuzz-ok"];
        const buckets = ["..", "%2e%2e", "constructor", "__proto__", "A_B", "x".repeat(70), "a..b", bucket];
        const queries: Record<string, string>[] = [
            {},
            { acl: "" },
            { tagging: "" },
            { uploads: "" },
            { uploadId: "../../fuzz-upload", partNumber: "1" },
            { "list-type": "2", prefix: "../", "continuation-token": "constructor" },
            { delete: "" },
            { encryption: "" },
            { location: "" },
            { "max-keys": "-1" },
        ];
        const failuresBefore = failures.length;
        let sent = 0;
        for (const method of ["PUT", "GET", "HEAD", "DELETE", "POST"]) {
            for (const name of buckets) {
                for (const key of [...keys, ""]) {
                    for (const query of key === "" || key === "fuzz-ok" ? queries : [{}]) {
                        const rawPath = key === "" ? `/${name}` : `/${name}/${key}`;
                        // DeleteBucket of the stack's own (by now empty) bucket succeeds, as in S3; the run below needs it.
                        if (method === "DELETE" && rawPath === `/${bucket}`) continue;
                        const answer = await s3Call(runtime.url, method, rawPath, query, method === "PUT" || method === "POST" ? "<x/>" : "");
                        expect(`${method} ${rawPath} ${JSON.stringify(query)}`, answer, false);
                        sent++;
                    }
                }
            }
        }
        assert.deepEqual(failures.splice(failuresBefore), [], `${sent} S3 requests`);
        const created = [...outsideEntries()].filter((entry) => !before.has(entry) && !/choreography-/.test(entry));
        assert.deepEqual(created, [], "nothing written outside the runtime's folders");
    });

    it("still runs a report end to end", async () => {
        const known = new Set<string>();
        await putStart(runtime, JSON.stringify({ count: 3 }));
        const [arn] = await newExecutions(runtime, known, 1);
        const execution = await finished(runtime, arn);
        assert.equal(execution.status, "SUCCEEDED", execution.cause);
        const report = await readJson<CookieReport>(runtime, (JSON.parse(execution.output!) as { reportKey: string }).reportKey);
        assert.equal(report.numberOfPeople, 3);
    });
});
