/**
 * Chargeback: GitHub Actions `workflow_job` webhooks to a per-organisation, per-repository cost report, with no Lambda
 * in the workflow.
 *
 *   GitHub ─POST /github/webhook (HMAC, no IAM)─▶ webhook λ ─▶ bus: source=<chargebackEventSource>, detail-type=workflow_job
 *                                                                   │ rule (retry policy, DLQ) ─▶ workflow (STANDARD, JSONata)
 *                                                                   │     dynamodb:getItem/updateItem, aws-sdk:ec2:describe*
 *   default bus: aws.states FAILED/TIMED_OUT/ABORTED of the workflow ─▶ rule ─▶ deadLetters (SQS) ◀─ the rule's DLQ
 *   caller ─GET /chargeback?month= (AWS_IAM)─▶ report λ ─▶ jobs table, month index (Query)
 *
 * Children are named `<name>-*`. Every role holds only what its code calls: the webhook reads its one secret and puts
 * events on the bus; the workflow reads and updates the jobs table and makes EC2's three Describe calls (which IAM
 * scopes to no resource); the report queries the month index only.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HandlerFunction } from "../../components/handlerFunction";
import { HttpApi } from "../../components/httpApi";
import { serviceRole, type Statement } from "../../components/iam";
import { LOG_DELIVERY_ACTIONS } from "../../components/logDelivery";
import type { ChargebackSettings } from "../../settings";
import type { Platform } from "../platform";
import { chargebackDefinition } from "./definition";
import { reportFactory } from "./handlers/report";
import { webhookFactory } from "./handlers/webhook";
import { MONTH_INDEX, MONTH_INDEX_ATTRIBUTES, WORKFLOW_JOB } from "./model";

export interface ChargebackArgs {
    platform: Platform;
    settings: ChargebackSettings;
}

/** The HTTP API's routes; only the report is IAM-authenticated (GitHub signs with HMAC, which the webhook checks itself). */
export const CHARGEBACK_ROUTES = { webhook: "POST /github/webhook", report: "GET /chargeback" } as const;
/** The EC2 calls the workflow makes: IAM has no resource types for them, so they are granted on "*". */
export const EC2_DESCRIBE_ACTIONS = ["ec2:DescribeInstances", "ec2:DescribeSpotInstanceRequests", "ec2:DescribeSpotPriceHistory"] as const;
/** Step Functions' status events of STANDARD executions, which AWS puts on the account's default bus only. */
const EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change";
/** An execution runs a handful of calls; five minutes leaves room for every retry's backoff. */
const EXECUTION_TIMEOUT_SECONDS = 300;
/** SQS keeps a message at most 14 days: the time an operator has to look at a failure and redrive it. */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600;

export class Chargeback extends pulumi.ComponentResource {
    public readonly apiUrl: pulumi.Output<string>;
    /** What to give GitHub as the webhook's Payload URL. */
    public readonly webhookUrl: pulumi.Output<string>;
    public readonly tableName: pulumi.Output<string>;
    public readonly workflowArn: pulumi.Output<string>;
    public readonly deadLetterQueueUrl: pulumi.Output<string>;
    public readonly webhookSecretArn: pulumi.Output<string>;

