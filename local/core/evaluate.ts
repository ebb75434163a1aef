/**
 * Evaluates the stack program (`index.ts`) under Pulumi's mocks and returns every resource it declared,
 * with its parent and its resolved inputs. This is the only way the tests and the offline runtime learn
 * what the stack is: there is no second, hand-written copy of it.
 *
 * The mocks answer as the AWS provider would for the attributes the program reads back (`arn`, `name`,
 * `bucket`, `id`), with the physical name equal to the logical name where AWS would autoname.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { parse as parseYaml } from "yaml";

export interface DeclaredResource {
    urn: string;
    type: string;
    name: string;
    /** The URN of the parent component, when there is one. */
    parentUrn?: string;
    custom: boolean;
    /** Inputs as the program declared them, resolved; assets and archives are real Pulumi asset objects. */
    inputs: Record<string, unknown>;
    /** Inputs plus what the mock answered (`arn`, `name`, ...): what other resources saw. */
    state: Record<string, unknown>;
}

export interface EvaluatedStack {
    project: string;
    stack: string;
    region: string;
    accountId: string;
    resources: DeclaredResource[];
    outputs: Record<string, unknown>;
}

export interface EvaluateOptions {
    /** Config over the stack's `Pulumi.<stack>.yaml`, keys as there (`choreography:busName`, `aws:region`). */
    config?: Record<string, string>;
    stack?: string;
    /** The program to evaluate; the project's index.ts by default. */
    program?: string;
}

export const PROJECT_ROOT = path.resolve(__dirname, "../..");
const PROJECT = "choreography";
export const MOCK_ACCOUNT_ID = "000000000000";

/** What registerResource receives from the SDK (a protobuf message; only these getters are used). */
interface RegisterRequest {
    getParent(): string;
    getType(): string;
    getName(): string;
}

/** A MockMonitor that also remembers each resource's parent, which the Mocks interface does not pass on. */
class RecordingMonitor extends MockMonitor {
    public readonly parents = new Map<string, string | undefined>();
    async registerResource(req: RegisterRequest, callback: (err: unknown, response: unknown) => void): Promise<void> {
        this.parents.set(urnOf(req.getParent(), req.getType(), req.getName()), req.getParent() || undefined);
        return super.registerResource(req, callback);
    }
}

/** The URN Pulumi gives a resource: its type qualified by its parent's type chain. */
function urnOf(parentUrn: string, type: string, name: string): string {
    const stack = pulumi.runtime.getStack();
    const qualified = parentUrn ? `${parentUrn.split("::")[2]}$${type}` : type;
    return `urn:pulumi:${stack}::${pulumi.runtime.getProject()}::${qualified}::${name}`;
}

/** The attributes AWS would compute for a resource, in the mock's physical naming. */
function awsAttributes(type: string, name: string, inputs: Record<string, unknown>, region: string): Record<string, unknown> {
    const account = MOCK_ACCOUNT_ID;
    const physical = typeof inputs.name === "string" ? inputs.name : name;
    switch (type) {
        case "aws:lambda/function:Function":
            return { name: physical, arn: `arn:aws:lambda:${region}:${account}:function:${physical}` };
        case "aws:sfn/stateMachine:StateMachine":
            return { name: physical, arn: `arn:aws:states:${region}:${account}:stateMachine:${physical}` };
        case "aws:s3/bucket:Bucket": {
            const bucket = typeof inputs.bucket === "string" ? inputs.bucket : name.toLowerCase();
            return { bucket, arn: `arn:aws:s3:::${bucket}` };
        }
        case "aws:cloudwatch/eventBus:EventBus":
            return { name: physical, arn: `arn:aws:events:${region}:${account}:event-bus/${physical}` };
        case "aws:cloudwatch/eventRule:EventRule": {
            const bus = inputs.eventBusName && inputs.eventBusName !== "default" ? `${String(inputs.eventBusName)}/` : "";
            return { name: physical, arn: `arn:aws:events:${region}:${account}:rule/${bus}${physical}` };
        }
        case "aws:iam/role:Role":
            return { name: physical, arn: `arn:aws:iam::${account}:role/${physical}` };
        case "aws:cloudwatch/logGroup:LogGroup":
            return { name: physical, arn: `arn:aws:logs:${region}:${account}:log-group:${physical}` };
        case "aws:dynamodb/table:Table":
            return { name: physical, arn: `arn:aws:dynamodb:${region}:${account}:table/${physical}` };
        default:
            return { name: physical, arn: `arn:aws:mock:${region}:${account}:${type}/${physical}` };
    }
}

