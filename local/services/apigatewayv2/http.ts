/**
 * HTTP APIs as API Gateway serves them: a request on `/_apis/<api>/[<stage>/]<path>` is matched to a route (the most
 * specific first), authorized (NONE, AWS_IAM with SigV4 for `execute-api`, or a REQUEST Lambda authorizer), and
 * handed to its Lambda proxy integration as a payload format 2.0 event; the function's result becomes the response
 * by the 2.0 rules. The errors are API Gateway's own bodies (`{"message":"Not Found"}`, ...).
 */
import type * as http from "node:http";
import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { AwsError } from "../../core/awsError";
import { signatureClaimOf, verifySigV4 } from "../../core/sigv4";
import { API_PATH_PREFIX, type ApiAuthorizer, type ApiRoute, type ServedApi, arnMatches, routeArn } from "./apis";

/** API Gateway's payload limit. */
export const MAX_API_BODY_BYTES = 10 * 1024 * 1024;

/** What the front ends need of the runtime. */
export interface FrontEndContext {
    region: string;
    accountId: string;
    api(id: string): ServedApi | undefined;
    /** Invokes a function synchronously: its result, or `failed` when it raised (or could not be invoked). */
    invoke(functionArn: string, event: unknown): Promise<{ payload?: unknown; failed?: string }>;
    /** Whether an `aws.lambda.Permission` lets apigateway.amazonaws.com invoke the function for `sourceArn`. */
    mayInvoke(functionArn: string, sourceArn: string): boolean;
    secretOf(accessKeyId: string): string | undefined;
    /** Throws AccessDeniedException when the caller's role may not. */
    authorizeCaller(accessKeyId: string, action: string, resource: string): void;
    log(line: string): void;
}

export interface ApiResponse {
    status: number;
    headers: Record<string, string>;
    cookies?: string[];
    body: Buffer;
}

const message = (status: number, text: string, headers: Record<string, string> = {}): ApiResponse => ({
    status,
    headers: { "content-type": "application/json", ...headers },
    body: Buffer.from(JSON.stringify({ message: text })),
});
export const NOT_FOUND = () => message(404, "Not Found");
const FORBIDDEN = () => message(403, "Forbidden");
const UNAUTHORIZED = () => message(401, "Unauthorized");
export const INTERNAL_ERROR = () => message(500, "Internal Server Error");

/** Where a request on the API prefix goes: the API, its stage and the path inside it. */
export function locate(context: FrontEndContext, url: string): { api: ServedApi; stage: string; path: string } | undefined {
    const pathname = url.split("?", 1)[0];
    const [apiId, ...rest] = pathname.slice(API_PATH_PREFIX.length).split("/");
    const api = context.api(apiId);
    if (!api) return undefined;
    const first = rest[0] ?? "";
    if (first !== "" && first !== "$default" && api.stages.has(decodeURIComponent(first))) return { api, stage: decodeURIComponent(first), path: `/${rest.slice(1).join("/")}` };
    if (!api.stages.has("$default")) return undefined;
    return { api, stage: "$default", path: `/${rest.join("/")}` };
}

/** The route an HTTP request takes: literal segments beat `{param}`, which beats `{proxy+}`; a method beats ANY; `$default` last. */
export function matchRoute(routes: readonly ApiRoute[], method: string, path: string): { route: ApiRoute; pathParameters: Record<string, string> } | undefined {
    const segments = path.split("/").slice(1);
    let best: { route: ApiRoute; pathParameters: Record<string, string>; score: number[] } | undefined;
    for (const route of routes) {
        if (!route.segments || !route.method) continue;
        if (route.method !== "ANY" && route.method !== method) continue;
        const matched = matchSegments(route.segments, segments);
        if (!matched) continue;
        const score = [...matched.score, route.method === "ANY" ? 0 : 1];
        if (!best || compareScores(score, best.score) > 0) best = { route, pathParameters: matched.pathParameters, score };
    }
    if (best) return { route: best.route, pathParameters: best.pathParameters };
    const fallback = routes.find((route) => route.routeKey === "$default");
    return fallback ? { route: fallback, pathParameters: {} } : undefined;
}

