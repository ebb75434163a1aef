/**
 * Counts the S3 and DynamoDB requests a handler makes while it handles one event, and logs them as one line tagged
 * with the run's correlation id (protocol/requests.ts), so a run's bill counts them from its own records. Each SDK
 * client is counted by a middleware added once, when the container builds it; the invocation's counts live in an
 * AsyncLocalStorage, so concurrent calls within an invocation add to it and nothing crosses between invocations.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ConsumedCapacity } from "@aws-sdk/client-dynamodb";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { FinalizeRequestMiddleware, MetadataBearer, MiddlewareStack } from "@smithy/types";
import { REQUESTS_LOG_MESSAGE, anyRequests, noRequests, s3RequestTier, type RequestCounts } from "../protocol/requests";

/**
 * The container's one store of invocation counts, made on first use and kept on `globalThis`: a module-level
 * instance would be captured by value when Pulumi serializes a handler's closure, and an AsyncLocalStorage does not
 * survive that (its prototype is lost).
 */
function invocationCounts(): AsyncLocalStorage<RequestCounts> {
    const holder = globalThis as { choreographyRequestCounts?: AsyncLocalStorage<RequestCounts> };
    return (holder.choreographyRequestCounts ??= new AsyncLocalStorage<RequestCounts>());
}

/** The services whose requests a run's bill prices. */
export type CountedService = "s3" | "dynamodb";

/** DynamoDB operations billed as reads when an answer's ConsumedCapacity does not split reads from writes. */
const DYNAMODB_READ = /^(Get|BatchGet|Query|Scan|TransactGet)/;

/**
 * Adds the counting middleware to a client (an `S3Client`, a `DynamoDBClient`). It sits after the retry
 * middleware, so each attempt is counted, as S3 and DynamoDB bill each request they receive; a presigned URL is
 * signed before it and never counted (signing is no request).
 */
export function countRequestsOf<Input extends object, Output extends MetadataBearer>(client: { middlewareStack: MiddlewareStack<Input, Output> }, service: CountedService): void {
    const middleware: FinalizeRequestMiddleware<Input, Output> = (next, context) => async (args) => {
        const counts = invocationCounts().getStore();
        const operation = context.commandName ?? "";
        if (!counts) return next(args);
        if (service === "s3") {
            countS3Request(operation, counts);
            return next(args);
        }
        counts.dynamodb.requests++;
        try {
            const result = await next(args);
            addConsumedCapacity(counts, operation, (result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] }).ConsumedCapacity);
            return result;
        } catch (error) {
            counts.dynamodb.unitsNotReported++;
            throw error;
        }
    };
    client.middlewareStack.add(middleware, { step: "finalizeRequest", priority: "low", name: "choreographyRequestCounts" });
}

/**
 * For an S3 request made without an SDK client (a read through a presigned URL): counts it in the invocation's
 * counts when called. Taken when the request starts, called when S3 answers (a request that never reached S3, on a
 * stale connection, is not billed): a socket callback need not run in the invocation's async context.
 */
export function s3RequestCounter(operation: string): () => void {
    const counts = invocationCounts().getStore();
    return () => {
        if (counts) countS3Request(operation, counts);
    };
}

function countS3Request(operation: string, counts: RequestCounts): void {
    const tier = s3RequestTier(operation);
    if (tier !== "free") counts.s3[tier]++;
}

function addConsumedCapacity(counts: RequestCounts, operation: string, consumed: ConsumedCapacity | ConsumedCapacity[] | undefined): void {
    const all = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed];
    if (all.length === 0) {
        counts.dynamodb.unitsNotReported++;
        return;
    }
    for (const capacity of all) {
        if (capacity.ReadCapacityUnits !== undefined || capacity.WriteCapacityUnits !== undefined) {
            counts.dynamodb.readRequestUnits += capacity.ReadCapacityUnits ?? 0;
            counts.dynamodb.writeRequestUnits += capacity.WriteCapacityUnits ?? 0;
        } else if (DYNAMODB_READ.test(operation)) counts.dynamodb.readRequestUnits += capacity.CapacityUnits ?? 0;
        else counts.dynamodb.writeRequestUnits += capacity.CapacityUnits ?? 0;
    }
}

/**
 * Runs one invocation's work with its own counts, and logs them when it made any request (also when the work
 * throws: a failed attempt's requests are billed too).
 */
export async function withRequestCounts<T>(logger: Pick<Logger, "info">, correlationId: string, work: () => Promise<T>): Promise<T> {
    const counts = noRequests();
    try {
        return await invocationCounts().run(counts, work);
    } finally {
        if (anyRequests(counts)) logger.info(REQUESTS_LOG_MESSAGE, { correlationId, requests: counts });
    }
}
