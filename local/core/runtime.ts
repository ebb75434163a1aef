/**
 * The offline runtime: evaluates `index.ts` under Pulumi's mocks and runs every resource it declared on this
 * machine, behind one AWS-compatible endpoint. Buckets and tables go to the S3 and DynamoDB emulators, rules
 * and targets to EventBridge, state machines to Step Functions, functions (their packaged archives, never
 * the TypeScript) to Lambda workers, and the roles' inline policies decide what a target may be handed.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as stepFunctionsSdk from "@aws-sdk/client-sfn";
import * as pulumi from "@pulumi/pulumi";
import { LAMBDA_FAILURE } from "../../components/taskFinisher";
import { archiveContents } from "../services/lambda/archive";
import { AwsError } from "./awsError";
import { DeclaredTable, DynamoDbEmulator, createDynamoDbEmulator } from "../services/dynamodb/dynamodb";
import { Endpoint, startEndpoint } from "./endpoint";
import { DeclaredResource, EvaluatedStack, PROJECT_ROOT, evaluateStack } from "./evaluate";
import { EventBridgeService, RuleSpec, TargetSpec } from "../services/events/eventBridge";
import { RolePolicies } from "./iam";
import { redactText } from "./redact";
import { requestShapes } from "./requestShapes";
import { AsyncInvocationRecord, FunctionSpec, LambdaService } from "../services/lambda/lambda";
import { S3Emulator, createS3Emulator } from "../services/s3/s3";
import { createScratchFolder } from "./scratch";
import { StepFunctionsService } from "../services/stepfunctions/stepFunctions";

/** The credentials you, the CLI and the tests sign with (unchecked by IAM); each function gets keys of its own. */
export const LOCAL_CREDENTIALS = { accessKeyId: "choreographylocal", secretAccessKey: "choreography-local-secret" } as const;

export interface RuntimeOptions {
    host?: string;
    /** 4566 by default; 0 picks a free port (tests). */
    port?: number;
    /** Keep objects, tables and finished executions here across restarts; in memory when absent. */
    dataDir?: string;
    /** Stack config over Pulumi.<stack>.yaml. */
    config?: Record<string, string>;
    stack?: string;
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
}

export interface Runtime {
    url: string;
    stack: EvaluatedStack;
    eventBridge: EventBridgeService;
    stepFunctions: StepFunctionsService;
    lambda: LambdaService;
    s3: S3Emulator;
    dynamodb: DynamoDbEmulator;
    /** One line per resource served, as `npm start` prints them. */
    served: string[];
    /** Each function as served, by name: tests swap a handler's archive with `lambda.addFunction({...spec, files})`. */
    functions: Map<string, FunctionSpec>;
    /** Resolves when no event, invocation or retry is in flight. */
    idle(): Promise<void>;
    close(): Promise<void>;
}

type Inputs = Record<string, unknown>;
const str = (value: unknown): string => (typeof value === "string" ? value : String(value ?? ""));

/** The resources of the evaluated stack, indexed the ways the runtime looks them up. */
class Declared {
    constructor(public readonly stack: EvaluatedStack) {}
    of(type: string): DeclaredResource[] {
        return this.stack.resources.filter((r) => r.type === type);
    }
    /** Finds the resource of `type` a reference (name, id or ARN, as another resource's input holds it) points at. */
    find(type: string, reference: unknown): DeclaredResource | undefined {
        const ref = str(reference);
        return this.of(type).find((r) => r.state.arn === ref || r.state.name === ref || r.name === ref || `${r.state.name}-id` === ref);
    }
}

