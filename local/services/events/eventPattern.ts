/**
 * Amazon EventBridge event-pattern semantics, for the local event bus: validation of a rule's pattern
 * (as PutRule does, answering InvalidEventPatternException) and matching of an event against it.
 *
 * Pure: no I/O, no dependencies. The semantics follow AWS's documentation
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
 * and, where the docs are silent (error wording, edge cases), aws/event-ruler, the open-source engine
 * EventBridge runs on.
 *
 * A pattern is validated and compiled once into a small typed tree (`ObjectNode` below); matching walks
 * that tree. Compiled trees are cached per pattern object, so `matchesEventPattern` may be called in a
 * loop without re-validating; a pattern object is therefore treated as immutable once used.
 */

export type EventPattern = Record<string, unknown>;

/** PutRule/TestEventPattern's answer to a malformed pattern. Shape-compatible with `AwsError` (code + status). */
export class InvalidEventPatternError extends Error {
    readonly code = "InvalidEventPatternException";
    readonly statusCode = 400;

    constructor(message: string) {
        super(message);
        this.name = "InvalidEventPatternException";
    }
}

/**
 * Validates a pattern given as JSON text or as an already parsed object and returns the parsed object.
 * Throws InvalidEventPatternError naming the offending path when it is not a valid EventBridge pattern.
 */
export function parseEventPattern(pattern: string | EventPattern): EventPattern {
    const parsed = typeof pattern === "string" ? parseJson(pattern) : pattern;
    if (!isPlainObject(parsed)) throw invalid([], "Filter is not an object");
    compiledFor(parsed);
    return parsed;
}

/**
 * PutRule's and TestEventPattern's EventPattern is "Length Constraints: Maximum length of 4096" (the API
 * reference); the account quota is 2,048 by default, adjustable to 4,096. Callers check it, as AWS does
 * before the pattern is read, with a ValidationException.
 */
export const MAX_EVENT_PATTERN_LENGTH = 4096;

/**
 * How deep a pattern's objects may nest. A 4,096-character pattern nests at most ~680 objects; this bounds the
 * recursion for patterns given as objects too. AWS's own limit is not documented (its JSON parser refuses
 * documents nested over 1,000 levels by default).
 */
export const MAX_EVENT_PATTERN_DEPTH = 1000;

/**
 * "Rule is too complex": event-ruler's MachineComplexityEvaluator counts how many wildcard patterns a
 * worst-case value could leave in progress at once, per field; AWS refuses a rule past a threshold it does not
 * document. 10 is the threshold a third-party emulator measured against AWS, and agrees with a published case
 * (three `*:stack/<name>/*` values on one field accepted, four refused); see `wildcardComplexity`.
 */
export const WILDCARD_COMPLEXITY_LIMIT = 10;

const TOO_COMPLEX = "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

/** True when `event` (a full EventBridge envelope: source, detail-type, ..., detail) matches `pattern`. */
export function matchesEventPattern(pattern: EventPattern, event: Record<string, unknown>): boolean {
    return matchObject(compiledFor(pattern), normalizedEvent(event));
}

// ---------------------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------------------

type Leaf = string | number | boolean | null;

interface NumericBound {
    readonly value: number;
    readonly inclusive: boolean;
}

interface IpAddress {
    readonly family: 4 | 6;
    readonly value: bigint;
}

/** One entry of a leaf array: the array is an OR of these. */
type Matcher =
    | { readonly kind: "exact"; readonly value: Leaf }
    | { readonly kind: "prefix"; readonly value: string; readonly ignoreCase: boolean }
    | { readonly kind: "suffix"; readonly value: string; readonly ignoreCase: boolean }
    | { readonly kind: "equals-ignore-case"; readonly value: string }
    /** The text between unescaped `*`s, escapes resolved: `a*b\*c` is ["a", "b*c"]. One piece: no wildcard. */
    | { readonly kind: "wildcard"; readonly pieces: readonly string[] }
    | { readonly kind: "numeric"; readonly lower?: NumericBound; readonly upper?: NumericBound }
    | { readonly kind: "exists"; readonly value: boolean }
    | { readonly kind: "cidr"; readonly family: 4 | 6; readonly low: bigint; readonly high: bigint }
    /** Matches a present leaf value that none of `excluded` matches. */
    | { readonly kind: "anything-but"; readonly excluded: readonly Matcher[] };

type FieldNode =
    | { readonly kind: "object"; readonly node: ObjectNode }
    | { readonly kind: "leaf"; readonly matchers: readonly Matcher[] };

interface ObjectNode {
    /** All fields must match (AND). Kept as pairs so odd keys such as "__proto__" stay plain data. */
    readonly fields: ReadonlyArray<readonly [string, FieldNode]>;
    /** For each "$or" on this path, at least one alternative must match the same event object. */
    readonly ors: ReadonlyArray<readonly ObjectNode[]>;
}

const OR_KEY = "$or";

/** Operators a leaf array's objects may use. */
const OPERATORS = new Set([
    "prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr",
]);

/**
 * Field names event-ruler refuses inside a "$or" branch (its RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP):
 * there a misplaced operator is more likely than a field really named "prefix".
 */
