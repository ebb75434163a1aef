/**
 * Choice rules of JSONPath states: comparison operators (and their `*Path` forms), type tests, And/Or/Not.
 * A comparison whose value is of another type is false; a Variable that is not there is a States.Runtime
 * failure (except for IsPresent).
 */
import { evaluatePath, PathNotFound, type PathRoots } from "./jsonPath";
import { isPlainObject, type JsonObject, type JsonValue } from "./types";

export const COMPARISON_OPERATORS = [
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
] as const;
export const TYPE_TESTS = ["IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"] as const;
export const ALL_OPERATORS: string[] = [...COMPARISON_OPERATORS, ...COMPARISON_OPERATORS.map((o) => `${o}Path`), ...TYPE_TESTS, "StringMatches"];

export class ChoicePathError extends Error {
    constructor(readonly pathText: string) {
        super(`Invalid path '${pathText}': The choice state's condition path references an invalid value.`);
    }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** An RFC3339 timestamp as an instant: whole epoch seconds and the fraction's digits (kept beyond milliseconds). */
interface Instant {
    seconds: number;
    fraction: string;
}

/**
 * Parses an RFC3339 timestamp (uppercase T and Z, as the States Language requires) strictly: RFC3339 section 5.7
 * bounds the day by the month and the hour to 00-23, so "2020-02-30" or "24:00:00" is not a timestamp.
 */
function parseTimestamp(value: unknown): Instant | undefined {
    if (typeof value !== "string") return undefined;
    const m = TIMESTAMP.exec(value);
    if (!m) return undefined;
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
    let offsetMinutes = 0;
    if (m[8] !== "Z") {
        const [oh, om] = [Number(m[10]), Number(m[11])];
        if (oh > 23 || om > 59) return undefined;
        offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
    }
    const utc = new Date(0);
    utc.setUTCFullYear(year, month - 1, day);
    utc.setUTCHours(hour, minute, second, 0);
    return { seconds: utc.getTime() / 1000 - offsetMinutes * 60, fraction: (m[7] ?? "").replace(/0+$/, "") };
}

export function isTimestamp(value: unknown): value is string {
    return parseTimestamp(value) !== undefined;
}

/** Orders two instants: whole seconds first, then the fractions digit by digit (no rounding to milliseconds). */
function compareInstants(a: Instant, b: Instant): number {
    if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
    const width = Math.max(a.fraction.length, b.fraction.length);
    const fa = a.fraction.padEnd(width, "0");
    const fb = b.fraction.padEnd(width, "0");
    return fa === fb ? 0 : fa < fb ? -1 : 1;
}

function compare(kind: string, left: JsonValue, right: JsonValue): boolean {
    const type = kind.replace(/(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)$/, "");
    const relation = kind.slice(type.length);
    let l: number | string | boolean;
    let r: number | string | boolean;
    if (type === "String") {
        if (typeof left !== "string" || typeof right !== "string") return false;
        [l, r] = [left, right];
    } else if (type === "Numeric") {
        if (typeof left !== "number" || typeof right !== "number") return false;
        [l, r] = [left, right];
    } else if (type === "Boolean") {
        if (typeof left !== "boolean" || typeof right !== "boolean") return false;
        return left === right;
    } else {
        const [a, b] = [parseTimestamp(left), parseTimestamp(right)];
        if (!a || !b) return false;
        [l, r] = [compareInstants(a, b), 0];
    }
    switch (relation) {
        case "Equals":
            return l === r;
        case "LessThan":
            return l < r;
        case "GreaterThan":
            return l > r;
        case "LessThanEquals":
            return l <= r;
        default:
            return l >= r;
    }
}

/** `*` matches any run of characters; `\*` a literal star, `\\` a backslash. */
export function stringMatches(value: string, pattern: string): boolean {
    let re = "";
    for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i];
        if (ch === "\\" && i + 1 < pattern.length) re += escapeRegex(pattern[++i]);
        else if (ch === "*") re += "[\\s\\S]*";
        else re += escapeRegex(ch);
    }
    return new RegExp(`^${re}$`).test(value);
}

function escapeRegex(ch: string): string {
    return ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function lookup(pathText: string, roots: PathRoots): { found: boolean; value?: JsonValue } {
    try {
        return { found: true, value: evaluatePath(pathText, roots) };
    } catch (e) {
        if (e instanceof PathNotFound) return { found: false };
        throw e;
    }
}

export function evaluateChoiceRule(rule: JsonObject, roots: PathRoots): boolean {
    if (Array.isArray(rule.And)) return rule.And.every((r) => evaluateChoiceRule(r as JsonObject, roots));
    if (Array.isArray(rule.Or)) return rule.Or.some((r) => evaluateChoiceRule(r as JsonObject, roots));
    if (isPlainObject(rule.Not)) return !evaluateChoiceRule(rule.Not, roots);
    const variable = rule.Variable as string;
    const operator = Object.keys(rule).find((k) => ALL_OPERATORS.includes(k))!;
    const expected = rule[operator];
    const subject = lookup(variable, roots);
    if (operator === "IsPresent") return subject.found === expected;
    if (!subject.found) throw new ChoicePathError(variable);
    const value = subject.value as JsonValue;
    switch (operator) {
        case "IsNull":
            return (value === null) === expected;
        case "IsNumeric":
            return (typeof value === "number") === expected;
        case "IsString":
            return (typeof value === "string") === expected;
        case "IsBoolean":
            return (typeof value === "boolean") === expected;
        case "IsTimestamp":
            return isTimestamp(value) === expected;
        case "StringMatches":
            return typeof value === "string" && stringMatches(value, expected as string);
    }
    if (operator.endsWith("Path")) {
        const other = lookup(expected as string, roots);
        if (!other.found) throw new ChoicePathError(expected as string);
        return compare(operator.slice(0, -4), value, other.value as JsonValue);
    }
    return compare(operator, value, expected);
}
