/** DynamoDB on dynalite: the tables the stack declares, and the calls Step Functions' integrations make. */
import { namedArn, str } from "../../core/naming";
import { AwsError } from "../../core/awsError";
import type { IntegrationCall, ServiceDefinition, ServiceInstance, TaskIntegration } from "../../core/registry";
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
            // As AWS, the integrations call DynamoDB once the machine's role is allowed (checked before each call).
            integrations: dynamoDbIntegrations({ region: context.region, accountId: context.accountId, call: (action, params) => emulator.call(action, params) }),
            routes: {
                rawJson: {
                    targetPrefix: "DynamoDB_20120810",
                    service: emulator,
                    // A function's key may touch only the tables its role allows, each action as IAM names it.
                    authorize: (accessKeyId, operation, request) => {
                        if (!context.credentials.roleOf(accessKeyId)) return;
                        // A Query or Scan of an index is authorized on the index, as IAM names it (and as the integrations do).
                        const index = typeof request.IndexName === "string" ? `/index/${request.IndexName}` : "";
                        for (const table of tablesOf(request)) {
                            context.iam.authorizeCaller(accessKeyId, `dynamodb:${operation}`, table === "*" ? "*" : `arn:aws:dynamodb:${context.region}:${context.accountId}:table/${table}${index}`);
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

/** The DynamoDB actions the emulator (dynalite) serves, as the API names them. */
const SERVED_ACTIONS: ReadonlySet<string> = new Set([
    "BatchGetItem",
    "BatchWriteItem",
    "CreateTable",
    "DeleteItem",
    "DeleteTable",
    "DescribeTable",
    "DescribeTimeToLive",
    "GetItem",
    "ListTables",
    "ListTagsOfResource",
    "PutItem",
    "Query",
    "Scan",
    "TagResource",
    "UntagResource",
    "UpdateItem",
    "UpdateTable",
]);

/** The optimised integration's actions (`arn:aws:states:::dynamodb:putItem`...). */
const OPTIMISED = /^arn:aws[a-z-]*:states:::dynamodb:(putItem|getItem|updateItem|deleteItem)$/;
/** The AWS SDK integration: any action, in camelCase (`arn:aws:states:::aws-sdk:dynamodb:query`). */
const AWS_SDK = /^arn:aws[a-z-]*:states:::aws-sdk:dynamodb:([a-z][A-Za-z]*)$/;

export interface DynamoDbIntegrationDeps {
    region: string;
    accountId: string;
    /** One DynamoDB API call, the action as the API names it (`PutItem`); rejects with AwsError as DynamoDB answers. */
    call(action: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/**
 * DynamoDB for Step Functions: the optimised `dynamodb:putItem|getItem|updateItem|deleteItem` (errors
 * `DynamoDB.<Code>`) and `aws-sdk:dynamodb:<action>` for every action the emulator serves (errors `DynamoDb.<Code>`,
 * the service name in PascalCase as AWS SDK integrations name it). Parameters are the API's, in PascalCase.
 */
export function dynamoDbIntegrations(deps: DynamoDbIntegrationDeps): TaskIntegration[] {
    const actionOf = (resource: string): string | undefined => {
        const name = (OPTIMISED.exec(resource) ?? AWS_SDK.exec(resource))?.[1];
        const action = name ? name.charAt(0).toUpperCase() + name.slice(1) : undefined;
        return action && SERVED_ACTIONS.has(action) ? action : undefined;
    };
    const tableArn = (table: string) => `arn:aws:dynamodb:${deps.region}:${deps.accountId}:table/${table}`;
    const permissions = (call: IntegrationCall) => {
        const action = `dynamodb:${actionOf(call.resource)}`;
        const request = requestOf(call);
        // A Query or Scan of an index is authorized on the index, as IAM names it.
        const index = typeof request?.IndexName === "string" ? `/index/${request.IndexName}` : "";
        return tablesOf(request ?? {}).map((table) => ({ action, resource: table === "*" ? "*" : `${tableArn(table)}${index}` }));
    };
    const run = async (call: IntegrationCall) => {
        const action = actionOf(call.resource) ?? "";
        const request = requestOf(call);
        if (!request) throw new AwsError("ValidationException", `dynamodb:${action} Parameters must be an object.`);
        return deps.call(action, request);
    };
    return [
        { matches: (resource) => OPTIMISED.test(resource), patterns: [""], errorService: "DynamoDB", permissions, run },
        { matches: (resource) => AWS_SDK.test(resource) && actionOf(resource) !== undefined, patterns: ["", ".waitForTaskToken"], errorService: "DynamoDb", permissions, run },
    ];
}

function requestOf(call: IntegrationCall): Record<string, unknown> | undefined {
    const parameters = call.parameters;
    return typeof parameters === "object" && parameters !== null && !Array.isArray(parameters) ? (parameters as Record<string, unknown>) : undefined;
}
