/**
 * The choreography policy pack's policies, as plain data: importing this module starts nothing. Only
 * `./index.ts` constructs the PolicyPack, which serves these to the Pulumi engine; tests call
 * `validateResource` / `validateStack` directly.
 *
 * Every violation message names the property at fault (`policy`, `inlinePolicies[0].policy`,
 * `environment.variables.PRESIGN_EXPIRY_SECONDS`, `eventPattern`, `definition`, ...).
 */
import * as aws from "@pulumi/aws";
import { LOG_DELIVERY_ACTIONS } from "../components/logDelivery";
import { taskStates } from "../protocol/asl";
import { MAX_PRESIGN_EXPIRY_SECONDS, parsePresignExpirySeconds } from "../handlers/validation";
import {
    Policies,
    ReportViolation,
    ResourceValidation,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    UnknownValueError,
    validateResourceOfType,
} from "@pulumi/policy";

// ─── Values unknown during preview ────────────────────────────────────────────────────────────────────────

/**
 * During `pulumi preview`, a property computed from another resource's outputs (a role ARN, a bucket name, a
 * policy document built from ARNs) is unknown, and the engine hands policies a proxy that throws
 * `UnknownValueError` when such a property is read. Every read here goes through `known()`, and a policy skips
 * what it cannot see yet instead of failing: the same policy runs again at `pulumi up`, once the value is known.
 */
export const UNKNOWN: unique symbol = Symbol("unknown until the update");
export type Unknown = typeof UNKNOWN;

/** @pulumi/policy exports `UnknownValueError` without a declaration; this is the shape used here. */
const UnknownValue = UnknownValueError as abstract new (...args: never[]) => Error;

/**
 * The engine's UnknownValueError. Recognised by its fields as well as its class, since the pack's own copy of
 * @pulumi/policy (policy/node_modules) and the one that built the proxy (the project's, in tests) can differ.
 */
function isUnknownValueError(e: unknown): boolean {
    return e instanceof UnknownValue || (e instanceof Error && "unknownTypeSentinel" in e && "props" in e && Array.isArray(e.props));
}

/** Reads a property that may be unknown during preview. */
export function known<T>(read: () => T): T | Unknown {
    try {
        return read();
    } catch (e) {
        if (isUnknownValueError(e)) return UNKNOWN;
        throw e;
    }
}

/**
 * A property as plain JSON data (the engine's proxies copied out), or UNKNOWN when any part of it is unknown.
 * Strings stay strings; JSON documents are parsed by the caller.
 */
