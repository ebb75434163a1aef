/**
 * Lambda: every declared function, from the archive Pulumi packaged (never the TypeScript), in worker threads.
 * Each function signs its AWS calls with a key of its own, so local IAM checks them against its own role.
 */
import type * as pulumi from "@pulumi/pulumi";
import { randomUUID } from "node:crypto";
import { LAMBDA_FAILURE } from "../../../protocol/taskToken";
import { AwsError } from "../../core/awsError";
import { grantCache } from "../../core/iam";
import type { DeclaredResource } from "../../core/evaluate";
import { atEndpoint, namedArn, str } from "../../core/naming";
import type { RestService } from "../../core/endpoint";
import { TaskFailure, type Declared, type IntegrationCall, type ServiceContext, type ServiceDefinition, type ServiceInstance, type TargetKind, type TaskIntegration } from "../../core/registry";
import { createLambdaApi } from "./api";
import { archiveContents } from "./archive";
import { AsyncInvocationRecord, FunctionSpec, LambdaService, type FunctionLogEvent, type InvokeResult } from "./lambda";

export interface LambdaInstance extends ServiceInstance {
    service: LambdaService;
    /** Each function as served, by name: tests swap a handler's archive with `service.addFunction({...spec, files})`. */
    functions: Map<string, FunctionSpec>;
}

const FUNCTION = "aws:lambda/function:Function";
const PERMISSION = "aws:lambda/permission:Permission";
const INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig";

export const lambdaService: ServiceDefinition<LambdaInstance> = {
    name: "lambda",
    signingName: "lambda",
    resourceTypes: {
        [FUNCTION]: {
            attributes: (r) => {
                const named = namedArn((resource, name) => `arn:aws:lambda:${resource.region}:${resource.accountId}:function:${name}`)(r);
                // What API Gateway integrations and authorizers name a function by.
                return { ...named, invokeArn: `arn:aws:apigateway:${r.region}:lambda:path/2015-03-31/functions/${String(named.arn)}/invocations` };
            },
        },
        [PERMISSION]: {},
        [INVOKE_CONFIG]: {},
    },
    async create(context) {
        // The functions' archives, unpacked as Lambda would: on tmpfs where there is one (many small files, written
        // at every start), and removed on close.
        let service!: LambdaService;
        const functions = new Map<string, FunctionSpec>();
        const mayInvoke = grantCache((functionArn: string, ruleArn: string) => requireInvokePermission(context.declared, functionArn, ruleArn));
        const lambdaFunctions: TargetKind = {
            description: "Lambda functions",
            matches: (arn) => arn.startsWith("arn:aws:lambda:"),
            deliver: async ({ targetArn, ruleArn, input }) => {
                mayInvoke(targetArn, ruleArn);
                await service.invokeAsync(targetArn, JSON.parse(input));
            },
        };
        let api: RestService | undefined;
        return {
            get service() {
                return service;
            },
            functions,
            targets: [lambdaFunctions],
            // The service exists once provisioned; Step Functions calls it only from executions, after that.
            integrations: lambdaIntegrations({
                region: context.region,
                accountId: context.accountId,
                invoke: (name, payload) => service.invoke(name, payload),
                invokeAsync: async (name, payload) => {
                    await service.invokeAsync(name, payload);
                },
            }),
            routes: {
                // Lambda's own API on its REST paths; the service exists once provisioned, before the endpoint serves.
                rest: {
                    handle: (request) => {
                        api ??= createLambdaApi(service, {
                            region: context.region,
                            accountId: context.accountId,
                            authorizeCaller: (accessKeyId, action, resource) => context.iam.authorizeCaller(accessKeyId, action, resource),
                        });
                        return api.handle(request);
                    },
                },
            },
            async provision() {
                service = new LambdaService({
                    workDir: context.scratchDir(),
                    baseEnvironment: {
                        AWS_REGION: context.region,
                        AWS_DEFAULT_REGION: context.region,
                        AWS_ENDPOINT_URL: context.endpointUrl(),
                    },
                    sdkResolveDir: context.programRoot,
                    retryDelaysMs: context.options.retryDelaysMs,
                    maxWorkersPerFunction: context.options.maxWorkersPerFunction,
                    scaleOutAfterMs: context.options.scaleOutAfterMs,
                    log: context.options.verbose ? (fn, line) => context.log(`[${fn}] ${line}`) : undefined,
                    logEvent: functionLogWriter(context, functions),
                });
                for (const fn of context.declared.of(FUNCTION)) {
                    const spec = await functionSpec(context, fn);
                    const key = context.credentials.issue(spec.name, str(fn.inputs.role));
                    spec.environment = { ...spec.environment, AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey };
                    await service.addFunction(spec);
                    functions.set(spec.name, spec);
                    context.serve({
                        service: "lambda",
                        type: FUNCTION,
                        urn: fn.urn,
                        arn: spec.arn,
                        name: spec.name,
                        description: `function ${spec.name} (${str(fn.inputs.runtime)}, ${str(fn.inputs.handler)})`,
                    });
                }
            },
            pending: () => service?.pending ?? 0,
            idle: async () => service?.idle(),
            close: async () => service?.close(),
        };
    },
};

