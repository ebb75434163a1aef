/**
 * What the observability store and API may show of an event or a history entry: no credential. On top of the
 * runtime's redaction (protocol/redact.ts: task tokens become a stable fingerprint, presigned URLs lose their
 * query), every member named like a secret is replaced, JSON held in strings (an execution's input and output,
 * a history entry's parameters) is redacted inside, and long opaque strings shaped like AWS task tokens found in
 * free text become the same fingerprint a `taskToken` member gets, so two records of one token still match.
 */
import { REDACTED, redactTaskToken, redactText } from "../../protocol/redact";
import { jsonNestsDeeperThan } from "../../local/core/jsonDepth";

/** Members whose value is a task token: kept as its fingerprint, so a step's event and its answer still match. */
const TOKEN_MEMBER = /^task_?token$/i;
/**
 * Members named like a secret (case-insensitive, anywhere in the name): `password`, `clientSecret`, `apiKey`,
 * `Authorization`, `X-Amz-Security-Token`, `signature`, `credentials`, `sessionToken`, `privateKey` ...
 */
const SECRET_MEMBER = /token|secret|passw(?:or)?d|credential|authori[sz]ation|api[-_]?key|signature|private[-_]?key|access[-_]?key/i;
/** HTTP cookies carry sessions; only the header's own names count (the cookie report's `numberOfCookiesConsumed` is no secret). */
const COOKIE_MEMBER = /^(?:set-)?cookies?$/i;
/**
 * A task token as AWS issues it (base64 of several hundred bytes) or as the runtime does (base64url of 48 bytes,
 * 64 characters), standing alone in free text.
 */
const AWS_TOKEN_IN_TEXT = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{200,}={0,2}(?![A-Za-z0-9+/=_-])/g;
const RUNTIME_TOKEN_IN_TEXT = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{64}(?![A-Za-z0-9_-])/g;
/** JSON deeper than this is stored as text with its tokens and URLs redacted, not walked. */
const MAX_DEPTH = 64;

/** The runtime's tokens have upper and lower case letters and digits; a hex digest (64 characters too) has no capitals. */
function looksLikeRuntimeToken(candidate: string): boolean {
    return /[A-Z]/.test(candidate) && /[a-z]/.test(candidate) && /[0-9]/.test(candidate);
}

export function isSecretMemberName(name: string): boolean {
    return SECRET_MEMBER.test(name) || COOKIE_MEMBER.test(name);
}

/** Free text: presigned queries (protocol/redact.ts) and token-shaped strings replaced. */
export function redactFreeText(text: string): string {
    return redactText(text, { isTaskToken: looksLikeRuntimeToken })
        .replace(AWS_TOKEN_IN_TEXT, (token) => redactTaskToken(token))
        .replace(RUNTIME_TOKEN_IN_TEXT, (token) => (looksLikeRuntimeToken(token) ? redactTaskToken(token) : token));
}

function redactString(text: string, depth: number): string {
    const trimmed = text.trimStart();
    if ((trimmed.startsWith("{") || trimmed.startsWith("[")) && !jsonNestsDeeperThan(text, MAX_DEPTH - depth)) {
        try {
            return JSON.stringify(redactForStore(JSON.parse(text) as unknown, depth + 1));
        } catch {
            // Not JSON after all: redacted as text below.
        }
    }
    return redactFreeText(text);
}

/** A copy of a JSON value with no credential left in it (see the module comment). */
export function redactForStore<T>(value: T, depth = 0): T {
    return walk(value, depth) as T;
}

function walk(value: unknown, depth: number): unknown {
    if (typeof value === "string") return redactString(value, depth);
    if (depth > MAX_DEPTH) return REDACTED;
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    if (typeof value === "object" && value !== null) {
        const copy: Record<string, unknown> = {};
        for (const [key, member] of Object.entries(value)) {
            let redacted: unknown;
            if (TOKEN_MEMBER.test(key) && typeof member === "string") redacted = /^REDACTED-task-token-[0-9a-f]{16}$/.test(member) ? member : redactTaskToken(member);
            else if (isSecretMemberName(key)) redacted = secretMember(member, depth + 1);
            else redacted = walk(member, depth + 1);
            // Defined, not assigned: a member named `__proto__` stays a member.
            Object.defineProperty(copy, key, { value: redacted, enumerable: true, writable: true, configurable: true });
        }
        return copy;
    }
    return value;
}

/**
 * A member named like a secret: a string or number is replaced, so is every string or number of an array; an object
 * is walked, its own members judged by their names (`credentials: {accessKeyId, secretAccessKey}` loses both, the
 * TaskFinisher's caught `tokenNotWaiting: {Error, Cause}` keeps its error).
 */
function secretMember(member: unknown, depth: number): unknown {
    if (typeof member === "string" || typeof member === "number") return REDACTED;
    if (Array.isArray(member)) return member.map((item) => secretMember(item, depth + 1));
    return walk(member, depth);
}

/** The fingerprint a task token is stored as (the same whichever record it came from). */
export function tokenFingerprint(token: string): string {
    return /^REDACTED-task-token-[0-9a-f]{16}$/.test(token) ? token : redactTaskToken(token);
}
