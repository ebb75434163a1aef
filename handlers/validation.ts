/**
 * Checks on what arrives from outside: event details from the bus and settings from stack config. Each
 * failure is an `InvalidInput` error whose message names the field, so the execution's cause says what to fix.
 */

/** The error name of a problem with the input itself: retrying cannot help, so the handler fails its task at once. */
export const INVALID_INPUT = "InvalidInput";

/**
 * A factory rather than a subclass of Error: Pulumi serializes classes as ES5 constructor functions, and an
 * ES5 `Error.call(this, message)` leaves the instance without its message.
 */
export function invalidInput(message: string): Error {
    const error = new Error(message);
    error.name = INVALID_INPUT;
    return error;
}

export function isInvalidInput(error: unknown): error is Error {
    return error instanceof Error && error.name === INVALID_INPUT;
}

/** Presigned URLs live at most 15 minutes: long enough for the next step, short enough to leak little. */
export const MAX_PRESIGN_EXPIRY_SECONDS = 900;
/** Names become S3 key segments; 256 characters keeps keys well under S3's 1,024-byte limit. */
export const MAX_NAME_LENGTH = 256;

/** Named so no test framework global (mocha's `describe`) shadows it when Pulumi serializes a closure. */
export function describeValue(value: unknown): string {
    if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    if (Array.isArray(value)) return "an array";
    if (value === null) return "null";
    return typeof value === "object" ? "an object" : String(value);
}

/** A name or execution name used as a key segment: never empty, never a path, never a way out of the prefix. */
export function requireKeySegment(field: string, value: unknown): string {
    if (typeof value !== "string" || value.length === 0) {
        throw invalidInput(`${field} is required and must be a non-empty string, got ${describeValue(value)}`);
    }
    if (value.length > MAX_NAME_LENGTH) {
        throw invalidInput(`${field} must be at most ${MAX_NAME_LENGTH} characters, got ${value.length}`);
    }
    if (value.includes("/") || value.includes("\\") || value.includes("..")) {
        throw invalidInput(`${field} must not contain "/", "\\" or "..", got ${describeValue(value)}`);
    }
    return value;
}

/** Requires a non-empty string field of an event detail. */
export function requireString(field: string, value: unknown): string {
    if (typeof value !== "string" || value.length === 0) {
        throw invalidInput(`${field} is required and must be a non-empty string, got ${describeValue(value)}`);
    }
    return value;
}

/** The presign expiry from config or the environment: an integer number of seconds from 1 to 900. */
export function parsePresignExpirySeconds(field: string, value: unknown): number {
    // The policy pack reads PRESIGN_EXPIRY_SECONDS with this same function.
    return parseSeconds(field, value, MAX_PRESIGN_EXPIRY_SECONDS, " (15 minutes)");
}

/** A whole number of seconds from 1 to `max`, as a setting or environment variable gives it. */
export function parseSeconds(field: string, value: unknown, max: number, maxNote = ""): number {
    // Digits only: "1e2", "0x10" or " 300 " are typos, not durations.
    const seconds = typeof value === "string" ? (/^\d+$/.test(value) ? Number(value) : NaN) : value;
    if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1 || seconds > max) {
        throw invalidInput(`${field} must be an integer from 1 to ${max} seconds${maxNote}, got ${describeValue(value)}`);
    }
    return seconds;
}