function plain(read: () => unknown): unknown {
    return known(() => {
        const value = read();
        return value !== null && typeof value === "object" ? (JSON.parse(JSON.stringify(value)) as unknown) : value;
    });
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** IAM and event-pattern fields hold one value or a list of them. */
function listOf(value: unknown): unknown[] {
    if (value === undefined) return [];
    return Array.isArray(value) ? value : [value];
}

function stringsOf(value: unknown): string[] {
    return listOf(value).filter((v): v is string => typeof v === "string");
}

/** A property that should hold JSON and does not: why, for the message. */
class Invalid {
    constructor(readonly reason: string) {}
}

/** Parses a JSON object from a property: the object, `undefined` for a non-string (unknown, absent), or Invalid. */
function parseJsonObject(text: unknown): JsonObject | undefined | Invalid {
    if (typeof text !== "string") return undefined;
    try {
        const parsed: unknown = JSON.parse(text);
        return isObject(parsed) ? parsed : new Invalid("is JSON but not an object");
    } catch (e) {
        return new Invalid(`is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
}

// ─── One validation for several resource types ────────────────────────────────────────────────────────────

/** Thrown in place of the engine's "not applicable" while looking for the validation of a resource's type. */
class NotThisType extends Error {}

/**
 * Combines validations built with `validateResourceOfType` (one per resource type) into one: the validation for
 * the resource's type runs; for any other type the policy is not applicable. (Passing them as an array would run
 * every one, and each non-matching one would mark the policy not applicable to a resource it did check.)
 */
function validateResourceOfTypes(typeNames: string[], ...validations: ResourceValidation[]): ResourceValidation {
    return async (args, reportViolation) => {
        const notThisType = (reason?: string): never => {
            throw new NotThisType(reason);
        };
        for (const validate of validations) {
            try {
                await validate({ ...args, notApplicable: notThisType }, reportViolation);
                return;
            } catch (e) {
                if (!(e instanceof NotThisType)) throw e;
            }
        }
        args.notApplicable(`Policy only applies to resources of type ${typeNames.join(", ")}`);
    };
}

// ─── IAM policy documents ─────────────────────────────────────────────────────────────────────────────────

export interface PolicyStatement {
    Sid?: unknown;
    Effect?: unknown;
    Principal?: unknown;
    Action?: unknown;
    NotAction?: unknown;
    Resource?: unknown;
    NotResource?: unknown;
    Condition?: unknown;
}

/** A policy document a resource declares, with the property that holds it. */
interface DeclaredDocument {
    property: string;
    /** A JSON string or, as @pulumi/aws also accepts, an object; UNKNOWN during preview when computed. */
    document: unknown;
    /** A role's trust policy: it names who may assume the role, not what on which resources. */
    trust?: boolean;
}

type Statements = PolicyStatement[] | Invalid | Unknown | undefined;

/** The statements of a policy document, `undefined` when there is nothing to check. */
function statementsOf(document: unknown): Statements {
    if (document === UNKNOWN) return UNKNOWN;
    const parsed = typeof document === "string" ? parseJsonObject(document) : isObject(document) ? document : undefined;
    if (parsed === undefined || parsed instanceof Invalid) return parsed;
    return listOf(parsed.Statement).filter(isObject);
}

/** `Statement[2] ("Sid")`, how a message points into a document. */
function statementLabel(statement: PolicyStatement, index: number): string {
    return typeof statement.Sid === "string" && statement.Sid ? `Statement[${index}] ("${statement.Sid}")` : `Statement[${index}]`;
}

/**
 * Only Allow statements grant anything. A Deny statement can only take permissions away, so a wildcard there
 * makes it stronger, not weaker: the results bucket's TLS-only policy denies `s3:*` on purpose, so that no
 * action at all is possible over plain HTTP.
 */
function isAllow(statement: PolicyStatement): boolean {
    return statement.Effect !== "Deny";
}

/**
 * Runs `check` over the Allow statements of every policy document a resource declares: a role policy, a
 * managed policy, a role's inline policies and trust policy, a bucket policy.
 */
function allowStatementsOf(
    check: (statement: PolicyStatement, at: string, document: DeclaredDocument, report: ReportViolation) => void,
): ResourceValidation {
    const checkDocuments = (documents: DeclaredDocument[], report: ReportViolation): void => {
        for (const declared of documents) {
            const parsed = statementsOf(declared.document);
            if (parsed === undefined || parsed === UNKNOWN) continue;
            if (parsed instanceof Invalid) {
                report(`${declared.property} ${parsed.reason}: it cannot be checked (and AWS would reject it)`);
                continue;
            }
            parsed.forEach((statement, i) => {
                if (isAllow(statement)) check(statement, `${declared.property}: ${statementLabel(statement, i)}`, declared, report);
            });
        }
    };
    return validateResourceOfTypes(
        ["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/role:Role", "aws:s3/bucketPolicy:BucketPolicy"],
        validateResourceOfType(aws.iam.RolePolicy, (rolePolicy, _args, report) =>
            checkDocuments([{ property: "policy", document: plain(() => rolePolicy.policy) }], report),
        ),
        validateResourceOfType(aws.iam.Policy, (policy, _args, report) =>
            checkDocuments([{ property: "policy", document: plain(() => policy.policy) }], report),
        ),
        validateResourceOfType(aws.iam.Role, (role, _args, report) => {
            const documents: DeclaredDocument[] = [{ property: "assumeRolePolicy", document: plain(() => role.assumeRolePolicy), trust: true }];
            const inline = plain(() => role.inlinePolicies);
            if (inline === UNKNOWN) documents.push({ property: "inlinePolicies", document: UNKNOWN });
            listOf(inline).forEach((entry, i) => {
                if (isObject(entry)) documents.push({ property: `inlinePolicies[${i}].policy`, document: entry.policy });
            });
            checkDocuments(documents, report);
        }),
        validateResourceOfType(aws.s3.BucketPolicy, (bucketPolicy, _args, report) =>
            checkDocuments([{ property: "policy", document: plain(() => bucketPolicy.policy) }], report),
        ),
    );
}

/** `*`, `s3:*`, `*:*`: every action, or every action of a service. Narrower wildcards (`s3:Get*`) are not matched. */
export function isWildcardAction(action: string): boolean {
    return /^(?:[^:]*:)?\*+$/.test(action.trim());
}

/**
 * Actions AWS does not scope to a resource: IAM accepts only `"Resource": "*"` for them, so a statement that
 * holds nothing else may use it. Keep this list short and explained; compared case-insensitively, as IAM does.
 */
export const RESOURCELESS_ACTIONS: readonly string[] = [
    // Step Functions' execution logs (components/logDelivery.ts says why these need "*").
    ...LOG_DELIVERY_ACTIONS,
    // X-Ray tracing (a state machine or function with tracing on): segments go to the account, not a resource.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    // EC2's Describe calls (the chargeback's runner and Spot price lookups): IAM defines no resource type for them.
    "ec2:DescribeInstances",
    "ec2:DescribeSpotInstanceRequests",
    "ec2:DescribeSpotPriceHistory",
];
const RESOURCELESS = new Set(RESOURCELESS_ACTIONS.map((a) => a.toLowerCase()));

export const noWildcardActions: ResourceValidationPolicy = {
    name: "iam-no-wildcard-actions",
    description:
        'No policy document allows the action "*" or a whole service ("s3:*"): role policies, managed policies, ' +
        "a role's inline and trust policies, and the Allow statements of bucket policies.",
    severity: "high",
    validateResource: allowStatementsOf((statement, at, _document, report) => {
        for (const action of stringsOf(statement.Action)) {
            if (isWildcardAction(action)) {
                report(`${at} allows Action "${action}": list the actions the code calls instead of every action${action.includes(":") ? " of the service" : ""}`);
            }
        }
        if (statement.NotAction !== undefined) {
            report(`${at} uses NotAction in an Allow statement, which allows every action it does not list: list the allowed actions in Action`);
        }
    }),
};

export const noWildcardResources: ResourceValidationPolicy = {
    name: "iam-no-wildcard-resources",
    description:
        'No Allow statement applies to Resource "*" unless every action in it is one AWS does not scope to resources ' +
        `(${RESOURCELESS_ACTIONS.join(", ")}).`,
    severity: "high",
    validateResource: allowStatementsOf((statement, at, document, report) => {
        if (document.trust) return; // A trust policy has no Resource: its Principal says who may assume the role.
        if (statement.NotResource !== undefined) {
            report(`${at} uses NotResource in an Allow statement, which applies to every resource it does not list: name the resources in Resource`);
        }
        if (!stringsOf(statement.Resource).some((r) => r.trim() === "*")) return;
        const actions = stringsOf(statement.Action);
        const scoped = actions.filter((a) => !RESOURCELESS.has(a.trim().toLowerCase()));
        if (statement.NotAction !== undefined) scoped.push("NotAction");
        if (scoped.length > 0) {
            report(
                `${at} allows ${scoped.map((a) => `"${a}"`).join(", ")} on Resource "*": name the ARNs ` +
                    `(only actions AWS does not scope to resources may use "*", e.g. ${RESOURCELESS_ACTIONS[0]})`,
            );
        }
    }),
};

// ─── Managed policies ─────────────────────────────────────────────────────────────────────────────────────

/**
 * AWS managed policies that grant a whole service or everything: `*FullAccess` (and `*FullAccessV2`),
 * `AdministratorAccess` (and its `AdministratorAccess-*` variants), `PowerUserAccess`. `aws.lambda.CallbackFunction`'s
 * default role attaches several (AWSLambda_FullAccess, AmazonS3FullAccess, AmazonDynamoDBFullAccess, ...), which is
 * why the stack declares its functions with their own least-privilege roles.
 */
export function isBroadManagedPolicy(arn: string): boolean {
    return /^arn:aws[a-z-]*:iam::aws:policy\/(?:[^/]+\/)*(?:AdministratorAccess(?:-[^/]+)?|PowerUserAccess|[^/]*FullAccess(?:V\d+)?)$/.test(arn.trim());
}

function checkManagedPolicyArn(property: string, arn: unknown, report: ReportViolation): void {
    if (typeof arn === "string" && isBroadManagedPolicy(arn)) {
        report(`${property} attaches the AWS managed policy ${arn}, which grants far more than any function here needs: grant the actions it calls in an inline policy`);
    }
}

export const noBroadManagedPolicies: ResourceValidationPolicy = {
    name: "iam-no-broad-managed-policies",
    description: "No role gets an AWS managed policy that grants a whole service or everything (*FullAccess, AdministratorAccess, PowerUserAccess).",
    severity: "high",
    validateResource: validateResourceOfTypes(
        ["aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment", "aws:iam/role:Role"],
        validateResourceOfType(aws.iam.RolePolicyAttachment, (attachment, _args, report) =>
            checkManagedPolicyArn("policyArn", known(() => attachment.policyArn), report),
        ),
        validateResourceOfType(aws.iam.PolicyAttachment, (attachment, _args, report) =>
            checkManagedPolicyArn("policyArn", known(() => attachment.policyArn), report),
        ),
        validateResourceOfType(aws.iam.Role, (role, _args, report) => {
            listOf(plain(() => role.managedPolicyArns)).forEach((arn, i) => checkManagedPolicyArn(`managedPolicyArns[${i}]`, arn, report));
        }),
    ),
};

// ─── Lambda: presigned URL expiry ─────────────────────────────────────────────────────────────────────────

export const PRESIGN_EXPIRY_VARIABLE = "PRESIGN_EXPIRY_SECONDS";

export const presignExpiry: ResourceValidationPolicy = {
    name: "lambda-presign-expiry-at-most-15-minutes",
    description: `A function's ${PRESIGN_EXPIRY_VARIABLE}, when set, is an integer number of seconds from 1 to ${MAX_PRESIGN_EXPIRY_SECONDS} (15 minutes).`,
    severity: "medium",
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, _args, report) => {
        const value = known(() => fn.environment?.variables?.[PRESIGN_EXPIRY_VARIABLE]);
        if (typeof value !== "string") return; // Not set, or unknown until the update.
        // The handler's own parser, so the pack and the stack never disagree on a value.
        try {
            parsePresignExpirySeconds(`environment.variables.${PRESIGN_EXPIRY_VARIABLE}`, value);
        } catch (error) {
            report(`${(error as Error).message}: presigned URLs must expire within 15 minutes`);
        }
    }),
};

// ─── EventBridge rules ────────────────────────────────────────────────────────────────────────────────────

/**
 * A pattern value that lets every event through: `{"prefix": ""}`, `{"suffix": ""}`, `{"wildcard": "*"}`,
 * `{"exists": true}` (source and detail-type are always present), and `{"anything-but": ...}`, which admits every
 * other producer on the bus, the opposite of what filtering on source is for.
 */
function matchesEverything(value: unknown): boolean {
    if (!isObject(value)) return false;
    const [key, operand] = Object.entries(value)[0] ?? [];
    if (Object.keys(value).length !== 1) return false;
    return (
        ((key === "prefix" || key === "suffix") && (operand === "" || (isObject(operand) && operand["equals-ignore-case"] === ""))) ||
        (key === "wildcard" && typeof operand === "string" && /^\*+$/.test(operand)) ||
        (key === "exists" && operand === true) ||
        key === "anything-but"
    );
}

function fieldFilterProblem(pattern: JsonObject, field: "source" | "detail-type"): string | undefined {
    const values = pattern[field];
    if (values === undefined) return `eventPattern does not filter on "${field}"`;
    if (!Array.isArray(values) || values.length === 0) return `eventPattern's "${field}" must be a non-empty array, got ${JSON.stringify(values)}`;
    const open = values.find(matchesEverything);
    if (open !== undefined) return `eventPattern's "${field}" holds ${JSON.stringify(open)}, which does not narrow "${field}"`;
    return undefined;
}

export const rulesFilterSourceAndDetailType: ResourceValidationPolicy = {
    name: "eventbridge-rules-filter-source-and-detail-type",
    description:
        'Every EventBridge rule\'s eventPattern matches on a non-empty "source" and "detail-type", so no other producer on a ' +
        "shared bus (the default bus receives every AWS service's events) can trigger the stack. Scheduled rules are exempt.",
    severity: "high",
    validateResource: validateResourceOfType(aws.cloudwatch.EventRule, (rule, _args, report) => {
        const schedule = known(() => rule.scheduleExpression);
        if (schedule === UNKNOWN || (typeof schedule === "string" && schedule !== "")) return; // A scheduled rule.
        const text = known(() => rule.eventPattern);
        if (text === UNKNOWN) return;
        if (text === undefined || text === "") {
            report("eventPattern is not set (and neither is scheduleExpression): a rule must filter on source and detail-type");
            return;
        }
        const pattern = parseJsonObject(text);
        if (pattern === undefined) return;
        if (pattern instanceof Invalid) {
            report(`eventPattern ${pattern.reason}`);
            return;
        }
        for (const field of ["source", "detail-type"] as const) {
            const problem = fieldFilterProblem(pattern, field);
            if (problem) report(`${problem}: every rule must list the ${field === "source" ? "event sources" : "detail types"} it is for`);
        }
    }),
};

// ─── Step Functions: task-token waits ─────────────────────────────────────────────────────────────────────

function waitsForTaskToken(state: Record<string, unknown>): boolean {
    return typeof state.Resource === "string" && state.Resource.endsWith(".waitForTaskToken");
}

/** `TimeoutSeconds` (a positive integer, or a JSONata expression) or `TimeoutSecondsPath` bounds the wait. */
function hasTimeout(state: Record<string, unknown>): boolean {
    const seconds = state.TimeoutSeconds;
    const path = state.TimeoutSecondsPath;
    return (
        (typeof seconds === "number" && Number.isInteger(seconds) && seconds > 0) ||
        (typeof seconds === "string" && seconds.trim() !== "") ||
        (typeof path === "string" && path.trim() !== "")
    );
}

export const taskTokenWaitsBounded: ResourceValidationPolicy = {
    name: "sfn-task-token-waits-bounded",
    description:
        "Every .waitForTaskToken Task has TimeoutSeconds or TimeoutSecondsPath (a lost token would otherwise hold the " +
        "execution for up to a year), and sits in a STANDARD state machine (EXPRESS machines cannot wait for a token).",
    severity: "high",
    validateResource: validateResourceOfType(aws.sfn.StateMachine, (machine, _args, report) => {
        const definition = parseJsonObject(known(() => machine.definition));
        if (definition === undefined) return; // Unknown until the update.
        if (definition instanceof Invalid) {
            report(`definition ${definition.reason}`);
            return;
        }
        const waits = taskStates(definition).filter((t) => waitsForTaskToken(t.state));
        for (const { at: path, state } of waits) {
            if (!hasTimeout(state)) {
                report(
                    `definition ${path} waits for a task token (${String(state.Resource)}) without TimeoutSeconds or ` +
                        "TimeoutSecondsPath: a token that never comes back would hold the execution for up to a year",
                );
            }
        }
        const type = known(() => machine.type);
        // AWS creates a STANDARD machine when type is not set.
        if (waits.length > 0 && typeof type === "string" && type.toUpperCase() === "EXPRESS") {
            report(
                `type is EXPRESS but definition ${waits.map((t) => t.at).join(", ")} wait${waits.length === 1 ? "s" : ""} ` +
                    "for a task token, which only STANDARD machines support: set type to STANDARD",
            );
        }
    }),
};

// ─── S3 buckets and their companion resources (stack policies) ────────────────────────────────────────────

/**
 * A resource of the stack as stack policies see it. `PolicyResource` (what the engine passes) fits, and so does
 * a plain list built in a test: the checks below are pure functions of such a list.
 */
export interface StackResource {
    type: string;
    urn: string;
    name: string;
    props: Record<string, unknown>;
    /** The resources each property was computed from (the engine fills it; it links a companion to its bucket during preview). */
    propertyDependencies?: Record<string, ReadonlyArray<{ urn: string }>>;
}

export interface StackViolation {
    message: string;
    /** The resource at fault. */
    urn: string;
}

export const BUCKET_TYPES: readonly string[] = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];

