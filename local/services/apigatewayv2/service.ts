/**
 * API Gateway v2: the HTTP and WebSocket APIs the program declares, invoked on `/_apis/<api id>/[<stage>/]<path>` of
 * the endpoint (browsers, fetch and the SDKs with `endpoint` set), each route's Lambda proxy integration invoked only
 * where an `aws.lambda.Permission` lets apigateway.amazonaws.com do so, as in AWS.
 */
import type * as http from "node:http";
import { AwsError } from "../../core/awsError";
import { str } from "../../core/naming";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";
import { API_PATH_PREFIX, APIGW_TYPES, apiAttributes, arnMatches, readApis, resourceId, stageAttributes, type ServedApi } from "./apis";
import { INTERNAL_ERROR, MAX_API_BODY_BYTES, NOT_FOUND, locate, serveHttp, type ApiResponse, type FrontEndContext } from "./http";
import { WebSocketFrontEnd } from "./websocket";

export interface ApiGatewayInstance extends ServiceInstance {
    /** The APIs as served, by id (after provision). */
    apis: Map<string, ServedApi>;
    /** The URL of an API's stage on this endpoint (`$default`: no stage segment). */
    invokeUrl(apiId: string, stage?: string): string;
    webSockets: WebSocketFrontEnd;
}

const LAMBDA_FUNCTION = "aws:lambda/function:Function";
const LAMBDA_PERMISSION = "aws:lambda/permission:Permission";
const byUrn = (r: { urn: string }) => ({ id: resourceId(r.urn) });

export const apiGatewayService: ServiceDefinition<ApiGatewayInstance> = {
    name: "apigateway",
    signingName: "execute-api",
    resourceTypes: {
        [APIGW_TYPES.api]: { attributes: apiAttributes, id: (state) => str(state.id) },
        [APIGW_TYPES.stage]: { attributes: stageAttributes, id: (state) => str(state.id) },
        [APIGW_TYPES.route]: { attributes: byUrn, id: (state) => str(state.id) },
        [APIGW_TYPES.integration]: { attributes: byUrn, id: (state) => str(state.id) },
        [APIGW_TYPES.authorizer]: { attributes: byUrn, id: (state) => str(state.id) },
        [APIGW_TYPES.deployment]: { attributes: byUrn, id: (state) => str(state.id) },
        [APIGW_TYPES.routeResponse]: { attributes: byUrn, id: (state) => str(state.id) },
    },
    async create(context) {
        const apis = new Map<string, ServedApi>();
        const declared = context.declared;
        const frontEnd: FrontEndContext = {
            region: context.region,
            accountId: context.accountId,
            api: (id) => apis.get(id),
            invoke: async (functionArn, event) => {
                try {
                    const result = await context.service("lambda").service.invoke(functionArn, event);
                    if (result.functionError) return { failed: `${result.functionError.errorType}: ${result.functionError.errorMessage}` };
                    return { payload: result.payload };
                } catch (error) {
                    return { failed: (error as Error)?.message ?? String(error) };
                }
            },
            mayInvoke: (functionArn, sourceArn) => {
                const fn = declared.find(LAMBDA_FUNCTION, functionArn);
                return (
                    fn !== undefined &&
                    declared
                        .of(LAMBDA_PERMISSION)
                        .some((p) => declared.find(LAMBDA_FUNCTION, p.inputs.function) === fn && p.inputs.principal === "apigateway.amazonaws.com" && (p.inputs.sourceArn === undefined || arnMatches(str(p.inputs.sourceArn), sourceArn)))
                );
            },
            secretOf: (accessKeyId) => context.credentials.secretOf(accessKeyId),
            authorizeCaller: (accessKeyId, action, resource) => context.iam.authorizeCaller(accessKeyId, action, resource),
            log: (line) => context.log(line),
        };
        const webSockets = new WebSocketFrontEnd(frontEnd);
        const answer = (res: http.ServerResponse, response: ApiResponse) => {
            const headers: Record<string, string | string[]> = { ...response.headers, "content-length": String(response.body.length), "apigw-requestid": resourceId(`${Date.now()}${Math.random()}`) };
            if (response.cookies) headers["set-cookie"] = response.cookies;
            res.writeHead(response.status, headers);
            res.end(response.body);
        };
        const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
            readBounded(req, MAX_API_BODY_BYTES)
                .then(async (body) => {
                    if (body === undefined) return answer(res, { status: 413, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify({ message: "Request Entity Too Large" })) });
                    const where = locate(frontEnd, req.url ?? "/");
                    if (!where) return answer(res, NOT_FOUND());
                    if (where.api.protocol === "WEBSOCKET") return answer(res, (await webSockets.manage(req, body)) ?? NOT_FOUND());
                    answer(res, await serveHttp(frontEnd, req, body, where));
                })
                .catch((error: unknown) => {
                    context.log(`apigateway: ${req.method} ${req.url}: ${(error as Error)?.stack ?? String(error)}`);
                    if (!res.headersSent) answer(res, INTERNAL_ERROR());
                    else res.destroy();
                });
        };
        return {
            apis,
            webSockets,
            invokeUrl: (apiId, stage = "$default") => `${context.endpointUrl()}${API_PATH_PREFIX}${apiId}${stage === "$default" ? "" : `/${stage}`}`,
            routes: { prefixed: { prefix: API_PATH_PREFIX, handle, upgrade: (req, socket, head) => webSockets.upgrade(req, socket, head) } },
            async provision() {
                for (const api of readApis(declared)) {
                    apis.set(api.id, api);
                    const urn = declared.of(APIGW_TYPES.api).find((r) => str(r.state.id) === api.id)?.urn;
                    const scheme = api.protocol === "WEBSOCKET" ? context.endpointUrl().replace(/^http/, "ws") : context.endpointUrl();
                    context.serve({ service: "apigateway", type: APIGW_TYPES.api, urn, arn: api.executionArn, name: api.name, description: `${api.protocol.toLowerCase()} api ${api.name} ${scheme}${API_PATH_PREFIX}${api.id} (${api.routes.length} routes)` });
                }
            },
            async close() {
                webSockets.close();
            },
        };
    },
};

/** The whole body, or undefined once it passes `limit` (the rest is drained so the 413 reaches the client). */
function readBounded(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size <= limit) chunks.push(chunk);
        });
        req.on("end", () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
        req.on("error", (error) => reject(error instanceof AwsError ? error : new AwsError("BadRequestException", error.message, 400)));
    });
}