const RESERVED_IN_OR = new Set([
    ...OPERATORS, "exactly", "html", "=", "<", "<=", ">", ">=", "regex", "not-wildcard",
    "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before", "date-on-or-before",
    "in-date-range", "ip-address-in-range", "ip-address-not-in-range",
]);

/** Numeric matching range from the content-filtering docs: -5.0e9 to +5.0e9 inclusive, 6 decimals. */
const NUMERIC_LIMIT = 5e9;
const NUMERIC_DECIMALS = 6;

/** Compiled trees, keyed by the pattern object so callers don't have to carry them around. */
const compiledCache = new WeakMap<object, ObjectNode>();

function compiledFor(pattern: EventPattern): ObjectNode {
    let node = compiledCache.get(pattern);
    if (node === undefined) {
        if (!isPlainObject(pattern)) throw invalid([], "Filter is not an object");
        node = compileObject(pattern, [], false);
        checkWildcardComplexity(node);
        compiledCache.set(pattern, node);
    }
    return node;
}

// ---------------------------------------------------------------------------------------------------
// Validation + compilation
// ---------------------------------------------------------------------------------------------------

type Path = readonly string[];

function invalid(path: Path, reason: string): InvalidEventPatternError {
    // AWS prefixes every reason with this sentence; the path is ours, to point at the offending key.
    const where = path.length > 0 ? ` (at ${path.join(".")})` : "";
    return new InvalidEventPatternError(`Event pattern is not valid. Reason: ${reason}${where}`);
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch (err) {
        throw invalid([], err instanceof Error ? err.message : "Malformed JSON");
    }
}

/** A node being compiled: dotted keys and nested objects naming one path meet in the same slot. */
interface NodeBuilder {
    readonly fields: Map<string, { object?: NodeBuilder; leaf?: Matcher[] }>;
    readonly ors: ObjectNode[][];
}

/**
 * event-ruler flattens a pattern into dot-joined paths, so `{"state.status": [...]}` and
 * `{"state": {"status": [...]}}` name the same field: a key is split at its dots and re-nested here, and
 * objects reaching the same path merge. A leaf array given twice for one path keeps the last, as
 * event-ruler's rule map does; a leaf array and an object on one path are two fields ("a" and "a.b").
 */
function compileObject(pattern: Record<string, unknown>, path: Path, insideOr: boolean): ObjectNode {
    const builder: NodeBuilder = { fields: new Map(), ors: [] };
    addFields(builder, pattern, path, insideOr, path.length);
    return freeze(builder);
}

/** `depth` counts the levels of the re-nested pattern: a dotted key's steps count one each. */
function addFields(builder: NodeBuilder, pattern: Record<string, unknown>, path: Path, insideOr: boolean, depth: number): void {
    if (depth > MAX_EVENT_PATTERN_DEPTH) throw invalid([], `Pattern is nested more than ${MAX_EVENT_PATTERN_DEPTH} levels deep`);
    const keys = Object.keys(pattern);
    if (keys.length === 0) throw invalid(path, "Empty objects are not allowed");
    for (const key of keys) {
        const value = pattern[key];
        const keyPath = [...path, key];
        if (key === OR_KEY) {
            builder.ors.push(compileOr(value, keyPath));
            continue;
        }
        if (insideOr && RESERVED_IN_OR.has(key)) {
            // event-ruler's wording, which AWS answers.
            throw invalid(keyPath, `${key} is Ruler reserved fieldName which cannot be used inside $or.`);
        }
        const steps = key.split(".");
        if (depth + steps.length > MAX_EVENT_PATTERN_DEPTH) throw invalid([], `Pattern is nested more than ${MAX_EVENT_PATTERN_DEPTH} levels deep`);
        let target = builder;
        for (const step of steps.slice(0, -1)) target = objectSlot(target, step);
        const last = steps[steps.length - 1];
        if (Array.isArray(value)) {
            slotOf(target, last).leaf = compileLeafArray(value, keyPath);
        } else if (isPlainObject(value)) {
            addFields(objectSlot(target, last), value, keyPath, insideOr, depth + steps.length);
        } else {
            // The docs: "the value to match is in a JSON array" - a bare "source": "aws.ec2" is refused.
            throw invalid(keyPath, `"${key}" must be an object or an array`);
        }
    }
}

function slotOf(builder: NodeBuilder, step: string): { object?: NodeBuilder; leaf?: Matcher[] } {
    let slot = builder.fields.get(step);
    if (slot === undefined) builder.fields.set(step, (slot = {}));
    return slot;
}

function objectSlot(builder: NodeBuilder, step: string): NodeBuilder {
    const slot = slotOf(builder, step);
    slot.object ??= { fields: new Map(), ors: [] };
    return slot.object;
}

function freeze(builder: NodeBuilder): ObjectNode {
    const fields: Array<readonly [string, FieldNode]> = [];
    for (const [key, slot] of builder.fields) {
        if (slot.object !== undefined) fields.push([key, { kind: "object", node: freeze(slot.object) }]);
        if (slot.leaf !== undefined) fields.push([key, { kind: "leaf", matchers: slot.leaf }]);
    }
    return { fields, ors: builder.ors };
}