    constructor(name: string, args: ChargebackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:systems:Chargeback", name, {}, opts);
        const { platform, settings } = args;
        const { bus } = platform;
        const parent = { parent: this };
        const child = (suffix: string) => `${name}-${suffix}`;

        if (!settings.webhookSecret) {
            pulumi.log.warn(
                `${name}: choreography:chargebackWebhookSecret is not set, so the webhook refuses every delivery (500) until it is: pulumi config set --secret choreography:chargebackWebhookSecret "$(openssl rand -hex 32)"`,
                this,
            );
        }
        const secret = new aws.secretsmanager.Secret(child("webhookSecret"), { description: "The GitHub webhook secret the chargeback checks deliveries' X-Hub-Signature-256 with" }, parent);
        if (settings.webhookSecret) {
            new aws.secretsmanager.SecretVersion(child("webhookSecret"), { secretId: secret.id, secretString: settings.webhookSecret }, parent);
        }

        const table = new aws.dynamodb.Table(
            child("jobs"),
            {
                billingMode: "PAY_PER_REQUEST",
                hashKey: "jobId",
                attributes: [
                    { name: "jobId", type: "S" },
                    { name: "month", type: "S" },
                    { name: "repository", type: "S" },
                ],
                // Sparse: only completed jobs have `month`, so a month's partition is exactly what it bills.
                globalSecondaryIndexes: [
                    { name: MONTH_INDEX, hashKey: "month", rangeKey: "repository", projectionType: "INCLUDE", nonKeyAttributes: [...MONTH_INDEX_ATTRIBUTES] },
                ],
                pointInTimeRecovery: { enabled: true },
                serverSideEncryption: { enabled: true },
            },
            parent,
        );
        const indexArn = pulumi.interpolate`${table.arn}/index/${MONTH_INDEX}`;

        // The workflow: its own role and log group (it waits for no task token, so it needs no TaskFinisher).
        const logGroup = new aws.cloudwatch.LogGroup(
            child("workflow"),
            { name: `/aws/vendedlogs/states/choreography-${pulumi.getStack()}-${child("workflow")}`, retentionInDays: platform.logRetentionDays },
            parent,
        );
        const workflowRole = serviceRole(
            child("workflow"),
            "states.amazonaws.com",
            pulumi.output(table.arn).apply((tableArn): Statement[] => [
                { Effect: "Allow", Action: [...LOG_DELIVERY_ACTIONS], Resource: "*" },
                { Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"], Resource: tableArn },
                { Effect: "Allow", Action: [...EC2_DESCRIBE_ACTIONS], Resource: "*" },
            ]),
            parent,
        );
        const definition = table.name.apply((tableName) =>
            JSON.stringify(
                chargebackDefinition({
                    tableName,
                    hostedRates: settings.hostedRates,
                    runnerNameTag: settings.runnerNameTag,
                    executionTimeoutSeconds: EXECUTION_TIMEOUT_SECONDS,
                }),
            ),
        );
        // STANDARD: each start runs exactly once, and AWS emits status events (the failure queue's source) for STANDARD only.
        const workflow = new aws.sfn.StateMachine(
            child("workflow"),
            {
                type: "STANDARD",
                roleArn: workflowRole.role.arn,
                definition,
                loggingConfiguration: { logDestination: pulumi.interpolate`${logGroup.arn}:*`, includeExecutionData: true, level: "ERROR" },
            },
            { parent: this, dependsOn: [workflowRole.policy] },
        );

        const deadLetters = new aws.sqs.Queue(child("deadLetters"), { messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS, sqsManagedSseEnabled: true }, parent);

        const jobRule = new aws.cloudwatch.EventRule(
            child("workflowJob"),
            { eventBusName: bus.name, eventPattern: JSON.stringify({ source: [settings.eventSource], "detail-type": [WORKFLOW_JOB] }) },
            parent,
        );
        const startRole = serviceRole(child("workflowJob-target"), "events.amazonaws.com", [{ Effect: "Allow", Action: ["states:StartExecution"], Resource: workflow.arn }], parent);
        new aws.cloudwatch.EventTarget(
            child("workflowJob"),
            {
                rule: jobRule.name,
                eventBusName: bus.name,
                arn: workflow.arn,
                roleArn: startRole.role.arn,
                // AWS's own defaults, spelled out: a start EventBridge cannot make (throttled, not allowed) is retried
                // with backoff for up to a day, then lands in the dead-letter queue with the error.
                retryPolicy: { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 },
                deadLetterConfig: { arn: deadLetters.arn },
            },
            { parent: this, dependsOn: [startRole.policy] },
        );
        // A started execution that then fails is a successful delivery for EventBridge: its DLQ never sees it. Its
        // status event does, with the error and cause and the event it ran on.
        const failedRule = new aws.cloudwatch.EventRule(
            child("workflowFailed"),
            {
                eventBusName: "default",
                eventPattern: workflow.arn.apply((stateMachineArn) =>
                    JSON.stringify({
                        source: ["aws.states"],
                        "detail-type": [EXECUTION_STATUS_CHANGE],
                        detail: { status: ["FAILED", "TIMED_OUT", "ABORTED"], stateMachineArn: [stateMachineArn] },
                    }),
                ),
            },
            parent,
        );
        new aws.cloudwatch.EventTarget(child("workflowFailed"), { rule: failedRule.name, eventBusName: "default", arn: deadLetters.arn }, parent);
        new aws.sqs.QueuePolicy(
            child("deadLetters"),
            {
                queueUrl: deadLetters.url,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Effect: "Allow",
                            Principal: { Service: "events.amazonaws.com" },
                            Action: "sqs:SendMessage",
                            Resource: deadLetters.arn,
                            Condition: { ArnEquals: { "aws:SourceArn": [jobRule.arn, failedRule.arn] } },
                        },
                    ],
                }),
            },
            parent,
        );

        const webhook = new HandlerFunction(
            child("webhook"),
            {
                ...platform.handlerDefaults,
                description: "GitHub's workflow_job webhook: checks X-Hub-Signature-256 and puts the delivery on the bus",
                callbackFactory: webhookFactory,
                // GitHub waits 10 s: verifying and one PutEvents take milliseconds.
                timeoutSeconds: 10,
                environment: { WEBHOOK_SECRET_ARN: secret.arn, EVENT_BUS: bus.name, EVENT_SOURCE: settings.eventSource },
                statements: [
                    { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: secret.arn },
                    { Effect: "Allow", Action: ["events:PutEvents"], Resource: bus.arn },
                ],
            },
            parent,
        );
        const report = new HandlerFunction(
            child("report"),
            {
                ...platform.handlerDefaults,
                description: "GET /chargeback?month=YYYY-MM: jobs, minutes and cost per organisation and repository",
                callbackFactory: reportFactory,
                environment: { TABLE_NAME: table.name },
                statements: [{ Effect: "Allow", Action: ["dynamodb:Query"], Resource: indexArn }],
            },
            parent,
        );

        const api = new HttpApi(
            child("http"),
            {
                description: "GitHub Actions chargeback: the webhook and the report",
                routes: {
                    // GitHub cannot sign with SigV4: the webhook's authentication is its HMAC, checked by the function.
                    webhook: { routeKey: CHARGEBACK_ROUTES.webhook, handler: webhook, authorizationType: "NONE" },
                    report: { routeKey: CHARGEBACK_ROUTES.report, handler: report, authorizationType: "AWS_IAM" },
                },
                // The webhook is open to the internet: a stage-wide rate limit bounds what unsigned requests can cost.
                throttling: { burstLimit: 100, rateLimit: 50 },
            },
            parent,
        );

        this.apiUrl = api.url;
        this.webhookUrl = pulumi.interpolate`${api.url}/github/webhook`;
        this.tableName = table.name;
        this.workflowArn = workflow.arn;
        this.deadLetterQueueUrl = deadLetters.url;
        this.webhookSecretArn = secret.arn;
        this.registerOutputs({
            apiUrl: this.apiUrl,
            webhookUrl: this.webhookUrl,
            tableName: this.tableName,
            workflowArn: this.workflowArn,
            deadLetterQueueUrl: this.deadLetterQueueUrl,
            webhookSecretArn: this.webhookSecretArn,
        });
    }
}
