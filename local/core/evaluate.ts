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
import type * as pulumi from "@pulumi/pulumi";
import type { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { createHash } from "crypto";
import { parse as parseYaml } from "yaml";
import type { MockContext, ResourceTypeSpec } from "./registry";
import { registeredResourceTypes } from "../services";
import { mockInvoke } from "./invokes";

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
    /** The program's folder: paths in its assets resolve here, and its `node_modules` serve its handlers. */
    root: string;
    /** The names of the outputs the program exported as secrets (shown as `[secret]`, as the Pulumi CLI does). */
    secretOutputs: string[];
}

export interface EvaluateOptions {
    /** Config over the stack's `Pulumi.<stack>.yaml`, keys as there (`choreography:busName`, `aws:region`). */
    config?: Record<string, string>;
    stack?: string;
    /**
     * The program: a folder holding `Pulumi.yaml` (its `main`, else `index.ts`, is the entry), or one entry file
     * (evaluated as a program of this repository's project). This repository by default.
     */
    program?: string;
    /** The attributes the mocks answer per resource type (the registry's by default); a generic `{ name, arn }` for others. */
    resourceTypes?: ReadonlyMap<string, ResourceTypeSpec>;
    /** Answers the program's data-source calls (`getPolicyDocument`, `getRegion`...); `mockInvoke` by default. */
    invoke?: (token: string, args: Record<string, unknown>, context: { region: string; accountId: string }) => Record<string, unknown>;
}

export const PROJECT_ROOT = path.resolve(__dirname, "../..");
export const MOCK_ACCOUNT_ID = "000000000000";

/** A program to evaluate: its folder (where `Pulumi.yaml`, stack files and `node_modules` are) and entry file. */
export interface ProgramLocation {
    root: string;
    entry: string;
    project: string;
}

/** A program's folder and its `Pulumi.yaml` as read: the project's name, `main` and runtime, checked. */
export function readProject(program: string = PROJECT_ROOT): { root: string; file?: string; name: string; main?: string } {
    const given = path.resolve(program);
    if (!fs.existsSync(given)) throw new Error(`--program ${program}: no such file or folder`);
    const root = fs.statSync(given).isFile() ? PROJECT_ROOT : given;
    const projectFile = ["Pulumi.yaml", "Pulumi.yml"].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
    if (!projectFile) throw new Error(`${root} holds no Pulumi.yaml: pass --program the folder of a Pulumi project`);
    const project = (parseYaml(fs.readFileSync(projectFile, "utf8")) ?? {}) as { name?: unknown; main?: unknown; runtime?: unknown };
    if (typeof project.name !== "string" || project.name === "") throw new Error(`${projectFile} names no project (name:)`);
    const runtime = typeof project.runtime === "string" ? project.runtime : (project.runtime as { name?: string } | undefined)?.name;
    if (runtime !== undefined && runtime !== "nodejs") throw new Error(`${projectFile}: runtime ${runtime} is not served; the offline runtime evaluates nodejs (TypeScript) programs`);
    return { root, file: projectFile, name: project.name, main: typeof project.main === "string" ? project.main : undefined };
}

/** Finds the program's project name and entry from its `Pulumi.yaml`, as the Pulumi CLI does. */
export function locateProgram(program: string = PROJECT_ROOT): ProgramLocation {
    const project = readProject(program);
    const given = path.resolve(program);
    if (fs.statSync(given).isFile()) return { root: project.root, entry: given, project: project.name };
    const main = project.main === undefined ? project.root : path.resolve(project.root, project.main);
    const entry = ["", ".ts", "/index.ts", "/index.js"].map((suffix) => main + suffix).find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    if (!entry) throw new Error(`${project.root}: no entry found (Pulumi.yaml main, index.ts or index.js)`);
    return { root: project.root, entry, project: project.name };
}

/** What registerResource receives from the SDK (a protobuf message; only these getters are used). */
interface RegisterRequest {
    getParent(): string;
    getType(): string;
    getName(): string;
}

type PulumiModule = typeof pulumi;
type MockMonitorClass = typeof MockMonitor;

/**
 * A MockMonitor that also remembers each resource's URN and parent, which the Mocks interface does not pass on:
 * `newResource` is called synchronously inside `registerResource`, so the URN set here is the one it is for.
 */
