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
            routes: { rawJson: { targetPrefix: "DynamoDB_20120810", service: emulator } },
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
