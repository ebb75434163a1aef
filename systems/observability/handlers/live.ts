/**
 * `live`: the observability WebSocket API's `$connect` and `$disconnect`. API Gateway has checked the caller's
 * signature (IAM) before `$connect` runs; this records what the connection subscribes to (../live.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { LiveConnections, subscriptionOf } from "../live";

/** `$connect` events carry the query string; the type of @types/aws-lambda leaves it out. */
export type LiveConnectionEvent = APIGatewayProxyWebsocketEventV2 & { queryStringParameters?: Record<string, string | undefined> };

export function liveFactory() {
    const tableName = process.env.CONNECTIONS_TABLE;
    const workflowArn = process.env.WORKFLOW_ARN;
    if (!tableName || !workflowArn) throw new Error("CONNECTIONS_TABLE and WORKFLOW_ARN must be set (the Observability component sets them)");
    const connections = new LiveConnections(new DynamoDBClient(SDK_CLIENT_CONFIG), tableName);
    const logger = new Logger({ serviceName: "observability-live" });
    return async (event: LiveConnectionEvent): Promise<APIGatewayProxyResultV2> => {
        const { connectionId, eventType } = event.requestContext;
        if (eventType === "CONNECT") {
            const chosen = subscriptionOf(event.queryStringParameters?.run, workflowArn);
            if ("refused" in chosen) {
                logger.info("refused", { connectionId, why: chosen.refused });
                return { statusCode: 400, body: chosen.refused };
            }
            await connections.connect(connectionId, chosen.subscription);
            logger.info("connected", { connectionId, subscription: chosen.subscription });
            return { statusCode: 200 };
        }
        if (eventType === "DISCONNECT") {
            await connections.disconnect(connectionId);
            return { statusCode: 200 };
        }
        // No other route reaches this function: a message to the API has no route and API Gateway answers it.
        return { statusCode: 400, body: `unexpected ${eventType} event` };
    };
}
