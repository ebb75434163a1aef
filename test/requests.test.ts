/**
 * A run's S3 and DynamoDB requests as its handlers count and log them (handlers/requests.ts, protocol/requests.ts):
 * real SDK clients against a stub server that counts what it receives, so the handler's count is checked against
 * the server's.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { countRequestsOf, withRequestCounts } from "../handlers/requests";
import { fetchJson, presignGet } from "../handlers/storage";
import { SDK_CLIENT_CONFIG } from "../handlers/task";
import { REQUESTS_LOG_MESSAGE, parseRequestsLogLine, s3RequestTier, type RequestCounts } from "../protocol/requests";
import { integrationRequests } from "../systems/observability/cost";

/** What a Logger's info received, as the JSON line powertools would write (message and extra keys at the top). */
function capturingLogger(lines: string[]) {
    return { info: (message: unknown, ...extra: unknown[]) => void lines.push(JSON.stringify({ level: "INFO", message, ...(extra[0] as object) })) };
}

describe("request counts: what a handler's S3 and DynamoDB clients send, logged per invocation", () => {
    let server: http.Server;
    let endpoint: string;
    const received: string[] = [];
    let throttleNext = 0;
    before(async () => {
        server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (chunk: Buffer) => (body += chunk.toString()));
            req.on("end", () => {
                const target = req.headers["x-amz-target"];
                if (typeof target === "string") {
                    received.push(`dynamodb ${target.split(".")[1]}`);
                    const operation = target.split(".")[1];
                    const answers: Record<string, object> = {
                        PutItem: { ConsumedCapacity: { TableName: "t", CapacityUnits: 2 } },
                        Query: { Items: [], Count: 0, ConsumedCapacity: { TableName: "t", CapacityUnits: 0.5 } },
                        GetItem: {},
                    };
                    res.writeHead(200, { "content-type": "application/x-amz-json-1.0" }).end(JSON.stringify(answers[operation] ?? {}));
                    return;
                }
                const path = (req.url ?? "").split("?")[0];
                received.push(`s3 ${req.method} ${path}`);
                if (throttleNext > 0 && req.method === "GET") {
                    throttleNext--;
                    res.writeHead(503, { "content-type": "application/xml" }).end("<Error><Code>SlowDown</Code><Message>slow down</Message></Error>");
                    return;
                }
                if (req.method === "GET" && (path === "/bucket" || path === "/bucket/")) {
                    res.writeHead(200, { "content-type": "application/xml" }).end('<?xml version="1.0"?><ListBucketResult><Name>bucket</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>');
                } else if (req.method === "GET") res.writeHead(200, { "content-type": "application/json" }).end('{"name":"Ada"}');
                else res.writeHead(req.method === "DELETE" ? 204 : 200).end();
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());
    beforeEach(() => (received.length = 0));

    const config = () => ({ ...SDK_CLIENT_CONFIG, endpoint, region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } });

    it("counts each S3 request the server received by its billing tier, retries included, presigning and DELETE not", async () => {
        const s3 = new S3Client({ ...config(), forcePathStyle: true, retryStrategy: undefined, maxAttempts: 3 });
        countRequestsOf(s3, "s3");
        const lines: string[] = [];
        await withRequestCounts(capturingLogger(lines), "arn:run:1", async () => {
            await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "run-1/a.json", Body: "{}" }));
            // Concurrent reads of one invocation all count (the SDK's cached middleware stack is shared).
            await Promise.all([1, 2, 3].map((i) => s3.send(new GetObjectCommand({ Bucket: "bucket", Key: `run-1/${i}.json` })).then((r) => r.Body?.transformToString())));
            throttleNext = 1;
            await (await s3.send(new GetObjectCommand({ Bucket: "bucket", Key: "run-1/retried.json" }))).Body?.transformToString();
            await s3.send(new ListObjectsV2Command({ Bucket: "bucket", Prefix: "run-1/" }));
            await s3.send(new DeleteObjectCommand({ Bucket: "bucket", Key: "run-1/a.json" }));
            const url = await presignGet(s3, "bucket", "run-1/a.json", 60);
            assert.deepEqual(await fetchJson(url, "read"), { name: "Ada" });
        });
        const putsAndLists = received.filter((r) => / (PUT|POST) /.test(r) || /^s3 GET \/bucket\/?$/.test(r)).length;
        const gets = received.filter((r) => /^s3 (GET|HEAD) \/bucket\/./.test(r)).length;
        assert.equal(putsAndLists, 2, received.join("\n"));
        assert.equal(gets, 6, "3 reads, one throttled read and its retry, one through the presigned URL");
        assert.equal(lines.length, 1);
        const logged = parseRequestsLogLine(lines[0]);
        assert.equal(logged?.correlationId, "arn:run:1");
        assert.deepEqual(logged?.requests.s3, { tier1: putsAndLists, tier2: gets });
    });

    it("keeps concurrent invocations' counts apart and logs nothing for an invocation that sent nothing", async () => {
        const s3 = new S3Client({ ...config(), forcePathStyle: true });
        countRequestsOf(s3, "s3");
        const lines: string[] = [];
        const logger = capturingLogger(lines);
        await Promise.all([
            withRequestCounts(logger, "arn:run:a", async () => {
                for (let i = 0; i < 3; i++) await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: `a/${i}`, Body: "x" }));
            }),
            withRequestCounts(logger, "arn:run:b", async () => {
                await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "b/0", Body: "x" }));
            }),
            withRequestCounts(logger, "arn:run:c", async () => undefined),
        ]);
        const byRun = Object.fromEntries(lines.map((text) => parseRequestsLogLine(text)!).map((l) => [l.correlationId, l.requests.s3.tier1]));
        assert.deepEqual(byRun, { "arn:run:a": 3, "arn:run:b": 1 });
        // Outside an invocation nothing is counted, and nothing fails.
        await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "outside", Body: "x" }));
    });

    it("logs the counts of an invocation that throws, its failed attempt's requests included", async () => {
        const s3 = new S3Client({ ...config(), forcePathStyle: true });
        countRequestsOf(s3, "s3");
        const lines: string[] = [];
        await assert.rejects(
            withRequestCounts(capturingLogger(lines), "arn:run:failed", async () => {
                await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "f/0", Body: "x" }));
                throw new Error("boom");
            }),
            /boom/,
        );
        assert.deepEqual(parseRequestsLogLine(lines[0])?.requests.s3, { tier1: 1, tier2: 0 });
    });

    it("takes DynamoDB request units from ConsumedCapacity, and counts the requests whose answer has none", async () => {
        const dynamodb = new DynamoDBClient(config());
        countRequestsOf(dynamodb, "dynamodb");
        const lines: string[] = [];
        await withRequestCounts(capturingLogger(lines), "arn:run:d", async () => {
            await dynamodb.send(new PutItemCommand({ TableName: "t", Item: { pk: { S: "1" } }, ReturnConsumedCapacity: "TOTAL" }));
            await dynamodb.send(new QueryCommand({ TableName: "t", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: "1" } }, ReturnConsumedCapacity: "TOTAL" }));
            await dynamodb.send(new GetItemCommand({ TableName: "t", Key: { pk: { S: "1" } } }));
        });
        assert.deepEqual(received, ["dynamodb PutItem", "dynamodb Query", "dynamodb GetItem"]);
        const expected: RequestCounts["dynamodb"] = { requests: 3, writeRequestUnits: 2, readRequestUnits: 0.5, unitsNotReported: 1 };
        assert.deepEqual(parseRequestsLogLine(lines[0])?.requests.dynamodb, expected);
    });
});