/** What a bucket needs beside it: which resource types, and what makes one of them do its job. */
interface CompanionRule {
    types: readonly string[];
    /** How a message names it, e.g. `an aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock`. */
    what: string;
    /** What is wrong with a companion (each naming the property), none when it does its job; UNKNOWN while it cannot be told. */
    problems(props: Record<string, unknown>): string[] | Unknown;
}

function bucketLabel(bucket: StackResource): string {
    const name = known(() => bucket.props.bucket);
    return typeof name === "string" ? `"${name}"` : `"${bucket.name}" (resource name)`;
}

/** Whether a companion's `bucket` property refers to this bucket: by dependency, or by the bucket's name or id. */
function refersTo(companion: StackResource, bucket: StackResource): boolean | Unknown {
    const dependencies = companion.propertyDependencies?.bucket ?? [];
    if (dependencies.some((d) => d.urn === bucket.urn)) return true;
    const reference = known(() => companion.props.bucket);
    if (reference === UNKNOWN) return dependencies.length > 0 ? false : UNKNOWN;
    if (typeof reference !== "string") return false;
    const names = [known(() => bucket.props.bucket), known(() => bucket.props.id)];
    if (names.includes(reference)) return true;
    return names.some((n) => n === UNKNOWN) && dependencies.length === 0 ? UNKNOWN : false;
}

