/**
 * Amazon SQS: the queues the stack declares (`aws.sqs.Queue`, with `QueuePolicy` and `RedrivePolicy`), the JSON
 * protocol the AWS SDK v3 and the AWS CLI speak (`AmazonSQS.<Operation>`), queues as EventBridge targets, `send`
 * for other services that put a message on a queue by ARN (EventBridge's dead-letter records), and Lambda event
 * source mappings from queues (eventSourceMappings.ts).
 */
import type * as http from "http";
import { randomUUID } from "node:crypto";
import { AwsError } from "../../core/awsError";
import { parsePolicy, type PolicyStatement } from "../../core/iam";
import { MOCK_ENDPOINT, str } from "../../core/naming";
import type { ServiceContext, ServiceDefinition, ServiceInstance, TargetKind } from "../../core/registry";
import { type LocalMessage, type MessageAttributeValue, SqsError, SqsService } from "./queues";
import { EVENT_SOURCE_MAPPING, QueuePollers, mappingAttributes, queueMappingOf } from "./eventSourceMappings";

export interface SqsInstance extends ServiceInstance {
    service: SqsService;
    /**
     * Puts a message on the queue of `queueArn` as `principal` (an AWS service principal such as
     * `events.amazonaws.com`, for `sourceArn`): the queue's policy must allow it `sqs:SendMessage`, as on AWS.
     * Rejects with an AwsError (`QueueDoesNotExist`, `AccessDeniedException`) naming what was wrong.
     */
    send(queueArn: string, message: LocalMessage, from: { principal: string; sourceArn: string }): Promise<{ MessageId?: string }>;
}

export const SQS_TYPES = {
    queue: "aws:sqs/queue:Queue",
    queuePolicy: "aws:sqs/queuePolicy:QueuePolicy",
    redrivePolicy: "aws:sqs/redrivePolicy:RedrivePolicy",
} as const;

/** The port the runtime listens on by default: the queue URLs the mocks give (the live URLs are the endpoint's). */
const DEFAULT_ENDPOINT = MOCK_ENDPOINT;
const CONTENT_TYPE = "application/x-amz-json-1.0";

/** The queue's physical name: a FIFO queue's ends in `.fifo`, as the provider's autonaming adds it. */
function queueName(r: { name: string; inputs: Record<string, unknown> }): string {
    const name = typeof r.inputs.name === "string" ? r.inputs.name : r.name;
    return r.inputs.fifoQueue === true && !name.endsWith(".fifo") ? `${name}.fifo` : name;
}

/** Pulumi's Queue inputs as SQS's queue attributes. */
const ATTRIBUTE_INPUTS: Record<string, string> = {
    delaySeconds: "DelaySeconds",
    maxMessageSize: "MaximumMessageSize",
    messageRetentionSeconds: "MessageRetentionPeriod",
    receiveWaitTimeSeconds: "ReceiveMessageWaitTimeSeconds",
    visibilityTimeoutSeconds: "VisibilityTimeout",
    redrivePolicy: "RedrivePolicy",
    redriveAllowPolicy: "RedriveAllowPolicy",
    policy: "Policy",
    fifoQueue: "FifoQueue",
    contentBasedDeduplication: "ContentBasedDeduplication",
    deduplicationScope: "DeduplicationScope",
    fifoThroughputLimit: "FifoThroughputLimit",
    kmsMasterKeyId: "KmsMasterKeyId",
    kmsDataKeyReusePeriodSeconds: "KmsDataKeyReusePeriodSeconds",
    sqsManagedSseEnabled: "SqsManagedSseEnabled",
};

/** The IAM action of each operation: a batch is authorized as its single form, as IAM names them. */
function actionOf(operation: string): string {
    const single = operation.replace(/Batch$/, "");
    return `sqs:${single}`;
}