/** "$or" takes an array of at least two sub-patterns, each matched against the same event object. */
function compileOr(value: unknown, path: Path): ObjectNode[] {
    if (!Array.isArray(value)) throw invalid(path, "It must be an Array followed with $or.");
    const items: unknown[] = value;
    if (items.length < 2) throw invalid(path, "There must have at least 2 Objects in $or relationship.");
    return items.map((item, i) => {
        const itemPath = [...path.slice(0, -1), `$or[${i}]`];
        if (!isPlainObject(item)) throw invalid(itemPath, "Only JSON object is allowed in array of $or relationship.");
        return compileObject(item, itemPath, true);
    });
}

function compileLeafArray(values: readonly unknown[], path: Path): Matcher[] {
    if (values.length === 0) throw invalid(path, "Empty arrays are not allowed");
    return values.map((value) => {
        if (isLeaf(value)) return { kind: "exact", value };
        if (isPlainObject(value)) return compileExpression(value, path);
        throw invalid(path, "Match value must be String, number, true, false, or null");
    });
}

/** A `{ "<operator>": <argument> }` object inside a leaf array. */
function compileExpression(expression: Record<string, unknown>, path: Path): Matcher {
    const keys = Object.keys(expression);
    if (keys.length === 0) throw invalid(path, "Match expression name not found");
    if (keys.length > 1) throw invalid(path, `Only one key allowed in match expression, got ${keys.join(", ")}`);
    const operator = keys[0];
    const argument = expression[operator];
    switch (operator) {
        case "prefix":
        case "suffix":
            return compileAffix(operator, argument, path);
        case "equals-ignore-case":
            return { kind: "equals-ignore-case", value: requireString(argument, operator, path) };
        case "wildcard":
            return { kind: "wildcard", pieces: compileWildcard(requireString(argument, operator, path), path) };
        case "anything-but":
            return compileAnythingBut(argument, path);
        case "numeric":
            return compileNumeric(argument, path);
        case "exists":
            if (typeof argument !== "boolean") throw invalid(path, "exists match pattern must be either true or false.");
            return { kind: "exists", value: argument };
        case "cidr":
            return compileCidr(requireString(argument, operator, path), path);
        default:
            throw invalid(path, `Unrecognized match type ${operator}`);
    }
}

function requireString(argument: unknown, operator: string, path: Path): string {
    if (typeof argument !== "string") throw invalid(path, `${operator} match pattern must be a string`);
    return argument;
}

/** `{"prefix": "x"}` or `{"prefix": {"equals-ignore-case": "x"}}`, same for suffix. */
function compileAffix(operator: "prefix" | "suffix", argument: unknown, path: Path): Matcher {
    if (typeof argument === "string") return { kind: operator, value: argument, ignoreCase: false };
    if (!isPlainObject(argument)) throw invalid(path, `${operator} match pattern must be a string`);
    const keys = Object.keys(argument);
    if (keys.length !== 1 || keys[0] !== "equals-ignore-case") {
        throw invalid(path, `Unsupported ${operator} pattern: ${keys.join(", ") || "{}"}`);
    }
    const value = requireString(argument["equals-ignore-case"], "equals-ignore-case", path);
    return { kind: operator, value, ignoreCase: true };
}

/**
 * anything-but takes a string, a number, a list of only strings or only numbers, or an object
 * `{prefix|suffix|equals-ignore-case|wildcard: string | string[]}`.
 */
function compileAnythingBut(argument: unknown, path: Path): Matcher {
    if (isPlainObject(argument)) return { kind: "anything-but", excluded: compileAnythingButObject(argument, path) };
    if (typeof argument === "string" || typeof argument === "number") {
        return { kind: "anything-but", excluded: [anythingButValue(argument, path)] };
    }
    if (!Array.isArray(argument)) {
        throw invalid(path, "Value of anything-but must be an array or single string/number value.");
    }
    const list: unknown[] = argument;
    const strings = list.filter((v): v is string => typeof v === "string");
    const numbers = list.filter((v): v is number => typeof v === "number");
    if (strings.length + numbers.length !== list.length) {
        throw invalid(path, "Inside anything but list, start|null|boolean is not supported.");
    }
    if (list.length === 0 || (strings.length > 0 && numbers.length > 0)) {
        throw invalid(path, "Inside anything but list, either all values are number or string, mixed type is not supported");
    }
    return { kind: "anything-but", excluded: [...strings, ...numbers].map((v) => anythingButValue(v, path)) };
}

function anythingButValue(value: string | number, path: Path): Matcher {
    // event-ruler stores anything-but numbers in its comparable form, so they obey the numeric limits.
    if (typeof value === "number") checkNumericLimits(value, path);
    return { kind: "exact", value };
}