/**
 * Every bucket has a companion (matched by its `bucket` property) that does its job. A bucket with none is reported
 * on the bucket; a companion that falls short is reported on the companion, naming the property. Nothing is reported
 * for a bucket while the match or the companion's settings are unknown (preview of a new stack without dependency
 * information): the policy runs again after the update.
 */
function checkBucketCompanions(resources: readonly StackResource[], rule: CompanionRule): StackViolation[] {
    const violations: StackViolation[] = [];
    const companions = resources.filter((r) => rule.types.includes(r.type));
    for (const bucket of resources.filter((r) => BUCKET_TYPES.includes(r.type))) {
        let undecided = false;
        const shortfalls: StackViolation[] = [];
        let satisfied = false;
        for (const companion of companions) {
            const match = refersTo(companion, bucket);
            if (match === UNKNOWN) undecided = true;
            if (match !== true) continue;
            const problems = rule.problems(companion.props);
            if (problems === UNKNOWN) undecided = true;
            else if (problems.length === 0) satisfied = true;
            else for (const problem of problems) shortfalls.push({ urn: companion.urn, message: `${companion.type} "${companion.name}" for bucket ${bucketLabel(bucket)}: ${problem}` });
        }
        if (satisfied || undecided) continue;
        if (shortfalls.length > 0) violations.push(...shortfalls);
        else violations.push({ urn: bucket.urn, message: `bucket ${bucketLabel(bucket)} has no ${rule.what} whose bucket property refers to it` });
    }
    return violations;
}

