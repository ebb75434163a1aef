/**
 * API Gateway v2 APIs as the program declares them (`aws.apigatewayv2.Api`, `Route`, `Integration`, `Stage`,
 * `Authorizer`, `RouteResponse`), read once into the shape the HTTP and WebSocket front ends serve, and the ids and
 * URLs the mocks give them.
 */
import { createHash } from "node:crypto";
import { AwsError } from "../../core/awsError";
import type { Declared, MockContext } from "../../core/registry";
import { MOCK_ENDPOINT, str } from "../../core/naming";

export const APIGW_TYPES = {
    api: "aws:apigatewayv2/api:Api",
    route: "aws:apigatewayv2/route:Route",
    integration: "aws:apigatewayv2/integration:Integration",
    stage: "aws:apigatewayv2/stage:Stage",
    authorizer: "aws:apigatewayv2/authorizer:Authorizer",
    deployment: "aws:apigatewayv2/deployment:Deployment",
    routeResponse: "aws:apigatewayv2/routeResponse:RouteResponse",
} as const;

/** Where API invocations are served on the endpoint: `/_apis/<api id>/<stage>/<path>` (`$default`: no stage segment). */
export const API_PATH_PREFIX = "/_apis/";

/** An AWS-looking id (10 lowercase letters and digits), stable for a resource's URN. */
export function resourceId(urn: string): string {
    const digest = createHash("sha256").update(urn).digest();
    let id = "";
    for (let i = 0; id.length < 10; i++) id += "abcdefghijklmnopqrstuvwxyz0123456789"[digest[i] % 36];
    return id;
}

/** What the mocks answer for an Api: its id, its local invoke endpoint, and ARNs as AWS forms them. */
export function apiAttributes(r: MockContext): Record<string, unknown> {
    const id = resourceId(r.urn);
    const scheme = r.inputs.protocolType === "WEBSOCKET" ? "ws" : "http";
    return {
        id,
        name: typeof r.inputs.name === "string" ? r.inputs.name : r.name,
        apiEndpoint: `${scheme}${MOCK_ENDPOINT.slice("http".length)}${API_PATH_PREFIX}${id}`,
        executionArn: `arn:aws:execute-api:${r.region}:${r.accountId}:${id}`,
        arn: `arn:aws:apigateway:${r.region}::/apis/${id}`,
    };
}

/** A Stage's invoke URL (`$default` has no stage segment) and execution ARN. */
export function stageAttributes(r: MockContext): Record<string, unknown> {
    const name = str(r.inputs.name);
    const apiId = str(r.inputs.apiId);
    const base = `${MOCK_ENDPOINT}${API_PATH_PREFIX}${apiId}`;
    return {
        id: name,
        invokeUrl: name === "$default" ? `${base}/` : `${base}/${name}`,
        executionArn: `arn:aws:execute-api:${r.region}:${r.accountId}:${apiId}/${name}`,
        arn: `arn:aws:apigateway:${r.region}::/apis/${apiId}/stages/${name}`,
    };
}

export interface ApiRoute {
    routeKey: string;
    /** "METHOD" and path template of an HTTP route key (`GET /runs/{id}`); undefined for `$default` and WebSocket keys. */
    method?: string;
    segments?: string[];
    integration?: ApiIntegration;
    authorizationType: "NONE" | "AWS_IAM" | "CUSTOM";
    authorizer?: ApiAuthorizer;
    /** WebSocket: a route response is sent back to the client (`$default` selection). */
    twoWay: boolean;
}

export interface ApiIntegration {
    /** The Lambda function the AWS_PROXY integration invokes (its ARN). */
    functionArn: string;
    payloadFormatVersion: "1.0" | "2.0";
}

export interface ApiAuthorizer {
    name: string;
    functionArn: string;
    payloadFormatVersion: "1.0" | "2.0";
    simpleResponses: boolean;
    /** `$request.header.Authorization`, `$request.querystring.token`, ... */
    identitySources: string[];
}

export interface CorsConfiguration {
    allowOrigins: string[];
    allowMethods: string[];
    allowHeaders: string[];
    exposeHeaders: string[];
    maxAge?: number;
    allowCredentials: boolean;
}

export interface ServedApi {
    id: string;
    name: string;
    protocol: "HTTP" | "WEBSOCKET";
    executionArn: string;
    routeSelectionExpression: string;
    cors?: CorsConfiguration;
    /** Stage names with their variables. */
    stages: Map<string, Record<string, string>>;
    routes: ApiRoute[];
}

/** Lambda ARNs as integrations and authorizers name them: the function ARN, or API Gateway's `.../functions/<arn>/invocations`. */
export function functionArnOf(uri: string): string {
    const invocation = /^arn:aws[a-z-]*:apigateway:[^:]*:lambda:path\/[^/]+\/functions\/(.+)\/invocations$/.exec(uri);
    return invocation ? invocation[1] : uri;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(str) : []);

