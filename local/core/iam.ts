/**
 * Just enough IAM for the offline runtime to refuse what AWS would refuse: a role's inline policies, as the
 * stack declared them, evaluated for one action on one resource (explicit Deny wins, wildcards as IAM reads them).
 * What a role may not do locally, it may not do in AWS either, so a missing grant shows up before `pulumi up`.
 */
export interface PolicyStatement {
    Effect: "Allow" | "Deny";
    Action?: string | string[];
    Resource?: string | string[];
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

export class RolePolicies {
    /** Role ARN -> its statements. */
    private readonly statements = new Map<string, PolicyStatement[]>();

    public add(roleArn: string, policyJson: string): void {
        const document = JSON.parse(policyJson) as { Statement: PolicyStatement | PolicyStatement[] };
        const list = Array.isArray(document.Statement) ? document.Statement : [document.Statement];
        this.statements.set(roleArn, [...(this.statements.get(roleArn) ?? []), ...list]);
    }

    public allows(roleArn: string | undefined, action: string, resource: string): boolean {
        if (!roleArn) return false;
        const applicable = (this.statements.get(roleArn) ?? []).filter(
            (s) => asList(s.Action).some((a) => wildcardMatch(a, action, true)) && asList(s.Resource).some((r) => wildcardMatch(r, resource, false)),
        );
        return applicable.length > 0 && applicable.every((s) => s.Effect === "Allow");
    }

    /** Throws AWS's AccessDenied wording when the role may not perform `action` on `resource`. */
    public require(roleArn: string | undefined, action: string, resource: string, makeError: (message: string) => Error): void {
        if (!this.allows(roleArn, action, resource)) {
            throw makeError(`${roleArn ?? "(no role)"} is not authorized to perform: ${action} on resource: ${resource}`);
        }
    }
}