export const sqsService: ServiceDefinition<SqsInstance> = {
    name: "sqs",
    signingName: "sqs",
    resourceTypes: {
        [SQS_TYPES.queue]: {
            attributes: (r) => {
                const name = queueName(r);
                const url = `${DEFAULT_ENDPOINT}/${r.accountId}/${name}`;
                return { name, arn: `arn:aws:sqs:${r.region}:${r.accountId}:${name}`, url };
            },
            id: (state) => str(state.url),
        },
        [SQS_TYPES.queuePolicy]: { attributes: () => ({}), id: (state) => str(state.queueUrl) },
        [SQS_TYPES.redrivePolicy]: { attributes: () => ({}), id: (state) => str(state.queueUrl) },
        // Lambda's resource, served where the messages are: the pollers read the queue (eventSourceMappings.ts).
        [EVENT_SOURCE_MAPPING]: { attributes: mappingAttributes, id: (state) => str(state.uuid) },
    },
    async create(context) {
        const service = new SqsService({ region: context.region, accountId: context.accountId, endpointUrl: () => context.endpointUrl() });
        const queueArnOfRequest = (operation: string, request: Record<string, unknown>): string | undefined => {
            if (operation === "ListQueues") return "*";
            if (operation === "CreateQueue" || operation === "GetQueueUrl") return typeof request.QueueName === "string" ? service.arnOf(request.QueueName) : undefined;
            const name = service.nameOfUrl(request.QueueUrl);
            return name === undefined ? undefined : service.arnOf(name);
        };
        const policyOf = (queueArn: string): PolicyStatement[] => {
            const queue = service.queueByArn(queueArn);
            return queue?.attributes.Policy ? parsePolicy(queue.attributes.Policy, `the policy of ${queue.name}`) : [];
        };
        const send: SqsInstance["send"] = async (queueArn, message, from) => {
            if (!service.queueByArn(queueArn)) throw new SqsError("QueueDoesNotExist", `The specified queue does not exist: ${queueArn}`);
            if (!policyAllows(policyOf(queueArn), from.principal, "sqs:SendMessage", queueArn, from.sourceArn)) {
                throw new AwsError("AccessDeniedException", `The policy of queue ${queueArn} does not allow ${from.principal} sqs:SendMessage for ${from.sourceArn}`);
            }
            return service.sendLocal(queueArn, message, from.principal);
        };
        const queues: TargetKind = {
            description: "SQS queues",
            matches: (arn) => /^arn:aws[a-z-]*:sqs:/.test(arn),
            deliver: async ({ targetArn, ruleArn, input }) => {
                if (service.queueByArn(targetArn)?.fifo) {
                    // EventBridge needs SqsParameters.MessageGroupId for a FIFO queue target, which is not served here.
                    throw new AwsError("ValidationException", `Target ${targetArn} is a FIFO queue: it needs SqsParameters.MessageGroupId, which the local runtime does not serve.`);
                }
                await send(targetArn, { body: input }, { principal: "events.amazonaws.com", sourceArn: ruleArn });
            },
        };
        const pollers: QueuePollers[] = [];
        return {
            service,
            send,
            targets: [queues],
            routes: {
                rawJson: {
                    targetPrefix: "AmazonSQS",
                    service: { handle: (req, res) => answer(service, req, res) },
                    authorize: (accessKeyId, operation, request) => {
                        const resource = queueArnOfRequest(operation, request);
                        if (resource !== undefined) context.iam.authorizeCaller(accessKeyId, actionOf(operation), resource);
                    },
                },
            },
            async provision() {
                provisionQueues(context, service);
                pollers.push(...startEventSourceMappings(context, service));
            },
            pending: () => pollers.reduce((n, p) => n + p.pending(), 0),
            idle: async () => {
                while (pollers.some((p) => p.pending() > 0)) await new Promise((resolve) => setTimeout(resolve, 5));
            },
            close: async () => {
                const stopping = pollers.map((p) => p.stop());
                service.close();
                await Promise.all(stopping);
            },
        };
    },
};