export const PUBLIC_ACCESS_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

/** Every bucket has a BucketPublicAccessBlock with all four flags true. */
export function checkPublicAccessBlocked(resources: readonly StackResource[]): StackViolation[] {
    return checkBucketCompanions(resources, {
        types: ["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"],
        what: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        problems(props) {
            const problems: string[] = [];
            for (const flag of PUBLIC_ACCESS_FLAGS) {
                const value = known(() => props[flag]);
                if (value === UNKNOWN) return UNKNOWN;
                if (value !== true) problems.push(`${flag} is ${value === undefined ? "not set" : JSON.stringify(value)}, must be true`);
            }
            return problems;
        },
    });
}

/** Every bucket has a server-side encryption configuration with a default algorithm. */
export function checkEncryptionConfigured(resources: readonly StackResource[]): StackViolation[] {
    return checkBucketCompanions(resources, {
        types: [
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
        ],
        what: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        problems(props) {
            const rules = plain(() => props.rules);
            if (rules === UNKNOWN) return UNKNOWN;
            const algorithms = listOf(rules).map((r) => (isObject(r) && isObject(r.applyServerSideEncryptionByDefault) ? r.applyServerSideEncryptionByDefault.sseAlgorithm : undefined));
            if (algorithms.some((a) => typeof a === "string" && a !== "")) return [];
            return ["rules[].applyServerSideEncryptionByDefault.sseAlgorithm is not set: choose AES256 or aws:kms"];
        },
    });
}

