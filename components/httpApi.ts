/**
 * HttpApi: an API Gateway HTTP API whose routes go to HandlerFunctions (Lambda proxy, payload format 2.0), on the
 * `$default` stage, each function invocable by API Gateway for its own routes only.
 *
 * `aws.apigatewayv2` rather than `@pulumi/awsx`'s `classic.apigateway.API`: HTTP APIs cost less and answer faster
 * than REST APIs, and the README says more. Children are named `<name>` (the API, its stage) and `<name>-<route>`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { HandlerFunction } from "./handlerFunction";

export interface HttpApiRoute {
    /** `METHOD /path` as API Gateway writes route keys (`GET /runs/{id}`). */
    routeKey: string;
    /** The function the route's requests go to. */
    handler: HandlerFunction;
    /**
     * `AWS_IAM`: callers sign with SigV4 and need `execute-api:Invoke` on the route. `NONE`: anyone may call, so the
     * function authenticates the request itself (a webhook's HMAC) or serves nothing private (a page's shell).
     */
    authorizationType: "AWS_IAM" | "NONE";
}

export interface HttpApiArgs {
    /** What the API is for, shown in the console. */
    description: string;
    /** The routes by a short name, which names each route's children. */
    routes: Record<string, HttpApiRoute>;
    /** The stage's default throttling (API Gateway's account limits otherwise). */
    throttling?: { burstLimit: number; rateLimit: number };
}

/** The route's path in an execute-api ARN, path parameters as wildcards: `GET /runs/{id}` → `GET/runs/*`. */
export function routeArnPath(routeKey: string): string {
    const [method, path] = routeKey.split(" ", 2);
    return `${method}${path.replace(/\{[^}]+\}/g, "*")}`;
}

export class HttpApi extends pulumi.ComponentResource {
    public readonly api: aws.apigatewayv2.Api;
    /** The `$default` stage's URL (no trailing slash). */
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: HttpApiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:apigateway:HttpApi", name, {}, opts);
        const parent = { parent: this };
        this.api = new aws.apigatewayv2.Api(name, { protocolType: "HTTP", description: args.description }, parent);
        const integrations = new Map<HandlerFunction, aws.apigatewayv2.Integration>();
        for (const [key, route] of Object.entries(args.routes)) {
            let integration = integrations.get(route.handler);
            if (!integration) {
                integration = new aws.apigatewayv2.Integration(
                    `${name}-${key}`,
                    { apiId: this.api.id, integrationType: "AWS_PROXY", integrationMethod: "POST", integrationUri: route.handler.function.arn, payloadFormatVersion: "2.0" },
                    parent,
                );
                integrations.set(route.handler, integration);
            }
            new aws.apigatewayv2.Route(
                `${name}-${key}`,
                { apiId: this.api.id, routeKey: route.routeKey, target: pulumi.interpolate`integrations/${integration.id}`, authorizationType: route.authorizationType },
                parent,
            );
            new aws.lambda.Permission(
                `${name}-${key}`,
                {
                    action: "lambda:InvokeFunction",
                    function: route.handler.function.name,
                    principal: "apigateway.amazonaws.com",
                    sourceArn: pulumi.interpolate`${this.api.executionArn}/*/${routeArnPath(route.routeKey)}`,
                },
                parent,
            );
        }
        const throttling = args.throttling ? { defaultRouteSettings: { throttlingBurstLimit: args.throttling.burstLimit, throttlingRateLimit: args.throttling.rateLimit } } : {};
        new aws.apigatewayv2.Stage(name, { apiId: this.api.id, name: "$default", autoDeploy: true, ...throttling }, parent);
        this.url = this.api.apiEndpoint;
        this.registerOutputs({ url: this.url });
    }
}
