/**
 * JSONPath as Step Functions reads it (Jayway semantics): `$` the input, `$$` the Context object, `$name` a
 * variable. A definite path (names and indexes only) selects one value or fails; an indefinite one (wildcards,
 * slices, unions, filters, descent) always yields an array, `[]` when nothing matches.
 */
import { isPlainObject, type JsonValue } from "./types";

type FilterExpr =
    | { kind: "or" | "and"; left: FilterExpr; right: FilterExpr }
    | { kind: "not"; operand: FilterExpr }
    | { kind: "compare"; op: string; left: Operand; right: Operand }
    | { kind: "exists"; operand: Operand };
type Operand = { kind: "path"; root: "@" | "$"; segments: Segment[] } | { kind: "literal"; value: JsonValue | RegExp };

export type Segment =
    | { kind: "name"; name: string }
    | { kind: "index"; index: number }
    | { kind: "wildcard" }
    | { kind: "union"; members: (string | number)[] }
    | { kind: "slice"; start?: number; end?: number; step?: number }
    | { kind: "filter"; expr: FilterExpr }
    | { kind: "descend"; then: Segment };

export interface ParsedPath {
    text: string;
    /** `input` ($), `context` ($$) or `variable` ($name). */
    root: "input" | "context" | "variable";
    variable?: string;
    segments: Segment[];
    definite: boolean;
    /** Only names and indexes: usable as ResultPath. */
    reference: boolean;
}

export class JsonPathSyntaxError extends Error {}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

class Cursor {
    pos = 0;
    constructor(readonly text: string) {}
    peek(n = 0): string {
        return this.text[this.pos + n] ?? "";
    }
    done(): boolean {
        return this.pos >= this.text.length;
    }
    skipSpaces(): void {
        while (this.peek() === " ") this.pos++;
    }
    fail(what: string): never {
        throw new JsonPathSyntaxError(`${what} at position ${this.pos} of '${this.text}'`);
    }
    expect(ch: string): void {
        this.skipSpaces();
        if (this.peek() !== ch) this.fail(`expected '${ch}'`);
        this.pos++;
    }
}

const cache = new Map<string, ParsedPath>();

export function parsePath(text: string): ParsedPath {
    const cached = cache.get(text);
    if (cached) return cached;
    if (typeof text !== "string" || !text.startsWith("$")) throw new JsonPathSyntaxError(`'${text}' does not start with '$'`);
    const c = new Cursor(text);
    let root: ParsedPath["root"] = "input";
    let variable: string | undefined;
    c.pos = 1;
    if (c.peek() === "$") {
        root = "context";
        c.pos = 2;
    } else {
        const ident = IDENT.exec(text.slice(1));
        if (ident) {
            root = "variable";
            variable = ident[0];
            c.pos = 1 + ident[0].length;
        }
    }
    const segments = parseSegments(c, false);
    if (!c.done()) c.fail("unexpected character");
    const definite = segments.every((s) => s.kind === "name" || s.kind === "index");
    const parsed: ParsedPath = { text, root, variable, segments, definite, reference: definite };
    cache.set(text, parsed);
    return parsed;
}

function parseSegments(c: Cursor, inFilter: boolean): Segment[] {
    const segments: Segment[] = [];
    for (;;) {
        const ch = c.peek();
        if (ch === "." && c.peek(1) === ".") {
            c.pos += 2;
            let then: Segment;
            if (c.peek() === "[") then = parseBracket(c);
            else if (c.peek() === "*") {
                c.pos++;
                then = { kind: "wildcard" };
            } else then = { kind: "name", name: parseDotName(c) };
            segments.push({ kind: "descend", then });
        } else if (ch === ".") {
            c.pos++;
            if (c.peek() === "*") {
                c.pos++;
                segments.push({ kind: "wildcard" });
            } else segments.push({ kind: "name", name: parseDotName(c) });
        } else if (ch === "[") {
            segments.push(parseBracket(c));
        } else {
            if (inFilter) return segments;
            return segments;
        }
    }
}