/** Every API the program declares, refusing by name what the front ends cannot serve. */
export function readApis(declared: Declared): ServedApi[] {
    return declared.of(APIGW_TYPES.api).map((api) => {
        const id = str(api.state.id);
        const protocol = api.inputs.protocolType === "WEBSOCKET" ? "WEBSOCKET" : "HTTP";
        const label = `API ${str(api.state.name)} (${id})`;
        if (api.inputs.target !== undefined || api.inputs.routeKey !== undefined) {
            throw new AwsError("BadRequestException", `${label}: quick create (target/routeKey on the Api) is not served by the offline runtime; declare a Route and an Integration`);
        }
        const ofApi = (type: string) => declared.of(type).filter((r) => str(r.inputs.apiId) === id);
        const integrations = new Map<string, ApiIntegration>();
        for (const integration of ofApi(APIGW_TYPES.integration)) {
            const type = str(integration.inputs.integrationType);
            if (type !== "AWS_PROXY") throw new AwsError("BadRequestException", `${label}: integration type ${type} is not served by the offline runtime (AWS_PROXY to Lambda is)`);
            const version = str(integration.inputs.payloadFormatVersion ?? (protocol === "HTTP" ? "2.0" : "1.0"));
            if (protocol === "HTTP" && version !== "2.0") throw new AwsError("BadRequestException", `${label}: payload format ${version} is not served by the offline runtime (2.0 is)`);
            integrations.set(str(integration.state.id), { functionArn: functionArnOf(str(integration.inputs.integrationUri)), payloadFormatVersion: version as "1.0" | "2.0" });
        }
        const authorizers = new Map<string, ApiAuthorizer>();
        for (const authorizer of ofApi(APIGW_TYPES.authorizer)) {
            const type = str(authorizer.inputs.authorizerType);
            if (type !== "REQUEST") throw new AwsError("BadRequestException", `${label}: authorizer type ${type} is not served by the offline runtime (REQUEST Lambda authorizers are)`);
            authorizers.set(str(authorizer.state.id), {
                name: str(authorizer.inputs.name),
                functionArn: functionArnOf(str(authorizer.inputs.authorizerUri)),
                payloadFormatVersion: str(authorizer.inputs.authorizerPayloadFormatVersion ?? "1.0") as "1.0" | "2.0",
                simpleResponses: authorizer.inputs.enableSimpleResponses === true,
                identitySources: strings(authorizer.inputs.identitySources),
            });
        }
        const twoWayRoutes = new Set(ofApi(APIGW_TYPES.routeResponse).map((r) => str(r.inputs.routeId)));
        const routes = ofApi(APIGW_TYPES.route).map((route): ApiRoute => {
            const routeKey = str(route.inputs.routeKey);
            const target = route.inputs.target === undefined ? undefined : str(route.inputs.target);
            const integrationId = target?.startsWith("integrations/") ? target.slice("integrations/".length) : undefined;
            const integration = integrationId ? integrations.get(integrationId) : undefined;
            if (target !== undefined && !integration) throw new AwsError("NotFoundException", `${label}: route ${routeKey} targets ${target}, which is not an integration of this API`);
            const authorizationType = str(route.inputs.authorizationType ?? "NONE");
            if (authorizationType !== "NONE" && authorizationType !== "AWS_IAM" && authorizationType !== "CUSTOM") {
                throw new AwsError("BadRequestException", `${label}: route ${routeKey} uses authorization ${authorizationType}, which the offline runtime does not serve (NONE, AWS_IAM and CUSTOM are)`);
            }
            const authorizer = authorizationType === "CUSTOM" ? authorizers.get(str(route.inputs.authorizerId)) : undefined;
            if (authorizationType === "CUSTOM" && !authorizer) throw new AwsError("NotFoundException", `${label}: route ${routeKey} names authorizer ${str(route.inputs.authorizerId)}, which is not an authorizer of this API`);
            const http = protocol === "HTTP" && routeKey !== "$default" ? /^([A-Z]+) (\/.*)$/.exec(routeKey) : null;
            if (protocol === "HTTP" && routeKey !== "$default" && !http) throw new AwsError("BadRequestException", `${label}: route key '${routeKey}' is not 'METHOD /path' or $default`);
            return {
                routeKey,
                method: http?.[1],
                segments: http ? http[2].split("/").slice(1) : undefined,
                integration,
                authorizationType,
                authorizer,
                twoWay: route.inputs.routeResponseSelectionExpression !== undefined || twoWayRoutes.has(str(route.state.id)),
            };
        });
        const cors = api.inputs.corsConfiguration as Record<string, unknown> | undefined;
        return {
            id,
            name: str(api.state.name),
            protocol,
            executionArn: str(api.state.executionArn),
            routeSelectionExpression: str(api.inputs.routeSelectionExpression ?? "$request.method $request.path"),
            cors: cors
                ? {
                      allowOrigins: strings(cors.allowOrigins),
                      allowMethods: strings(cors.allowMethods).map((m) => m.toUpperCase()),
                      allowHeaders: strings(cors.allowHeaders).map((h) => h.toLowerCase()),
                      exposeHeaders: strings(cors.exposeHeaders),
                      maxAge: cors.maxAge === undefined ? undefined : Number(cors.maxAge),
                      allowCredentials: cors.allowCredentials === true,
                  }
                : undefined,
            stages: new Map(ofApi(APIGW_TYPES.stage).map((stage) => [str(stage.inputs.name), Object.fromEntries(Object.entries((stage.inputs.stageVariables ?? {}) as Record<string, unknown>).map(([k, v]) => [k, str(v)]))])),
            routes,
        };
    });
}

/** `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>`: what IAM and Lambda permissions are written against. */
export function routeArn(api: ServedApi, stage: string, method: string, path: string): string {
    return `${api.executionArn}/${stage}/${method}${path.startsWith("/") ? path : `/${path}`}`;
}

/** IAM-style glob (`*` any run, `?` one character) over a whole ARN. */
export function arnMatches(pattern: string, arn: string): boolean {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    return regex.test(arn);
}
