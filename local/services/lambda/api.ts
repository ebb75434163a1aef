/**
 * Lambda's own REST API over the functions a LambdaService runs: Invoke, ListFunctions, GetFunction and
 * GetFunctionConfiguration on their `/2015-03-31/functions/...` paths, answering as AWS's REST-JSON protocol does.
 * Functions come from the Pulumi program; the control-plane writes (CreateFunction, UpdateFunctionCode ...) are
 * refused by name.
 */
import type { FunctionConfiguration, GetFunctionResponse, ListFunctionsResponse, LoggingConfig } from "@aws-sdk/client-lambda";
import { AwsError } from "../../core/awsError";
import type { RestRequest, RestResponse, RestService } from "../../core/endpoint";
import type { DeployedFunction, LambdaService } from "./lambda";

/** The IAM actions this API checks, as a policy names them. */
export type LambdaApiAction = "lambda:InvokeFunction" | "lambda:ListFunctions" | "lambda:GetFunction" | "lambda:GetFunctionConfiguration";

export interface LambdaApiOptions {
    region: string;
    accountId: string;
    /**
     * Throws (an AwsError AccessDeniedException, as local IAM does) when the caller may not do `action` on
     * `resource`: the function's unqualified ARN, or `*` for ListFunctions. Without it every verified caller may.
     */
    authorizeCaller?: (accessKeyId: string, action: LambdaApiAction, resource: string) => void | Promise<void>;
}

const API_VERSION = "2015-03-31";
/** Lambda's bound on the log tail of a RequestResponse invocation with `X-Amz-Log-Type: Tail`. */
const LOG_TAIL_BYTES = 4 * 1024;
/** ListFunctions answers at most 50 functions a page, whatever MaxItems asks. */
const LIST_PAGE_LIMIT = 50;
/** Set by the runtime to give each function its own credentials; Lambda reserves these names and never lists them. */
const RESERVED_VARIABLES = new Set(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]);

/** The Lambda operations on the same paths this runtime does not serve, to refuse them by name. */
const UNSERVED: Array<{ method: string; path: RegExp; operation: string }> = [
    { method: "POST", path: /^\/functions\/?$/, operation: "CreateFunction" },
    { method: "DELETE", path: /^\/functions\/[^/]+\/?$/, operation: "DeleteFunction" },
    { method: "PUT", path: /^\/functions\/[^/]+\/code\/?$/, operation: "UpdateFunctionCode" },
    { method: "PUT", path: /^\/functions\/[^/]+\/configuration\/?$/, operation: "UpdateFunctionConfiguration" },
    { method: "POST", path: /^\/functions\/[^/]+\/versions\/?$/, operation: "PublishVersion" },
    { method: "GET", path: /^\/functions\/[^/]+\/versions\/?$/, operation: "ListVersionsByFunction" },
    { method: "GET", path: /^\/functions\/[^/]+\/policy\/?$/, operation: "GetPolicy" },
    { method: "POST", path: /^\/functions\/[^/]+\/policy\/?$/, operation: "AddPermission" },
    { method: "GET", path: /^\/functions\/[^/]+\/aliases\/?$/, operation: "ListAliases" },
    { method: "POST", path: /^\/functions\/[^/]+\/aliases\/?$/, operation: "CreateAlias" },
    { method: "PUT", path: /^\/functions\/[^/]+\/concurrency\/?$/, operation: "PutFunctionConcurrency" },
];

function header(request: RestRequest, name: string): string | undefined {
    const value = request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
}

function decodeSegment(segment: string): string {
    try {
        return decodeURIComponent(segment);
    } catch {
        throw new AwsError("InvalidParameterValueException", `The function name in the path is not valid percent-encoding: ${segment}`);
    }
}

/** Lambda's log tail: the last 4 KB of the log, cut on a UTF-8 character boundary, base64. */
export function logTail(logs: string): string {
    let bytes = Buffer.from(logs, "utf8");
    if (bytes.byteLength > LOG_TAIL_BYTES) {
        let start = bytes.byteLength - LOG_TAIL_BYTES;
        // Skip continuation bytes (10xxxxxx) so the tail starts on a whole character.
        while (start < bytes.byteLength && (bytes[start] & 0xc0) === 0x80) start++;
        bytes = bytes.subarray(start);
    }
    return bytes.toString("base64");
}

