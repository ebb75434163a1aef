/**
 * `recorder`: every event the observability rules deliver (the stack's own source, Lambda's failure records, Step
 * Functions' execution status changes) arrives through the events queue, in batches; each is stored, redacted, in the
 * events table under its run (store.ts), then pushed to the WebSocket clients subscribed to the run (live.ts), one
 * subscriber lookup per run of the batch. An event that cannot be stored is reported as a batch item failure: the
 * queue gives it again, and keeps it in its dead-letter queue after its last receive.
 */
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import type { EventBridgeEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { LiveConnections, liveMessagesOf, managementEndpointOf, pushToSubscribers, type LiveMessage } from "../live";
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
    return async (batch: SQSEvent): Promise<SQSBatchResponse> => {
        const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
        const pushes = new Map<string, LiveMessage[]>();
        await Promise.all(
            batch.Records.map(async (message) => {
                let event: EventBridgeEvent<string, unknown>;
                try {
                    event = JSON.parse(message.body) as EventBridgeEvent<string, unknown>;
                    const record = recordOf(event);
                    const stored = await store.record(record);
                    // The ids and types only: the detail may hold what the store redacts.
                    logger.debug(stored ? "recorded" : "already recorded", { id: event.id, detailType: event["detail-type"], correlationId: record.event.correlationId });
                    // A repeated delivery was pushed when it was first stored.
                    if (!stored) return;
                    const run = record.run?.status ? await store.run(record.run.executionArn) : undefined;
                    const messages = pushes.get(record.event.correlationId) ?? [];
                    messages.push(...liveMessagesOf(record.event, run));
                    pushes.set(record.event.correlationId, messages);
                } catch (error) {
                    logger.error("event not recorded; the queue gives it again", { messageId: message.messageId, receiveCount: message.attributes.ApproximateReceiveCount, error: error instanceof Error ? error.message : String(error) });
                    batchItemFailures.push({ itemIdentifier: message.messageId });
                }
            }),
        );
        // Stored events are not given again for a failed push: a client that missed one reads the run's timeline.
        for (const [correlationId, messages] of pushes) {
            try {
                const pushed = await pushToSubscribers(connections, management, correlationId, messages);
                if (pushed.failed.length) logger.warn("live push failed", { correlationId, failed: pushed.failed });
            } catch (error) {
                logger.warn("live push failed", { correlationId, error: error instanceof Error ? error.message : String(error) });
            }
        }
        return { batchItemFailures };
    };
}
