/**
 * `recorder`: every event the observability rules deliver (the stack's own source, Lambda's failure records, Step
 * Functions' execution status changes) is stored, redacted, in the events table under its run (store.ts), then
 * pushed to the WebSocket clients subscribed to the run (live.ts).
 */
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import type { EventBridgeEvent } from "aws-lambda";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { LiveConnections, liveMessagesOf, managementEndpointOf, pushToSubscribers } from "../live";
import { EventStore, recordOf } from "../store";

export interface RecorderConfig {
    tableName: string;
    ttlSeconds: number;
    connectionsTable: string;
    /** The WebSocket API's stage URL (wss://...): its management API is the same over HTTPS. */
    liveUrl: string;
}

/** The tables, the items' lifetime and the live stage, from the environment the Observability component sets. */
export function recorderConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RecorderConfig {
    const { TABLE_NAME: tableName, CONNECTIONS_TABLE: connectionsTable, LIVE_URL: liveUrl } = env;
    const ttlDays = Number(env.TTL_DAYS);
    if (!tableName || !connectionsTable || !liveUrl || !Number.isInteger(ttlDays) || ttlDays < 1) {
        throw new Error(
            `TABLE_NAME, CONNECTIONS_TABLE, LIVE_URL and TTL_DAYS (a whole number of days) must be set, got ${JSON.stringify({ tableName, connectionsTable, liveUrl, ttlDays: env.TTL_DAYS })}`,
        );
    }
    return { tableName, ttlSeconds: ttlDays * 86400, connectionsTable, liveUrl };
}

export function recorderFactory() {
    const { tableName, ttlSeconds, connectionsTable, liveUrl } = recorderConfigFromEnv();
    const dynamodb = new DynamoDBClient(SDK_CLIENT_CONFIG);
    const store = new EventStore(dynamodb, tableName, ttlSeconds);
    const connections = new LiveConnections(dynamodb, connectionsTable);
    const management = new ApiGatewayManagementApiClient({ ...SDK_CLIENT_CONFIG, endpoint: managementEndpointOf(liveUrl) });
    const logger = new Logger({ serviceName: "observability-recorder" });
    return async (event: EventBridgeEvent<string, unknown>): Promise<void> => {
        const record = recordOf(event);
        const stored = await store.record(record);
        // The ids and types only: the detail may hold what the store redacts.
        logger.debug(stored ? "recorded" : "already recorded", { id: event.id, detailType: event["detail-type"], correlationId: record.event.correlationId });
        // A repeated delivery was pushed when it was first stored.
        if (!stored) return;
        const run = record.run?.status ? await store.run(record.run.executionArn) : undefined;
        const pushed = await pushToSubscribers(connections, management, record.event.correlationId, liveMessagesOf(record.event, run));
        if (pushed.failed.length) logger.warn("live push failed", { id: event.id, failed: pushed.failed });
    };
}