/** The configuration as AWS reports it; the variables the runtime injects for the function's credentials are left out. */
export function functionConfiguration(fn: DeployedFunction): FunctionConfiguration {
    const { spec } = fn;
    const variables = Object.fromEntries(Object.entries(spec.environment).filter(([name]) => !RESERVED_VARIABLES.has(name)));
    return {
        FunctionName: spec.name,
        FunctionArn: spec.arn,
        Runtime: spec.runtime as FunctionConfiguration["Runtime"],
        Role: spec.role,
        Handler: spec.handler,
        CodeSize: fn.codeSize,
        Description: spec.description ?? "",
        Timeout: spec.timeoutSeconds,
        MemorySize: spec.memorySizeMb,
        LastModified: fn.lastModified,
        CodeSha256: fn.codeSha256,
        Version: "$LATEST",
        ...(Object.keys(variables).length > 0 ? { Environment: { Variables: variables } } : {}),
        TracingConfig: { Mode: "PassThrough" },
        RevisionId: fn.revisionId,
        State: "Active",
        LastUpdateStatus: "Successful",
        PackageType: "Zip",
        Architectures: (spec.architectures ?? ["x86_64"]) as FunctionConfiguration["Architectures"],
        EphemeralStorage: { Size: 512 },
        LoggingConfig: {
            LogFormat: spec.logFormat ?? "Text",
            LogGroup: spec.logGroupName ?? `/aws/lambda/${spec.name}`,
            // Lambda reports the levels only for the JSON format, where they apply.
            ...(spec.logFormat === "JSON" ? { ApplicationLogLevel: (spec.applicationLogLevel ?? "INFO") as LoggingConfig["ApplicationLogLevel"], SystemLogLevel: (spec.systemLogLevel ?? "INFO") as LoggingConfig["SystemLogLevel"] } : {}),
        },
    };
}

/**
 * The REST service for the endpoint (signing name `lambda`). GetFunction's `Code` gives `RepositoryType: "S3"` and no
 * `Location`: the code is the Pulumi program's archive, unpacked in the runtime's scratch folder, not a download.
 */
