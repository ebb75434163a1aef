/**
 * AWS Secrets Manager: the secrets the stack declares (`aws.secretsmanager.Secret`, their values from
 * `SecretVersion`, which a program usually declares as Pulumi secrets), over the JSON protocol
 * (`secretsmanager.GetSecretValue`). Values are held in memory only: never logged, never listed in
 * `/_choreography/resources` (which shows names and ARNs), never written under `--data-dir`.
 */
import * as secretsManagerSdk from "@aws-sdk/client-secrets-manager";
import { createHash, randomUUID } from "node:crypto";
import { AwsError } from "../../core/awsError";
import { physicalName, str } from "../../core/naming";
import { operationsOf } from "../../core/operations";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";
import { requestShapes } from "../../core/requestShapes";

const SECRET = "aws:secretsmanager/secret:Secret";
const SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion";
const CURRENT = "AWSCURRENT";
const PREVIOUS = "AWSPREVIOUS";

interface SecretVersion {
    id: string;
    secretString?: string;
    secretBinary?: Uint8Array;
    stages: string[];
    createdAt: number;
}

interface Secret {
    name: string;
    arn: string;
    description?: string;
    kmsKeyId?: string;
    tags: Array<{ Key?: string; Value?: string }>;
    createdAt: number;
    changedAt: number;
    versions: SecretVersion[];
}

