/**
 * The policy pack (policy/): every policy over the dev stack, each policy against resources crafted to break it,
 * and the pack itself served as `pulumi preview --policy-pack policy` serves it, answering the engine's requests.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as aws from "@pulumi/aws";
import {
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    unknownCheckingProxy,
} from "@pulumi/policy";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzer from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { DeclaredResource, EvaluatedStack, PROJECT_ROOT } from "../local/core/evaluate";
import * as P from "../policy/policies";
import { devStack } from "../local/testing/stack";

// ─── Policy arguments, as the engine builds them ──────────────────────────────────────────────────────────

/** What the engine sends for a string it cannot know during preview (`unknownStringValue` in @pulumi/policy's proxy.js). */
const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const T = {
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    policy: "aws:iam/policy:Policy",
    attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    bucket: "aws:s3/bucket:Bucket",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    fn: "aws:lambda/function:Function",
    rule: "aws:cloudwatch/eventRule:EventRule",
    sfn: "aws:sfn/stateMachine:StateMachine",
} as const;

/** A resource as a test writes it: `preview` wraps the props as the engine does, so unknown values throw when read. */
interface Crafted {
    type: string;
    name?: string;
    props: Record<string, unknown>;
    preview?: boolean;
    /** Stack policies: property -> names of the resources (in the same list) it was computed from. */
    dependsOn?: Record<string, string[]>;
}

const OPTS: PolicyResourceOptions = {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
};

const urnOf = (type: string, name: string): string => `urn:pulumi:test::choreography::${type}::${name}`;

/** How the engine tells a class's type: its static `isInstance` (generated on every @pulumi/aws resource). */
function isTypeOf(type: string, resourceClass: object): boolean {
    const { isInstance } = resourceClass as { isInstance?: (obj: unknown) => boolean };
    return typeof isInstance === "function" && isInstance({ __pulumiType: type });
}

class NotApplicable extends Error {}

function propsOf(r: Crafted): Record<string, unknown> {
    return r.preview ? (unknownCheckingProxy(r.props) as Record<string, unknown>) : r.props;
}

/** What a policy sees of a crafted resource, in resource and stack validation alike. */
function policyView(r: Crafted): Pick<PolicyResource, "type" | "props" | "urn" | "name" | "opts" | "isType"> & {
    /** Typed by each caller: resource and stack args declare `asType` with different generics. */
    asType: (resourceClass: object) => Record<string, unknown> | undefined;
} {
    const name = r.name ?? "crafted";
    const props = propsOf(r);
    return {
        type: r.type,
        props,
        urn: urnOf(r.type, name),
        name,
        opts: OPTS,
        isType: (resourceClass) => isTypeOf(r.type, resourceClass),
        asType: (resourceClass: object) => (isTypeOf(r.type, resourceClass) ? props : undefined),
    };
}

/** The parts of validation args that are the same for every policy here: no tags, no config. */
function policyEnvironment() {
    return {
        stackTags: new Map<string, string>(),
        getConfig: <C extends object>() => ({}) as C,
        notApplicable: (reason?: string): never => {
            throw new NotApplicable(reason);
        },
    };
}

function resourceArgs(r: Crafted): ResourceValidationArgs {
    const view = policyView(r);
    return { ...view, asType: view.asType as ResourceValidationArgs["asType"], ...policyEnvironment() };
}

/** The messages a resource policy reports for a resource, or "not applicable". */
async function violations(policy: ResourceValidationPolicy, resource: Crafted): Promise<string[] | "not applicable"> {
    const messages: string[] = [];
    const validations = policy.validateResource === undefined ? [] : [policy.validateResource].flat();
    try {
        for (const validate of validations) await validate(resourceArgs(resource), (message) => messages.push(message));
    } catch (e) {
        if (e instanceof NotApplicable) return "not applicable";
        throw e;
    }
    return messages;
}

function stackArgs(crafted: Crafted[]): StackValidationArgs {
    const resources: PolicyResource[] = crafted.map((r) => {
        const view = policyView(r);
        return { ...view, asType: view.asType as PolicyResource["asType"], dependencies: [], propertyDependencies: {} };
    });
    crafted.forEach((r, i) => {
        for (const [property, names] of Object.entries(r.dependsOn ?? {})) {
            resources[i].propertyDependencies[property] = names.map((n) => {
                const found = resources.find((d) => d.name === n);
                if (!found) throw new Error(`dependsOn names ${n}, which is not in the list`);
                return found;
            });
        }
        resources[i].dependencies = Object.values(resources[i].propertyDependencies).flat();
    });
    return { resources, ...policyEnvironment() };
}