/** EventBridge may invoke a function only where a permission says so, for that rule (as in AWS). */
function requireInvokePermission(declared: Declared, functionArn: string, ruleArn: string): void {
    const fn = declared.find(FUNCTION, functionArn);
    const granted = declared
        .of(PERMISSION)
        .some(
            (p) =>
                declared.find(FUNCTION, p.inputs.function) === fn &&
                p.inputs.principal === "events.amazonaws.com" &&
                (p.inputs.sourceArn === undefined || p.inputs.sourceArn === ruleArn),
        );
    if (!fn || !granted) throw new AwsError("AccessDeniedException", `no lambda permission lets events.amazonaws.com invoke ${functionArn} for ${ruleArn}`);
}

/**
 * Writes each function's log events to CloudWatch Logs as Lambda does: with the function's execution role, which
 * must allow `logs:CreateLogStream` and `logs:PutLogEvents` on the environment's stream, and `logs:CreateLogGroup`
 * when the group does not exist yet (Lambda creates it then). What the role does not allow is not written, as in
 * AWS; the runtime says so once per stream.
 */
function functionLogWriter(context: ServiceContext, functions: Map<string, FunctionSpec>): (event: FunctionLogEvent) => void {
    const streams = new Map<string, boolean>();
    return (event) => {
        const logs = context.service("logs").service;
        const key = `${event.logGroupName}\0${event.logStreamName}`;
        let writable = streams.get(key);
        if (writable === undefined) {
            const role = functions.get(event.functionName)?.role;
            const streamArn = logs.streamArn(event.logGroupName, event.logStreamName);
            const missing: string[] = [];
            if (!logs.hasGroup(event.logGroupName)) {
                if (context.iam.allows(role, "logs:CreateLogGroup", `${logs.groupArn(event.logGroupName)}:*`)) logs.addGroup(event.logGroupName);
                else missing.push(`logs:CreateLogGroup on ${logs.groupArn(event.logGroupName)}`);
            }
            for (const action of ["logs:CreateLogStream", "logs:PutLogEvents"]) if (!context.iam.allows(role, action, streamArn)) missing.push(`${action} on ${streamArn}`);
            writable = missing.length === 0;
            streams.set(key, writable);
            if (!writable) context.log(`lambda ${event.functionName}: its role ${role} may not write its logs (${missing.join(", ")}); nothing is written to ${event.logGroupName}`);
        }
        if (writable) logs.append(event.logGroupName, event.logStreamName, [{ timestamp: event.timestamp, message: event.message }]);
    };
}

/** `LoggingConfig` as declared, checked against the values Lambda takes. */
function loggingConfigOf(fn: DeclaredResource): Pick<FunctionSpec, "logGroupName" | "logFormat" | "applicationLogLevel" | "systemLogLevel"> {
    const config = (fn.inputs.loggingConfig ?? {}) as { logFormat?: unknown; logGroup?: unknown; applicationLogLevel?: unknown; systemLogLevel?: unknown };
    const format = config.logFormat === undefined ? "Text" : str(config.logFormat);
    if (format !== "Text" && format !== "JSON") throw new AwsError("InvalidParameterValueException", `${fn.urn}: loggingConfig.logFormat must be Text or JSON (${format})`);
    const level = (name: string, value: unknown, levels: string[]): string | undefined => {
        if (value === undefined) return undefined;
        if (!levels.includes(str(value))) throw new AwsError("InvalidParameterValueException", `${fn.urn}: loggingConfig.${name} must be one of ${levels.join(", ")} (${str(value)})`);
        return str(value);
    };
    return {
        logGroupName: config.logGroup === undefined ? undefined : str(config.logGroup),
        logFormat: format,
        applicationLogLevel: level("applicationLogLevel", config.applicationLogLevel, ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]),
        systemLogLevel: level("systemLogLevel", config.systemLogLevel, ["DEBUG", "INFO", "WARN"]),
    };
}