function compileAnythingButObject(argument: Record<string, unknown>, path: Path): Matcher[] {
    const keys = Object.keys(argument);
    if (keys.length === 0) throw invalid(path, "Anything-But expression name not found");
    if (keys.length > 1) throw invalid(path, `Only one key allowed in match expression, got ${keys.join(", ")}`);
    const operator = keys[0];
    if (!["prefix", "suffix", "equals-ignore-case", "wildcard"].includes(operator)) {
        throw invalid(path, `Unsupported anything-but pattern: ${operator}`);
    }
    const raw = argument[operator];
    const values: unknown[] = Array.isArray(raw) ? raw : [raw];
    if (values.length === 0) throw invalid(path, `Empty arrays are not allowed in anything-but ${operator}`);
    return values.map((value) => {
        if (typeof value !== "string") throw invalid(path, `anything-but ${operator} match pattern must be a string`);
        return anythingButObjectMatcher(operator, value, path);
    });
}

function anythingButObjectMatcher(operator: string, value: string, path: Path): Matcher {
    switch (operator) {
        case "prefix":
        case "suffix":
            // An empty prefix would exclude every string; event-ruler refuses it.
            if (value === "") throw invalid(path, `Null prefix/suffix not allowed in anything-but ${operator}`);
            return { kind: operator, value, ignoreCase: false };
        case "equals-ignore-case":
            return { kind: "equals-ignore-case", value };
        default:
            return { kind: "wildcard", pieces: compileWildcard(value, path) };
    }
}

/**
 * `["=", n]`, `[">"|">=", n]`, `["<"|"<=", n]` or `[">"|">=", n, "<"|"<=", m]` - a lower bound may be
 * followed by an upper bound, never the other way round.
 */
function compileNumeric(argument: unknown, path: Path): Matcher {
    if (!Array.isArray(argument)) throw invalid(path, "Value of numeric must be an array.");
    const list: unknown[] = argument;
    const [operator, value, ...rest] = list;
    if (typeof operator !== "string") throw invalid(path, `Invalid member in numeric match: ${JSON.stringify(operator) ?? "(none)"}`);
    if (!["=", "<", "<=", ">", ">="].includes(operator)) {
        throw invalid(path, `Unrecognized numeric range operator: ${operator}`);
    }
    const bound = numericBound(operator, value, path);
    if (operator === "=") {
        if (rest.length > 0) throw invalid(path, "Too many elements in numeric expression");
        return { kind: "numeric", lower: { value: bound, inclusive: true }, upper: { value: bound, inclusive: true } };
    }
    if (operator === "<" || operator === "<=") {
        if (rest.length > 0) throw invalid(path, "Too many elements in numeric expression");
        return { kind: "numeric", upper: { value: bound, inclusive: operator === "<=" } };
    }
    const lower = { value: bound, inclusive: operator === ">=" };
    if (rest.length === 0) return { kind: "numeric", lower };
    return { kind: "numeric", lower, upper: compileUpperBound(rest, lower.value, path) };
}

function compileUpperBound(rest: readonly unknown[], lower: number, path: Path): NumericBound {
    const [operator, value, ...extra] = rest;
    if (operator !== "<" && operator !== "<=") {
        throw invalid(path, `Bad numeric range operator: ${JSON.stringify(operator)}`);
    }
    const upper = numericBound(operator, value, path);
    if (extra.length > 0) throw invalid(path, "Too many terms in numeric range expression");
    if (upper <= lower) throw invalid(path, "Bottom must be less than top in numeric range");
    return { value: upper, inclusive: operator === "<=" };
}

function numericBound(operator: string, value: unknown, path: Path): number {
    if (typeof value !== "number") throw invalid(path, `Value of ${operator} must be numeric`);
    checkNumericLimits(value, path);
    return value;
}

function checkNumericLimits(value: number, path: Path): void {
    if (!Number.isFinite(value) || Math.abs(value) > NUMERIC_LIMIT) {
        throw invalid(path, `Value must be between ${-NUMERIC_LIMIT} and ${NUMERIC_LIMIT}, inclusive`);
    }
    if (Number(value.toFixed(NUMERIC_DECIMALS)) !== value) {
        throw invalid(path, `Only values upto ${NUMERIC_DECIMALS} decimals are supported: ${value}`);
    }
}

/**
 * Wildcard rules from the operators page: `*` matches any run of characters, `**` is refused,
 * `\*` is a literal asterisk, `\\` a literal backslash, and a backslash before anything else is refused.
 * Compiled to the literal pieces between the wildcards, matched by `wildcardMatches` without a regular
 * expression (a backtracking one takes exponential time on `*a*a*a...`).
 */
function compileWildcard(pattern: string, path: Path): string[] {
    const pieces: string[] = [];
    let piece = "";
    for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i];
        if (ch === "*") {
            if (pattern[i + 1] === "*") throw invalid(path, `Consecutive wildcard characters at pos ${i} in wildcard "${pattern}"`);
            pieces.push(piece);
            piece = "";
        } else if (ch === "\\") {
            const next = pattern[i + 1];
            if (next !== "*" && next !== "\\") throw invalid(path, `Invalid escape character at pos ${i} in wildcard "${pattern}"`);
            piece += next;
            i++;
        } else {
            piece += ch;
        }
    }
    pieces.push(piece);
    return pieces;
}

// ---------------------------------------------------------------------------------------------------
// Wildcard complexity (PutRule/TestEventPattern refuse a rule that would make matching slow)
// ---------------------------------------------------------------------------------------------------

