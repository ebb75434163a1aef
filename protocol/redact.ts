/**
 * Credentials the offline runtime must not keep or print: the query of a presigned S3 URL (its signature and
 * credential grant the object to whoever holds them until it expires) and Step Functions task tokens (which let
 * whoever holds one answer the waiting task). One function set, used wherever the runtime stores or logs data
 * that came from a run: execution inputs, outputs, causes and history (local/services/stepfunctions/stepFunctions.ts), and log lines.
 *
 * What is kept is enough to follow a run: a URL keeps its scheme, host and path (the object's key), and a task
 * token becomes a short, stable fingerprint (`redactTaskToken`), so two records of the same token still match.
 */
import { createHash } from "node:crypto";
import { jsonNestsDeeperThan } from "../local/core/jsonDepth";

/** What replaces a secret. */
export const REDACTED = "REDACTED";

export interface RedactOptions {
    /**
     * Recognises task tokens in free text (a cause, a member not named like a token). The Step Functions service
     * passes the tokens it issued; without it only members named `taskToken` / `TaskToken` / `task_token` count.
     */
    isTaskToken?: (candidate: string) => boolean;
}

/** Members whose string value is a task token, whatever the token looks like (AWS's are ~600 characters). */
const TOKEN_MEMBER = /^task_?token$/i;
/** Query parameters of a SigV4 (and SigV2) presigned URL that are credentials or reveal them. */
const PRESIGNED_QUERY = /(?:^|&)(?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|awsaccesskeyid)=/i;
/**
 * An http(s) URL, with its query when it has one, up to a character that cannot be in one (JSON quotes and escapes
 * included). The query is optional so that a match, once started, never fails and retries from a later position:
 * with it required, text such as `http://http://http://...` took time quadratic in its length.
 */
const URL_WITH_QUERY = /\bhttps?:\/\/[^\s"'<>\\?#]*(?:\?([^\s"'<>\\#]*))?/gi;
/**
 * A credential parameter outside a recognisable URL (a fragment, a percent-encoded URL, where it follows `%3F` or
 * `%26` with no word boundary before it).
 */
const LOOSE_CREDENTIAL = /(?:(?<=%3[Ff]|%26)|(?<![A-Za-z0-9]))(X-Amz-(?:Signature|Credential|Security-Token))(=|%3D)(?:(?!%26)[^&\s"'\\#])+/gi;
/** JSON nested deeper than this is redacted as plain text: the walk below recurses. */
const MAX_WALK_DEPTH = 256;
/** Tokens issued by the offline runtime: base64url of 48 random bytes, on their own. */
const RUNTIME_TOKEN_CANDIDATE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{64}(?![A-Za-z0-9_-])/g;
/** A quick test for text that may hold something to redact, so most texts are returned without being parsed. */
const MAYBE_SECRET = /x-amz-|signature=|awsaccesskeyid=|task_?token/i;

/** The stable stand-in for a task token: its SHA-256, shortened (it reveals nothing usable about the token). */
export function redactTaskToken(token: string): string {
    return `${REDACTED}-task-token-${createHash("sha256").update(token).digest("hex").slice(0, 16)}`;
}

/** The URL's query replaced when it is a presigned one; other URLs are returned unchanged. */
export function redactUrl(url: string): string {
    return url.replace(URL_WITH_QUERY, (whole: string, query: string | undefined) =>
        query !== undefined && PRESIGNED_QUERY.test(query) ? `${whole.slice(0, whole.length - query.length)}${REDACTED}` : whole,
    );
}

/**
 * Any text: JSON text is parsed and its members redacted (token members, URLs, nested JSON strings), then written
 * back compactly if anything changed; other text has its presigned queries and recognised tokens replaced.
 */
export function redactText(text: string, options: RedactOptions = {}): string {
    if (!mayHoldSecret(text, options)) return text;
    const trimmed = text.trimStart();
    if ((trimmed.startsWith("{") || trimmed.startsWith("[")) && !jsonNestsDeeperThan(text, MAX_WALK_DEPTH)) {
        let parsed: unknown;
        try {
            parsed = JSON.parse(text);
        } catch {
            return redactFreeText(text, options);
        }
        const redacted = redactWalk(parsed, options);
        return redacted.changed ? JSON.stringify(redacted.value) : text;
    }
    return redactFreeText(text, options);
}

/** A copy of a JSON-like value (log fields, a parsed payload) with every secret replaced; unchanged parts are shared. */
export function redactValue<T>(value: T, options: RedactOptions = {}): T {
    return redactWalk(value, options).value as T;
}

function mayHoldSecret(text: string, options: RedactOptions): boolean {
    if (MAYBE_SECRET.test(text)) return true;
    if (!options.isTaskToken) return false;
    for (const match of text.matchAll(RUNTIME_TOKEN_CANDIDATE)) if (options.isTaskToken(match[0])) return true;
    return false;
}

function redactFreeText(text: string, options: RedactOptions): string {
    let result = redactUrl(text).replace(LOOSE_CREDENTIAL, (_whole, name: string, equals: string) => `${name}${equals}${REDACTED}`);
    const isTaskToken = options.isTaskToken;
    if (isTaskToken) result = result.replace(RUNTIME_TOKEN_CANDIDATE, (candidate) => (isTaskToken(candidate) ? redactTaskToken(candidate) : candidate));
    return result;
}

function redactWalk(value: unknown, options: RedactOptions): { value: unknown; changed: boolean } {
    if (typeof value === "string") {
        const redacted = redactText(value, options);
        return { value: redacted, changed: redacted !== value };
    }
    if (Array.isArray(value)) {
        let changed = false;
        const items = value.map((item) => {
            const redacted = redactWalk(item, options);
            changed ||= redacted.changed;
            return redacted.value;
        });
        return changed ? { value: items, changed } : { value, changed };
    }
    if (typeof value === "object" && value !== null) {
        let changed = false;
        const members: Record<string, unknown> = {};
        for (const [key, member] of Object.entries(value)) {
            if (TOKEN_MEMBER.test(key) && typeof member === "string") {
                const token = isRedactedToken(member) ? member : redactTaskToken(member);
                setMember(members, key, token);
                changed ||= token !== member;
                continue;
            }
            const redacted = redactWalk(member, options);
            setMember(members, key, redacted.value);
            changed ||= redacted.changed;
        }
        return changed ? { value: members, changed } : { value, changed };
    }
    return { value, changed: false };
}

/** Defines rather than assigns, so a member named `__proto__` (JSON.parse makes one) stays a member. */
function setMember(target: Record<string, unknown>, key: string, value: unknown): void {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isRedactedToken(text: string): boolean {
    return /^REDACTED-task-token-[0-9a-f]{16}$/.test(text);
}
