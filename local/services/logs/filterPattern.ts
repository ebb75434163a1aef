/**
 * CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`), compiled once into a predicate over an event's
 * message. Served: the unstructured forms (terms, quoted phrases, `?term` alternatives, `-term` exclusions; matched
 * case-sensitively anywhere in the message, as AWS does) and the JSON form `{ $.a.b = "x*" && ($.n >= 5 || $.c IS
 * NULL) }`. Refused by name with InvalidParameterException, never matched wrongly: space-delimited patterns
 * (`[w1, w2, ...]`), regular expressions (`%...%`), and any JSON construct outside that subset.
 */
import { AwsError } from "../../core/awsError";

export type MessagePredicate = (message: string) => boolean;

function invalid(message: string): AwsError {
    return new AwsError("InvalidParameterException", message);
}

function unsupported(what: string): AwsError {
    return invalid(`filterPattern: ${what} is not supported by the local runtime`);
}

/** The predicate of a pattern; an empty or absent pattern matches every event. */
export function compileFilterPattern(pattern: string | undefined): MessagePredicate {
    const text = (pattern ?? "").trim();
    if (text === "" || text === '""') return () => true;
    if (text.startsWith("{")) return compileJsonPattern(text);
    if (text.startsWith("[")) throw unsupported("a space-delimited pattern ([...])");
    return compileTermPattern(text);
}

interface Term {
    text: string;
    kind: "all" | "any" | "none";
}

/** `ERROR "bad request" -timeout` (every term, none of the excluded) or `?ERROR ?WARN` (any of them). */
function compileTermPattern(text: string): MessagePredicate {
    const terms: Term[] = [];
    let i = 0;
    while (i < text.length) {
        if (text[i] === " " || text[i] === "\t") {
            i++;
            continue;
        }
        let kind: Term["kind"] = "all";
        if (text[i] === "?" || text[i] === "-") {
            kind = text[i] === "?" ? "any" : "none";
            i++;
        }
        let term: string;
        if (text[i] === '"') {
            const end = text.indexOf('"', i + 1);
            if (end < 0) throw invalid(`filterPattern: unterminated quoted term at position ${i}`);
            term = text.slice(i + 1, end);
            i = end + 1;
        } else {
            let end = i;
            while (end < text.length && text[end] !== " " && text[end] !== "\t") end++;
            term = text.slice(i, end);
            i = end;
            if (term.startsWith("%")) throw unsupported("a regular expression (%...%)");
            // AWS requires quotes around terms with characters other than letters, digits and underscores.
            if (!/^[A-Za-z0-9_]+$/.test(term)) throw invalid(`filterPattern: the term ${JSON.stringify(term)} has characters other than letters, digits and underscores; put it in double quotes`);
        }
        if (term === "") throw invalid(`filterPattern: empty term at position ${i}`);
        terms.push({ text: term, kind });
    }
    const all = terms.filter((t) => t.kind === "all").map((t) => t.text);
    const any = terms.filter((t) => t.kind === "any").map((t) => t.text);
    const none = terms.filter((t) => t.kind === "none").map((t) => t.text);
    if (any.length > 0 && (all.length > 0 || none.length > 0)) throw unsupported("mixing ?term alternatives with plain or -excluded terms");
    if (any.length > 0) return (message) => any.some((t) => message.includes(t));
    return (message) => all.every((t) => message.includes(t)) && !none.some((t) => message.includes(t));
}

type Token =
    | { type: "punct"; value: "(" | ")" | "&&" | "||" | "=" | "!=" | "<" | ">" | "<=" | ">=" }
    | { type: "selector"; path: Array<string | number> }
    | { type: "string"; value: string }
    | { type: "number"; value: number }
    | { type: "word"; value: string };

type Node =
    | { type: "and" | "or"; left: Node; right: Node }
    | { type: "compare"; path: Array<string | number>; operator: "=" | "!=" | "<" | ">" | "<=" | ">="; value: string | number }
    | { type: "is"; path: Array<string | number>; test: "NULL" | "TRUE" | "FALSE" | "NOT EXISTS" };