function recordingMonitor(Base: MockMonitorClass, pulumiModule: PulumiModule) {
    return class RecordingMonitor extends Base {
        public readonly parents = new Map<string, string | undefined>();
        public currentUrn = "";
        public readonly duplicates: string[] = [];
        async registerResource(req: RegisterRequest, callback: (err: unknown, response: unknown) => void): Promise<void> {
            this.currentUrn = urnOf(pulumiModule, req.getParent(), req.getType(), req.getName());
            if (this.parents.has(this.currentUrn)) {
                // The engine refuses this at `pulumi preview`; the mocks would silently keep the second.
                this.duplicates.push(this.currentUrn);
            }
            this.parents.set(this.currentUrn, req.getParent() || undefined);
            return super.registerResource(req, callback);
        }
        async readResource(req: RegisterRequest, callback: (err: unknown, response: unknown) => void): Promise<void> {
            this.currentUrn = urnOf(pulumiModule, req.getParent(), req.getType(), req.getName());
            this.parents.set(this.currentUrn, req.getParent() || undefined);
            return super.readResource(req, callback);
        }
    };
}

/** The URN Pulumi gives a resource: its type qualified by its parent's type chain. */
function urnOf(pulumiModule: PulumiModule, parentUrn: string, type: string, name: string): string {
    const qualified = parentUrn ? `${parentUrn.split("::")[2]}$${type}` : type;
    return `urn:pulumi:${pulumiModule.runtime.getStack()}::${pulumiModule.runtime.getProject()}::${qualified}::${name}`;
}

/** A generic ARN for types no service describes: the mock must answer something for `arn`. */
function genericAttributes(context: MockContext): Record<string, unknown> {
    const physical = typeof context.inputs.name === "string" ? context.inputs.name : context.name;
    return { name: physical, arn: `arn:aws:mock:${context.region}:${context.accountId}:${context.type}/${physical}` };
}

/** Drops the program's own modules from the require cache so a new evaluation sees new config. */
function forgetProgramModules(root: string): void {
    const runtimeDir = path.resolve(__dirname, "..");
    for (const file of Object.keys(require.cache)) {
        if (file.startsWith(root) && !file.includes(`${path.sep}node_modules${path.sep}`) && !file.startsWith(runtimeDir + path.sep)) {
            delete require.cache[file];
        }
    }
}

/** Resolves when every exported output has a value (outputs the mock does not answer would never resolve). */
function settle(pulumiModule: PulumiModule, exports: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve) => pulumiModule.output(exports).apply((values) => resolve(values as Record<string, unknown>)));
}

/** The stack's settings as `pulumi config` holds them in `Pulumi.<stack>.yaml` (values as strings). */
export function readStackConfig(stack: string, root: string = PROJECT_ROOT): Record<string, string> {
    const file = path.join(root, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) return {};
    const parsed = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed.config ?? {})) {
        // `secure:` values are ciphertext only the Pulumi CLI can decrypt; a program reading one gets this marker.
        const plain = value !== null && typeof value === "object" && "secure" in value ? "[secure value: set it with --config]" : value;
        config[key] = typeof plain === "string" ? plain : JSON.stringify(plain);
    }
    return config;
}

/** The project's default config from `Pulumi.yaml` (`config: key: value` or `key: { default: value }`). */
function readProjectDefaults(location: ProgramLocation): Record<string, string> {
    const file = path.join(location.root, "Pulumi.yaml");
    if (!fs.existsSync(file)) return {};
    const parsed = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [key, raw] of Object.entries(parsed.config ?? {})) {
        const value = raw !== null && typeof raw === "object" && "default" in raw ? (raw as { default: unknown }).default : raw;
        if (value === null || (typeof value === "object" && !Array.isArray(value) && !("default" in (raw as object)) && "type" in (raw as object))) continue;
        const qualified = key.includes(":") ? key : `${location.project}:${key}`;
        config[qualified] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return config;
}

