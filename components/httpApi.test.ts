/** HttpApi as the dev stack declares it (the observability and chargeback APIs): routes, integrations, permissions. */
import { strict as assert } from "assert";
import { devStack, ofType, parentOf } from "../local/testing/stack";
import type { EvaluatedStack } from "../local/core/evaluate";
import { routeArnPath } from "./httpApi";

const T = { api: "aws:apigatewayv2/api:Api", route: "aws:apigatewayv2/route:Route", integration: "aws:apigatewayv2/integration:Integration", permission: "aws:lambda/permission:Permission", stage: "aws:apigatewayv2/stage:Stage" };

describe("HttpApi", () => {
    let stack: EvaluatedStack;
    before(async () => {
        stack = await devStack();
    });
    const under = (type: string, component: string) => ofType(stack, type).filter((r) => parentOf(r) === `choreography:apigateway:HttpApi::${component}`);

    it("turns a route key into its execute-api ARN path, path parameters as wildcards", () => {
        assert.equal(routeArnPath("GET /runs/{executionArnOrName}"), "GET/runs/*");
        assert.equal(routeArnPath("POST /github/webhook"), "POST/github/webhook");
        assert.equal(routeArnPath("GET /"), "GET/");
    });

    it("declares each route with its authorization, one integration per function, and a $default stage", () => {
        const routes = Object.fromEntries(under(T.route, "observability-http").map((r) => [r.inputs.routeKey, r.inputs.authorizationType]));
        assert.deepEqual(routes, { "GET /runs": "AWS_IAM", "GET /runs/{executionArnOrName}": "AWS_IAM", "GET /architecture": "AWS_IAM", "GET /": "NONE" });
        const integrations = under(T.integration, "observability-http");
        assert.equal(integrations.length, 2, "the api function's and the page's");
        for (const i of integrations) assert.deepEqual([i.inputs.integrationType, i.inputs.payloadFormatVersion], ["AWS_PROXY", "2.0"]);
        const [stage] = under(T.stage, "observability-http");
        assert.deepEqual([stage.inputs.name, stage.inputs.autoDeploy, stage.inputs.defaultRouteSettings], ["$default", true, undefined]);
        const [chargebackStage] = under(T.stage, "chargeback-http");
        assert.deepEqual(chargebackStage.inputs.defaultRouteSettings, { throttlingBurstLimit: 100, throttlingRateLimit: 50 });
    });

    it("lets API Gateway invoke each function for its own routes only", () => {
        for (const component of ["observability-http", "chargeback-http"]) {
            const [api] = under(T.api, component);
            const routes = under(T.route, component);
            const permissions = under(T.permission, component);
            assert.equal(permissions.length, routes.length, component);
            for (const route of routes) {
                const permission = permissions.find((p) => p.name === route.name)!;
                assert.equal(permission.inputs.principal, "apigateway.amazonaws.com");
                assert.equal(permission.inputs.sourceArn, `${api.state.executionArn}/*/${routeArnPath(String(route.inputs.routeKey))}`, route.name);
            }
        }
    });
});
