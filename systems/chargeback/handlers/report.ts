/** `report`: `GET /chargeback` (payload 2.0) over the table's month index, read with Query (../reportApi.ts sums). */
import { DynamoDBClient, QueryCommand, type AttributeValue, type QueryCommandOutput } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { MONTH_INDEX } from "../model";
import { handleReportRequest, type IndexedJob } from "../reportApi";

const number = (value: AttributeValue | undefined): number => (value?.N === undefined ? 0 : Number(value.N));

export function indexedJobOf(item: Record<string, AttributeValue>): IndexedJob {
    return {
        jobId: item.jobId?.S ?? "",
        organisation: item.organisation?.S ?? "",
        repository: item.repository?.S ?? "",
        billedMinutes: number(item.billedMinutes),
        cost: number(item.cost),
        priceSource: item.priceSource?.S ?? "",
    };
}

/** Every page of the month's partition of the index. */
export async function queryMonth(dynamodb: DynamoDBClient, tableName: string, month: string): Promise<IndexedJob[]> {
    const jobs: IndexedJob[] = [];
    let start: QueryCommandOutput["LastEvaluatedKey"];
    do {
        const page = await dynamodb.send(
            new QueryCommand({
                TableName: tableName,
                IndexName: MONTH_INDEX,
                KeyConditionExpression: "#month = :month",
                ExpressionAttributeNames: { "#month": "month" },
                ExpressionAttributeValues: { ":month": { S: month } },
                ExclusiveStartKey: start,
            }),
        );
        jobs.push(...(page.Items ?? []).map(indexedJobOf));
        start = page.LastEvaluatedKey;
    } while (start);
    return jobs;
}

export function reportFactory() {
    const tableName = process.env.TABLE_NAME;
    if (!tableName) throw new Error("TABLE_NAME must be set (the Chargeback component sets it)");
    const dynamodb = new DynamoDBClient(SDK_CLIENT_CONFIG);
    return (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => handleReportRequest(event, { jobsOf: (month) => queryMonth(dynamodb, tableName, month) });
}