function provisionQueues(context: ServiceContext, service: SqsService): void {
    for (const queue of context.declared.of(SQS_TYPES.queue)) {
        const name = str(queue.state.name);
        const attributes: Record<string, string> = {};
        for (const [input, attribute] of Object.entries(ATTRIBUTE_INPUTS)) {
            const value = queue.inputs[input];
            if (value === undefined || value === null || value === "") continue;
            attributes[attribute] = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
        }
        if (attributes.FifoQueue === "false") delete attributes.FifoQueue;
        service.createQueue({ QueueName: name, Attributes: attributes, tags: queue.inputs.tags }, { deferRedriveCheck: true });
        context.serve({ service: "sqs", type: SQS_TYPES.queue, urn: queue.urn, arn: str(queue.state.arn), name, description: `queue ${name}` });
    }
    // A QueuePolicy or RedrivePolicy names its queue by URL, as the provider's `queueUrl`.
    for (const [type, attribute, input] of [
        [SQS_TYPES.queuePolicy, "Policy", "policy"],
        [SQS_TYPES.redrivePolicy, "RedrivePolicy", "redrivePolicy"],
    ] as const) {
        for (const declared of context.declared.of(type)) {
            const value = declared.inputs[input];
            service.setQueueAttributes({ QueueUrl: declared.inputs.queueUrl, Attributes: { [attribute]: typeof value === "string" ? value : JSON.stringify(value) } });
        }
    }
    service.checkRedrivePolicies();
}

/** Checks each declared event source mapping as AWS would create it, and starts the pollers of the enabled ones. */
function startEventSourceMappings(context: ServiceContext, service: SqsService): QueuePollers[] {
    const started: QueuePollers[] = [];
    const lambda = context.service("lambda");
    for (const declared of context.declared.of(EVENT_SOURCE_MAPPING)) {
        const mapping = queueMappingOf(declared, {
            functionOf: (reference) => {
                const spec = [...lambda.functions.values()].find((fn) => fn.name === reference || fn.arn === reference);
                return spec && { arn: spec.arn, role: spec.role, timeoutSeconds: spec.timeoutSeconds };
            },
            allows: (role, action, resource) => context.iam.allows(role, action, resource),
            queueByArn: (arn) => service.queueByArn(arn),
        });
        context.serve({
            service: "sqs",
            type: EVENT_SOURCE_MAPPING,
            urn: declared.urn,
            arn: str(declared.state.arn),
            name: str(declared.state.uuid),
            description: `event source mapping ${str(declared.inputs.eventSourceArn)} -> ${str(declared.inputs.functionName)}${mapping ? `, batches of up to ${mapping.batchSize}` : " (disabled)"}`,
        });
        if (!mapping) continue;
        const pollers = new QueuePollers(mapping, {
            sqs: service,
            region: context.region,
            queueUrl: service.queueByArn(mapping.queueArn)!.url,
            invoke: (functionArn, event) => lambda.service.invoke(functionArn, event),
            log: (line) => context.log(line),
        });
        pollers.start();
        started.push(pollers);
    }
    return started;
}

/**
 * Whether a queue policy lets an AWS service principal make `action` on the queue for `sourceArn`: an Allow for the
 * principal (or `*`) whose conditions are all `aws:SourceArn` / `aws:SourceAccount` tests that hold, and no Deny.
 * Other conditions are taken as not holding, so nothing is allowed here that AWS might refuse.
 */
export function policyAllows(statements: PolicyStatement[], principal: string, action: string, resource: string, sourceArn: string): boolean {
    const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)]);
    const wildcard = (pattern: string, value: string, ignoreCase = false) =>
        new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, ignoreCase ? "i" : "").test(value);
    const forPrincipal = (s: PolicyStatement) => {
        const p = s.Principal;
        if (p === "*") return true;
        const services = typeof p === "object" && p !== null ? list((p as { Service?: unknown; AWS?: unknown }).Service) : [];
        const aws = typeof p === "object" && p !== null ? list((p as { AWS?: unknown }).AWS) : [];
        return services.includes(principal) || aws.includes("*");
    };
    const applies = (s: PolicyStatement) =>
        forPrincipal(s) &&
        (s.NotAction !== undefined ? !list(s.NotAction).some((a) => wildcard(a, action, true)) : list(s.Action).some((a) => wildcard(a, action, true))) &&
        (s.NotResource !== undefined ? !list(s.NotResource).some((r) => wildcard(r, resource)) : s.Resource === undefined || list(s.Resource).some((r) => wildcard(r, resource)));
    const context: Record<string, string> = { "aws:sourcearn": sourceArn, "aws:sourceaccount": sourceArn.split(":")[4] ?? "" };
    const conditionsHold = (s: PolicyStatement) =>
        Object.entries(s.Condition ?? {}).every(([operator, tests]) =>
            Object.entries((tests ?? {}) as Record<string, unknown>).every(([key, expected]) => {
                const actual = context[key.toLowerCase()];
                if (actual === undefined) return false;
                if (/^(ArnEquals|StringEquals)$/.test(operator)) return list(expected).includes(actual);
                if (/^(ArnLike|StringLike)$/.test(operator)) return list(expected).some((pattern) => wildcard(pattern, actual));
                return false;
            }),
        );
    const applying = statements.filter(applies);
    if (applying.some((s) => s.Effect === "Deny")) return false;
    return applying.some((s) => s.Effect === "Allow" && conditionsHold(s));
}