function mockCall(token: string, region: string): Record<string, unknown> {
    switch (token) {
        case "aws:index/getRegion:getRegion":
            return { name: region, region, id: region, endpoint: `${region}.amazonaws.com` };
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId: MOCK_ACCOUNT_ID, arn: `arn:aws:iam::${MOCK_ACCOUNT_ID}:root`, userId: MOCK_ACCOUNT_ID, id: MOCK_ACCOUNT_ID };
        case "aws:index/getPartition:getPartition":
            return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
        default:
            throw new Error(`no mock for the call ${token}`);
    }
}

/** Drops the program's own modules from the require cache so a new evaluation sees new config. */
function forgetProgramModules(): void {
    for (const file of Object.keys(require.cache)) {
        if (file.startsWith(PROJECT_ROOT) && !file.includes(`${path.sep}node_modules${path.sep}`) && !file.includes(`${path.sep}local${path.sep}`)) {
            delete require.cache[file];
        }
    }
}

/** Resolves when every exported output has a value (outputs the mock does not answer would never resolve). */
function settle(exports: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve) => pulumi.output(exports).apply((values) => resolve(values as Record<string, unknown>)));
}

/** The stack's settings as `pulumi config` holds them in `Pulumi.<stack>.yaml` (values as strings). */
export function readStackConfig(stack: string): Record<string, string> {
    const file = path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) return {};
    const parsed = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed.config ?? {})) {
        config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return config;
}

export async function evaluateStack(options: EvaluateOptions = {}): Promise<EvaluatedStack> {
    const stack = options.stack ?? "dev";
    const config = { "aws:region": "us-east-1", ...readStackConfig(stack), ...options.config };
    const region = config["aws:region"];
    const declared = new Map<string, Omit<DeclaredResource, "urn" | "parentUrn">>();
    const monitor = new RecordingMonitor({
        newResource: (args) => {
            const inputs = args.inputs as Record<string, unknown>;
            const state = { ...inputs, ...awsAttributes(args.type, args.name, inputs, region) };
            declared.set(`${args.type}::${args.name}`, { type: args.type, name: args.name, custom: args.custom ?? false, inputs, state });
            // AWS ids are the physical name for the resources the stack references by id (roles, buckets, buses).
            const id = String(state.bucket ?? state.name ?? `${args.name}-id`);
            return { id, state };
        },
        call: (args) => mockCall(args.token, region),
    });
    pulumi.runtime.setAllConfig(config);
    pulumi.runtime.setMockOptions(monitor, PROJECT, stack, false);
    forgetProgramModules();
    const program = options.program ?? path.join(PROJECT_ROOT, "index.ts");
    const outputs = await settle({ ...(require(program) as Record<string, unknown>) });
    // Every registration the program started has been answered once the runtime has no RPC in flight.
    await pulumi.runtime.disconnect();

    const resources: DeclaredResource[] = [];
    for (const [urn, parentUrn] of monitor.parents) {
        const parts = urn.split("::");
        const record = declared.get(`${parts[2].split("$").pop()}::${parts[3]}`);
        if (record) resources.push({ ...record, urn, parentUrn });
    }
    return { project: PROJECT, stack, region, accountId: MOCK_ACCOUNT_ID, resources, outputs };
}
