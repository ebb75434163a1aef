/**
 * JSONata in Step Functions: a string field of the form `{% expression %}` is evaluated with `$states`
 * (input, result, errorOutput, context) and the workflow variables bound; everything else is a literal. The
 * functions AWS adds ($partition, $range, $hash, $random, $uuid, $parse) are bound here; `$eval` is refused.
 * Any failure, and an expression that yields nothing (undefined), is States.QueryEvaluationError.
 */
import { createHash, randomUUID } from "node:crypto";
import jsonata from "jsonata";
import { isPlainObject, StatesError, type JsonValue } from "./types";

export function isJsonataExpression(value: unknown): value is string {
    return typeof value === "string" && value.startsWith("{%") && value.endsWith("%}") && value.length >= 4;
}

export function expressionText(value: string): string {
    return value.slice(2, -2).trim();
}

const compiled = new Map<string, jsonata.Expression>();

/** Compiles (and caches) an expression; throws the jsonata syntax error. */
export function compileJsonata(text: string): jsonata.Expression {
    let expr = compiled.get(text);
    if (!expr) {
        expr = jsonata(text);
        compiled.set(text, expr);
    }
    return expr;
}

export interface JsonataScope {
    states: { input: JsonValue; context: JsonValue; result?: JsonValue; errorOutput?: JsonValue };
    variables: Record<string, JsonValue>;
    random(): number;
    /** "An error occurred while executing the state 'X' (entered at the event id #N)." */
    causePrefix: string;
}

function queryError(scope: JsonataScope, text: string, field?: string): StatesError {
    const error = new StatesError("States.QueryEvaluationError", `${scope.causePrefix} ${text}`);
    error.location = field;
    return error;
}

function fnError(message: string): Error {
    return Object.assign(new Error(message), { code: "D3000" });
}

function awsFunctions(random: () => number): Record<string, unknown> {
    return {
        partition(array: unknown, size: unknown) {
            if (!Array.isArray(array)) throw fnError("The first argument of $partition must be an array");
            if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) throw fnError("The chunk size of $partition must be a positive integer");
            const out: unknown[] = [];
            for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
            return out;
        },
        range(start: unknown, end: unknown, step: unknown) {
            if (![start, end, step].every((n) => typeof n === "number" && Number.isInteger(n))) throw fnError("The arguments of $range must be integers");
            const [a, b, s] = [start, end, step] as number[];
            if (s === 0) throw fnError("The step of $range must not be 0");
            const out: number[] = [];
            for (let v = a; s > 0 ? v <= b : v >= b; v += s) {
                out.push(v);
                if (out.length > 1000) throw fnError("$range cannot produce more than 1000 items");
            }
            return out;
        },
        hash(value: unknown, algorithm: unknown) {
            const algorithms: Record<string, string> = { MD5: "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };
            if (typeof value !== "string") throw fnError("The first argument of $hash must be a string");
            const name = typeof algorithm === "string" ? algorithms[algorithm] : undefined;
            if (!name) throw fnError(`The algorithm of $hash must be one of ${Object.keys(algorithms).join(", ")}`);
            return createHash(name).update(value, "utf8").digest("hex");
        },
        random(seed?: unknown) {
            if (seed === undefined) return random();
            if (typeof seed !== "number" || !Number.isInteger(seed)) throw fnError("The seed of $random must be an integer");
            let t = (seed + 0x6d2b79f5) | 0;
            t = Math.imul(t ^ (t >>> 15), t | 1);
            t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
            return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
        },
        uuid() {
            return randomUUID();
        },
        parse(text: unknown) {
            if (typeof text !== "string") throw fnError("The argument of $parse must be a string");
            try {
                return JSON.parse(text) as unknown;
            } catch {
                throw fnError("The argument of $parse is not valid JSON");
            }
        },
        eval() {
            throw fnError("The function $eval is not supported by Step Functions; use $parse");
        },
    };
}

/** Turns a JSONata result into plain JSON (sequences become arrays; functions are an error). */
function toJson(value: unknown, scope: JsonataScope, expression: string, field: string): JsonValue {
    if (typeof value === "function") throw queryError(scope, `The JSONata expression '${expression}' specified for the field '${field}' returned a function, which is not a JSON value.`, field);
    return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/** Evaluates one `{% %}` string. */
export async function evaluateExpression(source: string, scope: JsonataScope, field: string): Promise<JsonValue> {
    const text = expressionText(source);
    let expr: jsonata.Expression;
    try {
        expr = compileJsonata(text);
    } catch (e) {
        throw queryError(scope, `The JSONata expression '${text}' specified for the field '${field}' could not be parsed. ${jsonataMessage(e)}`, field);
    }
    const bindings: Record<string, unknown> = { ...scope.variables, ...awsFunctions(scope.random), states: scope.states };
    let result: unknown;
    try {
        result = await expr.evaluate(undefined, bindings);
    } catch (e) {
        throw queryError(scope, `The JSONata expression '${text}' specified for the field '${field}' threw an error during evaluation. ${jsonataMessage(e)}`, field);
    }
    if (result === undefined) throw queryError(scope, `The JSONata expression '${text}' specified for the field '${field}' returned nothing (undefined).`, field);
    return toJson(result, scope, text, field);
}

function jsonataMessage(e: unknown): string {
    if (e && typeof e === "object") {
        const { code, message } = e as { code?: string; message?: string };
        return code ? `${code}: ${message ?? ""}` : String(message ?? e);
    }
    return String(e);
}

/** Evaluates a field value: `{% %}` strings anywhere inside objects and arrays; other values as written. */
export async function evaluateTemplate(value: unknown, scope: JsonataScope, field: string): Promise<JsonValue> {
    if (isJsonataExpression(value)) return evaluateExpression(value, scope, field);
    if (Array.isArray(value)) {
        const out: JsonValue[] = [];
        for (let i = 0; i < value.length; i++) out.push(await evaluateTemplate(value[i], scope, `${field}[${i}]`));
        return out;
    }
    if (isPlainObject(value)) {
        const out: Record<string, JsonValue> = {};
        for (const [k, v] of Object.entries(value)) out[k] = await evaluateTemplate(v, scope, `${field}/${k}`);
        return out;
    }
    return value as JsonValue;
}
