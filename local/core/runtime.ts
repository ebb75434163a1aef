/**
 * The offline runtime: evaluates a Pulumi program under Pulumi's mocks and runs every resource it declared on this
 * machine, behind one AWS-compatible endpoint. It names no service: each is a folder under `local/services/`,
 * listed in the registry (`local/services/index.ts`), and declares its routes, resource types, target kinds and
 * lifecycle (`local/core/registry.ts`). This file only loops over them.
 */
import * as fs from "fs";
import * as path from "path";
import { ATTRIBUTES_ONLY, SERVICES, ServiceInstances, registeredResourceTypes } from "../services";
import { AwsError } from "./awsError";
import { KeyRing, LOCAL_CREDENTIALS } from "./credentials";
import { DeclaredResource, EvaluatedStack, evaluateStack } from "./evaluate";
import { Endpoint, startEndpoint } from "./endpoint";
import { grantCache, rolePoliciesOf } from "./iam";
import { redactText } from "../../protocol/redact";
import type { Authorizer, Declared, ResourceTypeSpec, ServedResource, ServiceContext, ServiceInstance, TargetDelivery } from "./registry";
import { createScratchFolder } from "./scratch";
import { internalRoutes } from "./inspect";

export { LOCAL_CREDENTIALS };

export interface RuntimeOptions {
    host?: string;
    /** 4566 by default; 0 picks a free port (tests). */
    port?: number;
    /** Keep objects, tables and finished executions here across restarts; in memory when absent. */
    dataDir?: string;
    /** Stack config over Pulumi.<stack>.yaml, keys qualified (`choreography:busName`), as `pulumi config set` writes them. */
    config?: Record<string, string>;
    stack?: string;
    /** The program's folder (its Pulumi.yaml, Pulumi.<stack>.yaml and node_modules), or an entry file; this repository by default. */
    program?: string;
    /** Declared resources of types no service serves are an error, not a warning. */
    strict?: boolean;
    /** An evaluation already made (tests share one); evaluated afresh when absent. */
    evaluated?: EvaluatedStack;
    /** One line per event worth telling (resources served, delivery failures, handler logs when verbose). */
    log?: (line: string) => void;
    /** Print every handler log line through `log`. */
    verbose?: boolean;
    /** Waits between a failed asynchronous invocation's attempts (AWS: about 1 and 2 minutes). */
    retryDelaysMs?: number[];
    /** Lambda Workers per function at most (see LambdaServiceOptions). */
    maxWorkersPerFunction?: number;
    /** How long an invocation queues before its function gets another Worker (see LambdaServiceOptions). */
    scaleOutAfterMs?: number;
    /** Finished STANDARD executions kept in memory (StepFunctionsServiceOptions.maxRetainedExecutions). */
    maxExecutions?: number;
    /** Finished EXPRESS executions kept, in memory and on disk (StepFunctionsServiceOptions.maxRetainedExpressExecutions, default 100). */
    maxExpressExecutions?: number;
    /** CloudWatch Logs events kept per log group, oldest dropped first (default 50,000). */
    maxLogEventsPerGroup?: number;
    /** Fixture files services answer from, by service (`ec2`: `--ec2-fixtures FILE`, see local/services/ec2/ec2.ts). */
    fixtures?: Record<string, string>;
}

export interface Runtime {
    url: string;
    stack: EvaluatedStack;
    /** Each registered service's instance, by name (`services.states.service` is the Step Functions service). */
    services: ServiceInstances;
    /** Every resource served, with its type, URN, ARN and service (also `GET /_choreography/resources`). */
    resources: ServedResource[];
    /** Declared resources whose type no service serves, named at start. */
    unserved: DeclaredResource[];
    /** One line per resource served, as `npm start` prints them. */
    served: string[];
    /** Resolves when no event, invocation or retry is in flight. */
    idle(): Promise<void>;
    close(): Promise<void>;
}

type ServiceName = keyof typeof SERVICES;

const str = (value: unknown): string => (typeof value === "string" ? value : String(value ?? ""));

/** The resources of the evaluated stack, indexed by URN and type. */
export class DeclaredIndex implements Declared {
    private readonly byType = new Map<string, DeclaredResource[]>();
    private readonly urns = new Map<string, DeclaredResource>();
    constructor(public readonly stack: EvaluatedStack) {
        for (const resource of stack.resources) {
            this.urns.set(resource.urn, resource);
            const list = this.byType.get(resource.type) ?? [];
            list.push(resource);
            this.byType.set(resource.type, list);
        }
    }
    all(): readonly DeclaredResource[] {
        return this.stack.resources;
    }
    byUrn(urn: string): DeclaredResource | undefined {
        return this.urns.get(urn);
    }
    of(type: string): readonly DeclaredResource[] {
        return this.byType.get(type) ?? [];
    }
    find(type: string, reference: unknown): DeclaredResource | undefined {
        const ref = str(reference);
        return this.of(type).find((r) => r.state.arn === ref || r.state.name === ref || r.state.id === ref || r.urn === ref);
    }
}