/** Distinct sets of in-progress states explored before a field is scored at the cap. */
const COMPLEXITY_SEARCH_LIMIT = 20_000;

/**
 * Refuses a pattern whose wildcards, on any one field, score over WILDCARD_COMPLEXITY_LIMIT. Fields are
 * keyed by their dot-joined path, as EventBridge flattens them, so "$or" branches naming the same field
 * count together, as they share one of event-ruler's machines.
 */
function checkWildcardComplexity(root: ObjectNode): void {
    const byField = new Map<string, Map<string, readonly string[]>>();
    const pending: Array<{ node: ObjectNode; path: string }> = [{ node: root, path: "" }];
    for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
        for (const [key, field] of item.node.fields) {
            const path = item.path === "" ? key : `${item.path}.${key}`;
            if (field.kind === "object") {
                pending.push({ node: field.node, path });
                continue;
            }
            for (const pieces of wildcardsOf(field.matchers)) {
                let patterns = byField.get(path);
                if (patterns === undefined) byField.set(path, (patterns = new Map()));
                // event-ruler stores equal patterns once.
                patterns.set(JSON.stringify(pieces), pieces);
            }
        }
        for (const branch of item.node.ors.flat()) pending.push({ node: branch, path: item.path });
    }
    for (const patterns of byField.values()) {
        const score = complexityOfPieces([...patterns.values()], true, WILDCARD_COMPLEXITY_LIMIT + 1);
        if (score > WILDCARD_COMPLEXITY_LIMIT) throw invalid([], TOO_COMPLEX);
    }
}

/** The wildcard patterns of a leaf array, those inside anything-but included (each counts as a pattern). */
function wildcardsOf(matchers: readonly Matcher[]): Array<readonly string[]> {
    return matchers.flatMap((m) => {
        if (m.kind === "wildcard") return [m.pieces];
        if (m.kind === "anything-but") return wildcardsOf(m.excluded);
        return [];
    });
}

/**
 * The complexity score of wildcard values (as written in a pattern, escapes included) sharing one field,
 * capped at `cap`: see `complexityOfPieces`. `quoted: false` scores them as bare byte strings, as
 * event-ruler's own unit tests of MachineComplexityEvaluator do; EventBridge matches quoted JSON strings.
 */
export function wildcardComplexity(wildcards: readonly string[], { quoted = true, cap = 100 }: { quoted?: boolean; cap?: number } = {}): number {
    const unique = new Map(wildcards.map((w) => [w, compileWildcard(w, [])]));
    return complexityOfPieces([...unique.values()], quoted, cap);
}

interface ComplexityState {
    /** Where each byte leads (several places once past a wildcard, where patterns no longer share states). */
    readonly literal: Map<number, number[]>;
    /** A wildcard's state: it stays in progress on any byte. */
    readonly loops: boolean;
    /** The wildcard state that follows this one, entered without consuming a byte. */
    star?: number;
    /** The patterns that pass through this state: its weight. */
    readonly patterns: Set<number>;
}

/** A byte no pattern names: what every unlisted byte does. */
const ANY_OTHER_BYTE = -1;

/**
 * event-ruler's measure, after MachineComplexityEvaluator: the patterns are compiled into one byte automaton
 * (over `"` + UTF-8 bytes + `"` when `quoted`), patterns sharing their states up to and including their
 * first wildcard as event-ruler's byte machine does. Then every set of states some input can leave in
 * progress at once is visited, and a set weighs the patterns passing through its states (plus those of a
 * wildcard state one step ahead, which an input matching up to here also reaches). The score is the heaviest
 * set. The visit stops once a set reaches `cap` and scores `cap` after COMPLEXITY_SEARCH_LIMIT sets, so it is
 * bounded whatever the pattern.
 */
function complexityOfPieces(patterns: ReadonlyArray<readonly string[]>, quoted: boolean, cap: number): number {
    const states: ComplexityState[] = [];
    const newState = (loops: boolean): number => states.push({ literal: new Map(), loops, patterns: new Set() }) - 1;
    const root = newState(false);
    const quote = 0x22;
    patterns.forEach((pieces, index) => {
        const bytes = pieces.map((piece) => [...Buffer.from(piece, "utf8")]);
        if (quoted) {
            bytes[0].unshift(quote);
            bytes[bytes.length - 1].push(quote);
        }
        let current = root;
        let shared = true;
        bytes.forEach((piece, pieceIndex) => {
            if (pieceIndex > 0) {
                // A wildcard: the first one after a shared prefix is shared too; nothing after it is.
                const star = (shared ? states[current].star : undefined) ?? newState(true);
                states[current].star = star;
                states[star].patterns.add(index);
                current = star;
                shared = false;
            }
            for (const byte of piece) {
                const targets = states[current].literal.get(byte) ?? [];
                let next = shared ? targets[0] : undefined;
                if (next === undefined) {
                    next = newState(false);
                    states[current].literal.set(byte, [...targets, next]);
                }
                states[next].patterns.add(index);
                current = next;
            }
        });
    });
    const weight = (active: ReadonlySet<number>): number => {
        let total = 0;
        for (const id of active) {
            total += states[id].patterns.size;
            const star = states[id].star;
            if (star !== undefined && !active.has(star)) total += states[star].patterns.size;
        }
        return total;
    };
    const seen = new Set<string>();
    const pending: number[][] = [[root]];
    let heaviest = 0;
    for (let active = pending.pop(); active !== undefined; active = pending.pop()) {
        // The states this set is in, counting the wildcards entered without a byte.
        const reached = active.flatMap((id) => (states[id].star === undefined ? [id] : [id, states[id].star!]));
        const bytes = new Set<number>([ANY_OTHER_BYTE]);
        for (const id of reached) for (const byte of states[id].literal.keys()) bytes.add(byte);
        for (const byte of bytes) {
            const next = new Set<number>();
            for (const id of reached) {
                if (states[id].loops) next.add(id);
                for (const target of states[id].literal.get(byte) ?? []) next.add(target);
            }
            if (next.size === 0) continue;
            heaviest = Math.max(heaviest, weight(next));
            if (heaviest >= cap) return cap;
            const ids = [...next].sort((a, b) => a - b);
            const key = ids.join(",");
            if (seen.has(key)) continue;
            if (seen.size >= COMPLEXITY_SEARCH_LIMIT) return cap;
            seen.add(key);
            pending.push(ids);
        }
    }
    return heaviest;
}