export async function startRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
    // Filled in below; the endpoint needs the services and the services need the endpoint's URL.
    let eventBridge!: EventBridgeService;
    let stepFunctions!: StepFunctionsService;
    // Whatever the runtime prints (handler log lines, delivery failures) has presigned queries and tokens redacted.
    const print = options.log;
    // Tokens are recognised in free text too, once Step Functions (which issues them) exists.
    const log = print ? (line: string) => print(redactText(line, stepFunctions?.redaction)) : () => undefined;
    const stack = options.evaluated ?? (await evaluateStack({ config: options.config, stack: options.stack }));
    const declared = new Declared(stack);
    const dataDir = options.dataDir ? path.resolve(options.dataDir) : undefined;
    // What is kept there (objects, executions) may hold what handlers wrote: a folder made here is the owner's only.
    // An existing one keeps its mode (it may be the user's own, /tmp or a home); the sub-folders the services make
    // in it are 0700.
    if (dataDir && !fs.existsSync(dataDir)) fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const sub = (name: string) => (dataDir ? path.join(dataDir, name) : undefined);
    // Everything that need not outlive this process, under one folder; dead runtimes' folders are removed first.
    const scratch = createScratchFolder();
    for (const leftover of scratch.removedLeftovers) log(`removed the scratch folder of a runtime that did not stop: ${leftover}`);
    const policies = new RolePolicies();
    for (const policy of declared.of("aws:iam/rolePolicy:RolePolicy")) {
        const role = declared.find("aws:iam/role:Role", policy.inputs.role);
        if (role) policies.add(str(role.state.arn), str(policy.inputs.policy));
    }
    // Roles, policies and permissions are fixed once the stack is served, so a grant found once holds: every event
    // delivered would otherwise evaluate them afresh (regular expressions and scans of the declared resources).
    const authorize = grantCache((roleArn: string | undefined, action: string, resource: string) =>
        policies.require(roleArn, action, resource, (m) => new AwsError("AccessDeniedException", m)),
    );
    const mayInvoke = grantCache((functionArn: string, ruleArn: string) => requireInvokePermission(declared, functionArn, ruleArn));

    // Each function signs with its own key, so its AWS calls are checked against its own role, as in AWS.
    const functionKeys = new Map<string, { accessKeyId: string; secretAccessKey: string; roleArn: string }>();
    for (const fn of declared.of("aws:lambda/function:Function")) {
        const name = str(fn.state.name);
        functionKeys.set(name, {
            accessKeyId: `LOCAL${name.toUpperCase().replace(/[^A-Z0-9]/g, "")}${randomBytes(4).toString("hex").toUpperCase()}`,
            secretAccessKey: randomBytes(20).toString("hex"),
            roleArn: str(fn.inputs.role),
        });
    }
    const roleOfKey = new Map([...functionKeys.values()].map((k) => [k.accessKeyId, k.roleArn]));
    /** The keys whose signatures are verified: the runtime's own and each function's. */
    const secrets = new Map<string, string>([
        [LOCAL_CREDENTIALS.accessKeyId, LOCAL_CREDENTIALS.secretAccessKey],
        ...[...functionKeys.values()].map((k): [string, string] => [k.accessKeyId, k.secretAccessKey]),
    ]);
    /** The role behind a function's key; undefined for the user's own key, which is not checked. */
    const callerRole = (accessKeyId: string | undefined) => (accessKeyId ? roleOfKey.get(accessKeyId) : undefined);
    const requireCaller = (accessKeyId: string | undefined, action: string, resource: string) => {
        const role = callerRole(accessKeyId);
        if (role) authorize(role, action, resource);
    };

    const s3 = await createS3Emulator({
        dataDir: sub("s3"),
        scratchDir: scratch.sub("s3"),
        region: stack.region,
        ...LOCAL_CREDENTIALS,
        roleKeys: Object.fromEntries([...functionKeys.values()].map((k) => [k.accessKeyId, k.secretAccessKey])),
        authorize: (accessKeyId, action, resource) => policies.allows(roleOfKey.get(accessKeyId), action, resource),
    });
    const dynamodb = await createDynamoDbEmulator({ dataDir: sub("dynamodb"), scratchDir: scratch.sub("dynamodb") });
    const endpoint: Endpoint = await startEndpoint(
        {
            json: [
                {
                    targetPrefix: "AWSEvents",
                    contentType: "application/x-amz-json-1.1",
                    // EventBridge checks member types itself (for its direct callers too), so not here as well; the
                    // IAM check below runs first and reads only what it can.
                    authorize: (accessKeyId, operation, request) => {
                        if (operation !== "PutEvents" || !Array.isArray(request.Entries)) return;
                        for (const entry of request.Entries as Array<{ EventBusName?: unknown } | null>) {
                            // An entry whose bus is not a name or ARN is refused by PutEvents itself, for every caller.
                            const bus = entry?.EventBusName;
                            if (bus !== undefined && typeof bus !== "string") continue;
                            requireCaller(accessKeyId, "events:PutEvents", eventBridge.busArn(eventBridge.busName(bus)));
                        }
                    },
                    operations: {
                        PutEvents: (r) => eventBridge.putEvents(r),
                        TestEventPattern: (r) => eventBridge.testEventPattern(r),
                        ListRules: (r) => eventBridge.listRules(r),
                        ListTargetsByRule: (r) => eventBridge.listTargetsByRule(r),
                        ListEventBuses: (r) => eventBridge.listEventBuses(r),
                    },
                },
                {
                    targetPrefix: "AWSStepFunctions",
                    contentType: "application/x-amz-json-1.0",
                    checkShape: requestShapes(stepFunctionsSdk),
                    authorize: (accessKeyId, operation, request) => {
                        if (!callerRole(accessKeyId) || !operation.startsWith("SendTask")) return;
                        // A token that is not waiting has no machine to check against; the call then fails as in AWS.
                        const machineArn = stepFunctions.stateMachineOfToken(str(request.taskToken));
                        if (machineArn) requireCaller(accessKeyId, `states:${operation}`, machineArn);
                    },
                    operations: stepFunctionsOperations(() => stepFunctions),
                },
            ],
            rawByTarget: { DynamoDB_20120810: dynamodb },
            fallback: s3,
            secretOf: (accessKeyId) => secrets.get(accessKeyId),
            log,
        },
        options.host ?? "127.0.0.1",
        options.port ?? 4566,
    );

    // The functions' archives, unpacked as Lambda would: on tmpfs where there is one (many small files, written at
    // every start), and removed on close.
    const lambda = new LambdaService({
        workDir: scratch.sub("lambda"),
        baseEnvironment: {
            AWS_REGION: stack.region,
            AWS_DEFAULT_REGION: stack.region,
            AWS_ENDPOINT_URL: endpoint.url,
            AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        },
        sdkResolveDir: PROJECT_ROOT,
        retryDelaysMs: options.retryDelaysMs,
        maxWorkersPerFunction: options.maxWorkersPerFunction,
        scaleOutAfterMs: options.scaleOutAfterMs,
        log: options.verbose ? (fn, line) => log(`[${fn}] ${line}`) : undefined,
    });

    eventBridge = new EventBridgeService({
        region: stack.region,
        accountId: stack.accountId,
        log,
        dispatcher: {
            deliver: async (target: TargetSpec, rule: RuleSpec, input: string) => {
                if (target.arn.startsWith("arn:aws:states:")) {
                    authorize(target.roleArn, "states:StartExecution", target.arn);
                    await stepFunctions.startExecution({ stateMachineArn: target.arn, input });
                } else if (target.arn.startsWith("arn:aws:lambda:")) {
                    mayInvoke(target.arn, rule.arn);
                    await lambda.invokeAsync(target.arn, JSON.parse(input));
                } else {
                    throw new Error(`targets of this kind are not run locally: ${target.arn}`);
                }
            },
        },
    });

    stepFunctions = new StepFunctionsService({
        region: stack.region,
        accountId: stack.accountId,
        dataDir,
        maxRetainedExecutions: options.maxExecutions,
        // The machine's role must allow each call, as IAM would in AWS.
        authorize,
        integrations: {
            putEvents: async (entries) => eventBridge.putEvents({ Entries: entries }),
            invokeFunction: async (name, payload) => {
                const result = await lambda.invoke(name, payload);
                if (result.functionError) {
                    const error = new Error(result.functionError.errorMessage);
                    error.name = result.functionError.errorType;
                    throw error;
                }
                return result.payload;
            },
            // As AWS, the integration calls DynamoDB once the machine's role is allowed (checked before this call).
            dynamodb: (action, params) => dynamodb.call(action, params),
        },
    });

    const served: string[] = [];
    const serve = (line: string) => {
        served.push(line);
        log(line);
    };
    for (const bucket of declared.of("aws:s3/bucket:Bucket")) {
        const encryption = declared
            .of("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
            .find((config) => str(config.inputs.bucket) === str(bucket.state.bucket));
        await s3.ensureBucket(str(bucket.state.bucket), { serverSideEncryption: encryption?.inputs });
        serve(`s3          bucket ${str(bucket.state.bucket)}`);
    }
    for (const table of declared.of("aws:dynamodb/table:Table")) {
        await dynamodb.ensureTable({ ...(table.inputs as unknown as DeclaredTable), name: str(table.state.name) });
        serve(`dynamodb    table ${str(table.state.name)}`);
    }
    for (const bus of declared.of("aws:cloudwatch/eventBus:EventBus")) {
        eventBridge.addBus(str(bus.state.name));
        serve(`events      bus ${str(bus.state.name)}`);
    }
    for (const machine of declared.of("aws:sfn/stateMachine:StateMachine")) {
        stepFunctions.addStateMachine({
            arn: str(machine.state.arn),
            name: str(machine.state.name),
            type: machine.inputs.type === "EXPRESS" ? "EXPRESS" : "STANDARD",
            definition: str(machine.inputs.definition),
            roleArn: str(machine.inputs.roleArn),
        });
        serve(`states      ${str(machine.inputs.type ?? "STANDARD").padEnd(8)} state machine ${str(machine.state.name)}`);
    }
    const functions = new Map<string, FunctionSpec>();
    for (const fn of declared.of("aws:lambda/function:Function")) {
        const spec = await functionSpec(declared, eventBridge, fn);
        const key = functionKeys.get(spec.name)!;
        spec.environment = { ...spec.environment, AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey };
        await lambda.addFunction(spec);
        functions.set(spec.name, spec);
        serve(`lambda      function ${str(fn.state.name)} (${str(fn.inputs.runtime)}, ${str(fn.inputs.handler)})`);
    }
    for (const rule of declared.of("aws:cloudwatch/eventRule:EventRule")) {
        const busName = eventBridge.busName(str(rule.inputs.eventBusName || "default"));
        eventBridge.addRule({
            name: str(rule.state.name),
            arn: str(rule.state.arn),
            busName,
            eventPattern: str(rule.inputs.eventPattern),
            state: rule.inputs.state === "DISABLED" ? "DISABLED" : "ENABLED",
        });
        serve(`events      rule ${str(rule.state.name)} on ${busName}: ${str(rule.inputs.eventPattern)}`);
    }
    for (const target of declared.of("aws:cloudwatch/eventTarget:EventTarget")) {
        const busName = eventBridge.busName(str(target.inputs.eventBusName || "default"));
        const transformer = target.inputs.inputTransformer as { inputPaths?: Record<string, string>; inputTemplate: string } | undefined;
        eventBridge.addTarget(busName, str(target.inputs.rule), {
            id: str(target.inputs.targetId ?? target.name),
            arn: str(target.inputs.arn),
            roleArn: target.inputs.roleArn === undefined ? undefined : str(target.inputs.roleArn),
            input: target.inputs.input === undefined ? undefined : str(target.inputs.input),
            inputPath: target.inputs.inputPath === undefined ? undefined : str(target.inputs.inputPath),
            inputTransformer: transformer ? { inputPathsMap: transformer.inputPaths, inputTemplate: transformer.inputTemplate } : undefined,
        });
        serve(`events      target ${str(target.inputs.rule)} -> ${str(target.inputs.arn)}`);
    }

    return {
        url: endpoint.url,
        stack,
        eventBridge,
        stepFunctions,
        lambda,
        s3,
        dynamodb,
        served,
        functions,
        idle: async () => {
            // Deliveries start invocations and invocations put events: settle until one pass finds both quiet.
            do {
                await eventBridge.idle();
                await lambda.idle();
                await new Promise((resolve) => setImmediate(resolve));
            } while (eventBridge.pending > 0 || lambda.pending > 0);
        },
        close: async () => {
            await endpoint.close();
            await stepFunctions.close();
            await lambda.close();
            await s3.close();
            await dynamodb.close();
            await scratch.remove();
        },
    };
}

