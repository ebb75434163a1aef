/**
 * `recorder`: every event the observability rules deliver (the stack's own source, Lambda's failure records, Step
 * Functions' execution status changes) is stored, redacted, in the events table under its run (store.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import type { EventBridgeEvent } from "aws-lambda";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { EventStore, recordOf } from "../store";

/** The table and the items' lifetime, from the environment the Observability component sets. */
export function recorderConfigFromEnv(env: NodeJS.ProcessEnv = process.env): { tableName: string; ttlSeconds: number } {
    const tableName = env.TABLE_NAME;
    const ttlDays = Number(env.TTL_DAYS);
    if (!tableName || !Number.isInteger(ttlDays) || ttlDays < 1) throw new Error(`TABLE_NAME and TTL_DAYS (a whole number of days) must be set, got ${JSON.stringify({ tableName, ttlDays: env.TTL_DAYS })}`);
    return { tableName, ttlSeconds: ttlDays * 86400 };
}

export function recorderFactory() {
    const { tableName, ttlSeconds } = recorderConfigFromEnv();
    const store = new EventStore(new DynamoDBClient(SDK_CLIENT_CONFIG), tableName, ttlSeconds);
    const logger = new Logger({ serviceName: "observability-recorder" });
    return async (event: EventBridgeEvent<string, unknown>): Promise<void> => {
        const record = recordOf(event);
        const stored = await store.record(record);
        // The ids and types only: the detail may hold what the store redacts.
        logger.debug(stored ? "recorded" : "already recorded", { id: event.id, detailType: event["detail-type"], correlationId: record.event.correlationId });
    };
}