function tokenize(body: string): Token[] {
    const tokens: Token[] = [];
    let i = 0;
    while (i < body.length) {
        const c = body[i];
        if (/\s/.test(c)) {
            i++;
            continue;
        }
        const two = body.slice(i, i + 2);
        if (two === "&&" || two === "||" || two === "!=" || two === "<=" || two === ">=") {
            tokens.push({ type: "punct", value: two });
            i += 2;
            continue;
        }
        if (c === "(" || c === ")" || c === "=" || c === "<" || c === ">") {
            tokens.push({ type: "punct", value: c });
            i++;
            continue;
        }
        if (c === '"') {
            const end = body.indexOf('"', i + 1);
            if (end < 0) throw invalid(`filterPattern: unterminated string at position ${i}`);
            tokens.push({ type: "string", value: body.slice(i + 1, end) });
            i = end + 1;
            continue;
        }
        if (c === "%") throw unsupported("a regular expression (%...%)");
        let end = i;
        while (end < body.length && !/[\s()=!<>&|"]/.test(body[end])) end++;
        if (end === i) throw invalid(`filterPattern: unexpected ${JSON.stringify(c)} at position ${i}`);
        const word = body.slice(i, end);
        i = end;
        if (word.startsWith("$")) tokens.push({ type: "selector", path: parseSelector(word) });
        else if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(word)) tokens.push({ type: "number", value: Number(word) });
        else tokens.push({ type: "word", value: word });
    }
    return tokens;
}

/** `$.a.b[0].c`: member names and array indexes; `[*]` and other forms are refused. */
function parseSelector(selector: string): Array<string | number> {
    if (!selector.startsWith("$.") && selector !== "$") throw invalid(`filterPattern: a selector starts with "$." (${selector})`);
    const path: Array<string | number> = [];
    const re = /\.([A-Za-z0-9_@-]+)|\[(\d+)\]/y;
    re.lastIndex = 1;
    while (re.lastIndex < selector.length) {
        const start = re.lastIndex;
        const match = re.exec(selector);
        if (!match) throw unsupported(`the selector ${selector} (only .member and [index] parts)`);
        path.push(match[1] !== undefined ? match[1] : Number(match[2]));
        if (re.lastIndex === start) break;
    }
    return path;
}

function compileJsonPattern(text: string): MessagePredicate {
    if (!text.endsWith("}")) throw invalid("filterPattern: a JSON pattern ends with }");
    const tokens = tokenize(text.slice(1, -1));
    let at = 0;
    const peek = (): Token | undefined => tokens[at];
    const isPunct = (value: string): boolean => {
        const token = peek();
        return token?.type === "punct" && token.value === value;
    };
    const expect = (value: string): void => {
        if (!isPunct(value)) throw invalid(`filterPattern: expected ${value} in the JSON pattern`);
        at++;
    };
    const parseOr = (): Node => {
        let node = parseAnd();
        while (isPunct("||")) {
            at++;
            node = { type: "or", left: node, right: parseAnd() };
        }
        return node;
    };
    const parseAnd = (): Node => {
        let node = parseUnary();
        while (isPunct("&&")) {
            at++;
            node = { type: "and", left: node, right: parseUnary() };
        }
        return node;
    };
    const parseUnary = (): Node => {
        if (isPunct("(")) {
            at++;
            const node = parseOr();
            expect(")");
            return node;
        }
        const selector = tokens[at++];
        if (selector?.type !== "selector") throw invalid("filterPattern: expected a selector ($.member) in the JSON pattern");
        const next = tokens[at++];
        if (next?.type === "word" && next.value === "IS") {
            const what = tokens[at++];
            if (what?.type === "word" && (what.value === "NULL" || what.value === "TRUE" || what.value === "FALSE")) return { type: "is", path: selector.path, test: what.value };
            throw unsupported("IS followed by anything but NULL, TRUE or FALSE");
        }
        if (next?.type === "word" && next.value === "NOT") {
            const what = tokens[at++];
            if (what?.type === "word" && what.value === "EXISTS") return { type: "is", path: selector.path, test: "NOT EXISTS" };
            throw unsupported("NOT followed by anything but EXISTS");
        }
        if (next?.type !== "punct" || next.value === "(" || next.value === ")" || next.value === "&&" || next.value === "||") {
            throw invalid("filterPattern: expected a comparison (=, !=, <, >, <=, >=, IS NULL, NOT EXISTS) after the selector");
        }
        const value = tokens[at++];
        if (value?.type === "number") return { type: "compare", path: selector.path, operator: next.value, value: value.value };
        if (value?.type === "string" || value?.type === "word") {
            if (next.value !== "=" && next.value !== "!=") throw invalid(`filterPattern: ${next.value} compares numbers only`);
            return { type: "compare", path: selector.path, operator: next.value, value: value.value };
        }
        throw invalid("filterPattern: expected a value after the comparison operator");
    };
    const root = parseOr();
    if (at !== tokens.length) throw invalid("filterPattern: unexpected text after the end of the JSON pattern's expression");
    return (message) => {
        const trimmed = message.trimStart();
        if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return false;
        let document: unknown;
        try {
            document = JSON.parse(message);
        } catch {
            return false;
        }
        return evaluate(root, document);
    };
}

function select(document: unknown, path: Array<string | number>): unknown {
    let value: unknown = document;
    for (const part of path) {
        if (value === null || typeof value !== "object") return undefined;
        if (typeof part === "number") value = Array.isArray(value) ? value[part] : undefined;
        else value = Array.isArray(value) ? undefined : Object.prototype.hasOwnProperty.call(value, part) ? (value as Record<string, unknown>)[part] : undefined;
    }
    return value;
}

/** `*` in a string value matches any run of characters; the rest compares exactly. */
function wildcardEquals(pattern: string, value: string): boolean {
    const parts = pattern.split("*");
    if (parts.length === 1) return pattern === value;
    if (!value.startsWith(parts[0]) || !value.endsWith(parts[parts.length - 1])) return false;
    let from = parts[0].length;
    const stop = value.length - parts[parts.length - 1].length;
    for (const middle of parts.slice(1, -1)) {
        const found = value.indexOf(middle, from);
        if (found < 0 || found + middle.length > stop) return false;
        from = found + middle.length;
    }
    return from <= stop;
}

function evaluate(node: Node, document: unknown): boolean {
    switch (node.type) {
        case "and":
            return evaluate(node.left, document) && evaluate(node.right, document);
        case "or":
            return evaluate(node.left, document) || evaluate(node.right, document);
        case "is": {
            const value = select(document, node.path);
            if (node.test === "NOT EXISTS") return value === undefined;
            if (node.test === "NULL") return value === null;
            return value === (node.test === "TRUE");
        }
        case "compare": {
            const value = select(document, node.path);
            if (value === undefined) return false;
            if (typeof node.value === "number") {
                if (typeof value !== "number") return false;
                switch (node.operator) {
                    case "=":
                        return value === node.value;
                    case "!=":
                        return value !== node.value;
                    case "<":
                        return value < node.value;
                    case ">":
                        return value > node.value;
                    case "<=":
                        return value <= node.value;
                    case ">=":
                        return value >= node.value;
                }
            }
            // Strings compare with strings; a boolean or number member compares by its text (`$.ok = true`).
            const text = typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : undefined;
            if (text === undefined) return false;
            const equal = wildcardEquals(String(node.value), text);
            return node.operator === "=" ? equal : !equal;
        }
    }
}