function parseDotName(c: Cursor): string {
    const start = c.pos;
    // Jayway accepts most characters in a dot name; stop at the next structural character.
    while (!c.done() && !".[]()=!<>&|, ".includes(c.peek())) c.pos++;
    if (c.pos === start) c.fail("expected a name");
    return c.text.slice(start, c.pos);
}

function parseQuoted(c: Cursor): string {
    const quote = c.peek();
    c.pos++;
    let out = "";
    while (!c.done() && c.peek() !== quote) {
        if (c.peek() === "\\") {
            c.pos++;
        }
        out += c.peek();
        c.pos++;
    }
    if (c.done()) c.fail("unterminated string");
    c.pos++;
    return out;
}

function parseInt_(c: Cursor): number | undefined {
    c.skipSpaces();
    const m = /^-?\d+/.exec(c.text.slice(c.pos));
    if (!m) return undefined;
    c.pos += m[0].length;
    return Number(m[0]);
}

function parseBracket(c: Cursor): Segment {
    c.pos++; // [
    c.skipSpaces();
    let seg: Segment;
    if (c.peek() === "*") {
        c.pos++;
        seg = { kind: "wildcard" };
    } else if (c.peek() === "?") {
        c.pos++;
        c.expect("(");
        const expr = parseOr(c);
        c.expect(")");
        seg = { kind: "filter", expr };
    } else if (c.peek() === "'" || c.peek() === '"') {
        const members: string[] = [parseQuoted(c)];
        c.skipSpaces();
        while (c.peek() === ",") {
            c.pos++;
            c.skipSpaces();
            if (c.peek() !== "'" && c.peek() !== '"') c.fail("expected a quoted name");
            members.push(parseQuoted(c));
            c.skipSpaces();
        }
        seg = members.length === 1 ? { kind: "name", name: members[0] } : { kind: "union", members };
    } else {
        const first = parseInt_(c);
        c.skipSpaces();
        if (c.peek() === ":") {
            c.pos++;
            const end = parseInt_(c);
            let step: number | undefined;
            c.skipSpaces();
            if (c.peek() === ":") {
                c.pos++;
                step = parseInt_(c);
            }
            seg = { kind: "slice", start: first, end, step };
        } else {
            if (first === undefined) c.fail("expected an index");
            const members: number[] = [first];
            while (c.peek() === ",") {
                c.pos++;
                const next = parseInt_(c);
                if (next === undefined) c.fail("expected an index");
                members.push(next);
                c.skipSpaces();
            }
            seg = members.length === 1 ? { kind: "index", index: first } : { kind: "union", members };
        }
    }
    c.expect("]");
    return seg;
}

function parseOr(c: Cursor): FilterExpr {
    let left = parseAnd(c);
    for (;;) {
        c.skipSpaces();
        if (c.text.startsWith("||", c.pos)) {
            c.pos += 2;
            left = { kind: "or", left, right: parseAnd(c) };
        } else return left;
    }
}

function parseAnd(c: Cursor): FilterExpr {
    let left = parseUnary(c);
    for (;;) {
        c.skipSpaces();
        if (c.text.startsWith("&&", c.pos)) {
            c.pos += 2;
            left = { kind: "and", left, right: parseUnary(c) };
        } else return left;
    }
}

function parseUnary(c: Cursor): FilterExpr {
    c.skipSpaces();
    if (c.peek() === "!" && c.peek(1) !== "=") {
        c.pos++;
        return { kind: "not", operand: parseUnary(c) };
    }
    if (c.peek() === "(") {
        c.pos++;
        const inner = parseOr(c);
        c.expect(")");
        return inner;
    }
    const left = parseOperand(c);
    c.skipSpaces();
    const op = /^(==|!=|<=|>=|<|>|=~)/.exec(c.text.slice(c.pos));
    if (!op) return { kind: "exists", operand: left };
    c.pos += op[0].length;
    const right = parseOperand(c);
    return { kind: "compare", op: op[0], left, right };
}

