/**
 * The single HTTP endpoint of the offline runtime. AWS's JSON protocols name the operation in the
 * `X-Amz-Target` header (`AWSEvents.PutEvents`, `AWSStepFunctions.StartExecution`,
 * `DynamoDB_20120810.PutItem`); every request without one is S3's REST protocol. So one port serves them all,
 * and the AWS CLI and SDKs reach each service with the same `--endpoint-url`.
 *
 * Any local process can reach this port, so nothing a request carries may stop it: services and operations are
 * looked up in Maps (a target such as `constructor.x` names nothing), bodies are bounded before they are read or
 * parsed, JSON-protocol signatures are verified before an operation runs, and slow or idle connections are closed.
 */
import { randomUUID } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { Readable, type Duplex } from "stream";
import { AwsError } from "./awsError";
import { jsonNestsDeeperThan } from "./jsonDepth";
import { VerifiedCaller, verifySigV4 } from "./sigv4";

/** One operation of a JSON-protocol service: AWS's JSON shapes in and out. */
export type JsonOperation = (request: Record<string, unknown>) => unknown;

/** A JSON-protocol service: its target prefix and its operations, each taking and returning AWS's JSON shapes. */
export interface JsonService {
    /** The part of `X-Amz-Target` before the dot. */
    targetPrefix: string;
    /** `application/x-amz-json-1.0` or `-1.1`, as the service speaks. */
    contentType: string;
    /** Its operations by name; only the object's own properties are operations. */
    operations: Record<string, JsonOperation>;
    /** Refuses a request whose members have the wrong JSON types (SerializationException), before authorize. */
    checkShape?: (operation: string, request: Record<string, unknown>) => void;
    /**
     * Checks, before an operation runs, that the caller (the access key of its verified SigV4 signature) may make
     * this request; throws AccessDeniedException when IAM would refuse.
     */
    authorize?: (accessKeyId: string, operation: string, request: Record<string, unknown>) => void;
}

/** A service that reads the raw request itself (the S3 and DynamoDB emulators). */
export interface RawService {
    handle(req: http.IncomingMessage, res: http.ServerResponse): void;
    /** Its bound on a request body, when routed by target (the endpoint reads the body to verify the signature). */
    maxBodyBytes?: number;
}

/** Bounds on what one client may hold: AWS's front ends close slow and idle connections too. */
export interface ConnectionLimits {
    /** The request line and headers must arrive within this (Node answers 408 after it). */
    headersTimeoutMs: number;
    /** The whole request, body included, must arrive within this. */
    requestTimeoutMs: number;
    /** A kept-alive connection with no request is closed after this (above the SDKs' own idle timeouts). */
    keepAliveTimeoutMs: number;
    /** A socket with no traffic at all in either direction is closed after this. */
    idleSocketTimeoutMs: number;
    /** Connections open at once; more are refused at accept. */
    maxConnections: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    keepAliveTimeoutMs: 65_000,
    idleSocketTimeoutMs: 120_000,
    maxConnections: 2048,
};

/** A JSON-protocol service that reads the raw request itself (dynalite), after the endpoint verified and bounded it. */
export interface RawJsonService {
    targetPrefix: string;
    service: RawService;
    /** As JsonService.authorize: IAM's check of the verified caller, before the service sees the request. */
    authorize?: (accessKeyId: string, operation: string, request: Record<string, unknown>) => void;
}

/**
 * Requests whose path starts with `prefix`, signed or not (API Gateway's invoke URLs: a browser's request carries no
 * signature, an IAM-authenticated one is signed for `execute-api`), and WebSocket upgrades on those paths. The service
 * reads, bounds and authenticates the request itself.
 */