export async function startRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
    const instances: Partial<Record<ServiceName, ServiceInstance>> = {};
    let redaction: Parameters<typeof redactText>[1];
    // Whatever the runtime prints (handler log lines, delivery failures) has presigned queries and tokens redacted.
    const print = options.log;
    const log = print ? (line: string) => print(redactText(line, redaction)) : () => undefined;
    const stack = options.evaluated ?? (await evaluateStack({ program: options.program, config: options.config, stack: options.stack }));
    const declared = new DeclaredIndex(stack);
    const types = registeredResourceTypes();
    // Types in ATTRIBUTES_ONLY get attributes (others name them) but no service serves them: listed as not served too.
    const unserved = stack.resources.filter((r) => r.custom && (!types.has(r.type) || r.type in ATTRIBUTES_ONLY) && !r.type.startsWith("pulumi:"));
    if (unserved.length && options.strict) {
        throw new Error(`--strict: no service serves ${unserved.map((r) => `${r.type} (${r.urn})`).join(", ")}`);
    }
    for (const r of unserved) log(`not served   ${r.type} ${r.urn}`);

    const dataDir = options.dataDir ? path.resolve(options.dataDir) : undefined;
    // What is kept there (objects, executions) may hold what handlers wrote: a folder made here is the owner's only.
    // An existing one keeps its mode (it may be the user's own, /tmp or a home); the sub-folders the services make
    // in it are 0700.
    if (dataDir && !fs.existsSync(dataDir)) fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Everything that need not outlive this process, under one folder; dead runtimes' folders are removed first.
    const scratch = createScratchFolder();
    for (const leftover of scratch.removedLeftovers) log(`removed the scratch folder of a runtime that did not stop: ${leftover}`);

    const { policies, unknownPolicies } = rolePoliciesOf(declared);
    for (const { roleArn, policyArn } of unknownPolicies) log(`not served   policy ${policyArn} attached to ${roleArn}: no document for it here, so it grants nothing locally`);
    const credentials = new KeyRing();
    // Roles, policies and permissions are fixed once the stack is served, so a grant found once holds: every event
    // delivered would otherwise evaluate them afresh.
    const authorize = grantCache((roleArn: string | undefined, action: string, resource: string) =>
        policies.require(roleArn, action, resource, (m) => new AwsError("AccessDeniedException", m)),
    );
    const iam: Authorizer = {
        allows: (roleArn, action, resource) => policies.allows(roleArn, action, resource),
        authorize,
        authorizeCaller: (accessKeyId, action, resource) => {
            const role = credentials.roleOf(accessKeyId);
            if (role) authorize(role, action, resource);
        },
    };

    const resources: ServedResource[] = [];
    const served: string[] = [];
    let endpoint: Endpoint | undefined;
    const contextFor = (name: ServiceName): ServiceContext => ({
        region: stack.region,
        accountId: stack.accountId,
        declared,
        endpointUrl: () => {
            if (!endpoint) throw new Error("the endpoint is not listening yet");
            return endpoint.url;
        },
        dataDir: () => (dataDir ? path.join(dataDir, SERVICES[name].dataFolder ?? name) : undefined),
        scratchDir: () => scratch.sub(name),
        programRoot: stack.root,
        credentials,
        iam,
        service: (other) => {
            const instance = instances[other];
            if (!instance) throw new Error(`service ${other} is not created yet (${name} asked for it)`);
            return instance as ServiceInstances[typeof other];
        },
        deliver: (delivery) => deliver(delivery),
        integration: (resource) => integrationFor(resource),
        serve: (resource) => {
            resources.push(resource);
            const line = `${resource.service.padEnd(11)} ${resource.description}`;
            served.push(line);
            log(line);
        },
        log,
        options,
    });

    // Step Functions integrations, from every service, first match in registry order (Task resources are resolved
    // when machines are created, from `provision` on, once every service exists).
    const integrationFor = (resource: string) =>
        Object.values(instances)
            .flatMap((instance) => instance?.integrations ?? [])
            .find((integration) => integration.matches(resource));
    const targetKinds = () => Object.values(instances).flatMap((instance) => instance?.targets ?? []);
    const deliver = async (delivery: TargetDelivery) => {
        const kind = targetKinds().find((k) => k.matches(delivery.targetArn));
        if (!kind) throw new Error(`targets of this kind are not run locally: ${delivery.targetArn}`);
        await kind.deliver(delivery);
    };

    try {
        for (const [name, definition] of Object.entries(SERVICES) as Array<[ServiceName, (typeof SERVICES)[ServiceName]]>) {
            instances[name] = await definition.create(contextFor(name));
        }
        const states = instances.states as ServiceInstances["states"];
        redaction = states.service.redaction;
        endpoint = await startEndpoint(
            {
                services: (Object.entries(SERVICES) as Array<[ServiceName, (typeof SERVICES)[ServiceName]]>).map(([name, definition]) => ({
                    name,
                    signingName: definition.signingName,
                    ...instances[name]?.routes,
                })),
                defaultService: "s3",
                internal: internalRoutes(() => ({ stack, resources, unserved, services: Object.keys(SERVICES) })),
                secretOf: (accessKeyId) => credentials.secretOf(accessKeyId),
                log,
            },
            options.host ?? "127.0.0.1",
            options.port ?? 4566,
        );
        for (const instance of Object.values(instances)) await instance?.provision?.();
    } catch (error) {
        await closeAll(instances, endpoint).catch(() => undefined);
        await scratch.remove();
        throw error;
    }

    const all = () => Object.values(instances).filter((i): i is ServiceInstance => i !== undefined);
    return {
        url: endpoint.url,
        stack,
        services: instances as ServiceInstances,
        resources,
        unserved,
        served,
        idle: async () => {
            // Deliveries start invocations and invocations put events: settle until one pass finds all quiet.
            do {
                for (const instance of all()) await instance.idle?.();
                await new Promise((resolve) => setImmediate(resolve));
            } while (all().some((instance) => (instance.pending?.() ?? 0) > 0));
        },
        close: async () => {
            await closeAll(instances, endpoint);
            await scratch.remove();
        },
    };
}

/** Stops the endpoint, then every service, last registered first (Lambda before the Step Functions it calls back). */
async function closeAll(instances: Partial<Record<ServiceName, ServiceInstance>>, endpoint: Endpoint | undefined): Promise<void> {
    await endpoint?.close();
    for (const instance of Object.values(instances).reverse()) await instance?.close?.();
}
