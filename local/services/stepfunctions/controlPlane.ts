/**
 * The Step Functions control plane's shapes and checks: state machines created over the API, versions, aliases and
 * their routing, definition validation diagnostics, and the `aws.states` execution status-change event. The service
 * class (stepFunctions.ts) holds the state; this module holds what needs none.
 */
import type * as Sfn from "@aws-sdk/client-sfn";
import { AwsError } from "../../core/awsError";

/**
 * An SDK shape as the JSON 1.0 protocol sends it: timestamps are epoch seconds, not `Date`. Requests and
 * responses are typed from @aws-sdk/client-sfn through this, so member names and optionality follow AWS.
 */
export type Wire<T> = T extends Date ? number : T extends Array<infer Item> ? Array<Wire<Item>> : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;

/** Members the SDK declares required (`name: string | undefined`, as opposed to `name?: ...`). */
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type Flatten<T> = { [K in keyof T]: T[K] };
/**
 * A response as this service answers it: Wire, and the members AWS always sends are present (the SDK types them
 * `string | undefined` only because a client must tolerate a server that leaves them out).
 */
export type Answer<T> = T extends Date
    ? number
    : T extends Array<infer Item>
      ? Array<Answer<Item>>
      : T extends object
        ? Flatten<{ [K in RequiredKeys<T>]: Answer<Exclude<T[K], undefined>> } & { [K in Exclude<keyof T, RequiredKeys<T>>]?: Answer<Exclude<T[K], undefined>> }>
        : T;

export type CreateStateMachineRequest = Partial<Wire<Sfn.CreateStateMachineInput>>;
export type CreateStateMachineResponse = Answer<Sfn.CreateStateMachineOutput>;
export type UpdateStateMachineRequest = Partial<Wire<Sfn.UpdateStateMachineInput>>;
export type UpdateStateMachineResponse = Answer<Sfn.UpdateStateMachineOutput>;
export type DeleteStateMachineRequest = Partial<Wire<Sfn.DeleteStateMachineInput>>;
export type DescribeStateMachineRequest = Partial<Wire<Sfn.DescribeStateMachineInput>>;
export type DescribeStateMachineResponse = Answer<Sfn.DescribeStateMachineOutput>;
export type DescribeStateMachineForExecutionRequest = Partial<Wire<Sfn.DescribeStateMachineForExecutionInput>>;
export type DescribeStateMachineForExecutionResponse = Answer<Sfn.DescribeStateMachineForExecutionOutput>;
export type ValidateStateMachineDefinitionRequest = Partial<Wire<Sfn.ValidateStateMachineDefinitionInput>>;
export type ValidateStateMachineDefinitionResponse = Answer<Sfn.ValidateStateMachineDefinitionOutput>;
export type ValidationDiagnostic = Answer<Sfn.ValidateStateMachineDefinitionDiagnostic>;
export type PublishStateMachineVersionRequest = Partial<Wire<Sfn.PublishStateMachineVersionInput>>;
export type PublishStateMachineVersionResponse = Answer<Sfn.PublishStateMachineVersionOutput>;
export type ListStateMachineVersionsRequest = Partial<Wire<Sfn.ListStateMachineVersionsInput>>;
export type ListStateMachineVersionsResponse = Answer<Sfn.ListStateMachineVersionsOutput>;
export type DeleteStateMachineVersionRequest = Partial<Wire<Sfn.DeleteStateMachineVersionInput>>;
export type CreateStateMachineAliasRequest = Partial<Wire<Sfn.CreateStateMachineAliasInput>>;
export type CreateStateMachineAliasResponse = Answer<Sfn.CreateStateMachineAliasOutput>;
export type UpdateStateMachineAliasRequest = Partial<Wire<Sfn.UpdateStateMachineAliasInput>>;
export type UpdateStateMachineAliasResponse = Answer<Sfn.UpdateStateMachineAliasOutput>;
export type DescribeStateMachineAliasRequest = Partial<Wire<Sfn.DescribeStateMachineAliasInput>>;
export type DescribeStateMachineAliasResponse = Answer<Sfn.DescribeStateMachineAliasOutput>;
export type ListStateMachineAliasesRequest = Partial<Wire<Sfn.ListStateMachineAliasesInput>>;
export type ListStateMachineAliasesResponse = Answer<Sfn.ListStateMachineAliasesOutput>;
export type DeleteStateMachineAliasRequest = Partial<Wire<Sfn.DeleteStateMachineAliasInput>>;
export type StartSyncExecutionRequest = Partial<Wire<Sfn.StartSyncExecutionInput>>;
export type StartSyncExecutionResponse = Answer<Sfn.StartSyncExecutionOutput>;
export type RedriveExecutionRequest = Partial<Wire<Sfn.RedriveExecutionInput>>;
export type RedriveExecutionResponse = Answer<Sfn.RedriveExecutionOutput>;
export type RoutingEntry = { stateMachineVersionArn: string; weight: number };
export type LoggingConfiguration = Wire<Sfn.LoggingConfiguration>;
export type TracingConfiguration = Wire<Sfn.TracingConfiguration>;

