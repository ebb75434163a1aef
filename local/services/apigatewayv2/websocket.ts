/**
 * WebSocket APIs as API Gateway serves them: an upgrade on `/_apis/<api>/<stage>` runs the `$connect` route (its
 * function may refuse the connection), each message is routed by the API's route selection expression to a custom
 * route or `$default`, a closed connection runs `$disconnect`, and the `@connections` management API
 * (`POST|GET|DELETE /<stage>/@connections/<id>`, SigV4 for `execute-api`, IAM `execute-api:ManageConnections`) lets
 * functions and tools push to a client. The socket protocol is the `ws` package's.
 */
import type * as http from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { AwsError } from "../../core/awsError";
import { signatureClaimOf, verifySigV4 } from "../../core/sigv4";
import { type ApiRoute, type ServedApi, routeArn } from "./apis";
import { type ApiResponse, type FrontEndContext, locate, NOT_FOUND } from "./http";

/** API Gateway's frame limit for WebSocket messages. */
const MAX_FRAME_BYTES = 128 * 1024;

interface Connection {
    id: string;
    api: ServedApi;
    stage: string;
    socket: WebSocket;
    connectedAt: number;
    lastActiveAt: number;
    sourceIp: string;
    userAgent: string;
}

/** A connection id as API Gateway writes them: 12 characters of base64 ending in `=`. */
function connectionId(): string {
    return `${randomBytes(9).toString("base64").replace(/[+/]/g, "A").slice(0, 11)}=`;
}

export class WebSocketFrontEnd {
    private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
    private readonly connections = new Map<string, Connection>();

    constructor(private readonly context: FrontEndContext) {}