function matchSegments(template: string[], segments: string[]): { score: number[]; pathParameters: Record<string, string> } | undefined {
    const pathParameters: Record<string, string> = {};
    const score: number[] = [];
    for (let i = 0; i < template.length; i++) {
        const part = template[i];
        const greedy = /^\{(.+)\+\}$/.exec(part);
        if (greedy) {
            // A greedy variable is the last segment and takes one or more.
            if (i !== template.length - 1 || segments.length <= i) return undefined;
            pathParameters[greedy[1]] = segments.slice(i).map(decodeURIComponent).join("/");
            score.push(1);
            return { score, pathParameters };
        }
        if (i >= segments.length) return undefined;
        const variable = /^\{(.+)\}$/.exec(part);
        if (variable) {
            if (segments[i] === "") return undefined;
            pathParameters[variable[1]] = decodeURIComponent(segments[i]);
            score.push(2);
        } else if (part === segments[i]) score.push(3);
        else return undefined;
    }
    return template.length === segments.length ? { score, pathParameters } : undefined;
}

function compareScores(a: number[], b: number[]): number {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const diff = (a[i] ?? -1) - (b[i] ?? -1);
        if (diff !== 0) return diff;
    }
    return 0;
}

/** Text bodies reach the function as text; anything else base64-encoded, as API Gateway does. */
function isTextual(contentType: string | undefined): boolean {
    if (!contentType) return true;
    return /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|[\w.+-]+\+(json|xml)))/i.test(contentType);
}