function compileCidr(cidr: string, path: Path): Matcher {
    const parts = cidr.split("/");
    if (parts.length !== 2) throw invalid(path, `Malformed CIDR, one '/' required: ${cidr}`);
    const [address, bits] = parts;
    const ip = parseIp(address);
    if (ip === undefined) throw invalid(path, `Invalid IP address: ${address}`);
    if (!/^\d+$/.test(bits)) throw invalid(path, `Malformed CIDR, mask bits must be an integer: ${cidr}`);
    const width = ip.family === 4 ? 32 : 128;
    const maskBits = Number(bits);
    if (maskBits > width) throw invalid(path, `IPv${ip.family} mask bits must be <= ${width}: ${cidr}`);
    const hostMask = (1n << BigInt(width - maskBits)) - 1n;
    const low = ip.value & ~hostMask;
    return { kind: "cidr", family: ip.family, low, high: low | hostMask };
}

// ---------------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------------

/**
 * An object node matches an event value when one of the objects it holds matches every field (and one
 * "$or" branch). Arrays are "crushed" as the arrays page describes: a nested pattern applies to each
 * object element in turn, which also keeps fields from different elements from combining into a match.
 * A missing or non-object value is matched as `{}`, so that `{"exists": false}` below it still holds.
 */
function matchObject(node: ObjectNode, value: unknown): boolean {
    let none = true;
    for (const candidate of candidatesIn(value)) {
        if (matchFields(node, candidate)) return true;
        none = false;
    }
    return none && matchFields(node, {});
}

function matchFields(node: ObjectNode, object: Record<string, unknown>): boolean {
    const fieldsMatch = node.fields.every(([key, field]) => {
        const value = Object.hasOwn(object, key) ? object[key] : undefined;
        return field.kind === "object" ? matchObject(field.node, value) : matchLeaf(field.matchers, value);
    });
    return fieldsMatch && node.ors.every((branches) => branches.some((branch) => matchFields(branch, object)));
}

/**
 * A leaf array matches when any matcher matches any of the event's leaf values (an event array matches
 * when the intersection is non-empty). With no leaf value - field missing, an empty array, or an object
 * ("exists matching only works on leaf nodes") - only `{"exists": false}` can match.
 */
function matchLeaf(matchers: readonly Matcher[], value: unknown): boolean {
    const values = leavesIn(value);
    if (values.length === 0) return matchers.some((m) => m.kind === "exists" && !m.value);
    return matchers.some((m) => values.some((v) => matchValue(m, v)));
}

function matchValue(matcher: Matcher, value: Leaf): boolean {
    switch (matcher.kind) {
        case "exact":
            // Strict equality: the string "5" is not the number 5, "" is not null.
            return value === matcher.value;
        case "prefix":
            return typeof value === "string" && affixMatches(value, matcher.value, matcher.ignoreCase, "prefix");
        case "suffix":
            return typeof value === "string" && affixMatches(value, matcher.value, matcher.ignoreCase, "suffix");
        case "equals-ignore-case":
            return typeof value === "string" && foldCase(value) === foldCase(matcher.value);
        case "wildcard":
            return typeof value === "string" && wildcardMatches(value, matcher.pieces);
        case "numeric":
            return typeof value === "number" && numericMatches(value, matcher.lower, matcher.upper);
        case "exists":
            return matcher.value;
        case "cidr":
            return typeof value === "string" && cidrMatches(value, matcher.family, matcher.low, matcher.high);
        case "anything-but":
            return !matcher.excluded.some((excluded) => matchValue(excluded, value));
    }
}

/**
 * Glob matching in O(value x pattern) at worst, no backtracking: the first piece must start the value and
 * the last end it; each middle piece is taken at its leftmost place after the previous one, which is never
 * worse than any later place (whatever a later place leaves to match, the leftmost one leaves more).
 */