export interface PrefixedService {
    /** Starts with `/_` (no S3 bucket name can), e.g. `/_apis/`. */
    prefix: string;
    handle(req: http.IncomingMessage, res: http.ServerResponse): void;
    upgrade?(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** A service on the endpoint: its SigV4 signing name and how its requests are read. */
export interface EndpointService {
    /** Its name in errors and logs. */
    name: string;
    /** The service in SigV4 credential scopes: requests are routed by it first, as AWS's front ends do by host. */
    signingName: string;
    /** JSON-protocol operations by `X-Amz-Target`. */
    json?: JsonService;
    /** A JSON-protocol service that reads the raw request itself (verified and bounded here), by target prefix. */
    rawJson?: RawJsonService;
    /** REST operations on paths (read whole and verified here). */
    rest?: RestService;
    /** A service that reads and verifies raw requests itself (S3). */
    raw?: RawService;
    /** Requests on a path prefix, whatever signs them (API Gateway invocations and WebSocket connections). */
    prefixed?: PrefixedService;
}

export interface EndpointOptions {
    services: EndpointService[];
    /**
     * The service an unsigned request without `X-Amz-Target` goes to (S3: anonymous and presigned requests carry
     * their signature in the query, or none).
     */
    defaultService: string;
    /** The runtime's own paths (`/_choreography/...`): answers and returns true when it served the request. */
    internal?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
    /**
     * The secret of each access key whose signatures are checked (the runtime's own and every function's); a key it
     * does not know is accepted unverified, as the user's.
     */
    secretOf: (accessKeyId: string) => string | undefined;
    /** A request body larger than this is refused with 413 before it is parsed (PutEvents' 256 KB entries fit well inside). */
    maxBodyBytes?: number;
    limits?: Partial<ConnectionLimits>;
    /** Bytes of request bodies held at once over all connections (MAX_BUFFERED_BODY_BYTES by default). */
    maxBufferedBodyBytes?: number;
    log?: (line: string) => void;
}

export interface Endpoint {
    server: http.Server;
    url: string;
    close(): Promise<void>;
}

/**
 * Well above what any JSON operation served takes (PutEvents 256 KB a call, Step Functions 256 KiB payloads), and
 * small enough to hold in memory; a raw service may set its own (DynamoDB's BatchWriteItem takes up to 16 MB).
 */
const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;
/**
 * A body over its bound is read and thrown away up to this multiple of it (and at least MIN_DISCARD_BYTES), so the
 * 413 reaches the client; beyond, the connection is cut. Dropped bytes cost no memory.
 */
const DISCARD_FACTOR = 4;
const MIN_DISCARD_BYTES = 64 * 1024 * 1024;
/**
 * Nesting deeper than this is refused before parsing: no request of the services served nests anywhere near it
 * (DynamoDB's 32 levels of maps take about 70), and the services walk bodies recursively.
 */
export const MAX_JSON_DEPTH = 128;

function sendJson(res: http.ServerResponse, status: number, contentType: string, body: unknown): void {
    const text = JSON.stringify(body ?? {});
    res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text), "x-amzn-requestid": randomUUID() });
    res.end(text);
}

/** AWS's JSON error shape: `__type` carries the code (the SDKs read it, and the `x-amzn-errortype` header). */
function sendError(res: http.ServerResponse, contentType: string, error: AwsError): void {
    res.setHeader("x-amzn-errortype", error.code);
    if (error.statusCode === 413) res.setHeader("connection", "close");
    sendJson(res, error.statusCode, contentType, { __type: error.code, message: error.message });
}

const tooLarge = (limit: number) => new AwsError("RequestEntityTooLargeException", `Request body is over the ${limit} bytes this endpoint accepts`, 413);

/**
 * Bytes of request bodies held in memory at once, over all connections: each may hold up to its bound, and 2,048
 * connections of 6 MB would be 12 GB. A body that would pass this is refused as throttled (503, which SDKs retry).
 */
export const MAX_BUFFERED_BODY_BYTES = 256 * 1024 * 1024;

/** The share of MAX_BUFFERED_BODY_BYTES in use, taken as bodies arrive and given back when their answer is done. */
class BodyBudget {
    private used = 0;
    constructor(private readonly capacity: number) {}
    take(bytes: number): boolean {
        if (this.used + bytes > this.capacity) return false;
        this.used += bytes;
        return true;
    }
    release(bytes: number): void {
        this.used -= bytes;
    }
}

