/** Evaluation indexes resources by URN: same-named children of two components stay two resources. */
import * as assert from "assert";
import * as path from "path";
import { evaluateStack } from "../local/core/evaluate";
import { RolePolicies } from "../local/core/iam";

describe("evaluation by URN", function () {
    this.timeout(60_000);

    it("gives two components' same-named roles their own inputs, ARNs and policies", async () => {
        const stack = await evaluateStack({ program: path.join(__dirname, "fixtures", "twoComponents") });
        const roles = stack.resources.filter((r) => r.type === "aws:iam/role:Role");
        assert.deepEqual(
            roles.map((r) => r.urn),
            ["urn:pulumi:dev::twins::twins:systems:Billing$aws:iam/role:Role::notify", "urn:pulumi:dev::twins::twins:systems:Shipping$aws:iam/role:Role::notify"],
        );
        assert.notEqual(stack.outputs.billingRole, stack.outputs.shippingRole);
        assert.deepEqual(new Set(roles.map((r) => r.state.arn)), new Set([stack.outputs.billingRole, stack.outputs.shippingRole]));
        // Each RolePolicy names its own role (by id), so each role is granted only its own bus.
        const policies = new RolePolicies();
        for (const policy of stack.resources.filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy")) {
            const role = roles.find((r) => r.state.name === policy.inputs.role);
            assert.ok(role, `policy ${policy.urn} names a declared role`);
            policies.add(String(role.state.arn), String(policy.inputs.policy));
        }
        const billing = String(stack.outputs.billingRole);
        const shipping = String(stack.outputs.shippingRole);
        assert.equal(policies.allows(billing, "events:PutEvents", "arn:aws:events:us-east-1:000000000000:event-bus/billing"), true);
        assert.equal(policies.allows(billing, "events:PutEvents", "arn:aws:events:us-east-1:000000000000:event-bus/shipping"), false);
        assert.equal(policies.allows(shipping, "events:PutEvents", "arn:aws:events:us-east-1:000000000000:event-bus/shipping"), true);
        assert.equal(policies.allows(shipping, "events:PutEvents", "arn:aws:events:us-east-1:000000000000:event-bus/billing"), false);
    });
});

describe("evaluation refuses what Pulumi refuses", function () {
    this.timeout(60_000);
    it("names a duplicate URN (two components of one type with same-named children)", async () => {
        await assert.rejects(
            evaluateStack({ program: path.join(__dirname, "fixtures", "twoComponents"), config: { "twins:duplicate": "true" } }),
            /Duplicate resource URN 'urn:pulumi:dev::twins::twins:systems:Billing\$aws:iam\/role:Role::notify'/,
        );
    });
});
