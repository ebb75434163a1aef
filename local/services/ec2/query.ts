/**
 * EC2's query protocol, read and written with the SDK's own schemas (`@aws-sdk/client-ec2` ships every operation's
 * input and output shape, with the `ec2QueryName` and `xmlName` of each member): form parameters such as
 * `InstanceId.1` or `Filter.1.Value.2` become the SDK's request object, and a result becomes EC2's XML
 * (`<reservationSet><item>...`) in the namespace `http://ec2.amazonaws.com/doc/2016-11-15/`. No element name is
 * kept by hand here.
 */
import * as ec2Sdk from "@aws-sdk/client-ec2";
import { NormalizedSchema } from "@smithy/core/schema";
import type { StaticOperationSchema } from "@smithy/types";

export const EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/";

/** The operation's schema the SDK exports as `<Operation>$`. */
export function operationSchema(operation: string): StaticOperationSchema | undefined {
    const schema = (ec2Sdk as unknown as Record<string, unknown>)[`${operation}$`];
    return Array.isArray(schema) && schema[0] === 9 ? (schema as unknown as StaticOperationSchema) : undefined;
}

/** A member's name in the query: `ec2QueryName`, else its `xmlName` or member name capitalised (the ec2Query rules). */
function queryName(member: NormalizedSchema): string {
    const traits = member.getMergedTraits();
    if (typeof traits.ec2QueryName === "string") return traits.ec2QueryName;
    const name = typeof traits.xmlName === "string" ? traits.xmlName : member.getMemberName();
    return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The request object of an operation from its form parameters. */
export function readQuery(operation: StaticOperationSchema, params: URLSearchParams): Record<string, unknown> {
    const keys = [...params.keys()];
    const read = (schema: NormalizedSchema, prefix: string): unknown => {
        if (schema.isStructSchema()) {
            const object: Record<string, unknown> = {};
            for (const [name, member] of schema.structIterator()) {
                const value = read(member, prefix ? `${prefix}.${queryName(member)}` : queryName(member));
                if (value !== undefined) object[name] = value;
            }
            return Object.keys(object).length ? object : undefined;
        }
        if (schema.isListSchema()) {
            // Lists are flattened: Key.1, Key.2 (or Key.1.Sub for a list of structures), numbered from 1.
            const indices = new Set<number>();
            const dotted = `${prefix}.`;
            for (const key of keys) if (key.startsWith(dotted)) indices.add(Number(key.slice(dotted.length).split(".", 1)[0]));
            const items = [...indices].filter((n) => Number.isInteger(n) && n > 0).sort((a, b) => a - b).map((n) => read(schema.getValueSchema(), `${prefix}.${n}`));
            return items.length ? items : undefined;
        }
        const value = params.get(prefix);
        if (value === null) return undefined;
        if (schema.isBooleanSchema()) return value === "true";
        if (schema.isNumericSchema()) return Number(value);
        return value;
    };
    return (read(NormalizedSchema.of(operation[4]), "") as Record<string, unknown> | undefined) ?? {};
}

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const elementName = (member: NormalizedSchema) => {
    const traits = member.getMergedTraits();
    return typeof traits.xmlName === "string" ? traits.xmlName : member.getMemberName();
};

/** The XML answer of an operation: `<OperationResponse xmlns=...><requestId>` then the result's members. */
export function writeResponse(operationName: string, operation: StaticOperationSchema, result: unknown, requestId: string): string {
    const write = (schema: NormalizedSchema, value: unknown): string => {
        if (value === undefined || value === null) return "";
        if (schema.isStructSchema()) {
            let xml = "";
            const object = value as Record<string, unknown>;
            for (const [name, member] of schema.structIterator()) {
                if (object[name] === undefined || object[name] === null) continue;
                const tag = elementName(member);
                xml += `<${tag}>${write(member, object[name])}</${tag}>`;
            }
            return xml;
        }
        if (schema.isListSchema()) {
            const item = schema.getValueSchema();
            const tag = typeof item.getMergedTraits().xmlName === "string" ? (item.getMergedTraits().xmlName as string) : "item";
            return (value as unknown[]).map((entry) => `<${tag}>${write(item, entry)}</${tag}>`).join("");
        }
        if (schema.isTimestampSchema()) return escape(new Date(value instanceof Date ? value.getTime() : String(value)).toISOString());
        return escape(String(value));
    };
    const body = write(NormalizedSchema.of(operation[5]), result);
    return `<?xml version="1.0" encoding="UTF-8"?>\n<${operationName}Response xmlns="${EC2_NAMESPACE}"><requestId>${requestId}</requestId>${body}</${operationName}Response>`;
}

/** EC2's error answer. */
export function writeError(code: string, message: string, requestId: string): string {
    return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escape(code)}</Code><Message>${escape(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}