function parseOperand(c: Cursor): Operand {
    c.skipSpaces();
    const ch = c.peek();
    if (ch === "@" || ch === "$") {
        c.pos++;
        return { kind: "path", root: ch, segments: parseSegments(c, true) };
    }
    if (ch === "'" || ch === '"') return { kind: "literal", value: parseQuoted(c) };
    if (ch === "/") {
        c.pos++;
        let source = "";
        while (!c.done() && c.peek() !== "/") {
            if (c.peek() === "\\") {
                source += c.peek();
                c.pos++;
            }
            source += c.peek();
            c.pos++;
        }
        c.pos++;
        const flags = /^[a-z]*/.exec(c.text.slice(c.pos))![0];
        c.pos += flags.length;
        return { kind: "literal", value: new RegExp(source, flags) };
    }
    const rest = c.text.slice(c.pos);
    const num = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(rest);
    if (num) {
        c.pos += num[0].length;
        return { kind: "literal", value: Number(num[0]) };
    }
    for (const [word, value] of [["true", true], ["false", false], ["null", null]] as const) {
        if (rest.startsWith(word)) {
            c.pos += word.length;
            return { kind: "literal", value };
        }
    }
    return c.fail("expected a value");
}

/** Values the path selects from `root` (several for indefinite paths; none when nothing matches). */
export function selectAll(segments: Segment[], root: JsonValue, filterRoot: JsonValue = root): JsonValue[] {
    let nodes: JsonValue[] = [root];
    for (const seg of segments) {
        const next: JsonValue[] = [];
        for (const node of nodes) applySegment(seg, node, next, filterRoot);
        nodes = next;
    }
    return nodes;
}

function children(node: JsonValue): JsonValue[] {
    if (Array.isArray(node)) return node;
    if (isPlainObject(node)) return Object.values(node);
    return [];
}

function applySegment(seg: Segment, node: JsonValue, out: JsonValue[], filterRoot: JsonValue): void {
    switch (seg.kind) {
        case "name":
            if (isPlainObject(node) && Object.prototype.hasOwnProperty.call(node, seg.name)) out.push(node[seg.name]);
            return;
        case "index":
            if (Array.isArray(node)) {
                const i = seg.index < 0 ? node.length + seg.index : seg.index;
                if (i >= 0 && i < node.length) out.push(node[i]);
            }
            return;
        case "wildcard":
            out.push(...children(node));
            return;
        case "union":
            for (const member of seg.members) {
                applySegment(typeof member === "number" ? { kind: "index", index: member } : { kind: "name", name: member }, node, out, filterRoot);
            }
            return;
        case "slice": {
            if (!Array.isArray(node)) return;
            const len = node.length;
            const step = seg.step ?? 1;
            if (step <= 0) return;
            const norm = (v: number | undefined, dflt: number) => (v === undefined ? dflt : v < 0 ? Math.max(0, len + v) : Math.min(v, len));
            for (let i = norm(seg.start, 0); i < norm(seg.end, len); i += step) out.push(node[i]);
            return;
        }
        case "filter":
            for (const child of children(node)) if (filterMatches(seg.expr, child, filterRoot)) out.push(child);
            return;
        case "descend": {
            const walk = (n: JsonValue) => {
                applySegment(seg.then, n, out, filterRoot);
                for (const child of children(n)) if (typeof child === "object" && child !== null) walk(child);
            };
            walk(node);
            return;
        }
    }
}

function operandValues(operand: Operand, current: JsonValue, filterRoot: JsonValue): (JsonValue | RegExp)[] {
    if (operand.kind === "literal") return [operand.value];
    return selectAll(operand.segments, operand.root === "@" ? current : filterRoot, filterRoot);
}

