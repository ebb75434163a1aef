/**
 * Checks on what arrives from outside: event details from the bus and settings from stack config. Each
 * failure is an InvalidInputError whose message names the field, so the execution's cause says what to fix.
 */

/** A problem with the input itself: retrying cannot help, so the handler fails its task at once. */
export class InvalidInputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "InvalidInput";
    }
}

/** A run may ask for at most this many names: 1,000 Map items keep a run well inside the 25,000-event history. */
export const MAX_NAMES = 1000;
/** When `start` carries no `count`, a run processes a random 0 to this many names. */
export const DEFAULT_MAX_RANDOM_NAMES = 20;
/** Presigned URLs live at most 15 minutes: long enough for the next step, short enough to leak little. */
export const MAX_PRESIGN_EXPIRY_SECONDS = 900;
/** Names become S3 key segments; 256 characters keeps keys well under S3's 1,024-byte limit. */
export const MAX_NAME_LENGTH = 256;

function describe(value: unknown): string {
    if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    if (Array.isArray(value)) return "an array";
    if (value === null) return "null";
    return typeof value === "object" ? "an object" : String(value);
}

/**
 * Reads the `start` event's detail. EventBridge hands a parsed object to targets, but a detail can still
 * arrive as a string (an input transformer, or a producer that double-encoded it), so strings are parsed here.
 */
export function parseStartDetail(detail: unknown): { count?: number } {
    let value = detail;
    if (typeof value === "string") {
        try {
            value = JSON.parse(value);
        } catch {
            throw new InvalidInputError(`start: detail must be a JSON object, got text that is not JSON: ${describe(detail)}`);
        }
    }
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
        throw new InvalidInputError(`start: detail must be a JSON object, got ${describe(value)}`);
    }
    const { count } = value as { count?: unknown };
    if (count === undefined) return {};
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > MAX_NAMES) {
        throw new InvalidInputError(`start: detail.count must be an integer from 0 to ${MAX_NAMES}, got ${describe(count)}`);
    }
    return { count };
}

/** A name or execution name used as a key segment: never empty, never a path, never a way out of the prefix. */
export function requireKeySegment(field: string, value: unknown): string {
    if (typeof value !== "string" || value.length === 0) {
        throw new InvalidInputError(`${field} is required and must be a non-empty string, got ${describe(value)}`);
    }
    if (value.length > MAX_NAME_LENGTH) {
        throw new InvalidInputError(`${field} must be at most ${MAX_NAME_LENGTH} characters, got ${value.length}`);
    }
    if (value.includes("/") || value.includes("\\") || value.includes("..")) {
        throw new InvalidInputError(`${field} must not contain "/", "\\" or "..", got ${describe(value)}`);
    }
    return value;
}

/** Requires a non-empty string field of an event detail. */
export function requireString(field: string, value: unknown): string {
    if (typeof value !== "string" || value.length === 0) {
        throw new InvalidInputError(`${field} is required and must be a non-empty string, got ${describe(value)}`);
    }
    return value;
}

/** The presign expiry from config or the environment: an integer number of seconds from 1 to 900. */
export function parsePresignExpirySeconds(field: string, value: unknown): number {
    const seconds = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_EXPIRY_SECONDS) {
        throw new InvalidInputError(
            `${field} must be an integer from 1 to ${MAX_PRESIGN_EXPIRY_SECONDS} seconds (15 minutes), got ${describe(value)}`,
        );
    }
    return seconds;
}