/** What AWS answers for a machine created without them. */
export const DEFAULT_LOGGING: LoggingConfiguration = { level: "OFF", includeExecutionData: false };
export const DEFAULT_TRACING: TracingConfiguration = { enabled: false };

const PARTITION_REGION_ACCOUNT = "arn:aws[a-z-]*:states:[a-z0-9-]*:\\d*";
/** `...:stateMachine:name:3` */
const VERSION_ARN = new RegExp(`^(${PARTITION_REGION_ACCOUNT}:stateMachine:[^:\\s]{1,80}):([1-9]\\d{0,9})$`);
/** `...:stateMachine:name:aliasName` (an alias name is never all digits). */
const ALIAS_ARN = new RegExp(`^(${PARTITION_REGION_ACCOUNT}:stateMachine:[^:\\s]{1,80}):([^:\\s]{1,80})$`);
const IAM_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

/** What a qualified or unqualified state machine ARN names. */
export type MachineTarget = { kind: "machine"; machineArn: string } | { kind: "version"; machineArn: string; version: number; arn: string } | { kind: "alias"; machineArn: string; aliasName: string; arn: string };

/** Classifies a state machine ARN; undefined when it is none of the three forms. */
export function parseMachineTarget(arn: string, unqualified: RegExp): MachineTarget | undefined {
    if (unqualified.test(arn)) return { kind: "machine", machineArn: arn };
    const version = VERSION_ARN.exec(arn);
    if (version) return { kind: "version", machineArn: version[1], version: Number(version[2]), arn };
    const alias = ALIAS_ARN.exec(arn);
    if (alias) return { kind: "alias", machineArn: alias[1], aliasName: alias[2], arn };
    return undefined;
}

export function invalidArn(arn: string): AwsError {
    return new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
}

/** Names of state machines and aliases: AWS's rules, 1–80 characters without whitespace, brackets, wildcards or punctuation. */
export function checkResourceName(name: string, what: "state machine" | "alias"): void {
    const forbidden = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
    if (name.length < 1 || name.length > 80 || forbidden.test(name)) throw new AwsError("InvalidName", `Invalid Name: '${name}'`);
    // An alias ARN ends in its name; an all-digit one would read as a version number.
    if (what === "alias" && /^\d+$/.test(name)) throw new AwsError("ValidationException", `Invalid alias name '${name}': an alias name must not consist of digits only`);
}

export function checkRoleArn(roleArn: string): void {
    if (!IAM_ROLE_ARN.test(roleArn)) throw new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${roleArn}'`);
}

export function checkMachineType(type: unknown): "STANDARD" | "EXPRESS" {
    if (type === undefined || type === null) return "STANDARD";
    if (type === "STANDARD" || type === "EXPRESS") return type;
    throw new AwsError("ValidationException", `1 validation error detected: Value '${String(type)}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]`);
}

export function checkDescription(description: unknown, member: string): string | undefined {
    if (description === undefined || description === null) return undefined;
    if (typeof description !== "string") throw new AwsError("ValidationException", `Value at '${member}' must be a string`);
    if (description.length > 256) throw new AwsError("ValidationException", `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length less than or equal to 256`);
    return description;
}

/**
 * An alias's routing: one or two distinct versions of one state machine, whole weights 0–100 summing to 100
 * (AWS's rules). Whether the versions exist is checked by the caller.
 */
