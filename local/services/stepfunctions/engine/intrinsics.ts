/**
 * Intrinsic functions of JSONPath states (`States.Format(...)` and the rest), parsed once and evaluated
 * against the same roots as paths. Behaviour follows AWS's intrinsic functions reference, including the
 * corners AWS shows: States.Format renders objects as `{a=1, b=[1, 2]}`, StringToJson("") is null,
 * MathAdd rounds its arguments, StringSplit splits on any of the separator's characters and drops empties.
 */
import { createHash, randomUUID } from "node:crypto";
import { evaluatePath, parsePath, PathNotFound, type ParsedPath, type PathRoots } from "./jsonPath";
import { isPlainObject, type JsonValue } from "./types";

type Arg =
    | { kind: "string"; value: string; raw: string }
    | { kind: "literal"; value: JsonValue }
    | { kind: "path"; path: ParsedPath }
    | { kind: "call"; call: IntrinsicCall };

export interface IntrinsicCall {
    name: string;
    args: Arg[];
    text: string;
}

export class IntrinsicSyntaxError extends Error {}
/** A failure while evaluating: the interpreter reports it as States.Runtime with this text. */
export class IntrinsicRuntimeError extends Error {}

const ARITY: Record<string, [number, number]> = {
    "States.Format": [1, Infinity],
    "States.StringToJson": [1, 1],
    "States.JsonToString": [1, 1],
    "States.Array": [0, Infinity],
    "States.ArrayPartition": [2, 2],
    "States.ArrayContains": [2, 2],
    "States.ArrayRange": [3, 3],
    "States.ArrayGetItem": [2, 2],
    "States.ArrayLength": [1, 1],
    "States.ArrayUnique": [1, 1],
    "States.Base64Encode": [1, 1],
    "States.Base64Decode": [1, 1],
    "States.Hash": [2, 2],
    "States.JsonMerge": [3, 3],
    "States.MathRandom": [2, 3],
    "States.MathAdd": [2, 2],
    "States.StringSplit": [2, 2],
    "States.UUID": [0, 0],
};

