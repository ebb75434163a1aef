/** Checks on what the cookie report reads from outside: the `start` event's detail. */
import { describeValue, invalidInput } from "../../handlers/validation";

/** A run may ask for at most this many names: 1,000 Map items keep a run well inside the 25,000-event history. */
export const MAX_NAMES = 1000;
/** When `start` carries no `count`, a run processes a random 0 to this many names. */
export const DEFAULT_MAX_RANDOM_NAMES = 20;
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
            throw invalidInput(`start: detail must be a JSON object, got text that is not JSON: ${describeValue(detail)}`);
        }
    }
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
        throw invalidInput(`start: detail must be a JSON object, got ${describeValue(value)}`);
    }
    const { count } = value as { count?: unknown };
    if (count === undefined) return {};
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > MAX_NAMES) {
        throw invalidInput(`start: detail.count must be an integer from 0 to ${MAX_NAMES}, got ${describeValue(count)}`);
    }
    return { count };
}
