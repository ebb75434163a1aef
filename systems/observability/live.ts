/**
 * Live: each stored event pushed to the WebSocket clients subscribed to its run (or to every run).
 *
 * A client connects to the WebSocket API's `live` stage, signed for execute-api (IAM on `$connect`), with
 * `?run=<executionArn or name>` for one run or nothing for all. The connections table holds one item per
 * connection under its subscription (`*` or the execution ARN), so the recorder finds an event's subscribers with
 * two Queries and no Scan; its `connections` index finds a connection's items when it closes. API Gateway closes
 * a connection after two hours: the items' TTL is that, so a connection whose `$disconnect` was lost goes too.
 *
 * Messages (JSON text frames):
 *   {"type":"event","executionArn":...,"event":StoredEvent}   a stored event of the run, redacted as stored
 *   {"type":"run","run":RunSummary}                            the run's status changed (started, ended)
 * An event whose message would pass API Gateway's 128 KB limit goes without its detail (`detailOmitted`): the
 * client reads it from `GET /runs/{id}`.
 */
import {
    ApiGatewayManagementApiClient,
    GoneException,
    PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { type AttributeValue, DeleteItemCommand, DynamoDBClient, PutItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import type { RunSummary, StoredEvent } from "./store";

/** The WebSocket API's stage. */
export const LIVE_STAGE = "live";
/** The connections table's index from a connection to its items. */
export const CONNECTIONS_INDEX = "connections";
/** The subscription of a client that named no run. */
export const ALL_RUNS = "*";
/** API Gateway's limit on a WebSocket connection's lifetime. */
export const CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60;
/** API Gateway's limit on a WebSocket message, less a margin for the frame. */
export const MAX_MESSAGE_BYTES = 127 * 1024;

export type LiveMessage =
    | { type: "event"; executionArn: string; event: StoredEvent & { detailOmitted?: true } }
    | { type: "run"; run: RunSummary };

/** The messages one recorded event gives: the event, and the run when its status changed. */
export function liveMessagesOf(event: StoredEvent, run?: RunSummary): LiveMessage[] {
    const messages: LiveMessage[] = [{ type: "event", executionArn: event.correlationId, event }];
    if (run) messages.push({ type: "run", run });
    return messages;
}

/** A message as the frame API Gateway may carry: too big, the event goes without its detail. */
export function frameOf(message: LiveMessage): string {
    const text = JSON.stringify(message);
    if (Buffer.byteLength(text) <= MAX_MESSAGE_BYTES || message.type !== "event") return text;
    return JSON.stringify({ ...message, event: { ...message.event, detail: null, detailOmitted: true } });
}

/**
 * The run a `$connect`'s `run` parameter names: an execution ARN of the workflow, or an execution's name (made
 * its ARN); absent, every run. Anything else is refused, naming what was wrong.
 */
export function subscriptionOf(run: string | undefined, workflowArn: string): { subscription: string } | { refused: string } {
    if (run === undefined || run === "") return { subscription: ALL_RUNS };
    const executionPrefix = workflowArn.replace(":stateMachine:", ":execution:") + ":";
    if (run.startsWith(executionPrefix) && run.length > executionPrefix.length) return { subscription: run };
    if (/^[A-Za-z0-9_-]{1,80}$/.test(run)) return { subscription: executionPrefix + run };
    return { refused: `run must be an execution ARN of ${workflowArn} or an execution's name (1-80 letters, digits, - or _), not ${JSON.stringify(run.slice(0, 120))}` };
}

/** The management API's endpoint: the stage's URL over HTTPS (`wss://x.execute-api.../live` → `https://...`). */
export function managementEndpointOf(liveUrl: string): string {
    return liveUrl.replace(/^wss:/, "https:").replace(/^ws:/, "http:");
}

/** The connections table: who listens to what. */
export class LiveConnections {
    constructor(
        private readonly dynamodb: DynamoDBClient,
        private readonly tableName: string,
    ) {}

    async connect(connectionId: string, subscription: string, now = Date.now()): Promise<void> {
        await this.dynamodb.send(
            new PutItemCommand({
                TableName: this.tableName,
                Item: {
                    subscription: { S: subscription },
                    connectionId: { S: connectionId },
                    expiresAt: { N: String(Math.floor(now / 1000) + CONNECTION_LIFETIME_SECONDS) },
                },
            }),
        );
    }

    async disconnect(connectionId: string): Promise<void> {
        const found = await this.dynamodb.send(
            new QueryCommand({
                TableName: this.tableName,
                IndexName: CONNECTIONS_INDEX,
                KeyConditionExpression: "connectionId = :id",
                ExpressionAttributeValues: { ":id": { S: connectionId } },
            }),
        );
        for (const item of found.Items ?? []) await this.remove(item.subscription.S ?? "", connectionId);
    }

    async remove(subscription: string, connectionId: string): Promise<void> {
        await this.dynamodb.send(new DeleteItemCommand({ TableName: this.tableName, Key: { subscription: { S: subscription }, connectionId: { S: connectionId } } }));
    }

    /** The connections subscribed to a run's events: to it, and to every run. */
    async subscribers(executionArn: string, now = Date.now()): Promise<{ subscription: string; connectionId: string }[]> {
        const found: { subscription: string; connectionId: string }[] = [];
        // An event of no run (`event:<id>`, such as a run's `start` before its execution exists) reaches clients of every run.
        for (const subscription of executionArn.startsWith("event:") ? [ALL_RUNS] : [ALL_RUNS, executionArn]) {
            let start: Record<string, AttributeValue> | undefined;
            do {
                const page = await this.dynamodb.send(
                    new QueryCommand({
                        TableName: this.tableName,
                        KeyConditionExpression: "#subscription = :subscription",
                        // DynamoDB deletes expired items within days, not at once: an expired one is no subscriber.
                        FilterExpression: "expiresAt > :now",
                        ExpressionAttributeNames: { "#subscription": "subscription" },
                        ExpressionAttributeValues: { ":subscription": { S: subscription }, ":now": { N: String(Math.floor(now / 1000)) } },
                        ExclusiveStartKey: start,
                    }),
                );
                for (const item of page.Items ?? []) found.push({ subscription, connectionId: item.connectionId.S ?? "" });
                start = page.LastEvaluatedKey;
            } while (start);
        }
        return found;
    }
}

/**
 * Pushes messages to a run's subscribers; a connection API Gateway says is gone is forgotten. A failure to push to
 * one client does not stop the others, nor the recording (the event is stored before it is pushed).
 * @returns how many connections each message reached, and the connections that failed otherwise.
 */
export async function pushToSubscribers(
    connections: LiveConnections,
    management: ApiGatewayManagementApiClient,
    executionArn: string,
    messages: LiveMessage[],
): Promise<{ delivered: number; gone: number; failed: { connectionId: string; error: string }[] }> {
    const outcome = { delivered: 0, gone: 0, failed: [] as { connectionId: string; error: string }[] };
    const subscribers = await connections.subscribers(executionArn);
    const frames = messages.map(frameOf);
    await Promise.all(
        subscribers.map(async ({ subscription, connectionId }) => {
            try {
                for (const frame of frames) await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(frame) }));
                outcome.delivered++;
            } catch (error) {
                if (error instanceof GoneException || (error as { name?: string }).name === "GoneException") {
                    outcome.gone++;
                    await connections.remove(subscription, connectionId);
                } else {
                    outcome.failed.push({ connectionId, error: (error as Error).message ?? String(error) });
                }
            }
        }),
    );
    return outcome;
}