export function looksLikeIntrinsic(text: string): boolean {
    return /^\s*States\.[A-Za-z0-9]+\s*\(/.test(text);
}

const cache = new Map<string, IntrinsicCall>();

export function parseIntrinsic(text: string): IntrinsicCall {
    const cached = cache.get(text);
    if (cached) return cached;
    const p = { pos: 0 };
    const call = parseCall(text, p);
    skip(text, p);
    if (p.pos !== text.length) throw new IntrinsicSyntaxError(`unexpected text after the closing parenthesis in '${text}'`);
    cache.set(text, call);
    return call;
}

function skip(text: string, p: { pos: number }): void {
    while (text[p.pos] === " ") p.pos++;
}

function parseCall(text: string, p: { pos: number }): IntrinsicCall {
    skip(text, p);
    const start = p.pos;
    const m = /^States\.[A-Za-z0-9]+/.exec(text.slice(p.pos));
    if (!m) throw new IntrinsicSyntaxError(`expected an intrinsic function at position ${p.pos} of '${text}'`);
    const name = m[0];
    if (!ARITY[name]) throw new IntrinsicSyntaxError(`The intrinsic function '${name}' is not supported`);
    p.pos += name.length;
    skip(text, p);
    if (text[p.pos] !== "(") throw new IntrinsicSyntaxError(`expected '(' after ${name}`);
    p.pos++;
    const args: Arg[] = [];
    skip(text, p);
    if (text[p.pos] === ")") p.pos++;
    else {
        for (;;) {
            args.push(parseArg(text, p));
            skip(text, p);
            if (text[p.pos] === ",") {
                p.pos++;
                continue;
            }
            if (text[p.pos] === ")") {
                p.pos++;
                break;
            }
            throw new IntrinsicSyntaxError(`expected ',' or ')' at position ${p.pos} of '${text}'`);
        }
    }
    const [min, max] = ARITY[name];
    if (args.length < min || args.length > max) {
        throw new IntrinsicSyntaxError(`${name} takes ${min === max ? min : max === Infinity ? `at least ${min}` : `${min} to ${max}`} arguments, got ${args.length}`);
    }
    return { name, args, text: text.slice(start, p.pos) };
}

function parseArg(text: string, p: { pos: number }): Arg {
    skip(text, p);
    const ch = text[p.pos];
    if (ch === "'") {
        p.pos++;
        let value = "";
        let raw = "";
        while (p.pos < text.length && text[p.pos] !== "'") {
            if (text[p.pos] === "\\" && p.pos + 1 < text.length) {
                raw += text[p.pos] + text[p.pos + 1];
                value += text[p.pos + 1];
                p.pos += 2;
                continue;
            }
            raw += text[p.pos];
            value += text[p.pos];
            p.pos++;
        }
        if (text[p.pos] !== "'") throw new IntrinsicSyntaxError(`unterminated string in '${text}'`);
        p.pos++;
        return { kind: "string", value, raw };
    }
    if (ch === "$") {
        const start = p.pos;
        let depth = 0;
        let quote = "";
        while (p.pos < text.length) {
            const c = text[p.pos];
            if (quote) {
                if (c === quote) quote = "";
            } else if (c === "'" || c === '"') quote = c;
            else if (c === "[" || c === "(") depth++;
            else if (c === "]" || (c === ")" && depth > 0)) depth--;
            else if ((c === "," || c === ")") && depth === 0) break;
            p.pos++;
        }
        const pathText = text.slice(start, p.pos).trim();
        return { kind: "path", path: parsePath(pathText) };
    }
    if (text.startsWith("States.", p.pos)) return { kind: "call", call: parseCall(text, p) };
    const rest = text.slice(p.pos);
    const num = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(rest);
    if (num) {
        p.pos += num[0].length;
        return { kind: "literal", value: Number(num[0]) };
    }
    for (const [word, value] of [["true", true], ["false", false], ["null", null]] as const) {
        if (rest.startsWith(word)) {
            p.pos += word.length;
            return { kind: "literal", value };
        }
    }
    throw new IntrinsicSyntaxError(`unexpected argument at position ${p.pos} of '${text}'`);
}

export interface IntrinsicEnv {
    roots: PathRoots;
    random(): number;
}

/** Evaluates a parsed call; missing paths surface as PathNotFound (with the path text). */
export function evaluateIntrinsic(call: IntrinsicCall, env: IntrinsicEnv): JsonValue {
    const values = call.args.map((arg) => argValue(arg, env));
    const fail = (why: string): never => {
        throw new IntrinsicRuntimeError(`Invalid arguments in ${call.name}${why ? `: ${why}` : ""}`);
    };
    const str = (i: number): string => (typeof values[i] === "string" ? (values[i] as string) : fail(`argument ${i + 1} must be a string`));
    const arr = (i: number): JsonValue[] => (Array.isArray(values[i]) ? (values[i] as JsonValue[]) : fail(`argument ${i + 1} must be an array`));
    const num = (i: number): number => (typeof values[i] === "number" ? (values[i] as number) : fail(`argument ${i + 1} must be a number`));
    const int = (i: number): number => {
        const n = num(i);
        return Number.isInteger(n) ? n : fail(`argument ${i + 1} must be an integer`);
    };
    switch (call.name) {
        case "States.Format": {
            const template = call.args[0];
            if (template.kind !== "string" && typeof values[0] !== "string") fail("the template must be a string");
            const raw = template.kind === "string" ? template.raw : (values[0] as string);
            let next = 1;
            let out = "";
            for (let i = 0; i < raw.length; i++) {
                if (raw[i] === "\\" && i + 1 < raw.length) {
                    out += raw[++i];
                } else if (raw[i] === "{" && raw[i + 1] === "}") {
                    if (next >= values.length) fail("there are more placeholders than arguments");
                    out += renderFormatArg(values[next++]);
                    i++;
                } else out += raw[i];
            }
            if (next !== values.length) fail("there are more arguments than placeholders");
            return out;
        }
        case "States.StringToJson": {
            const text = str(0);
            if (text.trim() === "") return null;
            try {
                return JSON.parse(text) as JsonValue;
            } catch {
                return fail("the string is not valid JSON");
            }
        }
        case "States.JsonToString":
            return JSON.stringify(values[0]);
        case "States.Array":
            return values;
        case "States.ArrayPartition": {
            const items = arr(0);
            const size = int(1);
            if (size <= 0) fail("the chunk size must be a positive integer");
            const out: JsonValue[] = [];
            for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
            return out;
        }
        case "States.ArrayContains": {
            const needle = canonical(values[1]);
            return arr(0).some((v) => canonical(v) === needle);
        }
        case "States.ArrayRange": {
            const [start, end, step] = [int(0), int(1), int(2)];
            if (step === 0) fail("the step must not be 0");
            const out: number[] = [];
            for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
                out.push(v);
                if (out.length > 1000) fail("the range has more than 1000 items");
            }
            return out;
        }
        case "States.ArrayGetItem": {
            const items = arr(0);
            const index = int(1);
            if (index < 0 || index >= items.length) fail(`index ${index} is out of bounds`);
            return items[index];
        }
        case "States.ArrayLength":
            return arr(0).length;
        case "States.ArrayUnique": {
            const seen = new Set<string>();
            return arr(0).filter((v) => {
                const key = canonical(v);
                if (seen.has(key)) return false;
                seen.add(key);
                return true;
            });
        }
        case "States.Base64Encode": {
            const text = str(0);
            if (text.length > 10000) fail("the input is longer than 10000 characters");
            return Buffer.from(text, "utf8").toString("base64");
        }
        case "States.Base64Decode": {
            const text = str(0);
            if (text.length > 10000) fail("the input is longer than 10000 characters");
            if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) fail("the input is not base64");
            return Buffer.from(text, "base64").toString("utf8");
        }
        case "States.Hash": {
            const data = typeof values[0] === "string" ? values[0] : JSON.stringify(values[0]);
            if (values[0] === null) fail("the data must not be null");
            const algorithms: Record<string, string> = { MD5: "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };
            const algorithm = algorithms[str(1)];
            if (!algorithm) fail(`the algorithm must be one of ${Object.keys(algorithms).join(", ")}`);
            if (data.length > 10000) fail("the data is longer than 10000 characters");
            return createHash(algorithm).update(data, "utf8").digest("hex");
        }
        case "States.JsonMerge": {
            const [a, b, deep] = values;
            if (!isPlainObject(a) || !isPlainObject(b)) fail("both values must be JSON objects");
            if (deep !== false) fail("deep merging is not supported; the third argument must be false");
            return { ...(a as object), ...(b as object) } as JsonValue;
        }
        case "States.MathRandom": {
            const start = Math.round(num(0));
            const end = Math.round(num(1));
            if (end <= start) fail("the end must be greater than the start");
            const random = values.length > 2 ? seeded(int(2)) : env.random();
            return start + Math.floor(random * (end - start));
        }
        case "States.MathAdd": {
            const sum = Math.round(num(0)) + Math.round(num(1));
            return sum;
        }
        case "States.StringSplit": {
            const text = str(0);
            const separators = new Set(str(1));
            const parts: string[] = [];
            let current = "";
            for (const ch of text) {
                if (separators.has(ch)) {
                    if (current) parts.push(current);
                    current = "";
                } else current += ch;
            }
            if (current) parts.push(current);
            return parts;
        }
        case "States.UUID":
            return randomUUID();
    }
    return fail("unknown function");
}