export function checkRoutingConfiguration(routing: unknown): RoutingEntry[] {
    if (!Array.isArray(routing) || routing.length < 1 || routing.length > 2) {
        throw new AwsError("ValidationException", "1 validation error detected: Value at 'routingConfiguration' failed to satisfy constraint: Member must have length between 1 and 2");
    }
    const entries = routing.map((item: unknown, index): RoutingEntry => {
        const entry = (typeof item === "object" && item !== null ? item : {}) as Record<string, unknown>;
        const arn = entry.stateMachineVersionArn;
        const weight = entry.weight;
        if (typeof arn !== "string" || !VERSION_ARN.test(arn)) {
            throw new AwsError("ValidationException", `Invalid routingConfiguration[${index}].stateMachineVersionArn: '${String(arn)}' is not a state machine version ARN`);
        }
        if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0 || weight > 100) {
            throw new AwsError("ValidationException", `Invalid routingConfiguration[${index}].weight: ${String(weight)} is not a whole number from 0 to 100`);
        }
        return { stateMachineVersionArn: arn, weight };
    });
    const machines = new Set(entries.map((entry) => VERSION_ARN.exec(entry.stateMachineVersionArn)![1]));
    if (machines.size > 1) throw new AwsError("ValidationException", "Invalid routingConfiguration: all versions must belong to the same state machine");
    if (entries.length === 2 && entries[0].stateMachineVersionArn === entries[1].stateMachineVersionArn) {
        throw new AwsError("ValidationException", "Invalid routingConfiguration: the same version is listed twice");
    }
    const total = entries.reduce((sum, entry) => sum + entry.weight, 0);
    if (total !== 100) throw new AwsError("ValidationException", `Invalid routingConfiguration: the weights sum to ${total}, not 100`);
    return entries;
}

/** The state machine ARN a version ARN belongs to. */
export function machineOfVersion(versionArn: string): string {
    const match = VERSION_ARN.exec(versionArn);
    return match ? match[1] : versionArn;
}

/** Picks a version by weight, as an alias routes StartExecution. `random` is in [0, 1). */
export function routeByWeight(routing: readonly RoutingEntry[], random: number): string {
    let threshold = random * 100;
    for (const entry of routing) {
        if (threshold < entry.weight) return entry.stateMachineVersionArn;
        threshold -= entry.weight;
    }
    // Floating point may leave a sliver past the last weight: it belongs to the last version with any weight.
    return [...routing].reverse().find((entry) => entry.weight > 0)!.stateMachineVersionArn;
}

export function sameRouting(a: readonly RoutingEntry[], b: readonly RoutingEntry[]): boolean {
    const key = (routing: readonly RoutingEntry[]) =>
        JSON.stringify([...routing].map((entry) => [entry.stateMachineVersionArn, entry.weight]).sort());
    return key(a) === key(b);
}

// ---------------------------------------------------------------------------------------------------------------
// aws.states "Step Functions Execution Status Change"
// ---------------------------------------------------------------------------------------------------------------

export const EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change";

/** The event's `detail`, as AWS sends it: dates in epoch milliseconds, absent values as null. */
export interface ExecutionStatusChangeDetail {
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";
    startDate: number;
    stopDate: number | null;
    input: string;
    inputDetails: { included: boolean };
    output: string | null;
    outputDetails: { included: boolean } | null;
    redriveCount: number;
    redriveDate: number | null;
    redriveStatus: "REDRIVABLE" | "NOT_REDRIVABLE";
    redriveStatusReason: string;
    error: string | null;
    cause: string | null;
    /** Present when the execution was started through a version or an alias. */
    stateMachineVersionArn?: string;
    stateMachineAliasArn?: string;
}

/** What the runtime puts on the default bus with source `aws.states` (the lead wires `onStatusChange` to it). */
export interface ExecutionStatusChangeEvent {
    detailType: typeof EXECUTION_STATUS_CHANGE;
    source: "aws.states";
    detail: ExecutionStatusChangeDetail;
    /** ISO 8601, whole seconds, as EventBridge's `time`. */
    time: string;
    resources: [string];
}

export function eventTime(ms: number): string {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
