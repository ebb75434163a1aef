/** Local IAM reads every form of policy AWS evaluates, from a program that uses each (test/fixtures/iamForms). */
import * as assert from "assert";
import * as path from "path";
import { evaluateStack } from "../local/core/evaluate";
import { RolePolicies, rolePoliciesOf } from "../local/core/iam";
import { DeclaredIndex } from "../local/core/runtime";

describe("local IAM: every form of policy", function () {
    this.timeout(60_000);
    let policies: RolePolicies;
    let unknownPolicies: Array<{ roleArn: string; policyArn: string }>;
    let outputs: Record<string, unknown>;

    before(async () => {
        const stack = await evaluateStack({ program: path.join(__dirname, "fixtures", "iamForms") });
        outputs = stack.outputs;
        ({ policies, unknownPolicies } = rolePoliciesOf(new DeclaredIndex(stack)));
    });
    const role = (output: string) => String(outputs[output]);

    it("reads a role's inlinePolicies", () => {
        assert.equal(policies.allows(role("inline"), "events:PutEvents", "arn:aws:events:us-east-1:000000000000:event-bus/inline"), true);
        assert.equal(policies.allows(role("inline"), "events:PutEvents", "arn:aws:events:us-east-1:000000000000:event-bus/other"), false);
    });

    it("reads customer managed policies attached by managedPolicyArns and by PolicyAttachment", () => {
        for (const output of ["managedArns", "sharedArn"]) {
            assert.equal(policies.allows(role(output), "states:StartExecution", "arn:aws:states:us-east-1:000000000000:stateMachine:customer"), true, output);
            assert.equal(policies.allows(role(output), "states:StartExecution", "arn:aws:states:us-east-1:000000000000:stateMachine:other"), false, output);
        }
    });

    it("reads AWS managed policies by their published documents", () => {
        const table = "arn:aws:dynamodb:us-east-1:000000000000:table/orders";
        assert.equal(policies.allows(role("attachedArn"), "dynamodb:GetItem", table), true);
        assert.equal(policies.allows(role("attachedArn"), "dynamodb:Query", table), true);
        assert.equal(policies.allows(role("attachedArn"), "dynamodb:PutItem", table), false, "read-only means no writes");
    });

    it("lets an explicit Deny win over an AWS managed Allow", () => {
        assert.equal(policies.allows(role("deniedArn"), "s3:GetObject", "arn:aws:s3:::any/key"), true);
        assert.equal(policies.allows(role("deniedArn"), "s3:DeleteObject", "arn:aws:s3:::any/key"), false);
    });

    it("names an AWS managed policy it has no document for, and grants nothing from it", () => {
        assert.deepEqual(unknownPolicies, [{ roleArn: role("unknownArn"), policyArn: "arn:aws:iam::aws:policy/AmazonRedshiftFullAccess" }]);
        assert.equal(policies.allows(role("unknownArn"), "redshift:DescribeClusters", "*"), false);
    });

    it("counts a conditional Allow as not applying and a conditional Deny as applying", () => {
        const local = new RolePolicies();
        local.add("arn:aws:iam::000000000000:role/r", {
            Statement: [
                { Effect: "Allow", Action: "s3:GetObject", Resource: "*", Condition: { Bool: { "aws:SecureTransport": "true" } } },
                { Effect: "Allow", Action: "s3:PutObject", Resource: "*" },
                { Effect: "Deny", NotAction: "s3:PutObject", Resource: "*", Condition: { StringEquals: { "aws:RequestedRegion": "eu-west-1" } } },
            ],
        });
        assert.equal(local.allows("arn:aws:iam::000000000000:role/r", "s3:GetObject", "arn:aws:s3:::b/k"), false);
        assert.equal(local.allows("arn:aws:iam::000000000000:role/r", "s3:PutObject", "arn:aws:s3:::b/k"), true, "NotAction leaves PutObject out of the Deny");
    });
});
