/**
 * DynamoDB for the offline runtime: dynalite (DynamoDB's JSON API on LevelDB) mounted behind our own endpoint.
 *
 * dynalite is an http.Server whose request listener we call directly, so DynamoDB shares the one endpoint.
 * It does not check signatures (the SDK's are accepted as they are), keeps tables in memory or, given a
 * path, on disk, and lacks a few operations (transactions, PartiQL, UpdateTimeToLive, streams).
 */
import * as crypto from "crypto";
import * as fsp from "fs/promises";
import * as http from "http";
import * as path from "path";
import { AwsError } from "../../core/awsError";

export interface DynamoDbEmulator {
    /** Handles one DynamoDB JSON request (`X-Amz-Target: DynamoDB_20120810.*`). Must not need the body to have been read. */
    handle(req: http.IncomingMessage, res: http.ServerResponse): void;
    /** Its bound on a request body: BatchWriteItem takes up to 16 MB. */
    maxBodyBytes: number;
    /**
     * One DynamoDB API call made by the runtime itself (Step Functions' optimised integrations, which AWS makes
     * with the machine's role once IAM allowed it); rejects with AwsError.
     */
    call(operation: string, input: object): Promise<Record<string, unknown>>;
    /** Creates the declared table unless it exists, and returns once it is ACTIVE. */
    ensureTable(table: DeclaredTable): Promise<void>;
    /** Closes the store; with a `dataDir` its tables and items are there for the next emulator. */
    close(): Promise<void>;
}

/** The inputs of a Pulumi `aws.dynamodb.Table` as the mocks record them (resolved values, physical name). */
export interface DeclaredTable {
    name: string;
    hashKey: string;
    rangeKey?: string;
    attributes: DeclaredAttribute[];
    /** `PAY_PER_REQUEST` or `PROVISIONED` (Pulumi's default). */
    billingMode?: string;
    readCapacity?: number;
    writeCapacity?: number;
    globalSecondaryIndexes?: DeclaredGlobalIndex[];
    localSecondaryIndexes?: DeclaredLocalIndex[];
    /** Accepted, not emulated: dynalite has no UpdateTimeToLive and never expires items. */
    ttl?: { attributeName?: string; enabled?: boolean };
    /** Accepted, not emulated: dynalite has no DynamoDB Streams. */
    streamEnabled?: boolean;
    streamViewType?: string;
    /** Accepted, not applied. */
    tags?: Record<string, string>;
}

export interface DeclaredAttribute {
    name: string;
    /** `S`, `N` or `B`. */
    type: string;
}

export interface DeclaredGlobalIndex {
    name: string;
    /** Pulumi AWS v7 deprecates hashKey/rangeKey in favour of keySchemas; either is accepted. */
    hashKey?: string;
    rangeKey?: string;
    keySchemas?: { attributeName: string; keyType: string }[];
    projectionType: string;
    nonKeyAttributes?: string[];
    readCapacity?: number;
    writeCapacity?: number;
}

export interface DeclaredLocalIndex {
    name: string;
    rangeKey: string;
    projectionType: string;
    nonKeyAttributes?: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Typings for dynalite 4 (it ships none), loaded with `require` since a `declare module` cannot describe an
// untyped package from inside a module file.

interface DynaliteOptions {
    path?: string;
    createTableMs: number;
    deleteTableMs: number;
    updateTableMs: number;
}
const dynalite = require("dynalite") as (options: DynaliteOptions) => http.Server;

// ---------------------------------------------------------------------------------------------------------------
// The emulator

export interface DynamoDbEmulatorOptions {
    /** Tables persist there; in memory when absent. */
    dataDir?: string;
    /** A folder the caller owns and removes, for the private socket. */
    scratchDir: string;
}

export async function createDynamoDbEmulator(opts: DynamoDbEmulatorOptions): Promise<DynamoDbEmulator> {
    if (opts.dataDir) {
        await fsp.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
        // LevelDB makes its files 0644 whatever the umask allows: the folder keeps them the owner's.
        await fsp.chmod(opts.dataDir, 0o700);
    }
    // Tables go ACTIVE on the next tick rather than after dynalite's default 500 ms.
    const server = dynalite({ path: opts.dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    // The server also listens on a private socket: dynalite only closes its store from server.close(), which
    // needs a listening server, and ensureTable needs a way to call the API that isn't our public endpoint.
    const socketPath = privateSocketPath(opts.scratchDir);
    await listen(server, socketPath);
    const call = (operation: string, input: object) => callDynalite(socketPath, operation, input) as Promise<Record<string, unknown>>;
    return {
        handle(req, res) {
            server.emit("request", req, res);
        },
        maxBodyBytes: 16 * 1024 * 1024,
        call,
        ensureTable: (table) => ensureTable(call, table),
        close: () => closeServer(server),
    };
}

function privateSocketPath(scratchDir: string): string {
    const name = `choreography-dynalite-${process.pid}-${crypto.randomBytes(6).toString("hex")}`;
    return process.platform === "win32" ? `\\\\.\\pipe\\${name}` : path.join(scratchDir, "dynalite.sock");
}

function listen(server: http.Server, socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => {
            server.off("error", reject);
            resolve();
        });
    });
}

