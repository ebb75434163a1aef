/** Small builders for the IAM documents every component writes, so each role is declared the same way. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export type Statement = aws.iam.PolicyStatement;

/** A trust policy letting one AWS service assume the role. */
export function assumeRolePolicy(service: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
    });
}

/** An identity policy document from statements whose resources may still be outputs. */
export function policyDocument(statements: pulumi.Input<pulumi.Input<Statement>[]>): pulumi.Output<string> {
    return pulumi.output(statements).apply((resolved) => JSON.stringify({ Version: "2012-10-17", Statement: resolved }));
}

/** A role for `service` with one inline policy holding exactly `statements`; no managed policies. */
export function serviceRole(
    name: string,
    service: string,
    statements: pulumi.Input<pulumi.Input<Statement>[]>,
    opts: pulumi.CustomResourceOptions,
): { role: aws.iam.Role; policy: aws.iam.RolePolicy } {
    const role = new aws.iam.Role(name, { assumeRolePolicy: assumeRolePolicy(service) }, opts);
    const policy = new aws.iam.RolePolicy(name, { role: role.id, policy: policyDocument(statements) }, opts);
    return { role, policy };
}
