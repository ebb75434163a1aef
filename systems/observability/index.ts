/**
 * Observability: every event of a run, side effects included, recorded per run and served as one timeline.
 *
 *   stack bus: source=<stack>, every detail-type of the stack ─┐
 *   stack bus: Lambda failure records of the stack's events ───┼─▶ events queue ─▶ recorder λ (batches of 10) ─▶ events table (per run, TTL)
 *   default bus: aws.states status changes of the workflow ────┘   (DLQ after 5 receives)          │
 *                                                                                        ▼
 *   HTTP API (IAM auth): GET /runs, GET /runs/{executionArnOrName}, GET /architecture ─▶ api λ ─▶ table + GetExecutionHistory
 *   HTTP API GET / (no IAM: no data) ─▶ page λ: the web page, which signs its calls to the routes above
 *   WebSocket API (IAM on $connect, ?run=) ─▶ live λ ─▶ connections table ◀─ recorder λ ─▶ @connections: each stored event
 *
 * Children are named `<name>-*`. Every role holds only the actions its code calls, on the table, its runs index and
 * the workflow's executions.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HandlerFunction } from "../../components/handlerFunction";
import { HttpApi } from "../../components/httpApi";
import type { EventPattern } from "../../components/bus";
import { LAMBDA_FAILURE } from "../../protocol/taskToken";
import type { ObservabilitySettings } from "../../settings";
import type { Platform } from "../platform";
import { apiFactory } from "./handlers/api";
import { liveFactory } from "./handlers/live";
import { pageFactoryOf } from "./handlers/page";
import { recorderFactory } from "./handlers/recorder";
import { CONNECTIONS_INDEX, LIVE_STAGE } from "./live";
import { buildPage } from "./page";
import { EXECUTION_STATUS_CHANGE, RUNS_INDEX, STATES_SOURCE } from "./store";

/** The recorder's timeout: a batch of 10 events is a few DynamoDB writes and pushes. */
const RECORDER_TIMEOUT_SECONDS = 30;
/** Receives of an event the recorder fails on before it is kept in the dead-letter queue. */
const RECORDER_MAX_RECEIVES = 5;
/** SQS's longest retention (14 days), for events the recorder could not store. */
const RECORDER_DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600;

export interface ObservabilityArgs {
    platform: Platform;
    settings: ObservabilitySettings;
    /**
     * Every detail-type the stack's systems put on the bus: the capture rule lists them, since every rule of the
     * stack must narrow `detail-type` (the policy pack's eventbridge-rules-filter-source-and-detail-type).
     */
    detailTypes: string[];
}

/** The HTTP API's routes: each goes to the api function and requires SigV4 (IAM) auth. */
export const API_ROUTES = { runs: "GET /runs", run: "GET /runs/{executionArnOrName}", architecture: "GET /architecture" } as const;
/** The page's route: the API's root, without IAM. */
export const PAGE_ROUTE = "GET /";

export class Observability extends pulumi.ComponentResource {
    public readonly tableName: pulumi.Output<string>;
    /** The HTTP API's URL (its `$default` stage). */
    public readonly apiUrl: pulumi.Output<string>;
    public readonly workflowArn: pulumi.Output<string>;
    /** The WebSocket API's stage URL (wss://...): connect signed, `?run=` for one run; live.ts has the messages. */
    public readonly liveUrl: pulumi.Output<string>;
    public readonly connectionsTableName: pulumi.Output<string>;
    /** The web page: the HTTP API's root. */
    public readonly pageUrl: pulumi.Output<string>;

