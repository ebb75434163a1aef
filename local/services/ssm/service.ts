/**
 * SSM Parameter Store: the parameters the stack declares (`aws.ssm.Parameter`: String, StringList, SecureString)
 * over the JSON protocol (`AmazonSSM.GetParameter`). A SecureString's value is answered only `WithDecryption`;
 * without it, an opaque stand-in for the ciphertext, as AWS answers the encrypted value. Values are held in memory
 * only and never logged or listed.
 */
import * as ssmSdk from "@aws-sdk/client-ssm";
import { randomBytes } from "node:crypto";
import { AwsError } from "../../core/awsError";
import { physicalName, str } from "../../core/naming";
import { operationsOf } from "../../core/operations";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";
import { requestShapes } from "../../core/requestShapes";

const PARAMETER = "aws:ssm/parameter:Parameter";
const TYPES = new Set(["String", "StringList", "SecureString"]);

interface ParameterVersion {
    version: number;
    value: string;
    /** What a SecureString's value reads as without WithDecryption. */
    ciphertext?: string;
    type: string;
    description?: string;
    modifiedAt: number;
    labels: string[];
}

/** A parameter's ARN: its name after `parameter`, with one slash between (`/app/x` and `app/x` both give `parameter/app/x`). */
export function parameterArn(region: string, accountId: string, name: string): string {
    return `arn:aws:ssm:${region}:${accountId}:parameter/${name.replace(/^\//, "")}`;
}

const notFound = (name: string) => new AwsError("ParameterNotFound", `Parameter ${name} not found.`);

export class ParameterStore {
    private readonly parameters = new Map<string, ParameterVersion[]>();
    constructor(private readonly opts: { region: string; accountId: string }) {}

    public arnOf(name: string): string {
        return parameterArn(this.opts.region, this.opts.accountId, name);
    }

