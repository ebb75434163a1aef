/**
 * Just enough IAM for the offline runtime to refuse what AWS would refuse: every policy attached to a role, in
 * every form AWS evaluates (role policies, a role's `inlinePolicies`, customer managed policies attached by
 * `RolePolicyAttachment`, `PolicyAttachment` or `managedPolicyArns`, and AWS managed policies by their published
 * documents), evaluated for one action on one resource: explicit Deny wins, `Action`/`NotAction`,
 * `Resource`/`NotResource`, wildcards as IAM reads them. Conditions are not evaluated: a conditional Allow is taken
 * as not applying and a conditional Deny as applying, so nothing is allowed here that AWS might refuse.
 */
import type { Declared } from "./registry";
import { awsManagedPolicy } from "./managedPolicies";

export interface PolicyStatement {
    Effect: "Allow" | "Deny";
    Action?: string | string[];
    NotAction?: string | string[];
    Resource?: string | string[];
    NotResource?: string | string[];
    Condition?: Record<string, unknown>;
    Sid?: string;
    Principal?: unknown;
}

export interface PolicyDocument {
    Version?: string;
    Statement: PolicyStatement | PolicyStatement[];
}

const asList = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

const compiled = new Map<string, RegExp>();

/** IAM's wildcards: `*` any run of characters, `?` one character; actions compare case-insensitively. */
function wildcardMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
    const id = `${ignoreCase ? "i" : "c"}${pattern}`;
    let regex = compiled.get(id);
    if (!regex) {
        const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
        regex = new RegExp(`^${escaped}$`, ignoreCase ? "i" : "");
        compiled.set(id, regex);
    }
    return regex.test(value);
}

/** Whether a statement applies to one action on one resource, conditions aside. */
function matches(statement: PolicyStatement, action: string, resource: string): boolean {
    const actionMatches =
        statement.NotAction !== undefined
            ? !asList(statement.NotAction).some((a) => wildcardMatch(a, action, true))
            : asList(statement.Action).some((a) => wildcardMatch(a, action, true));
    const resourceMatches =
        statement.NotResource !== undefined
            ? !asList(statement.NotResource).some((r) => wildcardMatch(r, resource, false))
            : asList(statement.Resource).some((r) => wildcardMatch(r, resource, false));
    return actionMatches && resourceMatches;
}

/** A policy document as a resource's input holds it: JSON text or an object (a `getPolicyDocument` result's `json` is text). */
export function parsePolicy(policy: unknown, where: string): PolicyStatement[] {
    let document: unknown = policy;
    if (typeof policy === "string") {
        try {
            document = JSON.parse(policy);
        } catch {
            throw new Error(`${where}: the policy is not valid JSON`);
        }
    }
    const statements = (document as PolicyDocument | null)?.Statement;
    if (statements === undefined) throw new Error(`${where}: the policy has no Statement`);
    return Array.isArray(statements) ? statements : [statements];
}

export class RolePolicies {
    /** Role ARN -> its statements. */
    private readonly statements = new Map<string, PolicyStatement[]>();

    public add(roleArn: string, policy: unknown, where = roleArn): void {
        this.statements.set(roleArn, [...(this.statements.get(roleArn) ?? []), ...parsePolicy(policy, where)]);
    }

    public allows(roleArn: string | undefined, action: string, resource: string): boolean {
        if (!roleArn) return false;
        const applicable = (this.statements.get(roleArn) ?? []).filter((s) => matches(s, action, resource));
        // A Deny applies whatever its condition; an Allow with a condition is not counted (see the header).
        if (applicable.some((s) => s.Effect === "Deny")) return false;
        return applicable.some((s) => s.Effect === "Allow" && s.Condition === undefined);
    }

    /** Throws AWS's AccessDenied wording when the role may not perform `action` on `resource`. */
    public require(roleArn: string | undefined, action: string, resource: string, makeError: (message: string) => Error): void {
        if (!this.allows(roleArn, action, resource)) {
            throw makeError(`${roleArn ?? "(no role)"} is not authorized to perform: ${action} on resource: ${resource}`);
        }
    }
}

const ROLE = "aws:iam/role:Role";
const str = (value: unknown): string => (typeof value === "string" ? value : String(value ?? ""));

/**
 * Every role's policies, from every form the program declares. Returns the policies and the managed policies it
 * could not read (AWS managed ones the runtime has no document for, customer ones not declared): those grant
 * nothing here, and the runtime names them at start.
 */
export function rolePoliciesOf(declared: Declared): { policies: RolePolicies; unknownPolicies: Array<{ roleArn: string; policyArn: string }> } {
    const policies = new RolePolicies();
    const unknownPolicies: Array<{ roleArn: string; policyArn: string }> = [];
    const roleArn = (reference: unknown) => {
        const role = declared.find(ROLE, reference);
        return role ? str(role.state.arn) : undefined;
    };
    const attach = (arn: string | undefined, policyArn: string, where: string) => {
        if (!arn) return;
        const managed = awsManagedPolicy(policyArn);
        if (managed) return policies.add(arn, managed, where);
        const customer = declared.find("aws:iam/policy:Policy", policyArn);
        if (customer) return policies.add(arn, customer.inputs.policy, customer.urn);
        unknownPolicies.push({ roleArn: arn, policyArn });
    };
    for (const role of declared.of(ROLE)) {
        const arn = str(role.state.arn);
        for (const inline of (role.inputs.inlinePolicies as Array<{ name?: string; policy?: unknown }> | undefined) ?? []) {
            if (inline?.policy !== undefined && inline.policy !== "") policies.add(arn, inline.policy, `${role.urn} inline policy ${inline.name ?? ""}`);
        }
        for (const policyArn of (role.inputs.managedPolicyArns as string[] | undefined) ?? []) attach(arn, str(policyArn), role.urn);
    }
    for (const policy of declared.of("aws:iam/rolePolicy:RolePolicy")) {
        const arn = roleArn(policy.inputs.role);
        if (arn) policies.add(arn, policy.inputs.policy, policy.urn);
    }
    for (const attachment of declared.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")) {
        attach(roleArn(attachment.inputs.role), str(attachment.inputs.policyArn), attachment.urn);
    }
    for (const attachment of declared.of("aws:iam/policyAttachment:PolicyAttachment")) {
        for (const role of (attachment.inputs.roles as unknown[] | undefined) ?? []) attach(roleArn(role), str(attachment.inputs.policyArn), attachment.urn);
    }
    return { policies, unknownPolicies };
}

/**
 * Roles, policies and permissions are fixed once the stack is served, so a grant found once holds: every event
 * delivered would otherwise evaluate them afresh. Remembers the arguments `check` passed (did not throw for); a
 * refusal is checked, and thrown, every time.
 */
export function grantCache<A extends Array<string | undefined>>(check: (...args: A) => void): (...args: A) => void {
    const granted = new Set<string>();
    return (...args: A) => {
        const id = args.join("\n");
        if (granted.has(id)) return;
        check(...args);
        if (granted.size >= 10_000) granted.clear();
        granted.add(id);
    };
}