const throttled = () => new AwsError("ServiceUnavailableException", "Too many request bodies are being received at once; retry shortly.", 503);

/**
 * Reads the whole body, refusing one over `limit`: what arrives past it is read and dropped (up to a bound), so the
 * client, still sending, reads the 413 instead of a reset connection. Its bytes count against `budget` until the
 * answer is done.
 */
function readBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number, budget: BodyBudget): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const declared = Number(req.headers["content-length"]);
        let refusal: AwsError | undefined = Number.isFinite(declared) && declared > limit ? tooLarge(limit) : undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        let held = 0;
        res.once("close", () => budget.release(held));
        req.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > Math.max(limit * DISCARD_FACTOR, MIN_DISCARD_BYTES)) {
                req.destroy();
                reject(tooLarge(limit));
                return;
            }
            if (size > limit) refusal ??= tooLarge(limit);
            if (refusal) return;
            if (!budget.take(chunk.length)) {
                refusal = throttled();
                return;
            }
            held += chunk.length;
            chunks.push(chunk);
        });
        req.on("end", () => (refusal ? reject(refusal) : resolve(Buffer.concat(chunks))));
        req.on("error", reject);
    });
}

function parseJsonObject(text: string): Record<string, unknown> {
    if (jsonNestsDeeperThan(text, MAX_JSON_DEPTH)) throw new AwsError("SerializationException", `Request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    let request: unknown;
    try {
        request = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
        throw new AwsError("SerializationException", "Request body is not valid JSON");
    }
    if (request === null || typeof request !== "object" || Array.isArray(request)) {
        throw new AwsError("SerializationException", "Request body must be a JSON object");
    }
    return request as Record<string, unknown>;
}

/**
 * A request whose body was read for verification, handed on to a raw service from memory. The service reads it in
 * `data`/`end` listeners, where a throw would be uncaught and stop the process: it goes to `onError` instead.
 */
function replayed(req: http.IncomingMessage, body: Buffer, onError: (error: unknown) => void): http.IncomingMessage {
    const copy = Readable.from(body.length > 0 ? [body] : []) as Readable & Partial<http.IncomingMessage>;
    Object.assign(copy, { method: req.method, url: req.url, headers: req.headers, httpVersion: req.httpVersion, socket: req.socket });
    const emit = copy.emit;
    copy.emit = function (this: Readable, event: string | symbol, ...args: unknown[]): boolean {
        try {
            return emit.call(this, event, ...args);
        } catch (error) {
            onError(error);
            return false;
        }
    };
    return copy as http.IncomingMessage;
}

interface Route {
    contentType: string;
    /** Answers the request; a rejection, or an error passed to `fail`, is answered as AWS's error. */
    run(req: http.IncomingMessage, res: http.ServerResponse, fail: (error: unknown) => void): Promise<void>;
}

export function startEndpoint(options: EndpointOptions, host: string, port: number): Promise<Endpoint> {
    const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
    const budget = new BodyBudget(options.maxBufferedBodyBytes ?? MAX_BUFFERED_BODY_BYTES);
    const verify = (req: http.IncomingMessage, body: Buffer): Promise<VerifiedCaller> => verifySigV4(req, body, options.secretOf);

    // Every lookup keyed by request data is a Map built from own properties only.
    const jsonRoutes = (service: JsonService): Map<string, Route> => {
        const operations = new Map<string, Route>();
        for (const [name, run] of Object.entries(service.operations)) {
            operations.set(name, {
                contentType: service.contentType,
                run: async (req, res) => {
                    const body = await readBody(req, res, limit, budget);
                    const caller = await verify(req, body);
                    const request = parseJsonObject(body.toString("utf8"));
                    service.checkShape?.(name, request);
                    service.authorize?.(caller.accessKeyId, name, request);
                    sendJson(res, 200, service.contentType, await run(request));
                },
            });
        }
        return operations;
    };
    const rawJsonRoute = ({ service, authorize }: RawJsonService, operation: string): Route => ({
        contentType: "application/x-amz-json-1.0",
        run: async (req, res, fail) => {
            const body = await readBody(req, res, service.maxBodyBytes ?? limit, budget);
            const caller = await verify(req, body);
            // The emulator behind gets only a JSON object of bounded depth: dynalite throws, uncaught, on a body such
            // as `null`, which would stop the whole process.
            const request = parseJsonObject(body.toString("utf8"));
            authorize?.(caller.accessKeyId, operation, request);
            service.handle(replayed(req, body, fail), res);
        },
    });
    const restRoute = (service: RestService): Route => ({
        contentType: "application/json",
        run: async (req, res) => {
            const body = await readBody(req, res, service.maxBodyBytes ?? limit, budget);
            const caller = await verify(req, body);
            const url = new URL(req.url ?? "/", "http://localhost");
            const answer = await service.handle({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body, accessKeyId: caller.accessKeyId });
            const payload = answer.body === undefined ? "" : Buffer.isBuffer(answer.body) || typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
            res.writeHead(answer.status, { "content-type": "application/json", "x-amzn-requestid": randomUUID(), ...answer.headers, "content-length": Buffer.byteLength(payload) });
            res.end(payload);
        },
    });
    const rawRoute = (service: RawService): Route => ({ contentType: "application/xml", run: async (req, res) => service.handle(req, res) });

    interface Served {
        service: EndpointService;
        operations?: Map<string, Route>;
    }
    const bySigningName = new Map<string, Served>();
    const byTargetPrefix = new Map<string, Served>();
    for (const service of options.services) {
        const served: Served = { service, operations: service.json ? jsonRoutes(service.json) : undefined };
        bySigningName.set(service.signingName, served);
        if (service.json) byTargetPrefix.set(service.json.targetPrefix, served);
        if (service.rawJson) byTargetPrefix.set(service.rawJson.targetPrefix, served);
    }
    const prefixed = options.services.flatMap((service) => (service.prefixed ? [service.prefixed] : []));
    const prefixedFor = (req: http.IncomingMessage): PrefixedService | undefined => {
        const pathname = (req.url ?? "/").split("?", 1)[0];
        return prefixed.find((service) => pathname.startsWith(service.prefix));
    };
    const fallback = bySigningName.get(options.defaultService);
    if (!fallback) throw new Error(`the default service ${options.defaultService} is not among the services`);

    /** The request's service: by SigV4 credential scope, then by target prefix, then the default (S3). */
    const serviceOf = (req: http.IncomingMessage, target: string | undefined): Served => {
        const scope = signingNameOf(req);
        const bySigning = scope === undefined ? undefined : bySigningName.get(scope);
        if (bySigning) return bySigning;
        if (target !== undefined) {
            const found = byTargetPrefix.get(target.split(".", 1)[0]);
            if (found) return found;
        }
        if (scope !== undefined && target !== undefined) {
            throw new AwsError("UnknownOperationException", `Operation ${JSON.stringify(target)} is not served here: no service is signed for as ${JSON.stringify(scope)} or has its target prefix`);
        }
        return fallback;
    };

    const route = (req: http.IncomingMessage, target: string | undefined): Route => {
        const { service, operations } = serviceOf(req, target);
        if (target !== undefined) {
            const dot = target.indexOf(".");
            const prefix = dot < 0 ? target : target.slice(0, dot);
            const operation = dot < 0 ? "" : target.slice(dot + 1);
            if (service.rawJson && service.rawJson.targetPrefix === prefix) return rawJsonRoute(service.rawJson, operation);
            const found = service.json?.targetPrefix === prefix ? operations?.get(operation) : undefined;
            if (found) return found;
            const known = service.json?.targetPrefix === prefix ? ` by ${prefix}` : "";
            throw new AwsError("UnknownOperationException", `Operation ${JSON.stringify(operation || target)} is not served${known} here`);
        }
        if (service.rest) return restRoute(service.rest);
        if (service.raw) return rawRoute(service.raw);
        throw new AwsError("UnknownOperationException", `${service.name} is served over X-Amz-Target only; ${req.method} ${(req.url ?? "").split("?")[0]} is not one of its operations`);
    };

    const server = http.createServer(
        {
            headersTimeout: limits.headersTimeoutMs,
            requestTimeout: limits.requestTimeoutMs,
            keepAliveTimeout: limits.keepAliveTimeoutMs,
            // Node checks the two timeouts above this often (30 s by default, which would let a slow client hold a
            // connection for up to 30 s past them).
            connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
        },
        (req, res) => {
            const target = req.headers["x-amz-target"];
            let contentType = "application/x-amz-json-1.1";
            const fail = (error: unknown) => {
                if (res.headersSent || res.destroyed) return res.destroy();
                if (error instanceof AwsError) return sendError(res, contentType, error);
                options.log?.(`${String(target ?? `${req.method} ${req.url}`)}: internal error: ${(error as Error)?.stack ?? String(error)}`);
                sendError(res, contentType, new AwsError("InternalFailure", "The request processing has failed because of an unknown error.", 500));
            };
            try {
                if (options.internal?.(req, res)) return;
                const byPrefix = prefixedFor(req);
                if (byPrefix) return byPrefix.handle(req, res);
                const found = route(req, typeof target === "string" ? target : undefined);
                contentType = found.contentType;
                found.run(req, res, fail).catch(fail);
            } catch (error) {
                fail(error);
            }
        },
    );
    // WebSocket upgrades: only on a prefixed service's paths; any other is refused (Node would drop it silently).
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        const byPrefix = prefixedFor(req);
        if (byPrefix?.upgrade) return byPrefix.upgrade(req, socket, head);
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    });
    server.timeout = limits.idleSocketTimeoutMs;
    server.maxConnections = limits.maxConnections;
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
            const address = server.address() as AddressInfo;
            const url = `http://${host}:${address.port}`;
            resolve({
                server,
                url,
                close: () =>
                    new Promise<void>((done) => {
                        server.close(() => done());
                        server.closeAllConnections();
                    }),
            });
        });
    });
}