    constructor(name: string, args: ObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:systems:Observability", name, {}, opts);
        const { platform, settings } = args;
        const { bus } = platform;
        const parent = { parent: this };
        const child = (suffix: string) => `${name}-${suffix}`;

        const region = aws.getRegionOutput({}, parent);
        const account = aws.getCallerIdentityOutput({}, parent);
        const partition = aws.getPartitionOutput({}, parent);
        this.workflowArn = pulumi.interpolate`arn:${partition.partition}:states:${region.region}:${account.accountId}:stateMachine:${settings.workflowName}`;
        const executions = pulumi.interpolate`arn:${partition.partition}:states:${region.region}:${account.accountId}:execution:${settings.workflowName}:*`;

        const table = new aws.dynamodb.Table(
            child("events"),
            {
                billingMode: "PAY_PER_REQUEST",
                hashKey: "correlationId",
                rangeKey: "sk",
                attributes: [
                    { name: "correlationId", type: "S" },
                    { name: "sk", type: "S" },
                    { name: "runs", type: "S" },
                    { name: "startedAt", type: "S" },
                ],
                // Sparse: only run items have `runs`, so the index lists runs, latest `startedAt` first when read backwards.
                globalSecondaryIndexes: [{ name: RUNS_INDEX, hashKey: "runs", rangeKey: "startedAt", projectionType: "ALL" }],
                ttl: { attributeName: "expiresAt", enabled: true },
                pointInTimeRecovery: { enabled: false },
            },
            parent,
        );
        const indexArn = pulumi.interpolate`${table.arn}/index/${RUNS_INDEX}`;

        // Live: who listens to which run (live.ts), and the WebSocket API they connect to.
        const connections = new aws.dynamodb.Table(
            child("connections"),
            {
                billingMode: "PAY_PER_REQUEST",
                hashKey: "subscription",
                rangeKey: "connectionId",
                attributes: [
                    { name: "subscription", type: "S" },
                    { name: "connectionId", type: "S" },
                ],
                globalSecondaryIndexes: [{ name: CONNECTIONS_INDEX, hashKey: "connectionId", projectionType: "KEYS_ONLY" }],
                ttl: { attributeName: "expiresAt", enabled: true },
                pointInTimeRecovery: { enabled: false },
            },
            parent,
        );
        const liveApi = new aws.apigatewayv2.Api(
            child("live"),
            { protocolType: "WEBSOCKET", routeSelectionExpression: "$request.body.action", description: "Observability: each stored event, live" },
            parent,
        );
        const liveUrl = pulumi.interpolate`${liveApi.apiEndpoint}/${LIVE_STAGE}`;

        // The rules deliver to a queue and the recorder takes it in batches: one invocation per batch of up to 10
        // events instead of one per event (a 1,000-name run has 4,004), and an event the recorder keeps failing on
        // is retried by the queue and then kept in its dead-letter queue, not dropped.
        const eventsDeadLetters = new aws.sqs.Queue(child("events-dlq"), { messageRetentionSeconds: RECORDER_DEAD_LETTER_RETENTION_SECONDS, sqsManagedSseEnabled: true }, parent);
        const events = new aws.sqs.Queue(
            child("events"),
            {
                // AWS asks for at least the function's timeout; six times it lets a throttled batch be retried before it reappears.
                visibilityTimeoutSeconds: 6 * RECORDER_TIMEOUT_SECONDS,
                redrivePolicy: pulumi.jsonStringify({ deadLetterTargetArn: eventsDeadLetters.arn, maxReceiveCount: RECORDER_MAX_RECEIVES }),
                sqsManagedSseEnabled: true,
            },
            parent,
        );

        const recorder = new HandlerFunction(
            child("recorder"),
            {
                ...platform.handlerDefaults,
                description: "Stores every event of the stack's runs, redacted, in the observability table, and pushes it to live clients",
                callbackFactory: recorderFactory,
                timeoutSeconds: RECORDER_TIMEOUT_SECONDS,
                environment: { TABLE_NAME: table.name, TTL_DAYS: String(settings.ttlDays), CONNECTIONS_TABLE: connections.name, LIVE_URL: liveUrl },
                statements: [
                    // What Lambda's pollers call as the function's role to hand it the queue's batches.
                    { Effect: "Allow", Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], Resource: events.arn },
                    // GetItem: the run's summary, pushed when its status changes.
                    { Effect: "Allow", Action: ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"], Resource: table.arn },
                    // Query: a run's subscribers; DeleteItem: a connection API Gateway says is gone.
                    { Effect: "Allow", Action: ["dynamodb:Query", "dynamodb:DeleteItem"], Resource: connections.arn },
                    { Effect: "Allow", Action: ["execute-api:ManageConnections"], Resource: pulumi.interpolate`${liveApi.executionArn}/${LIVE_STAGE}/POST/@connections/*` },
                ],
            },
            parent,
        );

        new aws.lambda.EventSourceMapping(
            child("recorder"),
            { eventSourceArn: events.arn, functionName: recorder.function.arn, batchSize: 10, functionResponseTypes: ["ReportBatchItemFailures"] },
            parent,
        );

        const ruleArns: pulumi.Output<string>[] = [];
        const deliver = (rule: string, busName: pulumi.Input<string>, pattern: pulumi.Input<EventPattern>) => {
            const eventPattern = pulumi.output(pattern).apply((p) => JSON.stringify(p));
            const declared = new aws.cloudwatch.EventRule(child(rule), { eventBusName: busName, eventPattern }, parent);
            new aws.cloudwatch.EventTarget(child(rule), { rule: declared.name, eventBusName: busName, arn: events.arn }, parent);
            ruleArns.push(declared.arn);
        };
        deliver("stackEvents", bus.name, { source: [bus.eventSource], "detail-type": [...new Set(args.detailTypes)].sort() });
        // A handler that failed on one of the stack's events, after Lambda's retries: the run's failure as Lambda saw it.
        deliver("handlerFailures", bus.name, {
            source: [LAMBDA_FAILURE.source],
            "detail-type": [LAMBDA_FAILURE.detailType],
            detail: { requestPayload: { source: [bus.eventSource] } },
        });
        // AWS puts Step Functions' status events on the account's default bus only.
        const statusPattern = this.workflowArn.apply(
            (arn): EventPattern => ({ source: [STATES_SOURCE], "detail-type": [EXECUTION_STATUS_CHANGE], detail: { stateMachineArn: [arn] } }),
        );
        deliver("executionStatus", "default", statusPattern);
        // EventBridge sends to the queue only for these three rules.
        new aws.sqs.QueuePolicy(
            child("events"),
            {
                queueUrl: events.url,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Effect: "Allow",
                            Principal: { Service: "events.amazonaws.com" },
                            Action: "sqs:SendMessage",
                            Resource: events.arn,
                            Condition: { ArnEquals: { "aws:SourceArn": ruleArns } },
                        },
                    ],
                }),
            },
            parent,
        );

        const api = new HandlerFunction(
            child("api"),
            {
                ...platform.handlerDefaults,
                description: "The observability HTTP API: runs, a run's timeline, the inferred architecture",
                callbackFactory: apiFactory,
                environment: { TABLE_NAME: table.name, WORKFLOW_ARN: this.workflowArn },
                memorySizeMb: 512,
                statements: [
                    { Effect: "Allow", Action: ["dynamodb:Query", "dynamodb:GetItem"], Resource: table.arn },
                    { Effect: "Allow", Action: ["dynamodb:Query"], Resource: indexArn },
                    { Effect: "Allow", Action: ["states:GetExecutionHistory"], Resource: executions },
                ],
            },
            parent,
        );

        // The page: the HTTP API's `GET /`, unsigned (it holds no data; every call it makes is signed), built once here.
        const page = new HandlerFunction(
            child("page"),
            {
                ...platform.handlerDefaults,
                description: "The observability web page (runs, timeline, events, architecture), served on the HTTP API's GET /",
                callbackFactory: pageFactoryOf(buildPage()),
                environment: { LIVE_URL: liveUrl },
                statements: [],
            },
            parent,
        );
        const httpApi = new HttpApi(
            child("http"),
            {
                description: "Observability: runs, timelines, architecture, and the page",
                routes: {
                    ...Object.fromEntries(Object.entries(API_ROUTES).map(([key, routeKey]) => [key, { routeKey, handler: api, authorizationType: "AWS_IAM" as const }])),
                    page: { routeKey: PAGE_ROUTE, handler: page, authorizationType: "NONE" },
                },
            },
            parent,
        );

        const live = new HandlerFunction(
            child("live"),
            {
                ...platform.handlerDefaults,
                description: "The observability WebSocket API's $connect and $disconnect: who listens to which run",
                callbackFactory: liveFactory,
                environment: { CONNECTIONS_TABLE: connections.name, WORKFLOW_ARN: this.workflowArn },
                statements: [
                    { Effect: "Allow", Action: ["dynamodb:PutItem", "dynamodb:DeleteItem"], Resource: connections.arn },
                    { Effect: "Allow", Action: ["dynamodb:Query"], Resource: pulumi.interpolate`${connections.arn}/index/${CONNECTIONS_INDEX}` },
                ],
            },
            parent,
        );
        const liveIntegration = new aws.apigatewayv2.Integration(
            child("live"),
            { apiId: liveApi.id, integrationType: "AWS_PROXY", integrationMethod: "POST", integrationUri: live.function.invokeArn },
            parent,
        );
        // Only $connect is authorized (IAM, a signature in the query from browsers); a connection's later frames are its own.
        for (const [route, routeKey] of [["connect", "$connect"], ["disconnect", "$disconnect"]] as const) {
            new aws.apigatewayv2.Route(
                child(`live-${route}`),
                {
                    apiId: liveApi.id,
                    routeKey,
                    target: pulumi.interpolate`integrations/${liveIntegration.id}`,
                    authorizationType: routeKey === "$connect" ? "AWS_IAM" : "NONE",
                },
                parent,
            );
        }
        new aws.apigatewayv2.Stage(child("live"), { apiId: liveApi.id, name: LIVE_STAGE, autoDeploy: true }, parent);
        new aws.lambda.Permission(
            child("live"),
            {
                action: "lambda:InvokeFunction",
                function: live.function.name,
                principal: "apigateway.amazonaws.com",
                sourceArn: pulumi.interpolate`${liveApi.executionArn}/${LIVE_STAGE}/*`,
            },
            parent,
        );

        this.tableName = table.name;
        this.apiUrl = httpApi.url;
        this.liveUrl = liveUrl;
        this.pageUrl = pulumi.interpolate`${httpApi.url}/`;
        this.connectionsTableName = connections.name;
        this.registerOutputs({ tableName: this.tableName, apiUrl: this.apiUrl, liveUrl: this.liveUrl, pageUrl: this.pageUrl, connectionsTableName: this.connectionsTableName, workflowArn: this.workflowArn });
    }
}