function argValue(arg: Arg, env: IntrinsicEnv): JsonValue {
    switch (arg.kind) {
        case "string":
            return arg.value;
        case "literal":
            return arg.value;
        case "call":
            return evaluateIntrinsic(arg.call, env);
        case "path":
            try {
                return evaluatePath(arg.path, env.roots);
            } catch (e) {
                if (e instanceof PathNotFound) throw new IntrinsicPathNotFound(arg.path.text, e.reason);
                throw e;
            }
    }
}

export class IntrinsicPathNotFound extends Error {
    constructor(
        readonly pathText: string,
        readonly reason: "path" | "variable",
    ) {
        super(pathText);
    }
}

/** How AWS's States.Format renders a value (Java's Map/List toString for objects and arrays). */
export function renderFormatArg(value: JsonValue): string {
    if (value === null) return "null";
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    if (Array.isArray(value)) return `[${value.map(renderFormatArg).join(", ")}]`;
    return `{${Object.entries(value)
        .map(([k, v]) => `${k}=${renderFormatArg(v)}`)
        .join(", ")}}`;
}

function canonical(value: JsonValue): string {
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    if (isPlainObject(value)) {
        return `{${Object.keys(value)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(value);
}

/** A deterministic number in [0, 1) for a seed (mulberry32), so a seeded MathRandom repeats. */
function seeded(seed: number): number {
    let t = (seed + 0x6d2b79f5) | 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