/** `12/Mar/2020:19:03:58 +0000`, as requestContext.time is written. */
function requestTime(ms: number): string {
    const d = new Date(ms);
    const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getUTCMonth()];
    const pad = (n: number) => String(n).padStart(2, "0");
    return `${pad(d.getUTCDate())}/${month}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Header values joined as API Gateway joins repeated ones (commas); names lower-cased. */
function joinedHeaders(req: http.IncomingMessage): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined || name === "cookie") continue;
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
    }
    return headers;
}

/** The payload format 2.0 event of a request. */
export function requestEvent(context: FrontEndContext, req: http.IncomingMessage, body: Buffer, where: { api: ServedApi; stage: string; path: string }, routeKey: string, pathParameters: Record<string, string>): APIGatewayProxyEventV2 {
    const now = Date.now();
    const query = (req.url ?? "").split("?", 2)[1] ?? "";
    const queryStringParameters: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(query)) queryStringParameters[name] = name in queryStringParameters ? `${queryStringParameters[name]},${value}` : value;
    const cookieHeader = req.headers.cookie;
    const cookies = cookieHeader ? cookieHeader.split(/;\s*/).filter((c) => c !== "") : undefined;
    const headers = joinedHeaders(req);
    const textual = isTextual(headers["content-type"]);
    const stageVariables = where.api.stages.get(where.stage) ?? {};
    const event: APIGatewayProxyEventV2 = {
        version: "2.0",
        routeKey,
        rawPath: where.stage === "$default" ? where.path : `/${where.stage}${where.path}`,
        rawQueryString: query,
        headers,
        requestContext: {
            accountId: context.accountId,
            apiId: where.api.id,
            domainName: headers.host ?? "",
            domainPrefix: where.api.id,
            http: {
                method: req.method ?? "GET",
                path: where.stage === "$default" ? where.path : `/${where.stage}${where.path}`,
                protocol: `HTTP/${req.httpVersion}`,
                sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1",
                userAgent: headers["user-agent"] ?? "",
            },
            requestId: randomUUID(),
            routeKey,
            stage: where.stage,
            time: requestTime(now),
            timeEpoch: now,
        },
        isBase64Encoded: body.length > 0 && !textual,
    };
    if (cookies) event.cookies = cookies;
    if (Object.keys(queryStringParameters).length) event.queryStringParameters = queryStringParameters;
    if (Object.keys(pathParameters).length) event.pathParameters = pathParameters;
    if (Object.keys(stageVariables).length) event.stageVariables = stageVariables;
    if (body.length > 0) event.body = textual ? body.toString("utf8") : body.toString("base64");
    return event;
}

/** The 2.0 response rules: a result without `statusCode` is a 200 JSON body; otherwise its fields, as given. */
export function responseOf(result: unknown): ApiResponse {
    const structured = typeof result === "object" && result !== null && !Array.isArray(result) && "statusCode" in result ? (result as APIGatewayProxyStructuredResultV2) : undefined;
    if (!structured) {
        const text = typeof result === "string" ? result : JSON.stringify(result ?? null);
        return { status: 200, headers: { "content-type": "application/json" }, body: Buffer.from(text) };
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(structured.headers ?? {})) headers[name.toLowerCase()] = String(value);
    const text = structured.body ?? "";
    const body = structured.isBase64Encoded ? Buffer.from(text, "base64") : Buffer.from(text);
    if (!headers["content-type"] && body.length > 0) headers["content-type"] = "application/json";
    const response: ApiResponse = { status: Number(structured.statusCode ?? 200), headers, body };
    if (structured.cookies?.length) response.cookies = structured.cookies;
    return response;
}

/** A CORS preflight answered from the API's corsConfiguration, or undefined when it is not one. */
function preflight(api: ServedApi, req: http.IncomingMessage): ApiResponse | undefined {
    const cors = api.cors;
    const origin = req.headers.origin;
    if (!cors || req.method !== "OPTIONS" || !origin || !req.headers["access-control-request-method"]) return undefined;
    const headers = corsHeaders(api, origin);
    if (!headers) return { status: 204, headers: {}, body: Buffer.alloc(0) };
    headers["access-control-allow-methods"] = cors.allowMethods.join(",") || "*";
    if (cors.allowHeaders.length) headers["access-control-allow-headers"] = cors.allowHeaders.join(",");
    if (cors.maxAge !== undefined) headers["access-control-max-age"] = String(cors.maxAge);
    return { status: 204, headers, body: Buffer.alloc(0) };
}

function corsHeaders(api: ServedApi, origin: string | undefined): Record<string, string> | undefined {
    const cors = api.cors;
    if (!cors || !origin) return undefined;
    const allowed = cors.allowOrigins.includes("*") ? "*" : cors.allowOrigins.includes(origin) ? origin : undefined;
    if (!allowed) return undefined;
    const headers: Record<string, string> = { "access-control-allow-origin": allowed };
    if (cors.allowCredentials) headers["access-control-allow-credentials"] = "true";
    if (cors.exposeHeaders.length) headers["access-control-expose-headers"] = cors.exposeHeaders.join(",");
    return headers;
}

/** AWS_IAM: a SigV4 signature for `execute-api`, and IAM allowing `execute-api:Invoke` on the route's ARN. */
async function iamIdentity(context: FrontEndContext, req: http.IncomingMessage, body: Buffer, arn: string): Promise<{ identity?: Record<string, unknown>; refusal?: ApiResponse }> {
    try {
        // Signed in the Authorization header, or in the query as a browser's WebSocket or a shared link must be.
        const claim = signatureClaimOf(req);
        if (!claim) return { refusal: FORBIDDEN() };
        if (claim.scope.service !== "execute-api") return { refusal: message(403, `Credential should be scoped to correct service: 'execute-api'.`) };
        const caller = await verifySigV4(req, body, (key) => context.secretOf(key));
        context.authorizeCaller(caller.accessKeyId, "execute-api:Invoke", arn);
        return { identity: { accessKey: caller.accessKeyId, accountId: context.accountId, callerId: caller.accessKeyId, userArn: "", userId: caller.accessKeyId, cognitoIdentity: null, principalOrgId: null } };
    } catch (error) {
        if (error instanceof AwsError) return { refusal: message(403, error.message) };
        throw error;
    }
}

/** The value of an identity source (`$request.header.X`, `$request.querystring.q`) in the 2.0 event. */
function identityValue(event: APIGatewayProxyEventV2, source: string): string | undefined {
    const header = /^\$request\.header\.(.+)$/.exec(source);
    if (header) return event.headers[header[1].toLowerCase()];
    const query = /^\$request\.querystring\.(.+)$/.exec(source);
    if (query) return event.queryStringParameters?.[query[1]];
    return undefined;
}

/** A REQUEST Lambda authorizer (payload 2.0): simple `{isAuthorized, context}`, or an IAM policy allowing the route. */
async function lambdaAuthorization(context: FrontEndContext, authorizer: ApiAuthorizer, event: APIGatewayProxyEventV2, arn: string): Promise<{ lambda?: unknown; refusal?: ApiResponse }> {
    const identitySource = authorizer.identitySources.map((source) => identityValue(event, source));
    if (authorizer.identitySources.length && identitySource.some((value) => value === undefined || value === "")) return { refusal: UNAUTHORIZED() };
    if (!context.mayInvoke(authorizer.functionArn, arn)) {
        context.log(`apigateway: no lambda permission lets apigateway.amazonaws.com invoke the authorizer ${authorizer.functionArn} for ${arn}`);
        return { refusal: INTERNAL_ERROR() };
    }
    const request = { ...event, type: "REQUEST", routeArn: arn, identitySource: identitySource as string[] };
    const outcome = await context.invoke(authorizer.functionArn, request);
    if (outcome.failed) {
        context.log(`apigateway: authorizer ${authorizer.name} failed: ${outcome.failed}`);
        return { refusal: INTERNAL_ERROR() };
    }
    const answer = (outcome.payload ?? {}) as { isAuthorized?: unknown; context?: unknown; policyDocument?: { Statement?: Array<{ Effect?: string; Action?: string | string[]; Resource?: string | string[] }> } };
    if (authorizer.simpleResponses) return answer.isAuthorized === true ? { lambda: answer.context ?? {} } : { refusal: FORBIDDEN() };
    const statements = answer.policyDocument?.Statement ?? [];
    const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const applies = (s: (typeof statements)[number]) => list(s.Action).some((a) => a === "execute-api:Invoke" || a === "execute-api:*" || a === "*") && list(s.Resource).some((r) => arnMatches(r, arn));
    if (statements.some((s) => s.Effect === "Deny" && applies(s))) return { refusal: FORBIDDEN() };
    return statements.some((s) => s.Effect === "Allow" && applies(s)) ? { lambda: answer.context ?? {} } : { refusal: FORBIDDEN() };
}

/** A 2.0 event with what its route's authorization established. */
type AuthorizedEvent = APIGatewayProxyEventV2 & { requestContext: { authorizer: { iam?: Record<string, unknown>; lambda?: unknown } } };

/** Serves one request to an HTTP API. */
export async function serveHttp(context: FrontEndContext, req: http.IncomingMessage, body: Buffer, where: { api: ServedApi; stage: string; path: string }): Promise<ApiResponse> {
    const api = where.api;
    const cors = preflight(api, req);
    if (cors) return cors;
    const method = req.method ?? "GET";
    const matched = matchRoute(api.routes, method, where.path);
    if (!matched) return NOT_FOUND();
    const { route, pathParameters } = matched;
    const arn = routeArn(api, where.stage, method, where.path);
    const event = requestEvent(context, req, body, where, route.routeKey, pathParameters);
    // The 2.0 event's requestContext.authorizer: `{ iam }` (APIGatewayProxyEventV2WithIAMAuthorizer) or `{ lambda }`.
    let authorized: APIGatewayProxyEventV2 | AuthorizedEvent = event;
    if (route.authorizationType === "AWS_IAM") {
        const { identity, refusal } = await iamIdentity(context, req, body, arn);
        if (refusal) return refusal;
        authorized = { ...event, requestContext: { ...event.requestContext, authorizer: { iam: identity } } };
    } else if (route.authorizationType === "CUSTOM" && route.authorizer) {
        const { lambda, refusal } = await lambdaAuthorization(context, route.authorizer, event, arn);
        if (refusal) return refusal;
        authorized = { ...event, requestContext: { ...event.requestContext, authorizer: { lambda } } };
    }
    if (!route.integration) return NOT_FOUND();
    const functionArn = route.integration.functionArn;
    if (!context.mayInvoke(functionArn, arn)) {
        context.log(`apigateway: no lambda permission lets apigateway.amazonaws.com invoke ${functionArn} for ${arn}; API Gateway answers 500`);
        return INTERNAL_ERROR();
    }
    const outcome = await context.invoke(functionArn, authorized);
    if (outcome.failed) {
        context.log(`apigateway: ${api.name} ${route.routeKey}: the integration failed: ${outcome.failed}`);
        return INTERNAL_ERROR();
    }
    const response = responseOf(outcome.payload);
    const allowOrigin = corsHeaders(api, typeof req.headers.origin === "string" ? req.headers.origin : undefined);
    if (allowOrigin) Object.assign(response.headers, allowOrigin);
    return response;
}