/** The six characters AWS appends to a secret's ARN: random there, derived from the name here so the mocks agree. */
export function secretArn(region: string, accountId: string, name: string): string {
    const digest = createHash("sha256").update(name).digest("base64").replace(/[^A-Za-z0-9]/g, "");
    return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${digest.slice(0, 6)}`;
}

const notFound = () => new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
const seconds = (ms: number) => ms / 1000;

export class SecretsManagerService {
    private readonly secrets = new Map<string, Secret>();
    constructor(private readonly opts: { region: string; accountId: string }) {}

    /** The secret a SecretId names: its name, its full ARN, or its ARN without the six random characters. */
    public find(secretId: unknown): Secret | undefined {
        if (typeof secretId !== "string") return undefined;
        const byName = this.secrets.get(secretId);
        if (byName) return byName;
        return [...this.secrets.values()].find((s) => s.arn === secretId || (secretId.startsWith("arn:") && s.arn.slice(0, -7) === secretId));
    }

    /** The ARN IAM checks a request against (the partial form of a secret that does not exist). */
    public resourceOf(request: Record<string, unknown>): string {
        if (typeof request.Name === "string") return this.find(request.Name)?.arn ?? `arn:aws:secretsmanager:${this.opts.region}:${this.opts.accountId}:secret:${request.Name}`;
        const id = request.SecretId;
        if (typeof id !== "string") return "*";
        return this.find(id)?.arn ?? (id.startsWith("arn:") ? id : `arn:aws:secretsmanager:${this.opts.region}:${this.opts.accountId}:secret:${id}`);
    }

    private secretOf(request: Record<string, unknown>): Secret {
        if (request.SecretId === undefined) throw new AwsError("ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null");
        const secret = this.find(request.SecretId);
        if (!secret) throw notFound();
        return secret;
    }

    public createSecret(request: Record<string, unknown>): secretsManagerSdk.CreateSecretResponse {
        const name = request.Name;
        if (typeof name !== "string" || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
            throw new AwsError("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!");
        }
        if (this.secrets.has(name)) throw new AwsError("ResourceExistsException", `The operation failed because the secret ${name} already exists.`);
        const now = Date.now();
        const secret: Secret = {
            name,
            arn: secretArn(this.opts.region, this.opts.accountId, name),
            description: typeof request.Description === "string" ? request.Description : undefined,
            kmsKeyId: typeof request.KmsKeyId === "string" ? request.KmsKeyId : undefined,
            tags: Array.isArray(request.Tags) ? (request.Tags as Array<{ Key?: string; Value?: string }>) : [],
            createdAt: now,
            changedAt: now,
            versions: [],
        };
        this.secrets.set(name, secret);
        const value = valueOf(request);
        let versionId: string | undefined;
        if (value) versionId = this.addVersion(secret, value, typeof request.ClientRequestToken === "string" ? request.ClientRequestToken : randomUUID(), [CURRENT]).id;
        return { ARN: secret.arn, Name: secret.name, ...(versionId ? { VersionId: versionId } : {}) };
    }

    public putSecretValue(request: Record<string, unknown>): secretsManagerSdk.PutSecretValueResponse {
        const secret = this.secretOf(request);
        const value = valueOf(request);
        if (!value) throw new AwsError("InvalidRequestException", "You must provide either SecretString or SecretBinary.");
        const token = typeof request.ClientRequestToken === "string" ? request.ClientRequestToken : randomUUID();
        const stages = Array.isArray(request.VersionStages) ? request.VersionStages.map(String) : [CURRENT];
        const existing = secret.versions.find((v) => v.id === token);
        if (existing) {
            // The same token again is a retry: accepted if the value is the same, as AWS makes PutSecretValue idempotent.
            const same = existing.secretString === value.secretString && Buffer.compare(Buffer.from(existing.secretBinary ?? []), Buffer.from(value.secretBinary ?? [])) === 0;
            if (!same) throw new AwsError("ResourceExistsException", `You can't modify an existing version, you can only create a new version. Version ${token} already exists with a different value.`);
            return { ARN: secret.arn, Name: secret.name, VersionId: existing.id, VersionStages: [...existing.stages] };
        }
        const version = this.addVersion(secret, value, token, stages);
        return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    }

    /** A new version; taking AWSCURRENT moves the old current version to AWSPREVIOUS, as rotation and PutSecretValue do. */
    private addVersion(secret: Secret, value: { secretString?: string; secretBinary?: Uint8Array }, id: string, stages: string[]): SecretVersion {
        if (stages.includes(CURRENT)) {
            for (const version of secret.versions) version.stages = version.stages.filter((s) => s !== PREVIOUS);
            for (const version of secret.versions) {
                if (version.stages.includes(CURRENT)) version.stages = [...version.stages.filter((s) => s !== CURRENT), PREVIOUS];
            }
        }
        for (const version of secret.versions) version.stages = version.stages.filter((s) => s === CURRENT || s === PREVIOUS || !stages.includes(s));
        const version: SecretVersion = { id, ...value, stages: [...stages], createdAt: Date.now() };
        secret.versions.push(version);
        // A version with no label left is deprecated; AWS keeps up to 100, here those with a label.
        secret.versions = secret.versions.filter((v) => v.stages.length > 0);
        secret.changedAt = version.createdAt;
        return version;
    }

    public getSecretValue(request: Record<string, unknown>): secretsManagerSdk.GetSecretValueResponse {
        const secret = this.secretOf(request);
        const versionId = typeof request.VersionId === "string" ? request.VersionId : undefined;
        const stage = typeof request.VersionStage === "string" ? request.VersionStage : versionId ? undefined : CURRENT;
        const version = secret.versions.find((v) => (versionId === undefined || v.id === versionId) && (stage === undefined || v.stages.includes(stage)));
        if (!version) {
            throw new AwsError(
                "ResourceNotFoundException",
                versionId ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}` : `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
            );
        }
        return {
            ARN: secret.arn,
            Name: secret.name,
            VersionId: version.id,
            ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
            ...(version.secretBinary !== undefined ? { SecretBinary: Buffer.from(version.secretBinary).toString("base64") as unknown as Uint8Array } : {}),
            VersionStages: [...version.stages],
            CreatedDate: seconds(version.createdAt) as unknown as Date,
        };
    }

    public describeSecret(request: Record<string, unknown>): secretsManagerSdk.DescribeSecretResponse {
        const secret = this.secretOf(request);
        return {
            ARN: secret.arn,
            Name: secret.name,
            ...(secret.description !== undefined ? { Description: secret.description } : {}),
            ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
            ...(secret.tags.length ? { Tags: secret.tags } : {}),
            CreatedDate: seconds(secret.createdAt) as unknown as Date,
            LastChangedDate: seconds(secret.changedAt) as unknown as Date,
            VersionIdsToStages: Object.fromEntries(secret.versions.map((v) => [v.id, [...v.stages]])),
        };
    }

    public listSecrets(): secretsManagerSdk.ListSecretsResponse {
        return {
            SecretList: [...this.secrets.values()].map((s) => ({
                ARN: s.arn,
                Name: s.name,
                ...(s.description !== undefined ? { Description: s.description } : {}),
                CreatedDate: seconds(s.createdAt) as unknown as Date,
                LastChangedDate: seconds(s.changedAt) as unknown as Date,
            })),
        };
    }

    /** The stack's secrets, before the endpoint serves: the secret, then each declared version (as `pulumi up` makes them). */
    public declare(name: string, details: { description?: string; kmsKeyId?: string }): Secret {
        this.createSecret({ Name: name, Description: details.description, KmsKeyId: details.kmsKeyId });
        return this.secrets.get(name)!;
    }

    public declareVersion(secretId: string, value: { secretString?: string; secretBinary?: Uint8Array }, stages: string[]): void {
        const secret = this.find(secretId);
        if (!secret) throw new Error(`SecretVersion of ${secretId}: no declared secret has that id`);
        this.addVersion(secret, value, randomUUID(), stages);
    }
}