/** `{"Bool": {"aws:SecureTransport": "false"}}` (or BoolIfExists; keys compared case-insensitively, as IAM does). */
function deniesInsecureTransport(condition: unknown): boolean {
    if (!isObject(condition)) return false;
    return ["Bool", "BoolIfExists"].some((operator) => {
        const keys = condition[operator];
        if (!isObject(keys)) return false;
        return Object.entries(keys).some(
            ([key, value]) => key.toLowerCase() === "aws:securetransport" && listOf(value).some((v) => String(v).toLowerCase() === "false"),
        );
    });
}

function isEveryone(principal: unknown): boolean {
    return principal === "*" || (isObject(principal) && stringsOf(principal.AWS).includes("*"));
}

/** The problems of a bucket policy as a TLS-only policy: none when one Deny statement refuses every request without TLS. */
export function tlsOnlyProblems(policy: unknown): string[] | Unknown {
    const parsed = statementsOf(policy);
    if (parsed === UNKNOWN) return UNKNOWN;
    if (parsed === undefined) return ["policy is not set"];
    if (parsed instanceof Invalid) return [`policy ${parsed.reason}`];
    const denies = parsed
        .map((statement, i) => ({ statement, at: `policy ${statementLabel(statement, i)}` }))
        .filter(({ statement }) => statement.Effect === "Deny" && deniesInsecureTransport(statement.Condition));
    if (denies.length === 0) {
        return ['policy has no Deny statement with Condition {"Bool": {"aws:SecureTransport": "false"}}: add one for Principal "*", Action "s3:*" and the bucket and its objects'];
    }
    let first: string[] | undefined;
    for (const { statement, at } of denies) {
        const problems: string[] = [];
        if (!isEveryone(statement.Principal)) problems.push(`${at} must apply to Principal "*", got ${JSON.stringify(statement.Principal)}`);
        if (!stringsOf(statement.Action).some((a) => a === "*" || a.toLowerCase() === "s3:*")) {
            problems.push(`${at} must deny Action "s3:*", got ${JSON.stringify(statement.Action)}`);
        }
        if (!stringsOf(statement.Resource).some((r) => r === "*" || r.endsWith("/*"))) {
            problems.push(`${at} must cover the bucket's objects (Resource "<bucket ARN>/*"), got ${JSON.stringify(statement.Resource)}`);
        }
        if (problems.length === 0) return [];
        first ??= problems;
    }
    return first ?? [];
}