function wildcardMatches(value: string, pieces: readonly string[]): boolean {
    if (pieces.length === 1) return value === pieces[0];
    const first = pieces[0];
    const last = pieces[pieces.length - 1];
    if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) return false;
    const end = value.length - last.length;
    let from = first.length;
    for (let i = 1; i < pieces.length - 1; i++) {
        const at = value.indexOf(pieces[i], from);
        if (at < 0 || at + pieces[i].length > end) return false;
        from = at + pieces[i].length;
    }
    return true;
}

function affixMatches(value: string, affix: string, ignoreCase: boolean, side: "prefix" | "suffix"): boolean {
    const v = ignoreCase ? foldCase(value) : value;
    const a = ignoreCase ? foldCase(affix) : affix;
    return side === "prefix" ? v.startsWith(a) : v.endsWith(a);
}

/** Locale-independent case folding for equals-ignore-case. */
function foldCase(text: string): string {
    return text.toLowerCase();
}

/** Numeric matching "works with values that are JSON numbers", within event-ruler's +-5e9 range. */
function numericMatches(value: number, lower?: NumericBound, upper?: NumericBound): boolean {
    if (Math.abs(value) > NUMERIC_LIMIT) return false;
    if (lower !== undefined && (lower.inclusive ? value < lower.value : value <= lower.value)) return false;
    if (upper !== undefined && (upper.inclusive ? value > upper.value : value >= upper.value)) return false;
    return true;
}

function cidrMatches(value: string, family: 4 | 6, low: bigint, high: bigint): boolean {
    const ip = parseIp(value);
    return ip !== undefined && ip.family === family && ip.value >= low && ip.value <= high;
}

// ---------------------------------------------------------------------------------------------------
// Events with dotted keys
// ---------------------------------------------------------------------------------------------------

/**
 * Several values at one path of an event, in one array context: what a dotted key produces when it names a
 * path the event also spells nested (`{"a.b": 1, "a": {"b": 2}}` has two values at a.b). Holds at most one
 * object (objects at one path merge), then leaves and arrays.
 */
class Several {
    constructor(readonly items: readonly unknown[]) {}
}

/**
 * How many combinations of array elements one `Several` may produce for matching. Only an event spelling one
 * path many ways, each way holding an array of objects, comes near it; such an event is refused rather than
 * matched for minutes.
 */
const MAX_ALIASED_CANDIDATES = 10_000;

export class EventTooComplexError extends Error {
    constructor() {
        super(`Event spells one path with dotted keys in too many ways (over ${MAX_ALIASED_CANDIDATES} combinations of array elements)`);
        this.name = "EventTooComplexError";
    }
}

const normalizedCache = new WeakMap<object, Record<string, unknown>>();

/**
 * event-ruler flattens an event into dot-joined paths, so `{"a.b": 1}` and `{"a": {"b": 1}}` both give a.b = 1.
 * The matcher walks nested objects, so an event with dotted keys is re-nested once (and cached): each key is
 * split at its dots and values reaching one path are merged. Events without a dotted key are used as they are.
 */
function normalizedEvent(event: Record<string, unknown>): Record<string, unknown> {
    if (!hasDottedKey(event)) return event;
    let normalized = normalizedCache.get(event);
    if (normalized === undefined) {
        normalized = renested(event) as Record<string, unknown>;
        normalizedCache.set(event, normalized);
    }
    return normalized;
}

function hasDottedKey(value: unknown): boolean {
    const pending: unknown[] = [value];
    for (let item = pending.pop(); item !== undefined || pending.length > 0; item = pending.pop()) {
        if (Array.isArray(item)) pending.push(...item);
        else if (isPlainObject(item)) {
            for (const [key, child] of Object.entries(item)) {
                if (key.includes(".")) return true;
                if (typeof child === "object" && child !== null) pending.push(child);
            }
        }
    }
    return false;
}

function renested(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(renested);
    if (!isPlainObject(value)) return value;
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, child] of Object.entries(value)) {
        const steps = key.split(".");
        let nested = renested(child);
        for (let i = steps.length - 1; i > 0; i--) {
            const wrapper: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
            wrapper[steps[i]] = nested;
            nested = wrapper;
        }
        out[steps[0]] = Object.hasOwn(out, steps[0]) ? merged(out[steps[0]], nested) : nested;
    }
    return out;
}

/**
 * Two values at one path in one context, as one: objects merge key by key, anything else becomes `Several`.
 * Never mutates its arguments. Iterative over the objects' depth: dotted keys can nest far deeper than JSON.
 */
function merged(a: unknown, b: unknown): unknown {
    if (!isPlainObject(a) || !isPlainObject(b)) return several(a, b);
    const out = copyOf(a);
    const pending: Array<readonly [Record<string, unknown>, Record<string, unknown>]> = [[out, b]];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
        const [target, source] = next;
        for (const [key, value] of Object.entries(source)) {
            if (!Object.hasOwn(target, key)) {
                target[key] = value;
                continue;
            }
            const existing = target[key];
            if (isPlainObject(existing) && isPlainObject(value)) {
                const copy = copyOf(existing);
                target[key] = copy;
                pending.push([copy, value]);
            } else {
                target[key] = several(existing, value);
            }
        }
    }
    return out;
}