export function createLambdaApi(service: LambdaService, options: LambdaApiOptions): RestService {
    const authorize = async (request: RestRequest, action: LambdaApiAction, resource: string) => {
        await options.authorizeCaller?.(request.accessKeyId, action, resource);
    };
    const arnOf = (name: string) => `arn:aws:lambda:${options.region}:${options.accountId}:function:${name}`;

    /** The function a path names, by name, partial or full ARN; a qualifier other than $LATEST is refused. */
    const lookUp = (identifier: string, request: RestRequest): DeployedFunction => {
        const parts = identifier.split(":");
        // arn:aws:lambda:region:account:function:name[:qualifier], account:function:name[:qualifier], name[:qualifier]
        const nameAt = parts[0] === "arn" ? 6 : parts[1] === "function" ? 2 : 0;
        const name = parts[nameAt] ?? identifier;
        const qualifier = request.query.get("Qualifier") ?? parts[nameAt + 1];
        const unqualified = parts.slice(0, nameAt + 1).join(":");
        let fn: DeployedFunction;
        try {
            fn = service.getFunction(unqualified);
        } catch (error) {
            if (error instanceof AwsError && error.code === "ResourceNotFoundException") {
                const arn = parts[0] === "arn" ? unqualified : arnOf(name);
                throw new AwsError("ResourceNotFoundException", `Function not found: ${arn}${qualifier === undefined ? "" : `:${qualifier}`}`, 404);
            }
            throw error;
        }
        if (parts[0] === "arn" && unqualified !== fn.spec.arn) {
            throw new AwsError("ResourceNotFoundException", `Function not found: ${identifier}`, 404);
        }
        if (qualifier !== undefined && qualifier !== "$LATEST") {
            throw new AwsError("ResourceNotFoundException", `Function not found: ${fn.spec.arn}:${qualifier} (the local runtime serves $LATEST only, no versions or aliases)`, 404);
        }
        return fn;
    };

    const invoke = async (request: RestRequest, identifier: string): Promise<RestResponse> => {
        const invocationType = header(request, "x-amz-invocation-type") ?? "RequestResponse";
        if (!["RequestResponse", "Event", "DryRun"].includes(invocationType)) {
            throw new AwsError("InvalidParameterValueException", `X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not ${JSON.stringify(invocationType)}`);
        }
        const logType = header(request, "x-amz-log-type") ?? "None";
        if (logType !== "None" && logType !== "Tail") throw new AwsError("InvalidParameterValueException", `X-Amz-Log-Type must be None or Tail, not ${JSON.stringify(logType)}`);
        if (header(request, "x-amz-client-context") !== undefined) {
            throw new AwsError("InvalidParameterValueException", "X-Amz-Client-Context is not supported by the local runtime (context.clientContext is not passed to functions)");
        }
        const fn = lookUp(identifier, request);
        await authorize(request, "lambda:InvokeFunction", fn.spec.arn);
        const text = request.body.toString("utf8");
        let payload: unknown = {};
        if (text.trim() !== "") {
            try {
                payload = JSON.parse(text);
            } catch (error) {
                throw new AwsError("InvalidRequestContentException", `Could not parse request body into json: ${(error as Error).message}`);
            }
        }
        const invokedAs = identifier.startsWith("arn:") ? identifier : fn.spec.arn;
        if (invocationType === "DryRun") return { status: 204, headers: { "x-amz-executed-version": "$LATEST" } };
        if (invocationType === "Event") {
            const { requestId } = await service.invokeAsync(invokedAs, payload);
            return { status: 202, headers: { "x-amzn-requestid": requestId } };
        }
        const result = await service.invoke(invokedAs, payload);
        const headers: Record<string, string> = { "x-amz-executed-version": "$LATEST" };
        if (logType === "Tail") headers["x-amz-log-result"] = logTail(result.logs);
        if (result.functionError) {
            headers["x-amz-function-error"] = "Unhandled";
            return { status: 200, headers, body: Buffer.from(JSON.stringify(result.functionError)) };
        }
        // Serialised here: a handler's string result is the JSON string, not the raw text the endpoint would send.
        return { status: 200, headers, body: Buffer.from(JSON.stringify(result.payload ?? null)) };
    };

    const listFunctions = async (request: RestRequest): Promise<RestResponse> => {
        await authorize(request, "lambda:ListFunctions", "*");
        const maxItemsText = request.query.get("MaxItems");
        let maxItems = LIST_PAGE_LIMIT;
        if (maxItemsText !== null) {
            const parsed = Number(maxItemsText);
            if (!Number.isInteger(parsed) || parsed < 1 || parsed > 10000) {
                throw new AwsError("InvalidParameterValueException", `MaxItems must be an integer from 1 to 10000, not ${JSON.stringify(maxItemsText)}`);
            }
            maxItems = Math.min(parsed, LIST_PAGE_LIMIT);
        }
        const version = request.query.get("FunctionVersion");
        if (version !== null && version !== "ALL") throw new AwsError("InvalidParameterValueException", `FunctionVersion must be ALL, not ${JSON.stringify(version)}`);
        if (request.query.get("MasterRegion") !== null) throw new AwsError("InvalidParameterValueException", "MasterRegion (Lambda@Edge replicas) is not supported by the local runtime");
        const all = service.listFunctions();
        const marker = request.query.get("Marker");
        let start = 0;
        if (marker !== null) {
            // The marker is the last name of the previous page, opaque to callers: a function removed since is fine.
            const after = Buffer.from(marker, "base64url").toString("utf8");
            if (marker === "" || Buffer.from(after, "utf8").toString("base64url") !== marker) throw new AwsError("InvalidParameterValueException", `Marker ${JSON.stringify(marker)} is not one this service gave out`);
            start = all.findIndex((fn) => fn.spec.name > after);
            if (start < 0) start = all.length;
        }
        const page = all.slice(start, start + maxItems);
        const response: ListFunctionsResponse = { Functions: page.map(functionConfiguration) };
        if (start + maxItems < all.length) response.NextMarker = Buffer.from(page[page.length - 1].spec.name, "utf8").toString("base64url");
        return { status: 200, body: response };
    };

    const getFunction = async (request: RestRequest, identifier: string, configurationOnly: boolean): Promise<RestResponse> => {
        const fn = lookUp(identifier, request);
        await authorize(request, configurationOnly ? "lambda:GetFunctionConfiguration" : "lambda:GetFunction", fn.spec.arn);
        if (configurationOnly) return { status: 200, body: functionConfiguration(fn) };
        const response: GetFunctionResponse = { Configuration: functionConfiguration(fn), Code: { RepositoryType: "S3" } };
        return { status: 200, body: response };
    };

    return {
        async handle(request) {
            const prefix = `/${API_VERSION}`;
            const rest = request.path.startsWith(`${prefix}/`) ? request.path.slice(prefix.length) : undefined;
            const segments = rest?.split("/").filter((segment, index, all) => segment !== "" || index < all.length - 1) ?? [];
            if (rest !== undefined && segments[1] === "functions") {
                const [, , encodedName, action, extra] = segments;
                const name = encodedName === undefined || encodedName === "" ? undefined : decodeSegment(encodedName);
                if (request.method === "GET" && name === undefined) return listFunctions(request);
                if (name !== undefined && extra === undefined) {
                    if (request.method === "POST" && action === "invocations") return invoke(request, name);
                    if (request.method === "GET" && action === undefined) return getFunction(request, name, false);
                    if (request.method === "GET" && action === "configuration") return getFunction(request, name, true);
                }
                const unserved = UNSERVED.find((op) => op.method === request.method && op.path.test(rest));
                if (unserved) {
                    throw new AwsError("UnknownOperationException", `${unserved.operation} is not supported by the local runtime: functions come from the Pulumi program`, 404);
                }
            }
            throw new AwsError("UnknownOperationException", `${request.method} ${request.path} is not a Lambda operation this runtime serves (Invoke, ListFunctions, GetFunction, GetFunctionConfiguration)`, 404);
        },
        maxBodyBytes: 6 * 1024 * 1024,
    };
}