/** Every bucket has a bucket policy that denies requests not made over TLS. */
export function checkTlsOnly(resources: readonly StackResource[]): StackViolation[] {
    return checkBucketCompanions(resources, {
        types: ["aws:s3/bucketPolicy:BucketPolicy"],
        what: "aws:s3/bucketPolicy:BucketPolicy",
        problems: (props) => tlsOnlyProblems(plain(() => props.policy)),
    });
}

/** A stack policy from a check of the resource list. */
function stackPolicy(
    policy: Omit<StackValidationPolicy, "validateStack">,
    check: (resources: readonly StackResource[]) => StackViolation[],
): StackValidationPolicy {
    return {
        ...policy,
        validateStack: (args: StackValidationArgs, report: ReportViolation) => {
            for (const violation of check(args.resources)) report(violation.message, violation.urn);
        },
    };
}

export const publicAccessBlocked = stackPolicy(
    {
        name: "s3-public-access-blocked",
        description: "Every S3 bucket has a BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true.",
        severity: "critical",
    },
    checkPublicAccessBlocked,
);

export const encryptionConfigured = stackPolicy(
    {
        name: "s3-encryption-configured",
        description:
            "Every S3 bucket has a BucketServerSideEncryptionConfiguration with a default algorithm (AWS encrypts new objects with SSE-S3 " +
            "anyway; declaring it keeps the choice, and a move to KMS, in the program).",
        severity: "medium",
    },
    checkEncryptionConfigured,
);

export const tlsOnly = stackPolicy(
    {
        name: "s3-tls-only",
        description: 'Every S3 bucket has a bucket policy with a Deny of "s3:*" to everyone when aws:SecureTransport is false.',
        severity: "high",
    },
    checkTlsOnly,
);

// ─── The pack ─────────────────────────────────────────────────────────────────────────────────────────────

export const resourcePolicies: ResourceValidationPolicy[] = [
    noWildcardActions,
    noWildcardResources,
    noBroadManagedPolicies,
    presignExpiry,
    rulesFilterSourceAndDetailType,
    taskTokenWaitsBounded,
];

export const stackPolicies: StackValidationPolicy[] = [publicAccessBlocked, encryptionConfigured, tlsOnly];

export const policies: Policies = [...resourcePolicies, ...stackPolicies];
