import { strict as assert } from "assert";
import * as fsp from "fs/promises";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import {
    DescribeTableCommand,
    DynamoDBClient,
    DynamoDBServiceException,
    GetItemCommand,
    PutItemCommand,
    QueryCommand,
    UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { createDynamoDbEmulator, DeclaredTable, DynamoDbEmulator } from "../local/services/dynamodb/dynamodb";

/** A table as the Pulumi mocks record `aws.dynamodb.Table` inputs: hash + range key, one GSI, on demand. */
const ORDERS: DeclaredTable = {
    name: "orders",
    hashKey: "pk",
    rangeKey: "sk",
    attributes: [
        { name: "pk", type: "S" },
        { name: "sk", type: "S" },
        { name: "status", type: "S" },
        { name: "placedAt", type: "N" },
    ],
    billingMode: "PAY_PER_REQUEST",
    globalSecondaryIndexes: [{ name: "byStatus", hashKey: "status", rangeKey: "placedAt", projectionType: "ALL" }],
    ttl: { attributeName: "expiresAt", enabled: true },
};

/** A real HTTP server on 127.0.0.1 whose only job is to hand every request to the emulator, as the endpoint does. */
async function serve(emulator: DynamoDbEmulator) {
    const server = http.createServer((req, res) => emulator.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new DynamoDBClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "LOCALKEY", secretAccessKey: "local-secret" } });
    return {
        client,
        close: () => {
            client.destroy();
            server.closeAllConnections();
            return new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

function order(pk: string, sk: string, status: string, placedAt: number) {
    return { pk: { S: pk }, sk: { S: sk }, status: { S: status }, placedAt: { N: String(placedAt) } };
}

describe("local DynamoDB (dynalite)", () => {
    let emulator: DynamoDbEmulator;
    let server: Awaited<ReturnType<typeof serve>>;

    before(async () => {
        emulator = await createDynamoDbEmulator({ scratchDir: await fsp.mkdtemp(path.join(os.tmpdir(), "dynamodb-scratch-")) });
        server = await serve(emulator);
    });

    after(async () => {
        await server.close();
        await emulator.close();
    });

    it("ensureTable creates the declared table ACTIVE at once, GSI and billing mode included", async () => {
        await emulator.ensureTable(ORDERS);
        const { Table } = await server.client.send(new DescribeTableCommand({ TableName: "orders" }));
        assert.equal(Table?.TableStatus, "ACTIVE");
        assert.deepEqual(Table?.KeySchema, [
            { AttributeName: "pk", KeyType: "HASH" },
            { AttributeName: "sk", KeyType: "RANGE" },
        ]);
        assert.equal(Table?.BillingModeSummary?.BillingMode, "PAY_PER_REQUEST");
        assert.deepEqual(
            Table?.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.IndexStatus, i.KeySchema?.map((k) => k.AttributeName)]),
            [["byStatus", "ACTIVE", ["status", "placedAt"]]],
        );
    });

    it("serves PutItem, GetItem, Query (table and GSI) and UpdateItem through the SDK", async () => {
        await emulator.ensureTable(ORDERS);
        const db = server.client;
        await db.send(new PutItemCommand({ TableName: "orders", Item: order("c1", "o1", "NEW", 100) }));
        await db.send(new PutItemCommand({ TableName: "orders", Item: order("c1", "o2", "NEW", 200) }));
        await db.send(new PutItemCommand({ TableName: "orders", Item: order("c2", "o3", "SHIPPED", 150) }));

        const got = await db.send(new GetItemCommand({ TableName: "orders", Key: { pk: { S: "c1" }, sk: { S: "o2" } } }));
        assert.deepEqual(got.Item, order("c1", "o2", "NEW", 200));

        const mine = await db.send(new QueryCommand({
            TableName: "orders",
            KeyConditionExpression: "pk = :pk",
            ExpressionAttributeValues: { ":pk": { S: "c1" } },
        }));
        assert.deepEqual(mine.Items?.map((i) => i.sk.S), ["o1", "o2"]);

        const updated = await db.send(new UpdateItemCommand({
            TableName: "orders",
            Key: { pk: { S: "c1" }, sk: { S: "o1" } },
            UpdateExpression: "SET #s = :s ADD attempts :one",
            ExpressionAttributeNames: { "#s": "status" },
            ExpressionAttributeValues: { ":s": { S: "SHIPPED" }, ":one": { N: "1" } },
            ReturnValues: "ALL_NEW",
        }));
        assert.equal(updated.Attributes?.status.S, "SHIPPED");
        assert.equal(updated.Attributes?.attempts.N, "1");

        const shipped = await db.send(new QueryCommand({
            TableName: "orders",
            IndexName: "byStatus",
            KeyConditionExpression: "#s = :s AND placedAt > :after",
            ExpressionAttributeNames: { "#s": "status" },
            ExpressionAttributeValues: { ":s": { S: "SHIPPED" }, ":after": { N: "0" } },
        }));
        assert.deepEqual(shipped.Items?.map((i) => [i.sk.S, i.placedAt.N]), [["o1", "100"], ["o3", "150"]]);
    });

    it("ensureTable is idempotent and keeps the items", async () => {
        await emulator.ensureTable(ORDERS);
        await emulator.ensureTable(ORDERS);
        const got = await server.client.send(new GetItemCommand({ TableName: "orders", Key: { pk: { S: "c2" }, sk: { S: "o3" } } }));
        assert.equal(got.Item?.status.S, "SHIPPED");
    });

    it("ensureTable refuses to silently keep a table whose declared indexes changed", async () => {
        const changed: DeclaredTable = { ...ORDERS, globalSecondaryIndexes: [] };
        await assert.rejects(emulator.ensureTable(changed), /already exists .* different global secondary indexes/);
    });

    it("ensureTable accepts Pulumi v7 keySchemas and provisioned billing", async () => {
        await emulator.ensureTable({
            name: "events",
            hashKey: "id",
            attributes: [{ name: "id", type: "S" }, { name: "kind", type: "S" }],
            globalSecondaryIndexes: [{ name: "byKind", keySchemas: [{ attributeName: "kind", keyType: "HASH" }], projectionType: "KEYS_ONLY", readCapacity: 2, writeCapacity: 2 }],
            readCapacity: 5,
            writeCapacity: 5,
        });
        const { Table } = await server.client.send(new DescribeTableCommand({ TableName: "events" }));
        assert.equal(Table?.TableStatus, "ACTIVE");
        assert.equal(Table?.ProvisionedThroughput?.ReadCapacityUnits, 5);
        assert.equal(Table?.GlobalSecondaryIndexes?.[0].IndexStatus, "ACTIVE");
    });

    it("answers errors in DynamoDB's JSON shape (ResourceNotFoundException)", async () => {
        try {
            await server.client.send(new GetItemCommand({ TableName: "nope", Key: { pk: { S: "x" } } }));
            assert.fail("expected ResourceNotFoundException");
        } catch (err) {
            assert.ok(err instanceof DynamoDBServiceException);
            assert.equal(err.name, "ResourceNotFoundException");
            assert.equal(err.$metadata.httpStatusCode, 400);
        }
    });
});

describe("local DynamoDB persistence", () => {
    it("keeps tables and items written with a dataDir across close() and a new emulator", async () => {
        const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "dynamodb-data-"));
        try {
            const first = await createDynamoDbEmulator({ dataDir, scratchDir: dataDir });
            await first.ensureTable(ORDERS);
            const firstServer = await serve(first);
            await firstServer.client.send(new PutItemCommand({ TableName: "orders", Item: order("c9", "o9", "NEW", 9) }));
            await firstServer.close();
            await first.close();

            const second = await createDynamoDbEmulator({ dataDir, scratchDir: dataDir });
            await second.ensureTable(ORDERS); // finds the persisted table
            const secondServer = await serve(second);
            const got = await secondServer.client.send(new GetItemCommand({ TableName: "orders", Key: { pk: { S: "c9" }, sk: { S: "o9" } } }));
            assert.deepEqual(got.Item, order("c9", "o9", "NEW", 9));
            await secondServer.close();
            await second.close();
        } finally {
            await fsp.rm(dataDir, { recursive: true, force: true });
        }
    });
});