/** A REST request the endpoint has read whole and whose signature it verified. */
export interface RestRequest {
    method: string;
    /** The path, percent-decoded per segment is left to the service: this is the raw path without the query. */
    path: string;
    query: URLSearchParams;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    /** The verified caller's access key. */
    accessKeyId: string;
}

export interface RestResponse {
    status: number;
    headers?: Record<string, string>;
    /** JSON-serialised when not a Buffer or string. */
    body?: unknown;
}

/**
 * A REST-protocol service (Lambda's `/2015-03-31/functions/...`, API Gateway's management API, Scheduler): the
 * endpoint reads and verifies the request, the service answers it. An AwsError thrown becomes AWS's REST-JSON error.
 */
export interface RestService {
    handle(request: RestRequest): Promise<RestResponse>;
    /** Its bound on a request body (6 MB by default, as Lambda's synchronous payload). */
    maxBodyBytes?: number;
}

/** The service a request's SigV4 signature is scoped to (header or presigned query); undefined when unsigned. */
export function signingNameOf(req: http.IncomingMessage): string | undefined {
    const authorization = req.headers.authorization;
    let credential: string | undefined;
    if (typeof authorization === "string") credential = /Credential=([^,\s]+)/.exec(authorization)?.[1];
    else {
        const query = (req.url ?? "").split("?", 2)[1];
        if (query?.includes("X-Amz-Credential=")) credential = new URLSearchParams(query).get("X-Amz-Credential") ?? undefined;
    }
    const parts = credential?.split("/");
    return parts && parts.length === 5 ? parts[3] : undefined;
}