export async function evaluateStack(options: EvaluateOptions = {}): Promise<EvaluatedStack> {
    const stack = options.stack ?? "dev";
    const location = locateProgram(options.program);
    const config = { "aws:region": "us-east-1", ...readProjectDefaults(location), ...readStackConfig(stack, location.root), ...options.config };
    const region = config["aws:region"];
    const accountId = MOCK_ACCOUNT_ID;
    const resourceTypes = options.resourceTypes ?? registeredResourceTypes();
    const invoke = options.invoke ?? mockInvoke;
    // The program's own copy of the SDK is the one its resources register with: the mocks go there.
    const pulumiModule = require(require.resolve("@pulumi/pulumi", { paths: [location.root] })) as PulumiModule;
    const mocksModule = require(require.resolve("@pulumi/pulumi/runtime/mocks", { paths: [location.root] })) as { MockMonitor: MockMonitorClass };
    const declared = new Map<string, Omit<DeclaredResource, "urn" | "parentUrn">>();
    /** Physical names taken per type: where AWS would autoname, a second resource of one name gets a suffix. */
    const taken = new Map<string, Set<string>>();
    const Monitor = recordingMonitor(mocksModule.MockMonitor, pulumiModule);
    const monitor: InstanceType<typeof Monitor> = new Monitor({
        newResource: (args) => {
            const urn = monitor.currentUrn;
            const inputs = args.inputs as Record<string, unknown>;
            const spec = resourceTypes.get(args.type);
            const context: MockContext = { name: uniqueName(taken, args.type, args.name, urn, inputs), type: args.type, urn, inputs, region, accountId };
            const state = { ...inputs, ...(spec?.attributes ?? genericAttributes)(context) };
            declared.set(urn, { type: args.type, name: args.name, custom: args.custom ?? false, inputs, state });
            // AWS ids are the physical name for the resources the stack references by id (roles, buckets, buses).
            const id = spec?.id ? spec.id(state) : String(state.bucket ?? state.name ?? `${args.name}-id`);
            return { id, state };
        },
        call: (args) => {
            return invoke(args.token, args.inputs as Record<string, unknown>, { region, accountId });
        },
    });
    pulumiModule.runtime.setAllConfig(config);
    pulumiModule.runtime.setMockOptions(monitor, location.project, stack, false);
    forgetProgramModules(location.root);
    let outputs: Record<string, unknown>;
    const secretOutputs: string[] = [];
    // Pulumi runs a program in its own folder: `CallbackFunction` finds the program's package.json from there.
    const cwd = process.cwd();
    process.chdir(location.root);
    // A program's error in an `apply` or a resource's input rejects a promise nobody awaits; the Pulumi CLI's
    // language host fails the program on it, so evaluation does too, rather than wait for a registration forever.
    let failProgram!: (error: unknown) => void;
    const programFailed = new Promise<never>((_resolve, reject) => (failProgram = reject));
    programFailed.catch(() => undefined);
    const onUnhandled = (reason: unknown) => failProgram(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
        const evaluation = (async () => {
            const exported = { ...(require(location.entry) as Record<string, unknown>) };
            for (const [name, value] of Object.entries(exported)) {
                if (pulumiModule.Output.isInstance(value) && (await pulumiModule.isSecret(value))) secretOutputs.push(name);
            }
            const settled = await settle(pulumiModule, exported);
            // Every registration the program started has been answered once the runtime has no RPC in flight.
            await pulumiModule.runtime.disconnect();
            return settled;
        })();
        outputs = await Promise.race([evaluation, programFailed]);
    } catch (error) {
        throw new Error(`evaluating ${location.entry}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
        process.off("unhandledRejection", onUnhandled);
        process.chdir(cwd);
    }

    if (monitor.duplicates.length) {
        throw new Error(`Duplicate resource URN '${monitor.duplicates[0]}'; try giving it a unique name (child names derived from the component's name keep them apart)`);
    }
    const resources: DeclaredResource[] = [];
    for (const [urn, parentUrn] of monitor.parents) {
        const record = declared.get(urn);
        if (record) resources.push({ ...record, urn, parentUrn });
    }
    return { project: location.project, stack, region, accountId, resources, outputs, root: location.root, secretOutputs };
}

/**
 * The physical name the mock gives: the logical name (or the declared `name`), as before; a second resource of
 * the same type and logical name elsewhere in the tree (two components' `notify` roles) gets a suffix from its URN,
 * as Pulumi's autonaming would give it a random one, so each keeps its own ARN.
 */
function uniqueName(taken: Map<string, Set<string>>, type: string, name: string, urn: string, inputs: Record<string, unknown>): string {
    if (typeof inputs.name === "string" || typeof inputs.bucket === "string") return name;
    let names = taken.get(type);
    if (!names) taken.set(type, (names = new Set()));
    let physical = name;
    if (names.has(physical)) physical = `${name}-${createHash("sha256").update(urn).digest("hex").slice(0, 7)}`;
    names.add(physical);
    return physical;
}