function filterMatches(expr: FilterExpr, current: JsonValue, filterRoot: JsonValue): boolean {
    switch (expr.kind) {
        case "or":
            return filterMatches(expr.left, current, filterRoot) || filterMatches(expr.right, current, filterRoot);
        case "and":
            return filterMatches(expr.left, current, filterRoot) && filterMatches(expr.right, current, filterRoot);
        case "not":
            return !filterMatches(expr.operand, current, filterRoot);
        case "exists":
            return operandValues(expr.operand, current, filterRoot).length > 0;
        case "compare": {
            const [l] = operandValues(expr.left, current, filterRoot);
            const [r] = operandValues(expr.right, current, filterRoot);
            if (l === undefined || r === undefined) return expr.op === "!=" && (l !== undefined || r !== undefined);
            if (expr.op === "=~") return r instanceof RegExp && typeof l === "string" && r.test(l);
            if (l instanceof RegExp || r instanceof RegExp) return false;
            switch (expr.op) {
                case "==":
                    return JSON.stringify(l) === JSON.stringify(r);
                case "!=":
                    return JSON.stringify(l) !== JSON.stringify(r);
            }
            if (!((typeof l === "number" && typeof r === "number") || (typeof l === "string" && typeof r === "string"))) return false;
            switch (expr.op) {
                case "<":
                    return l < r;
                case "<=":
                    return l <= r;
                case ">":
                    return l > r;
                default:
                    return l >= r;
            }
        }
    }
}

export type PathRoots = { input: JsonValue; context: JsonValue; variable(name: string): { found: boolean; value?: JsonValue } };

export class PathNotFound extends Error {
    constructor(readonly reason: "path" | "variable") {
        super(reason);
    }
}

/** Evaluates a path; a definite path that matches nothing throws PathNotFound. */
export function evaluatePath(path: ParsedPath | string, roots: PathRoots): JsonValue {
    const parsed = typeof path === "string" ? parsePath(path) : path;
    let root: JsonValue;
    if (parsed.root === "input") root = roots.input;
    else if (parsed.root === "context") root = roots.context;
    else {
        const v = roots.variable(parsed.variable!);
        if (!v.found) throw new PathNotFound("variable");
        root = v.value as JsonValue;
    }
    const matches = selectAll(parsed.segments, root);
    if (parsed.definite) {
        if (matches.length === 0) throw new PathNotFound("path");
        return matches[0];
    }
    return matches;
}

/** Writes `value` at a reference path into a copy of `target` (ResultPath). Throws a message on a clash. */
export function writeAtPath(target: JsonValue, path: ParsedPath, value: JsonValue): JsonValue {
    if (path.segments.length === 0) return value;
    const copy: JsonValue = structuredClone(target);
    if (!isPlainObject(copy) && !Array.isArray(copy)) throw new WritePathError(path.segments[0], copy);
    let node: JsonValue = copy;
    path.segments.forEach((seg, i) => {
        const last = i === path.segments.length - 1;
        if (seg.kind === "name") {
            if (!isPlainObject(node)) throw new WritePathError(seg, node);
            if (last) node[seg.name] = value;
            else {
                if (!Object.prototype.hasOwnProperty.call(node, seg.name) || node[seg.name] === null) node[seg.name] = {};
                const child: JsonValue = node[seg.name];
                if (typeof child !== "object" || child === null) throw new WritePathError(path.segments[i + 1], child);
                node = child;
            }
        } else if (seg.kind === "index") {
            if (!Array.isArray(node) || seg.index < 0 || seg.index >= node.length) throw new WritePathError(seg, node);
            if (last) node[seg.index] = value;
            else node = node[seg.index];
        }
    });
    return copy;
}

export class WritePathError extends Error {
    constructor(
        readonly segment: Segment,
        readonly node: JsonValue,
    ) {
        super(`Unable to apply step "${segment.kind === "name" ? segment.name : segment.kind === "index" ? segment.index : "?"}" to input ${JSON.stringify(node)}`);
    }
}
