/**
 * The data sources the mocks answer as the AWS provider would: the ones programs commonly call. Any other invoke fails
 * evaluation with the function's name, rather than answering something a deploy would not.
 */

type InvokeArgs = Record<string, unknown>;

interface InvokeContext {
    region: string;
    accountId: string;
}

/** The invokes answered, by Pulumi token. */
const ANSWERS: Record<string, (args: InvokeArgs, context: InvokeContext) => Record<string, unknown>> = {
    "aws:index/getRegion:getRegion": (_args, { region }) => ({ name: region, region, id: region, endpoint: `${region}.amazonaws.com`, description: region }),
    "aws:index/getCallerIdentity:getCallerIdentity": (_args, { accountId }) => ({ accountId, arn: `arn:aws:iam::${accountId}:root`, userId: accountId, id: accountId }),
    "aws:index/getPartition:getPartition": () => ({ partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws", id: "aws" }),
    "aws:index/getAvailabilityZones:getAvailabilityZones": (args, { region }) => availabilityZones(args, region),
    "aws:iam/getPolicyDocument:getPolicyDocument": (args) => {
        const json = JSON.stringify(policyDocument(args), null, 2);
        return { json, minifiedJson: JSON.stringify(JSON.parse(json)), id: String(hashCode(json)) };
    },
};

export function mockInvoke(token: string, args: InvokeArgs, context: InvokeContext): Record<string, unknown> {
    const answer = ANSWERS[token];
    if (!answer) {
        throw new Error(
            `the offline runtime does not answer the data source ${token} (it answers ${Object.keys(ANSWERS)
                .map((t) => t.split(":").pop())
                .join(", ")}); pass the value through stack config instead`,
        );
    }
    return answer(args, context);
}

/** Three zones, as most regions have: `us-east-1a` / `use1-az1` ..., honouring `excludeNames` and `excludeZoneIds`. */
function availabilityZones(args: InvokeArgs, region: string): Record<string, unknown> {
    const [area, direction, number] = region.split("-");
    const shortRegion = `${area}${direction.replace(/(north|south)(east|west)?/, (_m, a: string, b?: string) => a[0] + (b ? b[0] : "")).replace(/^(east|west|central)$/, (d) => d[0])}${number}`;
    const excludeNames = stringList(args.excludeNames);
    const excludeZoneIds = stringList(args.excludeZoneIds);
    const zones = ["a", "b", "c"]
        .map((letter, index) => ({ name: `${region}${letter}`, zoneId: `${shortRegion}-az${index + 1}` }))
        .filter((zone) => !excludeNames.includes(zone.name) && !excludeZoneIds.includes(zone.zoneId));
    return { id: region, names: zones.map((z) => z.name), zoneIds: zones.map((z) => z.zoneId), groupNames: [region], state: args.state ?? "available" };
}

interface PolicyStatement {
    Sid?: string;
    Effect: string;
    Principal?: unknown;
    NotPrincipal?: unknown;
    Action?: string | string[];
    NotAction?: string | string[];
    Resource?: string | string[];
    NotResource?: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
}

interface PolicyDocument {
    Version: string;
    Id?: string;
    Statement: PolicyStatement[];
}

/**
 * The document `aws.iam.getPolicyDocument` renders: source documents first, then these statements (replacing source
 * statements of the same Sid), then override documents (replacing by Sid); one-element lists become strings, as the
 * provider writes them.
 */
function policyDocument(args: InvokeArgs): PolicyDocument {
    const bySid = new Map<string, PolicyStatement>();
    const statements: PolicyStatement[] = [];
    const merge = (statement: PolicyStatement) => {
        const existing = statement.Sid ? bySid.get(statement.Sid) : undefined;
        if (existing) statements[statements.indexOf(existing)] = statement;
        else statements.push(statement);
        if (statement.Sid) bySid.set(statement.Sid, statement);
    };
    for (const source of stringList(args.sourcePolicyDocuments)) for (const statement of parsedStatements(source, "sourcePolicyDocuments")) merge(statement);
    const own = Array.isArray(args.statements) ? (args.statements as InvokeArgs[]) : [];
    own.forEach((statement, index) => merge(renderStatement(statement, index)));
    for (const override of stringList(args.overridePolicyDocuments)) for (const statement of parsedStatements(override, "overridePolicyDocuments")) merge(statement);
    const document: PolicyDocument = { Version: typeof args.version === "string" ? args.version : "2012-10-17", Statement: statements };
    if (typeof args.policyId === "string") document.Id = args.policyId;
    return document;
}

function renderStatement(statement: InvokeArgs, index: number): PolicyStatement {
    const effect = statement.effect ?? "Allow";
    if (effect !== "Allow" && effect !== "Deny") throw new Error(`getPolicyDocument: statements[${index}].effect must be "Allow" or "Deny", not ${JSON.stringify(effect)}`);
    const rendered: PolicyStatement = { Effect: effect };
    if (typeof statement.sid === "string" && statement.sid) rendered.Sid = statement.sid;
    const lists: Array<[keyof PolicyStatement, unknown]> = [
        ["Action", statement.actions],
        ["NotAction", statement.notActions],
        ["Resource", statement.resources],
        ["NotResource", statement.notResources],
    ];
    for (const [key, value] of lists) {
        const list = stringList(value);
        if (list.length) (rendered as unknown as Record<string, unknown>)[key] = oneOrMany(list);
    }
    if (statement.principals !== undefined) rendered.Principal = principals(statement.principals, `statements[${index}].principals`);
    if (statement.notPrincipals !== undefined) rendered.NotPrincipal = principals(statement.notPrincipals, `statements[${index}].notPrincipals`);
    const conditions = Array.isArray(statement.conditions) ? (statement.conditions as InvokeArgs[]) : [];
    if (conditions.length) {
        rendered.Condition = {};
        conditions.forEach((condition, c) => {
            const { test, variable } = condition;
            if (typeof test !== "string" || typeof variable !== "string") throw new Error(`getPolicyDocument: statements[${index}].conditions[${c}] needs test and variable`);
            const values = stringList(condition.values);
            const block = (rendered.Condition![test] ??= {});
            const existing = block[variable];
            block[variable] = oneOrMany([...(existing === undefined ? [] : stringList(existing)), ...values]);
        });
    }
    return rendered;
}

/** `[{type: "Service", identifiers: [...]}]` as `{"Service": ...}`; `type: "*"` with `["*"]` as `"*"`. */
function principals(value: unknown, field: string): unknown {
    const entries = Array.isArray(value) ? (value as InvokeArgs[]) : [];
    const rendered: Record<string, string | string[]> = {};
    for (const entry of entries) {
        const type = entry.type;
        const identifiers = stringList(entry.identifiers);
        if (typeof type !== "string") throw new Error(`getPolicyDocument: ${field} needs a type`);
        if (type === "*") {
            if (identifiers.length === 1 && identifiers[0] === "*") return "*";
            throw new Error(`getPolicyDocument: ${field} of type "*" must have identifiers ["*"]`);
        }
        const existing = rendered[type];
        rendered[type] = oneOrMany([...(existing === undefined ? [] : stringList(existing)), ...identifiers]);
    }
    return rendered;
}

function parsedStatements(document: string, field: string): PolicyStatement[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(document);
    } catch {
        throw new Error(`getPolicyDocument: ${field} holds a document that is not JSON`);
    }
    const statement = (parsed as { Statement?: unknown }).Statement;
    return (Array.isArray(statement) ? statement : statement === undefined ? [] : [statement]) as PolicyStatement[];
}

function stringList(value: unknown): string[] {
    if (value === undefined || value === null) return [];
    return (Array.isArray(value) ? value : [value]).map((item) => String(item));
}

function oneOrMany(list: string[]): string | string[] {
    return list.length === 1 ? list[0] : list;
}

/** The provider's id is a hash of the document; any stable number serves the program. */
function hashCode(text: string): number {
    let hash = 0;
    for (let i = 0; i < text.length; i++) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
    return hash >>> 0;
}