async function functionSpec(context: ServiceContext, fn: DeclaredResource): Promise<FunctionSpec> {
    const declared = context.declared;
    const invokeConfig = declared.of(INVOKE_CONFIG).find((c) => declared.find(FUNCTION, c.inputs.functionName) === fn);
    const destination = (invokeConfig?.inputs.destinationConfig as { onFailure?: { destination?: string } } | undefined)?.onFailure?.destination;
    const environment = ((fn.inputs.environment as { variables?: Record<string, unknown> } | undefined)?.variables ?? {}) as Record<string, unknown>;
    return {
        name: str(fn.state.name),
        arn: str(fn.state.arn),
        handler: str(fn.inputs.handler),
        role: str(fn.inputs.role),
        runtime: fn.inputs.runtime === undefined ? undefined : str(fn.inputs.runtime),
        description: fn.inputs.description === undefined ? undefined : str(fn.inputs.description),
        architectures: Array.isArray(fn.inputs.architectures) ? fn.inputs.architectures.map(str) : undefined,
        timeoutSeconds: Number(fn.inputs.timeout ?? 3),
        memorySizeMb: Number(fn.inputs.memorySize ?? 128),
        // URLs the mocks gave (queue URLs, API endpoints) name the default endpoint; a function reaches the real one.
        environment: Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, atEndpoint(str(v), context.endpointUrl())])),
        files: await archiveContents(fn.inputs.code as pulumi.asset.Archive, context.programRoot),
        maximumRetryAttempts: invokeConfig?.inputs.maximumRetryAttempts === undefined ? undefined : Number(invokeConfig.inputs.maximumRetryAttempts),
        ...loggingConfigOf(fn),
        onFailure: destination?.startsWith("arn:aws:events:") ? (record) => sendToBus(context, destination, record) : undefined,
    };
}

/** Lambda's on-failure destination on EventBridge: the record as detail, from source `lambda`. */
async function sendToBus(context: ServiceContext, busArn: string, record: AsyncInvocationRecord): Promise<void> {
    const result = context.service("events").service.putEvents({
        Entries: [{ EventBusName: busArn, Source: LAMBDA_FAILURE.source, DetailType: LAMBDA_FAILURE.detailType, Detail: JSON.stringify(record) }],
    });
    if (result.FailedEntryCount) throw new Error(`destination ${busArn} refused the failure record: ${result.Entries[0].ErrorMessage}`);
}

/** What the Step Functions integrations of Lambda call. */
export interface LambdaIntegrationDeps {
    region: string;
    accountId: string;
    /** RequestResponse: the function's result or its error; rejects with an AwsError when Lambda refuses the call. */
    invoke(nameOrArn: string, payload: unknown): Promise<Pick<InvokeResult, "payload" | "functionError">>;
    /** Event: queued, retried and reported by Lambda; the function's outcome is not the caller's. */
    invokeAsync(nameOrArn: string, payload: unknown): Promise<void>;
}

/**
 * `arn:aws:states:::lambda:invoke` (and `.waitForTaskToken`) and bare function ARNs as a Task's resource. A function
 * error fails the task with the function's `errorType` as Error and Lambda's error JSON as Cause, as in AWS.
 */
export function lambdaIntegrations(deps: LambdaIntegrationDeps): TaskIntegration[] {
    const functionArn = (name: string) => (name.startsWith("arn:") ? name : `arn:aws:lambda:${deps.region}:${deps.accountId}:function:${name}`);
    const members = (call: IntegrationCall): Record<string, unknown> =>
        typeof call.parameters === "object" && call.parameters !== null && !Array.isArray(call.parameters) ? (call.parameters as Record<string, unknown>) : {};
    const invoke = async (name: string, payload: unknown): Promise<unknown> => {
        const result = await deps.invoke(name, payload);
        const failure = result.functionError;
        if (failure) throw new TaskFailure(failure.errorType, JSON.stringify({ errorType: failure.errorType, errorMessage: failure.errorMessage, trace: failure.trace ?? [] }));
        return result.payload ?? null;
    };
    return [
        {
            matches: (resource) => /^arn:aws[a-z-]*:states:::lambda:invoke$/.test(resource),
            patterns: ["", ".waitForTaskToken"],
            errorService: "Lambda",
            permissions: (call) => [{ action: "lambda:InvokeFunction", resource: functionArn(String(members(call).FunctionName ?? "")) }],
            run: async (call) => {
                const { FunctionName: name, Payload: payload = null, InvocationType: type } = members(call);
                if (typeof name !== "string") throw new AwsError("InvalidParameterValueException", "lambda:invoke Parameters must contain FunctionName.");
                if (type === "Event") {
                    // Asynchronous invocation: Lambda answers 202 at once and the function's outcome is not the task's.
                    await deps.invokeAsync(name, payload);
                    return { Payload: "", StatusCode: 202 };
                }
                const result = await invoke(name, payload);
                return { ExecutedVersion: "$LATEST", Payload: result, SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: { RequestId: randomUUID() }, StatusCode: 200 };
            },
        },
        {
            // A function's ARN, with or without a version or alias: the state's parameters are the event.
            matches: (resource) => /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[^:]+(:[^:]+)?$/.test(resource),
            patterns: [""],
            errorService: "Lambda",
            permissions: (call) => [{ action: "lambda:InvokeFunction", resource: call.resource }],
            run: (call) => invoke(call.resource, call.parameters),
        },
    ];
}