describe("request counts: billing tiers, log lines and a history's integrations", () => {
    it("bills S3 operations as S3 prices them", () => {
        for (const op of ["PutObject", "CopyObject", "ListObjectsV2", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "putObject"]) assert.equal(s3RequestTier(op), "tier1", op);
        for (const op of ["GetObject", "HeadObject", "SelectObjectContent", "GetObjectCommand", "getObject"]) assert.equal(s3RequestTier(op), "tier2", op);
        for (const op of ["DeleteObject", "DeleteObjects", "AbortMultipartUpload"]) assert.equal(s3RequestTier(op), "free", op);
    });

    it("reads a requests line with a text prefix and ignores anything else", () => {
        const line = JSON.stringify({ message: REQUESTS_LOG_MESSAGE, correlationId: "arn:x", requests: { s3: { tier1: 1, tier2: 2 }, dynamodb: { requests: 0 } } });
        assert.deepEqual(parseRequestsLogLine(`2026-12-04T06:00:00.000Z\tabc\tINFO\t${line}`)?.requests.s3, { tier1: 1, tier2: 2 });
        assert.equal(parseRequestsLogLine('{"message":"task finished","correlationId":"arn:x"}'), undefined);
        assert.equal(parseRequestsLogLine(`${REQUESTS_LOG_MESSAGE} but not JSON`), undefined);
        assert.equal(parseRequestsLogLine(JSON.stringify({ message: REQUESTS_LOG_MESSAGE })), undefined, "a line without its run is not counted");
    });

    it("counts a history's S3 and DynamoDB integrations, each attempt once, and nothing else", () => {
        const scheduled = (resourceType: string, resource: string): HistoryEvent => ({ type: "TaskScheduled", timestamp: new Date(0), id: 1, taskScheduledEventDetails: { resourceType, resource, region: "us-east-1", parameters: "{}" } });
        const history: HistoryEvent[] = [
            scheduled("dynamodb", "putItem"),
            scheduled("aws-sdk:dynamodb", "query"),
            scheduled("aws-sdk:dynamodb", "query"),
            scheduled("aws-sdk:s3", "getObject"),
            scheduled("s3", "putObject"),
            scheduled("aws-sdk:s3", "deleteObject"),
            scheduled("events", "putEvents.waitForTaskToken"),
            scheduled("lambda", "invoke"),
            { type: "TaskStateEntered", timestamp: new Date(0), id: 2 },
        ];
        const counts = integrationRequests(history);
        assert.deepEqual(counts.s3, { tier1: 1, tier2: 1 });
        assert.deepEqual(counts.dynamodb, { requests: 3, readRequestUnits: 0, writeRequestUnits: 0, unitsNotReported: 3 });
    });
});