function several(a: unknown, b: unknown): Several {
    const items = [a, b].flatMap((v) => (v instanceof Several ? v.items : [v]));
    const objects = items.filter(isPlainObject);
    const others = items.filter((item) => !isPlainObject(item));
    const object = objects.length === 0 ? [] : [objects.reduce((x, y) => merged(x, y) as Record<string, unknown>)];
    return new Several([...object, ...others]);
}

function copyOf(object: Record<string, unknown>): Record<string, unknown> {
    return Object.assign(Object.create(null) as Record<string, unknown>, object);
}

// ---------------------------------------------------------------------------------------------------
// Event helpers
// ---------------------------------------------------------------------------------------------------

/**
 * The JSON scalar values held by an event value, looking through (nested) arrays. Iterative: an event's arrays
 * may nest far deeper than the stack would allow recursion.
 */
function leavesIn(value: unknown): Leaf[] {
    const leaves: Leaf[] = [];
    for (const part of value instanceof Several ? value.items : [value]) {
        forEachInArrays(part, (item) => {
            if (isLeaf(item)) leaves.push(item);
        });
    }
    return leaves;
}

/**
 * The objects a nested pattern is matched against, one at a time. A plain value gives its objects (an array's
 * elements). `Several` values at one path are one context: its object's fields combine with those of one
 * element of each of its arrays, as event-ruler's array membership allows (values outside an array are
 * consistent with any element of it).
 */
function* candidatesIn(value: unknown): Generator<Record<string, unknown>> {
    if (!(value instanceof Several)) return yield* objectsIn(value);
    const base = value.items.find(isPlainObject);
    const arrays = value.items.filter(Array.isArray).map(objectsIn).filter((elements) => elements.length > 0);
    if (arrays.length === 0) {
        if (base !== undefined) yield base;
        return;
    }
    let produced = 0;
    // One element of each array, in order, merged over the object: depth-first, so the first candidates come at once.
    function* combine(index: number, acc: Record<string, unknown> | undefined): Generator<Record<string, unknown>> {
        if (index === arrays.length) {
            if (++produced > MAX_ALIASED_CANDIDATES) throw new EventTooComplexError();
            yield acc!;
            return;
        }
        for (const element of arrays[index]) yield* combine(index + 1, acc === undefined ? element : (merged(acc, element) as Record<string, unknown>));
    }
    yield* combine(0, base);
}

/** The objects held by an event value, looking through (nested) arrays. */
function objectsIn(value: unknown): Array<Record<string, unknown>> {
    const objects: Array<Record<string, unknown>> = [];
    forEachInArrays(value, (item) => {
        if (isPlainObject(item)) objects.push(item);
    });
    return objects;
}

/** Calls `visit` with each non-array value in `value`'s (nested) arrays, in document order; `value` itself if it is no array. */
function forEachInArrays(value: unknown, visit: (item: unknown) => void): void {
    const stack: Array<{ items: readonly unknown[]; next: number }> = [];
    if (!Array.isArray(value)) return visit(value);
    stack.push({ items: value, next: 0 });
    while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next >= top.items.length) {
            stack.pop();
            continue;
        }
        const item = top.items[top.next++];
        if (Array.isArray(item)) stack.push({ items: item, next: 0 });
        else visit(item);
    }
}

function isLeaf(value: unknown): value is Leaf {
    return value === null || typeof value === "string" || typeof value === "boolean" || typeof value === "number";
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Several);
}

// ---------------------------------------------------------------------------------------------------
// IP addresses (for cidr)
// ---------------------------------------------------------------------------------------------------

function parseIp(text: string): IpAddress | undefined {
    if (text.includes(":")) {
        const value = parseIpv6(text);
        return value === undefined ? undefined : { family: 6, value };
    }
    const value = parseIpv4(text);
    return value === undefined ? undefined : { family: 4, value };
}

function parseIpv4(text: string): bigint | undefined {
    const octets = text.split(".");
    if (octets.length !== 4 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) return undefined;
    return octets.reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

/** RFC 4291 text forms: eight hex groups, one optional "::" run of zeros, optional dotted IPv4 tail. */
function parseIpv6(text: string): bigint | undefined {
    const halves = text.split("::");
    if (halves.length > 2) return undefined;
    const head = ipv6Groups(halves[0]);
    const tail = halves.length === 2 ? ipv6Groups(halves[1]) : [];
    if (head === undefined || tail === undefined) return undefined;
    const missing = 8 - head.length - tail.length;
    if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
    const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
    return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Hex groups of one side of "::"; a trailing dotted IPv4 counts as two groups. */
function ipv6Groups(part: string): number[] | undefined {
    if (part === "") return [];
    const pieces = part.split(":");
    const groups: number[] = [];
    for (const [i, piece] of pieces.entries()) {
        if (i === pieces.length - 1 && piece.includes(".")) {
            const v4 = parseIpv4(piece);
            if (v4 === undefined) return undefined;
            groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
        } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
            groups.push(parseInt(piece, 16));
        } else {
            return undefined;
        }
    }
    return groups;
}