/** Remembers the arguments `check` passed (did not throw for); a refusal is checked, and thrown, every time. */
function grantCache<A extends Array<string | undefined>>(check: (...args: A) => void): (...args: A) => void {
    const granted = new Set<string>();
    return (...args: A) => {
        const id = args.join("\n");
        if (granted.has(id)) return;
        check(...args);
        if (granted.size >= 10_000) granted.clear();
        granted.add(id);
    };
}

/** EventBridge may invoke a function only where a permission says so, for that rule (as in AWS). */
function requireInvokePermission(declared: Declared, functionArn: string, ruleArn: string): void {
    const fn = declared.find("aws:lambda/function:Function", functionArn);
    const granted = declared
        .of("aws:lambda/permission:Permission")
        .some(
            (p) =>
                declared.find("aws:lambda/function:Function", p.inputs.function) === fn &&
                p.inputs.principal === "events.amazonaws.com" &&
                (p.inputs.sourceArn === undefined || p.inputs.sourceArn === ruleArn),
        );
    if (!fn || !granted) throw new AwsError("AccessDeniedException", `no lambda permission lets events.amazonaws.com invoke ${functionArn} for ${ruleArn}`);
}

async function functionSpec(declared: Declared, eventBridge: EventBridgeService, fn: DeclaredResource): Promise<FunctionSpec> {
    const invokeConfig = declared.of("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").find((c) => declared.find("aws:lambda/function:Function", c.inputs.functionName) === fn);
    const destination = (invokeConfig?.inputs.destinationConfig as { onFailure?: { destination?: string } } | undefined)?.onFailure?.destination;
    const environment = ((fn.inputs.environment as { variables?: Inputs } | undefined)?.variables ?? {}) as Inputs;
    return {
        name: str(fn.state.name),
        arn: str(fn.state.arn),
        handler: str(fn.inputs.handler),
        timeoutSeconds: Number(fn.inputs.timeout ?? 3),
        memorySizeMb: Number(fn.inputs.memorySize ?? 128),
        environment: Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, str(v)])),
        files: await archiveContents(fn.inputs.code as pulumi.asset.Archive),
        maximumRetryAttempts: invokeConfig?.inputs.maximumRetryAttempts === undefined ? undefined : Number(invokeConfig.inputs.maximumRetryAttempts),
        onFailure: destination?.startsWith("arn:aws:events:") ? (record) => sendToBus(eventBridge, destination, record) : undefined,
    };
}

