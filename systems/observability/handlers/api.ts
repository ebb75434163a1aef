/**
 * `api`: the observability HTTP API's one function (payload format 2.0), over the events table and Step Functions'
 * execution history (../api.ts routes and answers).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ExecutionDoesNotExist, GetExecutionHistoryCommand, SFNClient } from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { handleApiRequest, historyEntryOf } from "../api";
import { EventStore } from "../store";
import type { HistoryEntry } from "../timeline";

/** Every page of an execution's history, redacted; undefined when Step Functions has no such execution. */
export async function executionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEntry[] | undefined> {
    const entries: HistoryEntry[] = [];
    let nextToken: string | undefined;
    try {
        do {
            const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken, includeExecutionData: true }));
            entries.push(...(page.events ?? []).map(historyEntryOf));
            nextToken = page.nextToken;
        } while (nextToken);
    } catch (error) {
        if (error instanceof ExecutionDoesNotExist || (error as { name?: string }).name === "ExecutionDoesNotExist") return undefined;
        throw error;
    }
    return entries;
}

export function apiFactory() {
    const tableName = process.env.TABLE_NAME;
    const workflowArn = process.env.WORKFLOW_ARN;
    if (!tableName || !workflowArn) throw new Error("TABLE_NAME and WORKFLOW_ARN must be set (the Observability component sets them)");
    // Reads only: the TTL does not matter here.
    const store = new EventStore(new DynamoDBClient(SDK_CLIENT_CONFIG), tableName, 0);
    const sfn = new SFNClient(SDK_CLIENT_CONFIG);
    return (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> =>
        handleApiRequest(event, { store, workflowArn, history: (arn) => executionHistory(sfn, arn) });
}