async function stackViolations(policy: StackValidationPolicy, resources: Crafted[]): Promise<P.StackViolation[]> {
    const found: P.StackViolation[] = [];
    await policy.validateStack(stackArgs(resources), (message, urn) => found.push({ message, urn: urn ?? "" }));
    return found;
}

/** Asserts exactly one violation whose message has every fragment. */
function assertOne(found: string[] | "not applicable", ...fragments: string[]): void {
    assert.ok(Array.isArray(found), "the policy should apply");
    assert.equal(found.length, 1, `expected one violation, got ${JSON.stringify(found)}`);
    for (const fragment of fragments) assert.ok(found[0].includes(fragment), `"${found[0]}" should mention ${fragment}`);
}

// ─── Crafted resources ────────────────────────────────────────────────────────────────────────────────────

const doc = (...Statement: object[]): string => JSON.stringify({ Version: "2012-10-17", Statement });
const allow = (Action: string | string[], Resource: string | string[] = "arn:aws:s3:::results/*"): object => ({ Effect: "Allow", Action, Resource });
const rolePolicy = (policy: unknown, preview = false): Crafted => ({ type: T.rolePolicy, props: { role: "r", policy }, preview });
const TRUST = doc({ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" });
const TLS_DENY = {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: ["arn:aws:s3:::results", "arn:aws:s3:::results/*"],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
};

const bucket = (name = "results"): Crafted => ({ type: T.bucket, name, props: { bucket: name, arn: `arn:aws:s3:::${name}` } });
const publicAccessBlock = (bucketRef: string, flags: Partial<Record<(typeof P.PUBLIC_ACCESS_FLAGS)[number], unknown>> = {}): Crafted => ({
    type: T.publicAccessBlock,
    name: `${bucketRef}-pab`,
    props: { bucket: bucketRef, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true, ...flags },
});
const encryption = (bucketRef: string, rules: unknown = [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]): Crafted => ({
    type: T.encryption,
    name: `${bucketRef}-sse`,
    props: { bucket: bucketRef, rules },
});
const bucketPolicy = (bucketRef: string, policy: unknown): Crafted => ({ type: T.bucketPolicy, name: `${bucketRef}-policy`, props: { bucket: bucketRef, policy } });

const fn = (variables: Record<string, string> | undefined, preview = false): Crafted => ({
    type: T.fn,
    props: { runtime: "nodejs22.x", handler: "__index.handler", role: "arn:aws:iam::000000000000:role/r", environment: { variables } },
    preview,
});
const rule = (props: Record<string, unknown>, preview = false): Crafted => ({ type: T.rule, props, preview });
const pattern = (p: object): Crafted => rule({ eventBusName: "default", eventPattern: JSON.stringify(p) });

const WAIT = "arn:aws:states:::events:putEvents.waitForTaskToken";
const wait = (extra: object = { TimeoutSeconds: 300 }): object => ({ Type: "Task", Resource: WAIT, Parameters: {}, End: true, ...extra });
const machine = (States: Record<string, object>, type?: string, preview = false): Crafted => ({
    type: T.sfn,
    props: { roleArn: "arn:aws:iam::000000000000:role/m", definition: JSON.stringify({ StartAt: Object.keys(States)[0], States }), ...(type ? { type } : {}) },
    preview,
});

// ─── (a) the dev stack ────────────────────────────────────────────────────────────────────────────────────

/** Inputs for resource policies (what the engine checks before a create or update); outputs for stack policies. */
const asCrafted = (r: DeclaredResource, props: Record<string, unknown>): Crafted => ({ type: r.type, name: r.name, props });

describe("policy pack: the dev stack", () => {
    let stack: EvaluatedStack;
    before(async () => {
        stack = await devStack();
    });

    it("passes every resource policy, each of which applies to some resource of the stack", async () => {
        const found: string[] = [];
        for (const policy of P.resourcePolicies) {
            let applied = 0;
            for (const resource of stack.resources) {
                const result = await violations(policy, asCrafted(resource, resource.inputs));
                if (result === "not applicable") continue;
                applied++;
                found.push(...result.map((m) => `${policy.name} on ${resource.type} ${resource.name}: ${m}`));
            }
            assert.ok(applied > 0, `${policy.name} applied to no resource of the stack`);
        }
        assert.deepEqual(found, []);
    });

    it("passes every stack policy", async () => {
        assert.ok(stack.resources.some((r) => r.type === T.bucket), "the stack declares a bucket");
        const resources = stack.resources.map((r) => asCrafted(r, r.state));
        for (const policy of P.stackPolicies) assert.deepEqual(await stackViolations(policy, resources), [], policy.name);
    });

    it("passes the stack checks run over its resource list directly", () => {
        const resources = stack.resources.map((r) => ({ ...r, props: r.state }));
        assert.deepEqual(P.checkPublicAccessBlocked(resources), []);
        assert.deepEqual(P.checkEncryptionConfigured(resources), []);
        assert.deepEqual(P.checkTlsOnly(resources), []);
    });

    it("fails the bucket policies once a companion of the results bucket is left out", () => {
        const without = (type: string) => stack.resources.filter((r) => r.type !== type).map((r) => ({ ...r, props: r.state }));
        const bucketUrn = stack.resources.find((r) => r.type === T.bucket)?.urn;
        for (const [check, type] of [
            [P.checkPublicAccessBlocked, T.publicAccessBlock],
            [P.checkEncryptionConfigured, T.encryption],
            [P.checkTlsOnly, T.bucketPolicy],
        ] as const) {
            const found = check(without(type));
            assert.equal(found.length, 1, type);
            assert.equal(found[0].urn, bucketUrn);
            assert.ok(found[0].message.includes(`has no ${type}`), found[0].message);
        }
    });
});

// ─── (b) each policy, broken and kept ─────────────────────────────────────────────────────────────────────

describe("policy pack: iam-no-wildcard-actions", () => {
    const policy = P.noWildcardActions;

    it("reports a service-wide action in a role policy, naming the property and statement", async () => {
        assertOne(await violations(policy, rolePolicy(doc(allow("s3:GetObject"), allow(["s3:PutObject", "s3:*"])))), "policy: Statement[1]", 'Action "s3:*"');
    });

    it('reports "*" in a managed policy, in a role\'s inline and trust policies, and in a policy given as an object', async () => {
        assertOne(await violations(policy, { type: T.policy, props: { policy: doc(allow("*", "*")) } }), "policy: Statement[0]", 'Action "*"');
        const role: Crafted = {
            type: T.role,
            props: { assumeRolePolicy: TRUST, inlinePolicies: [{ name: "a", policy: doc(allow("s3:GetObject")) }, { name: "b", policy: doc(allow("dynamodb:*")) }] },
        };
        assertOne(await violations(policy, role), "inlinePolicies[1].policy: Statement[0]", 'Action "dynamodb:*"');
        const trust = doc({ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:*" });
        assertOne(await violations(policy, { type: T.role, props: { assumeRolePolicy: trust } }), "assumeRolePolicy", 'Action "sts:*"');
        assertOne(await violations(policy, rolePolicy({ Version: "2012-10-17", Statement: { Sid: "Everything", Effect: "Allow", Action: "*:*", Resource: "*" } })), 'Statement[0] ("Everything")', '"*:*"');
    });

    it("reports NotAction in an Allow statement and a document that is not JSON", async () => {
        assertOne(await violations(policy, rolePolicy(doc({ Effect: "Allow", NotAction: "iam:*", Resource: "*" }))), "policy: Statement[0]", "NotAction");
        assertOne(await violations(policy, rolePolicy("{not json")), "policy is not valid JSON");
    });

    it("reports an Allow of s3:* in a bucket policy, and passes the TLS-only Deny of s3:*", async () => {
        const grant = { Effect: "Allow", Principal: { AWS: "arn:aws:iam::111111111111:root" }, Action: "s3:*", Resource: "arn:aws:s3:::results/*" };
        assertOne(await violations(policy, bucketPolicy("results", doc(TLS_DENY, grant))), "policy: Statement[1]", 'Action "s3:*"');
        assert.deepEqual(await violations(policy, bucketPolicy("results", doc(TLS_DENY))), []);
    });

    it("passes named actions and narrower wildcards, skips a document unknown during preview, and ignores other types", async () => {
        assert.deepEqual(await violations(policy, rolePolicy(doc(allow(["s3:GetObject", "s3:Get*"]), allow("states:SendTask*", "arn:aws:states:::x")))), []);
        assert.deepEqual(await violations(policy, { type: T.role, props: { assumeRolePolicy: TRUST } }), []);
        assert.deepEqual(await violations(policy, rolePolicy(UNKNOWN_STRING, true)), []);
        assert.equal(await violations(policy, fn({})), "not applicable");
    });
});

describe("policy pack: iam-no-wildcard-resources", () => {
    const policy = P.noWildcardResources;

    it('reports an action AWS scopes to resources on Resource "*", naming only the actions at fault', async () => {
        const statement = allow(["logs:CreateLogDelivery", "logs:PutLogEvents", "s3:GetObject"], "*");
        assertOne(await violations(policy, rolePolicy(doc(statement))), "policy: Statement[0]", '"logs:PutLogEvents", "s3:GetObject" on Resource "*"');
        const result = await violations(policy, rolePolicy(doc(statement)));
        assert.ok(Array.isArray(result) && !result[0].includes('"logs:CreateLogDelivery"'));
    });

    it("reports NotResource in an Allow statement, and a Resource * in an inline policy", async () => {
        assertOne(await violations(policy, rolePolicy(doc({ Effect: "Allow", Action: "s3:GetObject", NotResource: "arn:aws:s3:::secret/*" }))), "NotResource");
        const role: Crafted = { type: T.role, props: { assumeRolePolicy: TRUST, inlinePolicies: [{ name: "a", policy: doc(allow("sqs:SendMessage", "*")) }] } };
        assertOne(await violations(policy, role), "inlinePolicies[0].policy", '"sqs:SendMessage" on Resource "*"');
    });

    it("passes the log-delivery and X-Ray actions on *, any action on a named ARN, Deny statements and trust policies", async () => {
        assert.deepEqual(
            await violations(policy, rolePolicy(doc(allow([...P.RESOURCELESS_ACTIONS.slice(0, 8)], "*"), allow(["xray:PutTraceSegments", "XRay:PutTelemetryRecords"], "*")))),
            [],
        );
        assert.deepEqual(await violations(policy, rolePolicy(doc(allow("s3:GetObject"), { Effect: "Deny", Action: "s3:DeleteObject", Resource: "*" }))), []);
        assert.deepEqual(await violations(policy, { type: T.role, props: { assumeRolePolicy: TRUST } }), []);
    });
});

describe("policy pack: iam-no-broad-managed-policies", () => {
    const policy = P.noBroadManagedPolicies;
    const attachment = (policyArn: string): Crafted => ({ type: T.attachment, props: { role: "r", policyArn } });

    it("reports AdministratorAccess and every *FullAccess policy CallbackFunction's default role attaches", async () => {
        assertOne(await violations(policy, attachment("arn:aws:iam::aws:policy/AdministratorAccess")), "policyArn", "AdministratorAccess");
        const callbackDefaults = [
            aws.iam.ManagedPolicy.LambdaFullAccess,
            aws.iam.ManagedPolicy.CloudWatchFullAccessV2,
            aws.iam.ManagedPolicy.CloudWatchEventsFullAccess,
            aws.iam.ManagedPolicy.AmazonS3FullAccess,
            aws.iam.ManagedPolicy.AmazonDynamoDBFullAccess,
        ];
        for (const arn of callbackDefaults) assertOne(await violations(policy, attachment(arn)), "policyArn", arn);
    });

    it("reports a broad policy in a role's managedPolicyArns", async () => {
        const role: Crafted = { type: T.role, props: { assumeRolePolicy: TRUST, managedPolicyArns: ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", "arn:aws:iam::aws:policy/AmazonSQSFullAccess"] } };
        assertOne(await violations(policy, role), "managedPolicyArns[1]", "AmazonSQSFullAccess");
    });

    it("passes narrow AWS managed policies and the account's own policies, whatever their name", async () => {
        assert.deepEqual(await violations(policy, attachment("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")), []);
        assert.deepEqual(await violations(policy, attachment("arn:aws:iam::123456789012:policy/ResultsFullAccess")), []);
        assert.deepEqual(await violations(policy, { type: T.attachment, props: { role: "r", policyArn: UNKNOWN_STRING }, preview: true }), []);
    });
});

describe("policy pack: s3-public-access-blocked", () => {
    const policy = P.publicAccessBlocked;

    it("reports a bucket without a public access block, on the bucket", async () => {
        const found = await stackViolations(policy, [bucket("results"), bucket("other"), publicAccessBlock("results")]);
        assert.equal(found.length, 1);
        assert.equal(found[0].urn, urnOf(T.bucket, "other"));
        assert.ok(found[0].message.includes(`bucket "other" has no ${T.publicAccessBlock}`), found[0].message);
    });

    it("reports a block that leaves a flag off, on the block, naming the flag", async () => {
        const found = await stackViolations(policy, [bucket(), publicAccessBlock("results", { restrictPublicBuckets: false })]);
        assert.equal(found.length, 1);
        assert.equal(found[0].urn, urnOf(T.publicAccessBlock, "results-pab"));
        assert.ok(found[0].message.includes("restrictPublicBuckets is false, must be true"), found[0].message);
    });

    it("matches a block to its bucket by dependency while the bucket's name is unknown (preview)", async () => {
        const newBucket: Crafted = { type: T.bucket, name: "results", props: { bucket: UNKNOWN_STRING, arn: UNKNOWN_STRING }, preview: true };
        const block = (flags: object): Crafted => ({ ...publicAccessBlock(UNKNOWN_STRING, flags), preview: true, dependsOn: { bucket: ["results"] } });
        assert.deepEqual(await stackViolations(policy, [newBucket, block({})]), []);
        const found = await stackViolations(policy, [newBucket, block({ blockPublicAcls: false })]);
        assert.equal(found.length, 1);
        assert.ok(found[0].message.includes("blockPublicAcls is false"), found[0].message);
        // Without dependency information nothing can be told yet: the policy runs again after the update.
        assert.deepEqual(await stackViolations(policy, [newBucket, { ...block({}), dependsOn: undefined }]), []);
    });

    it("passes a bucket with all four flags on", async () => {
        assert.deepEqual(await stackViolations(policy, [bucket(), publicAccessBlock("results")]), []);
    });
});

describe("policy pack: s3-encryption-configured", () => {
    const policy = P.encryptionConfigured;

    it("reports a bucket without an encryption configuration, and one without an algorithm", async () => {
        const missing = await stackViolations(policy, [bucket()]);
        assert.equal(missing.length, 1);
        assert.ok(missing[0].message.includes(`has no ${T.encryption}`), missing[0].message);
        const empty = await stackViolations(policy, [bucket(), encryption("results", [{ bucketKeyEnabled: true }])]);
        assert.equal(empty.length, 1);
        assert.ok(empty[0].message.includes("applyServerSideEncryptionByDefault.sseAlgorithm is not set"), empty[0].message);
    });

    it("passes SSE-S3 and SSE-KMS configurations", async () => {
        assert.deepEqual(await stackViolations(policy, [bucket(), encryption("results")]), []);
        const kms = [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/results" } }];
        assert.deepEqual(await stackViolations(policy, [bucket(), encryption("results", kms)]), []);
    });
});

describe("policy pack: s3-tls-only", () => {
    const policy = P.tlsOnly;

    it("reports a bucket without a bucket policy", async () => {
        const found = await stackViolations(policy, [bucket()]);
        assert.equal(found.length, 1);
        assert.ok(found[0].message.includes(`has no ${T.bucketPolicy}`), found[0].message);
    });

    it("reports a bucket policy without a Deny on aws:SecureTransport = false", async () => {
        const found = await stackViolations(policy, [bucket(), bucketPolicy("results", doc(allow("s3:GetObject")))]);
        assert.equal(found.length, 1);
        assert.ok(found[0].message.includes('policy has no Deny statement with Condition {"Bool": {"aws:SecureTransport": "false"}}'), found[0].message);
    });

    it("reports a TLS Deny that leaves out principals, actions or the objects", async () => {
        for (const [change, expected] of [
            [{ Principal: { AWS: "arn:aws:iam::111111111111:root" } }, 'must apply to Principal "*"'],
            [{ Action: "s3:GetObject" }, 'must deny Action "s3:*"'],
            [{ Resource: "arn:aws:s3:::results" }, "must cover the bucket's objects"],
        ] as const) {
            const found = await stackViolations(policy, [bucket(), bucketPolicy("results", doc({ ...TLS_DENY, ...change }))]);
            assert.equal(found.length, 1, expected);
            assert.ok(found[0].message.includes(`policy Statement[0] ("DenyInsecureTransport") ${expected}`), found[0].message);
        }
    });

    it("passes the stack's TLS-only policy (and its BoolIfExists form), and skips a policy unknown during preview", async () => {
        assert.deepEqual(await stackViolations(policy, [bucket(), bucketPolicy("results", doc(TLS_DENY))]), []);
        const ifExists = { ...TLS_DENY, Principal: { AWS: "*" }, Condition: { BoolIfExists: { "aws:securetransport": false } } };
        assert.deepEqual(await stackViolations(policy, [bucket(), bucketPolicy("results", doc(ifExists))]), []);
        assert.deepEqual(await stackViolations(policy, [bucket(), { ...bucketPolicy("results", UNKNOWN_STRING), preview: true }]), []);
    });
});

describe("policy pack: lambda-presign-expiry-at-most-15-minutes", () => {
    const policy = P.presignExpiry;

    it("reports an expiry over 15 minutes, zero, and values that are not integers, naming the variable", async () => {
        for (const value of ["901", "3600", "0", "300.5", "5m", "", "-1"]) {
            assertOne(await violations(policy, fn({ PRESIGN_EXPIRY_SECONDS: value })), "environment.variables.PRESIGN_EXPIRY_SECONDS", JSON.stringify(value), "from 1 to 900");
        }
    });

    it("passes 1 to 900 seconds, functions without the variable, and values unknown during preview", async () => {
        for (const value of ["1", "300", "900"]) assert.deepEqual(await violations(policy, fn({ PRESIGN_EXPIRY_SECONDS: value })), []);
        assert.deepEqual(await violations(policy, fn({ BUCKET: "results" })), []);
        assert.deepEqual(await violations(policy, fn(undefined)), []);
        assert.deepEqual(await violations(policy, fn({ PRESIGN_EXPIRY_SECONDS: UNKNOWN_STRING }, true)), []);
        assert.deepEqual(await violations(policy, { ...fn({}), props: { environment: UNKNOWN_STRING }, preview: true }), []);
    });
});

describe("policy pack: eventbridge-rules-filter-source-and-detail-type", () => {
    const policy = P.rulesFilterSourceAndDetailType;

    it("reports a pattern without source, or with an empty or open source", async () => {
        assertOne(await violations(policy, pattern({ "detail-type": ["start"] })), 'eventPattern does not filter on "source"');
        assertOne(await violations(policy, pattern({ source: [], "detail-type": ["start"] })), `eventPattern's "source" must be a non-empty array`);
        assertOne(await violations(policy, pattern({ source: "project", "detail-type": ["start"] })), `"source" must be a non-empty array`);
        assertOne(await violations(policy, pattern({ source: [{ prefix: "" }], "detail-type": ["start"] })), `"source" holds {"prefix":""}`);
        assertOne(await violations(policy, pattern({ source: [{ "anything-but": ["aws.s3"] }], "detail-type": ["start"] })), `"source" holds`);
    });

    it("reports a pattern without detail-type (the project's rule), and a rule with no pattern", async () => {
        assertOne(await violations(policy, pattern({ source: ["project"] })), 'eventPattern does not filter on "detail-type"');
        assertOne(await violations(policy, pattern({ source: ["project"], "detail-type": [{ exists: true }] })), `"detail-type" holds {"exists":true}`);
        assertOne(await violations(policy, rule({ eventBusName: "default" })), "eventPattern is not set");
        assertOne(await violations(policy, rule({ eventPattern: "{source:" })), "eventPattern is not valid JSON");
    });

    it("passes source and detail-type filters, scheduled rules, and patterns unknown during preview", async () => {
        assert.deepEqual(await violations(policy, pattern({ source: ["project"], "detail-type": ["start"] })), []);
        assert.deepEqual(await violations(policy, pattern({ source: ["lambda"], "detail-type": ["Lambda Function Invocation Result - Failure"], detail: { a: [1] } })), []);
        assert.deepEqual(await violations(policy, rule({ scheduleExpression: "rate(5 minutes)" })), []);
        assert.deepEqual(await violations(policy, rule({ eventBusName: "bus", eventPattern: UNKNOWN_STRING }, true)), []);
    });
});

describe("policy pack: sfn-task-token-waits-bounded", () => {
    const policy = P.taskTokenWaitsBounded;

    it("reports a wait without a timeout wherever it sits: top level, Map ItemProcessor or Iterator, Parallel branch", async () => {
        assertOne(await violations(policy, machine({ Wait: wait({}) })), "definition States.Wait", "without TimeoutSeconds or TimeoutSecondsPath");
        const inMap = { Type: "Map", ItemProcessor: { StartAt: "Each", States: { Each: wait({ HeartbeatSeconds: 60 }) } }, End: true };
        assertOne(await violations(policy, machine({ Fan: inMap })), "definition States.Fan.ItemProcessor.States.Each");
        const inIterator = { Type: "Map", Iterator: { StartAt: "Each", States: { Each: wait({}) } }, End: true };
        assertOne(await violations(policy, machine({ Fan: inIterator })), "States.Fan.Iterator.States.Each");
        const parallel = {
            Type: "Parallel",
            Branches: [
                { StartAt: "A", States: { A: wait() } },
                { StartAt: "B", States: { B: wait({ TimeoutSeconds: 0 }) } },
            ],
            End: true,
        };
        assertOne(await violations(policy, machine({ Both: parallel })), "States.Both.Branches[1].States.B");
    });

    it("reports a token wait in an EXPRESS machine, naming type", async () => {
        assertOne(await violations(policy, machine({ Wait: wait() }, "EXPRESS")), "type is EXPRESS", "States.Wait", "STANDARD");
    });

    it("passes bounded waits in STANDARD (or default) machines, EXPRESS machines that do not wait, and unknown definitions", async () => {
        assert.deepEqual(await violations(policy, machine({ Wait: wait() }, "STANDARD")), []);
        assert.deepEqual(await violations(policy, machine({ Wait: wait({ TimeoutSecondsPath: "$.timeout" }) })), []);
        const send = { Type: "Task", Resource: "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess", Parameters: {}, End: true };
        assert.deepEqual(await violations(policy, machine({ Send: send }, "EXPRESS")), []);
        assert.deepEqual(await violations(policy, { ...machine({}), props: { definition: UNKNOWN_STRING, type: "STANDARD" }, preview: true }), []);
    });
});

// ─── The pack as the engine runs it ───────────────────────────────────────────────────────────────────────

describe("policy pack: the pack", () => {
    it("has uniquely named policies, each with a description", () => {
        const names = P.policies.map((p) => p.name);
        assert.equal(new Set(names).size, names.length);
        assert.equal(names.length, 9);
        for (const p of P.policies) assert.ok(p.description.length > 20, p.name);
    });

    it("starts no policy server when policies.ts is imported", () => {
        const probe = spawnSync(process.execPath, ["-r", "tsx/cjs", "-e", 'require("./policy/policies"); console.log("imported")'], {
            cwd: PROJECT_ROOT,
            encoding: "utf8",
            timeout: 30_000,
        });
        // A PolicyPack would print the port it serves on and keep the process alive.
        assert.equal(probe.status, 0, probe.stderr);
        assert.equal(probe.stdout.trim(), "imported");
    });

    describe("served to the engine (as `pulumi preview --policy-pack policy` runs it)", () => {
        let pack: ChildProcess | undefined;
        let client: AnalyzerClient;

        before(async function () {
            this.timeout(90_000);
            // What the Pulumi CLI runs for a nodejs policy pack: ts-node (type-checking) over policy/index.ts.
            const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack");
            const child = spawn(process.execPath, [runner, "127.0.0.1:0", "."], { cwd: path.join(PROJECT_ROOT, "policy"), stdio: ["ignore", "pipe", "pipe"] });
            pack = child;
            const port = await new Promise<number>((resolve, reject) => {
                let out = "";
                let err = "";
                child.stdout?.on("data", (chunk: Buffer) => {
                    out += chunk.toString();
                    const match = /^(\d+)\s*$/m.exec(out);
                    if (match) resolve(Number(match[1]));
                });
                child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
                child.on("exit", (code) => reject(new Error(`the policy pack exited (${code}) before serving:\n${out}\n${err}`)));
            });
            client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        });

        after(() => {
            client?.close();
            if (pack?.pid !== undefined && pack.exitCode === null) pack.kill();
        });

        const call = <Req, Res>(method: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, request: Req): Promise<Res> =>
            new Promise((resolve, reject) => method.call(client, request, (err, res) => (err ? reject(err) : resolve(res))));

        function options(): analyzer.AnalyzerResourceOptions {
            return new analyzer.AnalyzerResourceOptions().setCustomtimeouts(new analyzer.AnalyzerResourceOptions.CustomTimeouts());
        }

        function analyzeRequest(r: Crafted): analyzer.AnalyzeRequest {
            const name = r.name ?? "crafted";
            return new analyzer.AnalyzeRequest()
                .setType(r.type)
                .setName(name)
                .setUrn(urnOf(r.type, name))
                .setProperties(Struct.fromJavaScript(r.props as Parameters<typeof Struct.fromJavaScript>[0]))
                .setOptions(options());
        }

        function stackRequest(resources: Crafted[]): analyzer.AnalyzeStackRequest {
            return new analyzer.AnalyzeStackRequest().setResourcesList(
                resources.map((r) => {
                    const name = r.name ?? "crafted";
                    const resource = new analyzer.AnalyzerResource()
                        .setType(r.type)
                        .setName(name)
                        .setUrn(urnOf(r.type, name))
                        .setProperties(Struct.fromJavaScript(r.props as Parameters<typeof Struct.fromJavaScript>[0]))
                        .setOptions(options());
                    for (const [property, names] of Object.entries(r.dependsOn ?? {})) {
                        const urns = names.map((n) => urnOf(resources.find((d) => (d.name ?? "crafted") === n)?.type ?? "", n));
                        resource.getPropertydependenciesMap().set(property, new analyzer.AnalyzerPropertyDependencies().setUrnsList(urns));
                    }
                    return resource;
                }),
            );
        }

        const diagnostics = (response: analyzer.AnalyzeResponse) =>
            response.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), message: d.getMessage(), urn: d.getUrn(), level: d.getEnforcementlevel() }));

        it('describes the pack "choreography" with its nine policies, mandatory', async () => {
            const info = await call<Empty, analyzer.AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
            assert.equal(info.getName(), "choreography");
            assert.deepEqual(
                info.getPoliciesList().map((p) => p.getName()).sort(),
                P.policies.map((p) => p.name).sort(),
            );
            for (const p of info.getPoliciesList()) assert.equal(p.getEnforcementlevel(), analyzer.EnforcementLevel.MANDATORY, p.getName());
        });

        it("reports a resource's violation as mandatory, and skips what is unknown during preview", async () => {
            const found = diagnostics(await call(client.analyze, analyzeRequest(rolePolicy(doc(allow("s3:*"))))));
            assert.equal(found.length, 1, JSON.stringify(found));
            assert.equal(found[0].policy, "iam-no-wildcard-actions");
            assert.ok(found[0].message.includes('policy: Statement[0] allows Action "s3:*"'), found[0].message);
            assert.equal(found[0].level, analyzer.EnforcementLevel.MANDATORY);

            assert.deepEqual(diagnostics(await call(client.analyze, analyzeRequest(rolePolicy(UNKNOWN_STRING)))), []);
            assert.deepEqual(diagnostics(await call(client.analyze, analyzeRequest(fn({ PRESIGN_EXPIRY_SECONDS: UNKNOWN_STRING })))), []);
            const late = diagnostics(await call(client.analyze, analyzeRequest(fn({ PRESIGN_EXPIRY_SECONDS: "3600" }))));
            assert.deepEqual(late.map((d) => d.policy), ["lambda-presign-expiry-at-most-15-minutes"]);
        });

        it("reports a bucket without companions on the bucket, matching companions by dependency during preview", async () => {
            const newBucket: Crafted = { type: T.bucket, name: "results", props: { bucket: UNKNOWN_STRING } };
            const linked = (c: Crafted): Crafted => ({ ...c, props: { ...c.props, bucket: UNKNOWN_STRING }, dependsOn: { bucket: ["results"] } });
            const complete = [newBucket, linked(publicAccessBlock("x")), linked(encryption("x")), linked(bucketPolicy("x", doc(TLS_DENY)))];
            assert.deepEqual(diagnostics(await call(client.analyzeStack, stackRequest(complete))), []);

            const found = diagnostics(await call(client.analyzeStack, stackRequest([bucket("bare")])));
            assert.deepEqual(found.map((d) => d.policy).sort(), ["s3-encryption-configured", "s3-public-access-blocked", "s3-tls-only"]);
            for (const d of found) assert.equal(d.urn, urnOf(T.bucket, "bare"));
        });
    });
});