function valueOf(request: Record<string, unknown>): { secretString?: string; secretBinary?: Uint8Array } | undefined {
    if (request.SecretString !== undefined && request.SecretBinary !== undefined) {
        throw new AwsError("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.");
    }
    if (typeof request.SecretString === "string") return { secretString: request.SecretString };
    if (typeof request.SecretBinary === "string") return { secretBinary: new Uint8Array(Buffer.from(request.SecretBinary, "base64")) };
    return undefined;
}

export interface SecretsManagerInstance extends ServiceInstance {
    service: SecretsManagerService;
}

export const secretsManagerService: ServiceDefinition<SecretsManagerInstance> = {
    name: "secretsmanager",
    signingName: "secretsmanager",
    resourceTypes: {
        [SECRET]: {
            attributes: (r) => {
                const name = physicalName(r);
                return { name, arn: secretArn(r.region, r.accountId, name) };
            },
            id: (state) => str(state.arn),
        },
        [SECRET_VERSION]: {
            attributes: (r) => {
                const versionId = createHash("sha256").update(r.urn).digest("hex").replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, "$1-$2-$3-$4-$5");
                return { arn: str(r.inputs.secretId), versionId };
            },
            id: (state) => `${str(state.secretId)}|${str(state.versionId)}`,
        },
    },
    async create(context) {
        const service = new SecretsManagerService({ region: context.region, accountId: context.accountId });
        return {
            service,
            routes: {
                json: {
                    targetPrefix: "secretsmanager",
                    contentType: "application/x-amz-json-1.1",
                    checkShape: requestShapes(secretsManagerSdk),
                    authorize: (accessKeyId, operation, request) => context.iam.authorizeCaller(accessKeyId, `secretsmanager:${operation}`, service.resourceOf(request)),
                    operations: operationsOf(secretsManagerSdk, publicOperations(service)),
                },
            },
            async provision() {
                for (const secret of context.declared.of(SECRET)) {
                    const name = str(secret.state.name);
                    service.declare(name, {
                        description: typeof secret.inputs.description === "string" ? secret.inputs.description : undefined,
                        kmsKeyId: typeof secret.inputs.kmsKeyId === "string" ? secret.inputs.kmsKeyId : undefined,
                    });
                    // Named only: the value is never part of what is printed or listed.
                    context.serve({ service: "secretsmanager", type: SECRET, urn: secret.urn, arn: str(secret.state.arn), name, description: `secret ${name}` });
                }
                for (const version of context.declared.of(SECRET_VERSION)) {
                    const stages = Array.isArray(version.inputs.versionStages) ? version.inputs.versionStages.map(String) : [CURRENT];
                    const value =
                        typeof version.inputs.secretString === "string"
                            ? { secretString: version.inputs.secretString }
                            : { secretBinary: new Uint8Array(Buffer.from(str(version.inputs.secretBinary), "base64")) };
                    service.declareVersion(str(version.inputs.secretId), value, stages);
                }
            },
        };
    },
};

/** Only the API's operations are reachable over HTTP (not `declare`). */
function publicOperations(service: SecretsManagerService): object {
    return {
        createSecret: (r: Record<string, unknown>) => service.createSecret(r),
        putSecretValue: (r: Record<string, unknown>) => service.putSecretValue(r),
        getSecretValue: (r: Record<string, unknown>) => service.getSecretValue(r),
        describeSecret: (r: Record<string, unknown>) => service.describeSecret(r),
        listSecrets: () => service.listSecrets(),
    };
}