/** Lambda's on-failure destination on EventBridge: the record as detail, from source `lambda`. */
async function sendToBus(eventBridge: EventBridgeService, busArn: string, record: AsyncInvocationRecord): Promise<void> {
    const result = eventBridge.putEvents({
        Entries: [{ EventBusName: busArn, Source: LAMBDA_FAILURE.source, DetailType: LAMBDA_FAILURE.detailType, Detail: JSON.stringify(record) }],
    });
    if (result.FailedEntryCount) throw new Error(`destination ${busArn} refused the failure record: ${result.Entries[0].ErrorMessage}`);
}

function stepFunctionsOperations(service: () => StepFunctionsService): Record<string, (r: Record<string, unknown>) => unknown> {
    const ops = [
        "ListStateMachines",
        "StartExecution",
        "DescribeExecution",
        "ListExecutions",
        "GetExecutionHistory",
        "StopExecution",
        "SendTaskSuccess",
        "SendTaskFailure",
        "SendTaskHeartbeat",
    ] as const;
    const methods: Record<string, (r: Record<string, unknown>) => unknown> = {};
    for (const op of ops) {
        const method = (op[0].toLowerCase() + op.slice(1)) as Uncapitalize<typeof op>;
        methods[op] = (request) => (service()[method] as (r: Record<string, unknown>) => unknown).call(service(), request);
    }
    return methods;
}