    /** An upgrade request: `$connect` decides; the socket is accepted only then. */
    upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
        const where = locate(this.context, req.url ?? "/");
        const refuse = (status: number, text: string): void => void socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        if (!where || where.api.protocol !== "WEBSOCKET" || (where.path !== "/" && where.path !== "")) return refuse(404, "Not Found");
        const id = connectionId();
        const connect = where.api.routes.find((route) => route.routeKey === "$connect");
        const event = this.event(where.api, where.stage, id, "$connect", "CONNECT", req);
        void (async () => {
            if (connect) {
                const refusal = await this.authorizeConnect(where.api, where.stage, connect, req);
                if (refusal) return refuse(refusal, refusal === 401 ? "Unauthorized" : "Forbidden");
                const outcome = connect.integration ? await this.run(where.api, where.stage, connect, event) : { payload: { statusCode: 200 } };
                const status = statusOf(outcome.payload);
                if (outcome.failed || status < 200 || status > 299) return refuse(outcome.failed ? 500 : status, "Refused");
            }
            this.server.handleUpgrade(req, socket, head, (ws) => this.accept(ws, where.api, where.stage, id, req));
        })().catch((error: unknown) => {
            this.context.log(`apigateway: $connect on ${where.api.name} failed: ${(error as Error)?.message ?? String(error)}`);
            refuse(500, "Internal Server Error");
        });
    }

    private accept(socket: WebSocket, api: ServedApi, stage: string, id: string, req: http.IncomingMessage): void {
        const now = Date.now();
        const connection: Connection = { id, api, stage, socket, connectedAt: now, lastActiveAt: now, sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1", userAgent: String(req.headers["user-agent"] ?? "") };
        this.connections.set(id, connection);
        socket.on("message", (data, isBinary) => {
            connection.lastActiveAt = Date.now();
            const text = Buffer.isBuffer(data) ? data.toString(isBinary ? "base64" : "utf8") : Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data).toString("utf8");
            void this.message(connection, text, isBinary).catch((error: unknown) => this.context.log(`apigateway: message on ${api.name} failed: ${(error as Error)?.message ?? String(error)}`));
        });
        socket.on("close", () => {
            this.connections.delete(id);
            const disconnect = api.routes.find((route) => route.routeKey === "$disconnect");
            if (disconnect?.integration) void this.run(api, stage, disconnect, this.event(api, stage, id, "$disconnect", "DISCONNECT", req)).catch(() => undefined);
        });
    }

    /** Routes a message by the selection expression (`$request.body.action`), else `$default`; no route: AWS's error frame. */
    private async message(connection: Connection, body: string, isBinary: boolean): Promise<void> {
        const { api, stage, id } = connection;
        const key = selectRouteKey(api.routeSelectionExpression, body);
        const route = api.routes.find((r) => r.routeKey === key && key !== "$connect" && key !== "$disconnect") ?? api.routes.find((r) => r.routeKey === "$default");
        const requestId = randomUUID();
        if (!route?.integration) {
            connection.socket.send(JSON.stringify({ message: "Forbidden", connectionId: id, requestId }));
            return;
        }
        const event = { ...this.event(api, stage, id, route.routeKey, "MESSAGE"), body, isBase64Encoded: isBinary };
        const outcome = await this.run(api, stage, route, event);
        if (outcome.failed) {
            connection.socket.send(JSON.stringify({ message: "Internal server error", connectionId: id, requestId }));
            return;
        }
        if (route.twoWay && outcome.payload !== undefined && connection.socket.readyState === connection.socket.OPEN) {
            const result = outcome.payload as { body?: unknown } | null;
            const reply = typeof result === "object" && result !== null && "body" in result ? result.body : outcome.payload;
            connection.socket.send(typeof reply === "string" ? reply : JSON.stringify(reply));
        }
    }

    /** The proxy event of a WebSocket route (APIGatewayProxyWebsocketEventV2's fields, with headers on $connect). */
    private event(api: ServedApi, stage: string, id: string, routeKey: string, eventType: "CONNECT" | "MESSAGE" | "DISCONNECT", req?: http.IncomingMessage) {
        const now = Date.now();
        const connection = this.connections.get(id);
        const event: Record<string, unknown> = {
            requestContext: {
                routeKey,
                messageId: eventType === "MESSAGE" ? randomBytes(8).toString("base64") : undefined,
                eventType,
                extendedRequestId: randomUUID(),
                requestTime: new Date(now).toUTCString(),
                messageDirection: "IN",
                stage,
                connectedAt: connection?.connectedAt ?? now,
                requestTimeEpoch: now,
                identity: { sourceIp: connection?.sourceIp ?? req?.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1", userAgent: connection?.userAgent ?? String(req?.headers["user-agent"] ?? "") },
                requestId: randomUUID(),
                domainName: String(req?.headers.host ?? ""),
                connectionId: id,
                apiId: api.id,
            },
            isBase64Encoded: false,
        };
        if (eventType === "CONNECT" && req) {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
            event.headers = headers;
            const query = new URLSearchParams((req.url ?? "").split("?", 2)[1] ?? "");
            if ([...query.keys()].length) event.queryStringParameters = Object.fromEntries(query);
        }
        return event;
    }

    /**
     * `$connect` may require IAM (a request signed for execute-api, in its Authorization header or, as browsers
     * must since they cannot set a WebSocket's headers, in its query) or a REQUEST authorizer; the HTTP status of
     * a refusal.
     */
    private async authorizeConnect(api: ServedApi, stage: string, route: ApiRoute, req: http.IncomingMessage): Promise<number | undefined> {
        if (route.authorizationType === "AWS_IAM") {
            try {
                const claim = signatureClaimOf(req);
                if (claim?.scope.service !== "execute-api") return 403;
                const caller = await verifySigV4(req, Buffer.alloc(0), (key) => this.context.secretOf(key));
                this.context.authorizeCaller(caller.accessKeyId, "execute-api:Invoke", routeArn(api, stage, "$connect", ""));
            } catch (error) {
                if (error instanceof AwsError) return 403;
                throw error;
            }
        }
        if (route.authorizationType === "CUSTOM") {
            throw new AwsError("BadRequestException", `API ${api.name}: a Lambda authorizer on $connect is not served by the offline runtime (NONE and AWS_IAM are)`);
        }
        return undefined;
    }

    private async run(api: ServedApi, stage: string, route: ApiRoute, event: unknown): Promise<{ payload?: unknown; failed?: string }> {
        const integration = route.integration;
        if (!integration) return {};
        const arn = `${api.executionArn}/${stage}/${route.routeKey}`;
        if (!this.context.mayInvoke(integration.functionArn, arn)) {
            this.context.log(`apigateway: no lambda permission lets apigateway.amazonaws.com invoke ${integration.functionArn} for ${arn}`);
            return { failed: "missing permission" };
        }
        return this.context.invoke(integration.functionArn, event);
    }

    /**
     * The `@connections` API on an HTTP request to a WebSocket API: `/<stage>/@connections/<id>`. Undefined when
     * the path is not one (the caller answers 404).
     */
    async manage(req: http.IncomingMessage, body: Buffer): Promise<ApiResponse | undefined> {
        const where = locate(this.context, req.url ?? "/");
        const match = where ? /^\/@connections\/([^/]+)$/.exec(where.path) : null;
        if (!where || !match || where.api.protocol !== "WEBSOCKET") return undefined;
        const id = decodeURIComponent(match[1]);
        const method = req.method ?? "GET";
        const authorization = req.headers.authorization;
        if (typeof authorization !== "string") return jsonError(403, "MissingAuthenticationTokenException", "Missing Authentication Token");
        try {
            const caller = await verifySigV4(req, body, (key) => this.context.secretOf(key));
            this.context.authorizeCaller(caller.accessKeyId, "execute-api:ManageConnections", `${where.api.executionArn}/${where.stage}/${method}/@connections/${id}`);
        } catch (error) {
            if (error instanceof AwsError) return jsonError(error.statusCode === 400 ? 403 : error.statusCode, error.code, error.message);
            throw error;
        }
        const connection = this.connections.get(id);
        if (!connection || connection.api.id !== where.api.id || connection.stage !== where.stage || connection.socket.readyState !== connection.socket.OPEN) {
            return jsonError(410, "GoneException", `The connection ${id} is gone`);
        }
        if (method === "POST") {
            if (body.length > MAX_FRAME_BYTES) return jsonError(413, "PayloadTooLargeException", `Message is over ${MAX_FRAME_BYTES} bytes`);
            connection.socket.send(body.toString("utf8"));
            connection.lastActiveAt = Date.now();
            return { status: 200, headers: {}, body: Buffer.alloc(0) };
        }
        if (method === "GET") {
            const answer = { ConnectedAt: new Date(connection.connectedAt).toISOString(), Identity: { SourceIp: connection.sourceIp, UserAgent: connection.userAgent }, LastActiveAt: new Date(connection.lastActiveAt).toISOString() };
            return { status: 200, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify(answer)) };
        }
        if (method === "DELETE") {
            connection.socket.close(1000);
            return { status: 204, headers: {}, body: Buffer.alloc(0) };
        }
        return NOT_FOUND();
    }

    /** Open connections (for the served-resource listing and tests). */
    openConnections(): number {
        return this.connections.size;
    }

    close(): void {
        for (const connection of this.connections.values()) connection.socket.terminate();
        this.connections.clear();
        this.server.close();
    }
}

function statusOf(payload: unknown): number {
    if (typeof payload === "object" && payload !== null && "statusCode" in payload) return Number((payload as { statusCode: unknown }).statusCode);
    return 200;
}

function jsonError(status: number, code: string, text: string): ApiResponse {
    return { status, headers: { "content-type": "application/json", "x-amzn-errortype": code }, body: Buffer.from(JSON.stringify({ message: text })) };
}

/** `$request.body.action` (any dotted path in the JSON body); a body that is not JSON, or has no such member, selects `$default`. */
export function selectRouteKey(expression: string, body: string): string {
    const path = /^\$request\.body\.(.+)$/.exec(expression);
    if (!path) return "$default";
    let value: unknown;
    try {
        value = JSON.parse(body);
    } catch {
        return "$default";
    }
    for (const key of path[1].split(".")) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
    return typeof value === "string" ? value : "$default";
}
