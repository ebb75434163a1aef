/**
 * Type checks of JSON-protocol requests against the operation shapes the AWS SDK itself ships (`PutEvents$`,
 * `StartExecution$`, ... exported by each `@aws-sdk/client-*` package, walked with `@smithy/core/schema`). AWS
 * refuses a member of the wrong JSON type (`"Source": 5`, `"Entries": "x"`) with `SerializationException` before
 * the operation runs; so does the runtime, for every operation of every service, without a hand-kept copy of a
 * shape. Values (lengths, patterns, required members) stay the operations' own checks.
 */
import { NormalizedSchema } from "@smithy/core/schema";
import type { StaticOperationSchema } from "@smithy/types";
import { AwsError } from "./awsError";

/** Checks one request of the named operation; throws SerializationException naming the member at fault. */
export type RequestShapeCheck = (operation: string, request: Record<string, unknown>) => void;

function isOperationSchema(value: unknown): value is StaticOperationSchema {
    return Array.isArray(value) && value[0] === 9 && typeof value[2] === "string";
}

function describe(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "a list";
    if (typeof value === "object") return "an object";
    return `a ${typeof value}`;
}

/** The JSON type the shape takes, as an error names it, or undefined where any JSON value is accepted. */
function expectedType(shape: NormalizedSchema): string | undefined {
    if (shape.isDocumentSchema()) return undefined;
    if (shape.isListSchema()) return "a list";
    if (shape.isMapSchema() || shape.isStructSchema() || shape.isUnionSchema()) return "an object";
    if (shape.isBooleanSchema()) return "a boolean";
    if (shape.isTimestampSchema()) return "a timestamp (epoch seconds)";
    if (shape.isNumericSchema() || shape.isBigIntegerSchema() || shape.isBigDecimalSchema()) return "a number";
    if (shape.isStringSchema() || shape.isBlobSchema()) return "a string";
    return undefined;
}

function matches(shape: NormalizedSchema, value: unknown): boolean {
    if (shape.isDocumentSchema()) return true;
    if (shape.isListSchema()) return Array.isArray(value);
    if (shape.isMapSchema() || shape.isStructSchema() || shape.isUnionSchema()) return typeof value === "object" && !Array.isArray(value);
    if (shape.isBooleanSchema()) return typeof value === "boolean";
    // The JSON protocols send timestamps as epoch seconds; the CLI may send them as text.
    if (shape.isTimestampSchema()) return typeof value === "number" || typeof value === "string";
    if (shape.isNumericSchema() || shape.isBigIntegerSchema() || shape.isBigDecimalSchema()) return typeof value === "number" && Number.isFinite(value);
    if (shape.isStringSchema() || shape.isBlobSchema()) return typeof value === "string";
    return true;
}

/** Walks `value` against `shape`; `at` names the member as a path (`Entries[0].Source`). */
function check(shape: NormalizedSchema, value: unknown, at: string): void {
    // JSON null reads as an absent member.
    if (value === null || value === undefined) return;
    if (!matches(shape, value)) {
        throw new AwsError("SerializationException", `${at} must be ${expectedType(shape) ?? "a JSON value"}, not ${describe(value)}`);
    }
    if (shape.isListSchema()) {
        const item = shape.getValueSchema();
        (value as unknown[]).forEach((element, index) => check(item, element, `${at}[${index}]`));
    } else if (shape.isMapSchema()) {
        const item = shape.getValueSchema();
        for (const [key, element] of Object.entries(value as Record<string, unknown>)) check(item, element, `${at}.${key}`);
    } else if (shape.isStructSchema() || shape.isUnionSchema()) {
        const members = value as Record<string, unknown>;
        for (const [name, member] of shape.structIterator()) {
            if (Object.prototype.hasOwnProperty.call(members, name)) check(member, members[name], at === "" ? name : `${at}.${name}`);
        }
    }
}

/**
 * The checks for every operation an SDK client package declares (pass the module, for example
 * `require("@aws-sdk/client-sfn")`). An operation the package does not declare is not checked.
 */
export function requestShapes(sdkModule: object): RequestShapeCheck {
    const inputs = new Map<string, NormalizedSchema>();
    for (const value of Object.values(sdkModule)) {
        if (isOperationSchema(value)) inputs.set(value[2], NormalizedSchema.of(value[4]));
    }
    return (operation, request) => {
        const input = inputs.get(operation);
        if (input) check(input, request, "");
    };
}