    /** A Name as requests give it: the name, or its ARN; with an optional `:version` or `:label` selector. */
    public parse(reference: string): { name: string; selector?: string } {
        let text = reference;
        if (text.startsWith("arn:")) {
            const path = text.split(":").slice(5).join(":").replace(/^parameter/, "");
            text = path.split("/").length > 2 ? path : path.replace(/^\//, "");
        }
        const colon = text.lastIndexOf(":");
        return colon > 0 ? { name: text.slice(0, colon), selector: text.slice(colon + 1) } : { name: text };
    }

    private find(reference: string): { name: string; version: ParameterVersion } {
        const { name, selector } = this.parse(reference);
        const versions = this.parameters.get(name);
        if (!versions) throw notFound(reference);
        if (selector === undefined) return { name, version: versions[versions.length - 1] };
        const version = /^\d+$/.test(selector) ? versions.find((v) => v.version === Number(selector)) : versions.find((v) => v.labels.includes(selector));
        if (!version) throw new AwsError("ParameterVersionNotFound", `Systems Manager could not find version ${selector} of ${name}. Verify the version and try again.`);
        return { name, version };
    }

    private shape(name: string, version: ParameterVersion, decrypt: boolean, selector?: string): ssmSdk.Parameter {
        return {
            Name: name,
            Type: version.type as ssmSdk.ParameterType,
            Value: version.type === "SecureString" && !decrypt ? version.ciphertext : version.value,
            Version: version.version,
            ...(selector !== undefined ? { Selector: `:${selector}` } : {}),
            LastModifiedDate: (version.modifiedAt / 1000) as unknown as Date,
            ARN: this.arnOf(name),
            DataType: "text",
        };
    }

    public getParameter(request: Record<string, unknown>): ssmSdk.GetParameterResult {
        if (typeof request.Name !== "string") throw new AwsError("ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null");
        const { name, version } = this.find(request.Name);
        return { Parameter: this.shape(name, version, request.WithDecryption === true, this.parse(request.Name).selector) };
    }

    public getParameters(request: Record<string, unknown>): ssmSdk.GetParametersResult {
        const names = Array.isArray(request.Names) ? request.Names.map(String) : [];
        if (names.length < 1 || names.length > 10) {
            throw new AwsError("ValidationException", `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1`);
        }
        const found: ssmSdk.Parameter[] = [];
        const invalid: string[] = [];
        for (const reference of new Set(names)) {
            try {
                const { name, version } = this.find(reference);
                found.push(this.shape(name, version, request.WithDecryption === true, this.parse(reference).selector));
            } catch (error) {
                if (!(error instanceof AwsError)) throw error;
                invalid.push(reference);
            }
        }
        return { Parameters: found, InvalidParameters: invalid };
    }

    public putParameter(request: Record<string, unknown>): ssmSdk.PutParameterResult {
        const name = request.Name;
        if (typeof name !== "string" || !/^[A-Za-z0-9_.\-/]{1,2048}$/.test(name) || /^\/?(aws|ssm)/i.test(name)) {
            throw new AwsError("ValidationException", `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive), and may hold only a-zA-Z0-9_.-/: ${String(name)}`);
        }
        if (typeof request.Value !== "string" || request.Value === "") throw new AwsError("ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1");
        const existing = this.parameters.get(name);
        const type = typeof request.Type === "string" ? request.Type : existing?.[existing.length - 1].type;
        if (type === undefined) throw new AwsError("ValidationException", "A parameter type is required when you create a parameter.");
        if (!TYPES.has(type)) throw new AwsError("UnsupportedParameterType", `The parameter type ${type} is not supported: String, StringList or SecureString.`);
        if (existing && request.Overwrite !== true) {
            throw new AwsError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.");
        }
        const versions = existing ?? [];
        const version: ParameterVersion = {
            version: versions.length ? versions[versions.length - 1].version + 1 : 1,
            value: request.Value,
            ciphertext: type === "SecureString" ? randomBytes(48).toString("base64") : undefined,
            type,
            description: typeof request.Description === "string" ? request.Description : versions[versions.length - 1]?.description,
            modifiedAt: Date.now(),
            labels: [],
        };
        versions.push(version);
        this.parameters.set(name, versions);
        return { Version: version.version, Tier: "Standard" };
    }

    public deleteParameter(request: Record<string, unknown>): Record<string, never> {
        const name = str(request.Name);
        if (!this.parameters.delete(this.parse(name).name)) throw notFound(name);
        return {};
    }
}

export interface SsmInstance extends ServiceInstance {
    service: ParameterStore;
}

export const ssmService: ServiceDefinition<SsmInstance> = {
    name: "ssm",
    signingName: "ssm",
    resourceTypes: {
        [PARAMETER]: {
            attributes: (r) => {
                const name = physicalName(r);
                return { name, arn: parameterArn(r.region, r.accountId, name), version: 1, tier: r.inputs.tier ?? "Standard" };
            },
        },
    },
    async create(context) {
        const service = new ParameterStore({ region: context.region, accountId: context.accountId });
        const arnsOf = (request: Record<string, unknown>): string[] => {
            const names = Array.isArray(request.Names) ? request.Names.map(String) : typeof request.Name === "string" ? [request.Name] : [];
            return names.length ? names.map((name) => service.arnOf(service.parse(name).name)) : ["*"];
        };
        return {
            service,
            routes: {
                json: {
                    targetPrefix: "AmazonSSM",
                    contentType: "application/x-amz-json-1.1",
                    checkShape: requestShapes(ssmSdk),
                    authorize: (accessKeyId, operation, request) => {
                        for (const arn of arnsOf(request)) context.iam.authorizeCaller(accessKeyId, `ssm:${operation}`, arn);
                    },
                    operations: operationsOf(ssmSdk, {
                        getParameter: (r: Record<string, unknown>) => service.getParameter(r),
                        getParameters: (r: Record<string, unknown>) => service.getParameters(r),
                        putParameter: (r: Record<string, unknown>) => service.putParameter(r),
                        deleteParameter: (r: Record<string, unknown>) => service.deleteParameter(r),
                    }),
                },
            },
            async provision() {
                for (const parameter of context.declared.of(PARAMETER)) {
                    const name = str(parameter.state.name);
                    const value = parameter.inputs.value ?? parameter.inputs.insecureValue;
                    service.putParameter({ Name: name, Type: parameter.inputs.type, Value: str(value), Description: parameter.inputs.description });
                    context.serve({ service: "ssm", type: PARAMETER, urn: parameter.urn, arn: str(parameter.state.arn), name, description: `parameter ${name} (${str(parameter.inputs.type)})` });
                }
            },
        };
    },
};
