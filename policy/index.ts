/**
 * The choreography policy pack: `pulumi preview --policy-pack policy` from the project root runs it.
 * Constructing the PolicyPack starts the policy server the engine talks to, so only this file does it;
 * the policies themselves live in ./policies.ts, which tests import without starting anything.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("choreography", {
    description: "Guardrails for the choreography stack: least-privilege IAM, private encrypted TLS-only buckets, short presigned URLs, scoped EventBridge rules, bounded task-token waits.",
    enforcementLevel: "mandatory",
    policies,
});
