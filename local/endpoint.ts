/**
 * The single HTTP endpoint of the offline runtime. AWS's JSON protocols name the operation in the
 * `X-Amz-Target` header (`AWSEvents.PutEvents`, `AWSStepFunctions.StartExecution`,
 * `DynamoDB_20120810.PutItem`); every request without one is S3's REST protocol. So one port serves them all,
 * and the AWS CLI and SDKs reach each service with the same `--endpoint-url`.
 */
import { randomUUID } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { AwsError } from "./awsError";

/** A JSON-protocol service: its target prefix and its operations, each taking and returning AWS's JSON shapes. */
export interface JsonService {
    /** The part of `X-Amz-Target` before the dot. */
    targetPrefix: string;
    /** `application/x-amz-json-1.0` or `-1.1`, as the service speaks. */
    contentType: string;
    operations: Record<string, (request: Record<string, unknown>) => unknown>;
    /**
     * Checks, before an operation runs, that the caller (the access key of its SigV4 `Authorization` header)
     * may make this request; throws AccessDeniedException when IAM would refuse.
     */
    authorize?: (accessKeyId: string | undefined, operation: string, request: Record<string, unknown>) => void;
}

/** A service that reads the raw request itself (the S3 and DynamoDB emulators). */
export interface RawService {
    handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

export interface EndpointOptions {
    json: JsonService[];
    /** Raw services by target prefix (DynamoDB). */
    rawByTarget: Record<string, RawService>;
    /** Everything without a target: S3. */
    fallback: RawService;
    /** A request body larger than this is refused before it is parsed (PutEvents' 256 KB entries fit well inside). */
    maxBodyBytes?: number;
    log?: (line: string) => void;
}

export interface Endpoint {
    server: http.Server;
    url: string;
    close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, contentType: string, body: unknown): void {
    const text = JSON.stringify(body ?? {});
    res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text), "x-amzn-requestid": randomUUID() });
    res.end(text);
}

/** AWS's JSON error shape: `__type` carries the code (the SDKs read it, and the `x-amzn-errortype` header). */
function sendError(res: http.ServerResponse, contentType: string, error: AwsError): void {
    res.setHeader("x-amzn-errortype", error.code);
    sendJson(res, error.statusCode, contentType, { __type: error.code, message: error.message });
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) {
                reject(new AwsError("RequestEntityTooLargeException", `Request body is over ${limit} bytes`, 413));
                req.destroy();
            } else chunks.push(chunk);
        });
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

async function handleJson(service: JsonService, operation: string, req: http.IncomingMessage, res: http.ServerResponse, limit: number): Promise<void> {
    const run = service.operations[operation];
    if (!run) throw new AwsError("UnknownOperationException", `Operation ${operation} is not supported by ${service.targetPrefix} here`);
    const text = await readBody(req, limit);
    let request: unknown;
    try {
        request = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
        throw new AwsError("SerializationException", "Request body is not valid JSON");
    }
    if (request === null || typeof request !== "object" || Array.isArray(request)) {
        throw new AwsError("SerializationException", "Request body must be a JSON object");
    }
    service.authorize?.(accessKeyOf(req), operation, request as Record<string, unknown>);
    sendJson(res, 200, service.contentType, await run(request as Record<string, unknown>));
}

/** The access key a SigV4-signed request names (`Credential=<key>/<date>/...`). */
function accessKeyOf(req: http.IncomingMessage): string | undefined {
    return /Credential=([^/,\s]+)\//.exec(req.headers.authorization ?? "")?.[1];
}

export function startEndpoint(options: EndpointOptions, host: string, port: number): Promise<Endpoint> {
    const json = new Map(options.json.map((s) => [s.targetPrefix, s]));
    const limit = options.maxBodyBytes ?? 6 * 1024 * 1024;
    const server = http.createServer((req, res) => {
        const target = req.headers["x-amz-target"];
        if (typeof target !== "string") return options.fallback.handle(req, res);
        const [prefix, operation = ""] = target.split(".");
        const raw = options.rawByTarget[prefix];
        if (raw) return raw.handle(req, res);
        const service = json.get(prefix);
        const contentType = service?.contentType ?? "application/x-amz-json-1.1";
        const fail = (error: unknown) => {
            if (res.headersSent) return res.destroy();
            if (error instanceof AwsError) return sendError(res, contentType, error);
            options.log?.(`${target}: internal error: ${(error as Error).stack ?? String(error)}`);
            sendError(res, contentType, new AwsError("InternalFailure", (error as Error).message ?? String(error), 500));
        };
        if (!service) return fail(new AwsError("UnknownOperationException", `No service answers ${target} here`));
        handleJson(service, operation, req, res, limit).catch(fail);
    });
    // Many SDK clients keep connections alive; the defaults would close idle ones under load.
    server.keepAliveTimeout = 65_000;
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