function closeServer(server: http.Server): Promise<void> {
    return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

// ---------------------------------------------------------------------------------------------------------------
// ensureTable

type Call = (operation: string, input: object) => Promise<unknown>;

interface KeySchemaElement {
    AttributeName: string;
    KeyType: "HASH" | "RANGE";
}

interface TableDescription {
    TableStatus?: string;
    KeySchema?: KeySchemaElement[];
    GlobalSecondaryIndexes?: { IndexName: string; IndexStatus?: string }[];
    LocalSecondaryIndexes?: { IndexName: string }[];
}

async function ensureTable(call: Call, table: DeclaredTable): Promise<void> {
    const input = createTableInput(table);
    const existing = await describeTable(call, table.name);
    // A table kept from an earlier run (dataDir) is fine unless the declaration has changed since.
    if (existing) checkSameSchema(table.name, input, existing);
    else await createTable(call, input);
    await waitUntilActive(call, table.name);
}

async function createTable(call: Call, input: ReturnType<typeof createTableInput>): Promise<void> {
    try {
        await call("CreateTable", input);
    } catch (err) {
        // A concurrent ensureTable of the same table got there first.
        if (!(err instanceof AwsError && err.code === "ResourceInUseException")) throw err;
    }
}

function createTableInput(table: DeclaredTable) {
    const provisioned = table.billingMode !== "PAY_PER_REQUEST";
    const throughput = (read?: number, write?: number) =>
        provisioned ? { ProvisionedThroughput: { ReadCapacityUnits: read ?? 1, WriteCapacityUnits: write ?? 1 } } : {};
    return {
        TableName: table.name,
        AttributeDefinitions: table.attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
        KeySchema: keySchema(table.hashKey, table.rangeKey),
        BillingMode: provisioned ? "PROVISIONED" : "PAY_PER_REQUEST",
        ...throughput(table.readCapacity, table.writeCapacity),
        ...(table.globalSecondaryIndexes?.length
            ? {
                  GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((index) => ({
                      IndexName: index.name,
                      KeySchema: indexKeySchema(index),
                      Projection: projection(index.projectionType, index.nonKeyAttributes),
                      ...throughput(index.readCapacity, index.writeCapacity),
                  })),
              }
            : {}),
        ...(table.localSecondaryIndexes?.length
            ? {
                  LocalSecondaryIndexes: table.localSecondaryIndexes.map((index) => ({
                      IndexName: index.name,
                      KeySchema: keySchema(table.hashKey, index.rangeKey),
                      Projection: projection(index.projectionType, index.nonKeyAttributes),
                  })),
              }
            : {}),
    };
}

function keySchema(hashKey: string, rangeKey?: string): KeySchemaElement[] {
    const schema: KeySchemaElement[] = [{ AttributeName: hashKey, KeyType: "HASH" }];
    if (rangeKey) schema.push({ AttributeName: rangeKey, KeyType: "RANGE" });
    return schema;
}

function indexKeySchema(index: DeclaredGlobalIndex): KeySchemaElement[] {
    if (index.keySchemas?.length) {
        return index.keySchemas.map((k) => ({ AttributeName: k.attributeName, KeyType: k.keyType === "RANGE" ? "RANGE" : "HASH" }));
    }
    if (!index.hashKey) throw new Error(`global secondary index ${index.name} declares neither hashKey nor keySchemas`);
    return keySchema(index.hashKey, index.rangeKey);
}

function projection(projectionType: string, nonKeyAttributes?: string[]) {
    return { ProjectionType: projectionType, ...(nonKeyAttributes?.length ? { NonKeyAttributes: nonKeyAttributes } : {}) };
}

/**
 * dynalite can't add or drop indexes on an existing table, so a table persisted under an older declaration
 * would fail later in confusing ways (a Query on an index that isn't there). Say so up front instead.
 */
function checkSameSchema(name: string, wanted: ReturnType<typeof createTableInput>, existing: TableDescription): void {
    const keys = (schema?: KeySchemaElement[]) => JSON.stringify((schema ?? []).map((k) => [k.AttributeName, k.KeyType]));
    const names = (indexes?: { IndexName: string }[]) => JSON.stringify((indexes ?? []).map((i) => i.IndexName).sort());
    const differences = [
        keys(wanted.KeySchema) !== keys(existing.KeySchema) ? "key schema" : "",
        names(wanted.GlobalSecondaryIndexes) !== names(existing.GlobalSecondaryIndexes) ? "global secondary indexes" : "",
        names(wanted.LocalSecondaryIndexes) !== names(existing.LocalSecondaryIndexes) ? "local secondary indexes" : "",
    ].filter(Boolean);
    if (differences.length > 0) {
        throw new Error(
            `DynamoDB table ${name} already exists in the local data directory with different ${differences.join(", ")}; ` +
                "delete the table (or the data directory) to recreate it from the declaration",
        );
    }
}

/** The table's description, or `undefined` if there is no such table. */
async function describeTable(call: Call, name: string): Promise<TableDescription | undefined> {
    try {
        const output = (await call("DescribeTable", { TableName: name })) as { Table?: TableDescription };
        return output.Table ?? {};
    } catch (err) {
        if (err instanceof AwsError && err.code === "ResourceNotFoundException") return undefined;
        throw err;
    }
}

async function waitUntilActive(call: Call, name: string): Promise<void> {
    // With createTableMs 0 this takes a tick or two; the bound only guards against a stuck table.
    for (let attempt = 0; attempt < 500; attempt++) {
        const table = (await describeTable(call, name)) ?? {};
        const indexesActive = (table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === "ACTIVE");
        if (table.TableStatus === "ACTIVE" && indexesActive) return;
        await new Promise((resolve) => setTimeout(resolve, 2));
    }
    throw new Error(`DynamoDB table ${name} did not become ACTIVE`);
}

// ---------------------------------------------------------------------------------------------------------------
// A minimal DynamoDB JSON client for the private socket

function callDynalite(socketPath: string, operation: string, input: object): Promise<unknown> {
    const body = JSON.stringify(input);
    const headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": Buffer.byteLength(body),
        "X-Amz-Target": `DynamoDB_20120810.${operation}`,
        "X-Amz-Date": new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, ""),
        // dynalite insists on the shape of a SigV4 header but never checks the signature.
        Authorization: "AWS4-HMAC-SHA256 Credential=local/20000101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    };
    return new Promise((resolve, reject) => {
        const req = http.request({ socketPath, path: "/", method: "POST", headers, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("error", reject);
            res.on("end", () => {
                try {
                    resolve(parseAnswer(res.statusCode ?? 500, Buffer.concat(chunks).toString("utf8")));
                } catch (err) {
                    reject(err);
                }
            });
        });
        req.on("error", reject);
        req.end(body);
    });
}

function parseAnswer(status: number, text: string): unknown {
    const answer = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
    if (status === 200) return answer;
    // `__type` reads like `com.amazonaws.dynamodb.v20120810#ResourceInUseException`.
    const code = (answer.__type ?? "InternalFailure").split("#").pop() ?? "InternalFailure";
    throw new AwsError(code, answer.message ?? answer.Message ?? code, status);
}
