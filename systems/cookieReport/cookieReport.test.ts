/**
 * The CookieReport component on its own, evaluated under Pulumi's mocks: two instances on one platform keep their
 * children apart (names, roles, grants) and both register with the one TaskFinisher. The full stack's graph is
 * test/stack.test.ts; runs end to end are test/e2e.test.ts.
 */
import { strict as assert } from "assert";
import * as path from "path";
import { evaluateStack, type EvaluatedStack } from "../../local/core/evaluate";
import { list, ofType, one, parentOf, stackWith, statementsOf } from "../../local/testing/stack";

const FUNCTION = "aws:lambda/function:Function";
const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
const RULE = "aws:cloudwatch/eventRule:EventRule";

describe("CookieReport component", function () {
    this.timeout(60_000);
    let stack: EvaluatedStack;
    before(async () => {
        stack = await evaluateStack({ program: path.join(__dirname, "testing", "twoReports.ts") });
    });

    it("names every child from the component's name, so two reports have the same handlers apart", () => {
        const names = ofType(stack, FUNCTION).map((f) => f.name).sort();
        const handlers = ["getMultiple", "postProcessAll", "postProcessSingle", "processSingle", "sideEffect"];
        assert.deepEqual(names, [...handlers.map((h) => `alpha-${h}`), ...handlers.map((h) => `beta-${h}`)]);
        assert.equal(parentOf(one(stack, FUNCTION, "alpha-processSingle")), "choreography:lambda:HandlerFunction::alpha-processSingle");
        assert.equal(parentOf(one(stack, "choreography:lambda:HandlerFunction", "beta-processSingle")), "choreography:systems:CookieReport::beta");
        assert.notEqual(one(stack, FUNCTION, "alpha-processSingle").state.arn, one(stack, FUNCTION, "beta-processSingle").state.arn);
    });

    it("grants each report's handlers its own bucket only", () => {
        const resourcesOf = (role: string) => statementsOf(one(stack, ROLE_POLICY, role).inputs.policy).filter((s) => list(s.Action).includes("s3:PutObject")).flatMap((s) => list(s.Resource));
        assert.deepEqual(resourcesOf("alpha-processSingle"), ["arn:aws:s3:::alpha-results/*"]);
        assert.deepEqual(resourcesOf("beta-processSingle"), ["arn:aws:s3:::beta-results/*"]);
    });

    it("registers both workflows and their task handlers (not sideEffect) with the one finisher", () => {
        const finisherGrants = statementsOf(one(stack, ROLE_POLICY, "finisher").inputs.policy).find((s) => list(s.Action).includes("states:SendTaskSuccess"));
        assert.deepEqual(list(finisherGrants!.Resource), [stack.outputs.alpha, stack.outputs.beta]);
        const pattern = JSON.parse(String(one(stack, RULE, "finisher-handlerFailed").inputs.eventPattern)) as { detail: { requestContext: { functionArn: Array<{ prefix: string }> } } };
        const answering = pattern.detail.requestContext.functionArn.map((p) => p.prefix.replace(/^arn:aws:lambda:us-east-1:000000000000:function:|:$/g, ""));
        assert.deepEqual(answering, ["alpha-getMultiple", "alpha-processSingle", "alpha-postProcessSingle", "alpha-postProcessAll", "beta-getMultiple", "beta-processSingle", "beta-postProcessSingle", "beta-postProcessAll"]);
    });
});

describe("TaskFinisher registrations", function () {
    this.timeout(60_000);

    it("fails evaluation, naming the finisher, when no system registered with it", async () => {
        await assert.rejects(evaluateStack({ program: path.join(__dirname, "testing", "unregisteredFinisher.ts") }), /TaskFinisher finisher: no system registered a state machine and a handler with it/);
    });
});

describe("choreography:systems", function () {
    this.timeout(60_000);

    it("deploys only the systems it lists: none leaves the bus and no TaskFinisher", async () => {
        const bare = await stackWith({ "choreography:systems": "[]" });
        assert.deepEqual(ofType(bare, "aws:sfn/stateMachine:StateMachine"), []);
        assert.deepEqual(ofType(bare, FUNCTION), []);
        assert.deepEqual(bare.outputs.deployedSystems, []);
        assert.equal(bare.outputs.finisherArn, undefined);
    });

    it("refuses a name that is not a system, naming it and the known ones", async () => {
        await assert.rejects(stackWith({ "choreography:systems": '["cookieReport","chargebak"]' }), /choreography:systems names "chargebak", which is not a system of this project \(known: cookieReport, observability, chargeback\)/);
        await assert.rejects(stackWith({ "choreography:systems": "cookieReport" }), /choreography:systems must be a list of system names/);
    });
});
