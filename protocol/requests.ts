/**
 * The S3 and DynamoDB requests a run makes, as its handlers log them: one line per invocation that made any, tagged
 * with the run's correlation id. AWS's own per-request records (S3 server access logs, CloudTrail data events) are
 * delivered minutes to hours later and not per run; this line is in the function's log group as soon as the
 * invocation ends, in AWS as offline. The handlers write it (handlers/requests.ts), the run's bill reads it
 * (systems/observability/cost.ts). No Pulumi or SDK import.
 */

/** The message of the line (powertools Logger's `message`), what a log filter looks for. */
export const REQUESTS_LOG_MESSAGE = "aws requests";

export interface RequestCounts {
    s3: {
        /** PUT, COPY, POST and LIST requests. */
        tier1: number;
        /** GET, SELECT and every other request but DELETE. */
        tier2: number;
    };
    dynamodb: {
        requests: number;
        /** On-demand request units as DynamoDB reported them (`ConsumedCapacity`, asked for with `ReturnConsumedCapacity`). */
        readRequestUnits: number;
        writeRequestUnits: number;
        /** Requests whose answer carried no `ConsumedCapacity`: their units are not known. */
        unitsNotReported: number;
    };
}

/** The line's fields beside the logger's own. */
export interface RequestsLogLine {
    message: typeof REQUESTS_LOG_MESSAGE;
    correlationId: string;
    requests: RequestCounts;
}

export function noRequests(): RequestCounts {
    return { s3: { tier1: 0, tier2: 0 }, dynamodb: { requests: 0, readRequestUnits: 0, writeRequestUnits: 0, unitsNotReported: 0 } };
}

export function anyRequests(counts: RequestCounts): boolean {
    return counts.s3.tier1 + counts.s3.tier2 + counts.dynamodb.requests > 0;
}

/** Adds `more` into `into`. */
export function addRequests(into: RequestCounts, more: RequestCounts): void {
    into.s3.tier1 += more.s3.tier1;
    into.s3.tier2 += more.s3.tier2;
    into.dynamodb.requests += more.dynamodb.requests;
    into.dynamodb.readRequestUnits += more.dynamodb.readRequestUnits;
    into.dynamodb.writeRequestUnits += more.dynamodb.writeRequestUnits;
    into.dynamodb.unitsNotReported += more.dynamodb.unitsNotReported;
}

/**
 * How S3 bills an operation (`PutObject`, `putObject`, `ListObjectsV2`): PUT, COPY, POST and LIST requests at the
 * first rate; DELETE and CANCEL (abort) free; GET, SELECT and all other requests at the second.
 */
export function s3RequestTier(operation: string): "tier1" | "tier2" | "free" {
    const name = operation.replace(/Command$/, "");
    if (/^(delete|abort)/i.test(name)) return "free";
    if (/^(put|copy|post|list|create|upload|complete|restore)/i.test(name)) return "tier1";
    return "tier2";
}

/** A requests line of a function's log, if `message` is one (powertools Logger's JSON). */
export function parseRequestsLogLine(message: string): RequestsLogLine | undefined {
    if (!message.includes(REQUESTS_LOG_MESSAGE)) return undefined;
    let parsed: Partial<RequestsLogLine>;
    try {
        // A line may come with a text prefix (timestamp, request id) in a function's Text log format.
        parsed = JSON.parse(message.slice(message.indexOf("{"))) as Partial<RequestsLogLine>;
    } catch {
        return undefined;
    }
    if (parsed.message !== REQUESTS_LOG_MESSAGE || typeof parsed.correlationId !== "string") return undefined;
    const counts = noRequests();
    const s3 = parsed.requests?.s3;
    const dynamodb = parsed.requests?.dynamodb;
    const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0);
    counts.s3.tier1 = count(s3?.tier1);
    counts.s3.tier2 = count(s3?.tier2);
    counts.dynamodb.requests = count(dynamodb?.requests);
    counts.dynamodb.readRequestUnits = count(dynamodb?.readRequestUnits);
    counts.dynamodb.writeRequestUnits = count(dynamodb?.writeRequestUnits);
    counts.dynamodb.unitsNotReported = count(dynamodb?.unitsNotReported);
    return { message: REQUESTS_LOG_MESSAGE, correlationId: parsed.correlationId, requests: counts };
}