/** The caller's access key, from its SigV4 Authorization header (the endpoint has verified it). */
function accessKeyOf(req: http.IncomingMessage): string | undefined {
    const authorization = req.headers.authorization;
    return typeof authorization === "string" ? /Credential=([^/,\s]+)\//.exec(authorization)?.[1] : undefined;
}

/** The operations served, by name (each a method of SqsService, in camelCase). */
const OPERATIONS = [
    "CreateQueue",
    "DeleteQueue",
    "GetQueueUrl",
    "ListQueues",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
] as const;
type Operation = (typeof OPERATIONS)[number];
const SERVED: ReadonlySet<string> = new Set(OPERATIONS);

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body ?? {}, (_key, value: unknown) => (Buffer.isBuffer(value) || value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value));
    res.writeHead(status, { "content-type": CONTENT_TYPE, "content-length": Buffer.byteLength(text), "x-amzn-requestid": randomUUID(), ...headers });
    res.end(text);
}

/** Serves one request (already verified and bounded by the endpoint): reads it, runs its operation, answers in SQS's JSON. */
function answer(service: SqsService, req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
        const target = String(req.headers["x-amz-target"] ?? "");
        const operation = target.slice(target.indexOf(".") + 1);
        run(service, operation, Buffer.concat(chunks).toString("utf8"), accessKeyOf(req)).then(
            (result) => send(res, 200, result),
            (error: unknown) => {
                if (!(error instanceof AwsError)) {
                    send(res, 500, { __type: "InternalFailure", message: "The request processing has failed because of an unknown error." });
                    return;
                }
                const queryCode = error instanceof SqsError ? error.queryCode : error.code;
                send(res, error.statusCode, { __type: error.code, message: error.message }, { "x-amzn-query-error": `${queryCode};Sender`, "x-amzn-errortype": error.code });
            },
        );
    });
}

async function run(service: SqsService, operation: string, body: string, accessKeyId: string | undefined): Promise<unknown> {
    if (!SERVED.has(operation)) {
        throw new SqsError("UnsupportedOperation", `Operation ${operation || "(none)"} is not served by the local SQS`);
    }
    const request = (body.trim() === "" ? {} : JSON.parse(body)) as Record<string, unknown>;
    const sender = accessKeyId ?? "anonymous";
    switch (operation as Operation) {
        case "SendMessage":
            return service.sendMessage(request, sender);
        case "SendMessageBatch":
            return service.sendMessageBatch(request, sender);
        case "ReceiveMessage":
            return service.receiveMessage(request);
        case "CreateQueue":
            return service.createQueue(request);
        case "DeleteQueue":
            return service.deleteQueue(request);
        case "GetQueueUrl":
            return service.getQueueUrl(request);
        case "ListQueues":
            return service.listQueues(request);
        case "GetQueueAttributes":
            return service.getQueueAttributes(request);
        case "SetQueueAttributes":
            return service.setQueueAttributes(request);
        case "PurgeQueue":
            return service.purgeQueue(request);
        case "TagQueue":
            return service.tagQueue(request);
        case "UntagQueue":
            return service.untagQueue(request);
        case "ListQueueTags":
            return service.listQueueTags(request);
        case "DeleteMessage":
            return service.deleteMessage(request);
        case "DeleteMessageBatch":
            return service.deleteMessageBatch(request);
        case "ChangeMessageVisibility":
            return service.changeMessageVisibility(request);
        case "ChangeMessageVisibilityBatch":
            return service.changeMessageVisibilityBatch(request);
    }
}

export type { LocalMessage, MessageAttributeValue };
