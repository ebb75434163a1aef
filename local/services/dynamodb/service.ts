/** DynamoDB on dynalite: the tables the stack declares, and the calls Step Functions' integrations make. */
import { namedArn, str } from "../../core/naming";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";
import { DeclaredTable, DynamoDbEmulator, createDynamoDbEmulator } from "./dynamodb";

export interface DynamoDbInstance extends ServiceInstance {
    emulator: DynamoDbEmulator;
}

const TABLE = "aws:dynamodb/table:Table";

export const dynamodbService: ServiceDefinition<DynamoDbInstance> = {
    name: "dynamodb",
    signingName: "dynamodb",
    resourceTypes: {
        [TABLE]: { attributes: namedArn((r, name) => `arn:aws:dynamodb:${r.region}:${r.accountId}:table/${name}`) },
    },
    async create(context) {
        const emulator = await createDynamoDbEmulator({ dataDir: context.dataDir(), scratchDir: context.scratchDir() });
        return {
            emulator,
            routes: {
                rawJson: {
                    targetPrefix: "DynamoDB_20120810",
                    service: emulator,
                    // A function's key may touch only the tables its role allows, each action as IAM names it.
                    authorize: (accessKeyId, operation, request) => {
                        if (!context.credentials.roleOf(accessKeyId)) return;
                        for (const table of tablesOf(request)) {
                            context.iam.authorizeCaller(accessKeyId, `dynamodb:${operation}`, table === "*" ? "*" : `arn:aws:dynamodb:${context.region}:${context.accountId}:table/${table}`);
                        }
                    },
                },
            },
            async provision() {
                for (const table of context.declared.of(TABLE)) {
                    const name = str(table.state.name);
                    await emulator.ensureTable({ ...(table.inputs as unknown as DeclaredTable), name });
                    context.serve({ service: "dynamodb", type: TABLE, urn: table.urn, arn: str(table.state.arn), name, description: `table ${name}` });
                }
            },
            close: () => emulator.close(),
        };
    },
};

/**
 * The tables a request names: `TableName`, the keys of `RequestItems` (batches), each `TransactItems` entry's; `*`
 * for the calls on no table (ListTables), as IAM's resource for them.
 */
export function tablesOf(request: Record<string, unknown>): string[] {
    if (typeof request.TableName === "string") return [request.TableName];
    if (request.RequestItems && typeof request.RequestItems === "object") return Object.keys(request.RequestItems);
    if (Array.isArray(request.TransactItems)) {
        return (request.TransactItems as Array<Record<string, { TableName?: unknown } | undefined>>).flatMap((item) =>
            Object.values(item ?? {}).flatMap((action) => (typeof action?.TableName === "string" ? [action.TableName] : [])),
        );
    }
    return ["*"];
}
