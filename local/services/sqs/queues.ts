/**
 * Amazon SQS queues in memory, as the JSON protocol (`AmazonSQS.<Operation>`, `application/x-amz-json-1.0`) serves
 * them: standard and FIFO queues, visibility timeouts, delays, long polling, retention, and redrive to a dead-letter
 * queue after `maxReceiveCount` receives. Shapes are the SDK's (`@aws-sdk/client-sqs`); errors carry AWS's JSON code
 * and the query-protocol code SQS also sends (`x-amzn-query-error`), so both the SDK v3 and botocore read them.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type * as sqs from "@aws-sdk/client-sqs";
import { AwsError } from "../../core/awsError";

/** An SQS error: the JSON `__type`, with the code the query protocol has for it (`AWS.SimpleQueueService.NonExistentQueue`). */
export class SqsError extends AwsError {
    constructor(
        code: string,
        message: string,
        statusCode = 400,
        public readonly queryCode = QUERY_CODES[code] ?? code,
        public readonly senderFault = true,
    ) {
        super(code, message, statusCode);
    }
}

/** The query-protocol codes of SQS's JSON errors, as the service model maps them (`awsQueryError`). */
const QUERY_CODES: Record<string, string> = {
    QueueDoesNotExist: "AWS.SimpleQueueService.NonExistentQueue",
    QueueNameExists: "QueueAlreadyExists",
    BatchEntryIdsNotDistinct: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    BatchRequestTooLong: "AWS.SimpleQueueService.BatchRequestTooLong",
    EmptyBatchRequest: "AWS.SimpleQueueService.EmptyBatchRequest",
    InvalidBatchEntryId: "AWS.SimpleQueueService.InvalidBatchEntryId",
    TooManyEntriesInBatchRequest: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    MessageNotInflight: "AWS.SimpleQueueService.MessageNotInflight",
    PurgeQueueInProgress: "AWS.SimpleQueueService.PurgeQueueInProgress",
    UnsupportedOperation: "AWS.SimpleQueueService.UnsupportedOperation",
};

const queueMissing = () => new SqsError("QueueDoesNotExist", "The specified queue does not exist.");
const invalidValue = (message: string) => new SqsError("InvalidParameterValue", message);
const missing = (parameter: string) => new SqsError("MissingParameter", `The request must contain the parameter ${parameter}.`);

/** Queue attributes with their defaults and bounds (the CreateQueue reference). */
const NUMERIC_ATTRIBUTES: Record<string, { min: number; max: number; fallback: number }> = {
    DelaySeconds: { min: 0, max: 900, fallback: 0 },
    MaximumMessageSize: { min: 1024, max: 262_144, fallback: 262_144 },
    MessageRetentionPeriod: { min: 60, max: 1_209_600, fallback: 345_600 },
    ReceiveMessageWaitTimeSeconds: { min: 0, max: 20, fallback: 0 },
    VisibilityTimeout: { min: 0, max: 43_200, fallback: 30 },
};
/** Attributes stored as given (checked where they mean something here). */
const TEXT_ATTRIBUTES = new Set([
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
]);
/** What GetQueueAttributes computes; not settable. */
const COMPUTED_ATTRIBUTES = new Set([
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
]);
const SYSTEM_ATTRIBUTE_NAMES = new Set([
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
]);
/** FIFO deduplication interval. */
const DEDUPLICATION_MS = 5 * 60_000;
const MAX_BATCH_ENTRIES = 10;
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
/** Characters a message may hold (the SendMessage reference): #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF. */
const INVALID_MESSAGE_CHARACTER = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

export type MessageAttributeValue = sqs.MessageAttributeValue;

interface StoredMessage {
    id: string;
    body: string;
    md5OfBody: string;
    attributes: Record<string, MessageAttributeValue>;
    md5OfAttributes?: string;
    systemAttributes: Record<string, string>;
    sentAt: number;
    /** When it may next be received (delay, then each visibility timeout). */
    visibleAt: number;
    receiveCount: number;
    firstReceivedAt?: number;
    /** The receipt handle of its latest receive, while it is in flight. */
    receiptHandle?: string;
    groupId?: string;
    deduplicationId?: string;
    sequenceNumber?: string;
    senderId: string;
}

export interface Queue {
    name: string;
    arn: string;
    url: string;
    fifo: boolean;
    attributes: Record<string, string>;
    tags: Record<string, string>;
    createdAt: number;
    modifiedAt: number;
    messages: StoredMessage[];
    /** FIFO deduplication ids seen in the last five minutes, with the message id they were given. */
    deduplication: Map<string, { at: number; messageId: string; sequenceNumber: string }>;
}

export interface SqsOptions {
    region: string;
    accountId: string;
    /** The endpoint's URL, for the queue URLs the API answers. */
    endpointUrl(): string;
    now?: () => number;
}

/** A message to put on a queue from inside the runtime (EventBridge's dead-letter records, SQS targets). */
export interface LocalMessage {
    body: string;
    attributes?: Record<string, MessageAttributeValue>;
    groupId?: string;
    deduplicationId?: string;
}

const asRecord = (value: unknown): Record<string, unknown> | undefined =>
    typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
const md5 = (data: Buffer | string) => createHash("md5").update(data).digest("hex");

/**
 * MD5 of message attributes as SQS computes it: for each attribute by name, the name, the data type and the value,
 * each preceded by its 4-byte big-endian length, with a transport byte (1 string, 2 binary) before the value.
 */
export function md5OfMessageAttributes(attributes: Record<string, MessageAttributeValue>): string {
    const parts: Buffer[] = [];
    const lengthPrefixed = (data: Buffer) => {
        const length = Buffer.alloc(4);
        length.writeUInt32BE(data.length);
        parts.push(length, data);
    };
    for (const name of Object.keys(attributes).sort()) {
        const value = attributes[name];
        lengthPrefixed(Buffer.from(name, "utf8"));
        lengthPrefixed(Buffer.from(value.DataType ?? "", "utf8"));
        if (value.BinaryValue !== undefined) {
            parts.push(Buffer.from([2]));
            lengthPrefixed(Buffer.from(value.BinaryValue));
        } else {
            parts.push(Buffer.from([1]));
            lengthPrefixed(Buffer.from(value.StringValue ?? "", "utf8"));
        }
    }
    return md5(Buffer.concat(parts));
}

export class SqsService {
    private readonly queues = new Map<string, Queue>();
    private readonly waiters = new Set<() => void>();
    private sequence = 0n;
    private closed = false;
    private readonly now: () => number;

    constructor(private readonly opts: SqsOptions) {
        this.now = opts.now ?? Date.now;
    }

    public arnOf(name: string): string {
        return `arn:aws:sqs:${this.opts.region}:${this.opts.accountId}:${name}`;
    }

    private urlOf(name: string): string {
        return `${this.opts.endpointUrl()}/${this.opts.accountId}/${name}`;
    }

    /** The queue a QueueUrl names: its path is `/<account>/<name>` whatever the host (the mocks' URL or the endpoint's). */
    public nameOfUrl(queueUrl: unknown): string | undefined {
        if (typeof queueUrl !== "string" || queueUrl === "") return undefined;
        let path: string;
        try {
            path = new URL(queueUrl).pathname;
        } catch {
            path = queueUrl;
        }
        const parts = path.split("/").filter(Boolean);
        if (parts.length === 2 && parts[0] === this.opts.accountId) return parts[1];
        return undefined;
    }

    private queueOf(request: Record<string, unknown>): Queue {
        if (request.QueueUrl === undefined) throw missing("QueueUrl");
        const name = this.nameOfUrl(request.QueueUrl);
        const queue = name === undefined ? undefined : this.queues.get(name);
        if (!queue) throw queueMissing();
        return queue;
    }

    /** The queue of an ARN, for deliveries from inside the runtime. */
    public queueByArn(arn: string): Queue | undefined {
        return [...this.queues.values()].find((q) => q.arn === arn);
    }

    public queueNames(): string[] {
        return [...this.queues.keys()];
    }

    // ----- queues -----

    /**
     * Creates a queue (CreateQueue, or the stack's at provision); an existing one with other attributes is refused.
     * The stack's queues check their dead-letter target once all exist (`checkRedrivePolicies`): a DLQ may be declared
     * after its source.
     */
    public createQueue(request: Record<string, unknown>, options: { deferRedriveCheck?: boolean } = {}): sqs.CreateQueueResult {
        const name = request.QueueName;
        if (name === undefined) throw missing("QueueName");
        if (typeof name !== "string") throw invalidValue("QueueName must be a string.");
        const attributes = this.checkAttributes(asRecord(request.Attributes) ?? {}, "create");
        const fifo = attributes.FifoQueue === "true";
        const nameIsValid = fifo ? name.endsWith(".fifo") && name.length <= 80 && QUEUE_NAME.test(name.slice(0, -".fifo".length)) : QUEUE_NAME.test(name);
        if (!nameIsValid) {
            throw invalidValue(
                `Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length${fifo || name.endsWith(".fifo") ? "; a FIFO queue's name ends with .fifo and its FifoQueue attribute is true" : ""}: ${name}`,
            );
        }
        for (const fifoOnly of ["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"]) {
            if (!fifo && fifoOnly in attributes) throw new SqsError("InvalidAttributeName", `Unknown Attribute ${fifoOnly}.`);
        }
        const existing = this.queues.get(name);
        if (existing) {
            for (const [key, value] of Object.entries(attributes)) {
                if (this.attributeValue(existing, key) !== value) {
                    throw new SqsError("QueueNameExists", `A queue already exists with the same name and a different value for attribute ${key}`);
                }
            }
            return { QueueUrl: existing.url };
        }
        const at = this.now();
        const queue: Queue = {
            name,
            arn: this.arnOf(name),
            url: this.urlOf(name),
            fifo,
            attributes,
            tags: Object.fromEntries(Object.entries(asRecord(request.tags) ?? {}).map(([k, v]) => [k, String(v)])),
            createdAt: at,
            modifiedAt: at,
            messages: [],
            deduplication: new Map(),
        };
        if (attributes.RedrivePolicy !== undefined && !options.deferRedriveCheck) this.checkRedrive(queue, attributes.RedrivePolicy);
        this.queues.set(name, queue);
        return { QueueUrl: queue.url };
    }

    /** Checks every queue's dead-letter target, once all the stack's queues exist. */
    public checkRedrivePolicies(): void {
        for (const queue of this.queues.values()) if (queue.attributes.RedrivePolicy !== undefined) this.checkRedrive(queue, queue.attributes.RedrivePolicy);
    }

    private checkRedrive(queue: Queue, policy: string): void {
        const invalid = (reason: string) => invalidValue(`Value ${policy} for parameter RedrivePolicy is invalid. Reason: ${reason}`);
        let parsed: Record<string, unknown> | undefined;
        try {
            parsed = asRecord(JSON.parse(policy));
        } catch {
            throw invalid("Redrive policy is not a valid JSON map.");
        }
        if (!parsed || typeof parsed.deadLetterTargetArn !== "string") throw invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.");
        const count = Number(parsed.maxReceiveCount);
        if (!Number.isInteger(count) || count < 1 || count > 1000) throw invalid("Invalid value for maxReceiveCount: should be between 1 and 1000.");
        const target = this.queueByArn(parsed.deadLetterTargetArn);
        if (!target) throw invalid(`Dead-letter target does not exist: ${parsed.deadLetterTargetArn}.`);
        if (target.fifo !== queue.fifo) throw invalid("Dead-letter queue must be same type of queue as the source.");
    }

    public getQueueUrl(request: Record<string, unknown>): sqs.GetQueueUrlResult {
        if (request.QueueName === undefined) throw missing("QueueName");
        const owner = request.QueueOwnerAWSAccountId;
        const queue = typeof request.QueueName === "string" ? this.queues.get(request.QueueName) : undefined;
        if (!queue || (owner !== undefined && owner !== this.opts.accountId)) throw queueMissing();
        return { QueueUrl: queue.url };
    }

    public listQueues(request: Record<string, unknown>): sqs.ListQueuesResult {
        const prefix = typeof request.QueueNamePrefix === "string" ? request.QueueNamePrefix : "";
        const max = request.MaxResults;
        if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 1000)) {
            throw invalidValue(`Value ${String(max)} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.`);
        }
        const names = [...this.queues.keys()].filter((name) => name.startsWith(prefix)).sort();
        let start = 0;
        if (typeof request.NextToken === "string") {
            const after = Buffer.from(request.NextToken, "base64url").toString("utf8");
            start = names.findIndex((name) => name > after);
            if (start < 0) start = names.length;
        }
        const limit = (max as number | undefined) ?? 1000;
        const page = names.slice(start, start + limit);
        const more = max !== undefined && start + limit < names.length;
        return {
            ...(page.length ? { QueueUrls: page.map((name) => this.queues.get(name)!.url) } : {}),
            ...(more ? { NextToken: Buffer.from(page[page.length - 1], "utf8").toString("base64url") } : {}),
        };
    }

    public deleteQueue(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        this.queues.delete(queue.name);
        return {};
    }

    public getQueueAttributes(request: Record<string, unknown>): sqs.GetQueueAttributesResult {
        const queue = this.queueOf(request);
        const names = Array.isArray(request.AttributeNames) ? (request.AttributeNames as unknown[]).map(String) : [];
        const all = names.includes("All");
        const known = [...Object.keys(NUMERIC_ATTRIBUTES), ...TEXT_ATTRIBUTES, ...COMPUTED_ATTRIBUTES];
        for (const name of names) if (name !== "All" && !known.includes(name)) throw new SqsError("InvalidAttributeName", `Unknown Attribute ${name}.`);
        const wanted = all ? known : names;
        const attributes: Record<string, string> = {};
        for (const name of wanted) {
            const value = this.attributeValue(queue, name);
            if (value !== undefined) attributes[name] = value;
        }
        return Object.keys(attributes).length ? { Attributes: attributes } : {};
    }

    public setQueueAttributes(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        const attributes = this.checkAttributes(asRecord(request.Attributes) ?? {}, "set");
        if ("FifoQueue" in attributes && (attributes.FifoQueue === "true") !== queue.fifo) throw invalidValue("Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.");
        if (attributes.RedrivePolicy !== undefined && attributes.RedrivePolicy !== "") this.checkRedrive(queue, attributes.RedrivePolicy);
        for (const [key, value] of Object.entries(attributes)) {
            if (value === "" && (key === "RedrivePolicy" || key === "Policy" || key === "RedriveAllowPolicy")) delete queue.attributes[key];
            else queue.attributes[key] = value;
        }
        queue.modifiedAt = this.now();
        return {};
    }

    public purgeQueue(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        queue.messages = [];
        return {};
    }

    public tagQueue(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        for (const [key, value] of Object.entries(asRecord(request.Tags) ?? {})) queue.tags[key] = String(value);
        return {};
    }

    public untagQueue(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        for (const key of Array.isArray(request.TagKeys) ? request.TagKeys : []) delete queue.tags[String(key)];
        return {};
    }

    public listQueueTags(request: Record<string, unknown>): sqs.ListQueueTagsResult {
        const queue = this.queueOf(request);
        return Object.keys(queue.tags).length ? { Tags: { ...queue.tags } } : {};
    }

    private checkAttributes(given: Record<string, unknown>, mode: "create" | "set"): Record<string, string> {
        const attributes: Record<string, string> = {};
        for (const [name, raw] of Object.entries(given)) {
            const value = typeof raw === "string" ? raw : String(raw);
            const numeric = NUMERIC_ATTRIBUTES[name];
            if (numeric) {
                const n = /^\d+$/.test(value) ? Number(value) : NaN;
                if (!(n >= numeric.min && n <= numeric.max)) throw new SqsError("InvalidAttributeValue", `Invalid value for the parameter ${name}.`);
                attributes[name] = String(n);
            } else if (TEXT_ATTRIBUTES.has(name)) {
                if ((name === "FifoQueue" || name === "ContentBasedDeduplication" || name === "SqsManagedSseEnabled") && value !== "true" && value !== "false") {
                    throw new SqsError("InvalidAttributeValue", `Invalid value for the parameter ${name}.`);
                }
                if (name === "FifoQueue" && mode === "create" && value === "false") continue;
                attributes[name] = value;
            } else throw new SqsError("InvalidAttributeName", `Unknown Attribute ${name}.`);
        }
        return attributes;
    }

    private attributeValue(queue: Queue, name: string): string | undefined {
        const now = this.now();
        this.expire(queue, now);
        switch (name) {
            case "QueueArn":
                return queue.arn;
            case "CreatedTimestamp":
                return String(Math.floor(queue.createdAt / 1000));
            case "LastModifiedTimestamp":
                return String(Math.floor(queue.modifiedAt / 1000));
            case "ApproximateNumberOfMessages":
                return String(queue.messages.filter((m) => m.visibleAt <= now).length);
            case "ApproximateNumberOfMessagesNotVisible":
                return String(queue.messages.filter((m) => m.visibleAt > now && m.receiptHandle !== undefined).length);
            case "ApproximateNumberOfMessagesDelayed":
                return String(queue.messages.filter((m) => m.visibleAt > now && m.receiptHandle === undefined).length);
            case "FifoQueue":
                return queue.fifo ? "true" : undefined;
            case "ContentBasedDeduplication":
                return queue.fifo ? (queue.attributes.ContentBasedDeduplication ?? "false") : undefined;
            case "SqsManagedSseEnabled":
                return queue.attributes.SqsManagedSseEnabled ?? (queue.attributes.KmsMasterKeyId ? undefined : "true");
        }
        if (NUMERIC_ATTRIBUTES[name]) return queue.attributes[name] ?? String(NUMERIC_ATTRIBUTES[name].fallback);
        return queue.attributes[name];
    }

    private numeric(queue: Queue, name: keyof typeof NUMERIC_ATTRIBUTES): number {
        return Number(queue.attributes[name] ?? NUMERIC_ATTRIBUTES[name].fallback);
    }

    // ----- messages -----

    public sendMessage(request: Record<string, unknown>, senderId = this.opts.accountId): sqs.SendMessageResult {
        const queue = this.queueOf(request);
        return this.enqueue(queue, request, senderId);
    }

    public sendMessageBatch(request: Record<string, unknown>, senderId = this.opts.accountId): sqs.SendMessageBatchResult {
        const queue = this.queueOf(request);
        const entries = this.batchEntries(request);
        const size = entries.reduce((total, entry) => total + messageSize(entry), 0);
        if (size > this.numeric(queue, "MaximumMessageSize")) {
            throw new SqsError("BatchRequestTooLong", `Batch requests cannot be longer than ${this.numeric(queue, "MaximumMessageSize")} bytes. You have sent ${size} bytes.`);
        }
        const result: sqs.SendMessageBatchResult = { Successful: [], Failed: [] };
        for (const entry of entries) {
            try {
                const sent = this.enqueue(queue, entry, senderId);
                result.Successful!.push({ Id: String(entry.Id), ...sent } as sqs.SendMessageBatchResultEntry);
            } catch (error) {
                result.Failed!.push(failedEntry(entry.Id, error));
            }
        }
        return result;
    }

    /** Puts a message on a queue from inside the runtime (no QueueUrl): EventBridge targets and dead-letter records. */
    public sendLocal(queueArn: string, message: LocalMessage, senderId: string): sqs.SendMessageResult {
        const queue = this.queueByArn(queueArn);
        if (!queue) throw new SqsError("QueueDoesNotExist", `The specified queue does not exist: ${queueArn}`);
        const request: Record<string, unknown> = { MessageBody: message.body };
        if (message.attributes) request.MessageAttributes = message.attributes;
        if (message.groupId !== undefined) request.MessageGroupId = message.groupId;
        if (message.deduplicationId !== undefined) request.MessageDeduplicationId = message.deduplicationId;
        return this.enqueue(queue, request, senderId);
    }

    private enqueue(queue: Queue, request: Record<string, unknown>, senderId: string): sqs.SendMessageResult {
        const body = request.MessageBody;
        if (body === undefined) throw missing("MessageBody");
        if (typeof body !== "string" || body === "") throw invalidValue("The request must contain the parameter MessageBody.");
        if (INVALID_MESSAGE_CHARACTER.test(body)) {
            throw new SqsError("InvalidMessageContents", "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
        }
        const attributes = this.checkMessageAttributes(request.MessageAttributes, "MessageAttribute");
        const system = this.checkMessageAttributes(request.MessageSystemAttributes, "MessageSystemAttribute");
        for (const name of Object.keys(system)) if (name !== "AWSTraceHeader") throw invalidValue(`Message system attribute name '${name}' is invalid.`);
        const size = messageSize(request);
        const maximum = this.numeric(queue, "MaximumMessageSize");
        if (size > maximum) throw invalidValue(`One or more parameters are invalid. Reason: Message must be shorter than ${maximum} bytes.`);
        const delay = request.DelaySeconds;
        if (delay !== undefined && (!Number.isInteger(delay) || (delay as number) < 0 || (delay as number) > 900)) {
            throw invalidValue(`Value ${String(delay)} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.`);
        }
        const now = this.now();
        const groupId = typeof request.MessageGroupId === "string" ? request.MessageGroupId : undefined;
        let deduplicationId = typeof request.MessageDeduplicationId === "string" ? request.MessageDeduplicationId : undefined;
        let sequenceNumber: string | undefined;
        if (queue.fifo) {
            if (groupId === undefined) throw missing("MessageGroupId");
            if (delay !== undefined && delay !== 0) {
                throw invalidValue(`Value ${String(delay)} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`);
            }
            if (deduplicationId === undefined) {
                if (queue.attributes.ContentBasedDeduplication !== "true") {
                    throw invalidValue("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly");
                }
                deduplicationId = createHash("sha256").update(body).digest("hex");
            }
            for (const [id, seen] of queue.deduplication) if (now - seen.at >= DEDUPLICATION_MS) queue.deduplication.delete(id);
            const scope = queue.attributes.DeduplicationScope === "messageGroup" ? `${groupId}\u0000${deduplicationId}` : deduplicationId;
            const seen = queue.deduplication.get(scope);
            if (seen) return { MessageId: seen.messageId, MD5OfMessageBody: md5(body), ...this.md5Fields(attributes, system), SequenceNumber: seen.sequenceNumber };
            sequenceNumber = String(++this.sequence + 18_000_000_000_000_000_000n).padStart(20, "0");
            const messageId = randomUUID();
            queue.deduplication.set(scope, { at: now, messageId, sequenceNumber });
            return this.store(queue, { id: messageId, body, attributes, system, now, delayMs: 0, groupId, deduplicationId, sequenceNumber, senderId });
        } else if (deduplicationId !== undefined) {
            throw invalidValue("Value for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.");
        }
        const delayMs = 1000 * ((delay as number | undefined) ?? this.numeric(queue, "DelaySeconds"));
        return this.store(queue, { id: randomUUID(), body, attributes, system, now, delayMs, groupId, senderId });
    }

    private md5Fields(attributes: Record<string, MessageAttributeValue>, system: Record<string, MessageAttributeValue>) {
        return {
            ...(Object.keys(attributes).length ? { MD5OfMessageAttributes: md5OfMessageAttributes(attributes) } : {}),
            ...(Object.keys(system).length ? { MD5OfMessageSystemAttributes: md5OfMessageAttributes(system) } : {}),
        };
    }

    private store(
        queue: Queue,
        m: {
            id: string;
            body: string;
            attributes: Record<string, MessageAttributeValue>;
            system: Record<string, MessageAttributeValue>;
            now: number;
            delayMs: number;
            groupId?: string;
            deduplicationId?: string;
            sequenceNumber?: string;
            senderId: string;
        },
    ): sqs.SendMessageResult {
        const systemAttributes: Record<string, string> = {};
        if (m.system.AWSTraceHeader?.StringValue !== undefined) systemAttributes.AWSTraceHeader = m.system.AWSTraceHeader.StringValue;
        const md5s = this.md5Fields(m.attributes, m.system);
        queue.messages.push({
            id: m.id,
            body: m.body,
            md5OfBody: md5(m.body),
            attributes: m.attributes,
            md5OfAttributes: md5s.MD5OfMessageAttributes,
            systemAttributes,
            sentAt: m.now,
            visibleAt: m.now + m.delayMs,
            receiveCount: 0,
            groupId: m.groupId,
            deduplicationId: m.deduplicationId,
            sequenceNumber: m.sequenceNumber,
            senderId: m.senderId,
        });
        this.wake();
        return { MessageId: m.id, MD5OfMessageBody: md5(m.body), ...md5s, ...(m.sequenceNumber ? { SequenceNumber: m.sequenceNumber } : {}) };
    }

    private checkMessageAttributes(raw: unknown, what: string): Record<string, MessageAttributeValue> {
        const given = asRecord(raw);
        if (!given) return {};
        const names = Object.keys(given);
        if (names.length > 10) throw invalidValue(`Number of message attributes [${names.length}] exceeds the allowed maximum [10].`);
        const attributes: Record<string, MessageAttributeValue> = {};
        for (const name of names) {
            const value = asRecord(given[name]);
            if (!/^[A-Za-z0-9_.-]{1,256}$/.test(name) || name.startsWith(".") || name.endsWith(".") || name.includes("..") || /^(aws|amazon)\./i.test(name)) {
                throw invalidValue(`${what} name '${name}' is invalid.`);
            }
            const dataType = value?.DataType;
            if (typeof dataType !== "string" || !/^(String|Number|Binary)(\..+)?$/.test(dataType)) {
                throw invalidValue(`The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`);
            }
            if (value!.StringListValues !== undefined || value!.BinaryListValues !== undefined) {
                throw invalidValue(`The message attribute '${name}' uses StringListValues or BinaryListValues, which SQS reserves and does not accept.`);
            }
            if (dataType.startsWith("Binary")) {
                if (typeof value!.BinaryValue !== "string") throw invalidValue(`The message attribute '${name}' with type 'Binary' must use field 'Binary'.`);
                // A Uint8Array, not a Buffer: answers write it as base64 (a Buffer would be serialised by its toJSON first).
                attributes[name] = { DataType: dataType, BinaryValue: new Uint8Array(Buffer.from(value!.BinaryValue, "base64")) };
            } else {
                const text = value!.StringValue;
                if (typeof text !== "string" || text === "") throw invalidValue(`The message attribute '${name}' must contain a non-empty message attribute value for message attribute type '${dataType.split(".")[0]}'.`);
                if (dataType.startsWith("Number") && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
                    throw invalidValue(`Can't cast the value of message (user) attribute '${name}' to a number.`);
                }
                attributes[name] = { DataType: dataType, StringValue: text };
            }
        }
        return attributes;
    }

    /**
     * ReceiveMessage: up to MaxNumberOfMessages visible messages, waiting up to WaitTimeSeconds (or the queue's
     * ReceiveMessageWaitTimeSeconds) for the first. A message received `maxReceiveCount` times is moved to the queue's
     * dead-letter queue instead of being received again.
     */
    public async receiveMessage(request: Record<string, unknown>): Promise<sqs.ReceiveMessageResult> {
        const queue = this.queueOf(request);
        const max = request.MaxNumberOfMessages ?? 1;
        if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 10) {
            throw invalidValue(`Value ${String(max)} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`);
        }
        const wait = request.WaitTimeSeconds ?? this.numeric(queue, "ReceiveMessageWaitTimeSeconds");
        if (!Number.isInteger(wait) || (wait as number) < 0 || (wait as number) > 20) {
            throw invalidValue(`Value ${String(wait)} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.`);
        }
        const visibility = request.VisibilityTimeout ?? this.numeric(queue, "VisibilityTimeout");
        if (!Number.isInteger(visibility) || (visibility as number) < 0 || (visibility as number) > 43_200) {
            throw invalidValue(`Value ${String(visibility)} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.`);
        }
        const systemNames = new Set([...stringList(request.AttributeNames), ...stringList(request.MessageSystemAttributeNames)]);
        for (const name of systemNames) {
            if (name !== "All" && !SYSTEM_ATTRIBUTE_NAMES.has(name)) throw new SqsError("InvalidAttributeName", `Unknown Attribute ${name}.`);
        }
        const attributeNames = stringList(request.MessageAttributeNames);
        const deadline = this.now() + 1000 * (wait as number);
        for (;;) {
            const live = this.queues.get(queue.name) === queue;
            const taken = live ? this.take(queue, max as number, 1000 * (visibility as number)) : [];
            if (taken.length > 0 || this.now() >= deadline || this.closed || !live) {
                return taken.length ? { Messages: taken.map((m) => this.asReceived(m, systemNames, attributeNames)) } : {};
            }
            await this.sleep(Math.min(deadline - this.now(), 100));
        }
    }

    private take(queue: Queue, max: number, visibilityMs: number): StoredMessage[] {
        const now = this.now();
        this.expire(queue, now);
        const redrive = this.redriveOf(queue);
        const taken: StoredMessage[] = [];
        const blockedGroups = new Set<string>();
        if (queue.fifo) for (const m of queue.messages) if (m.receiptHandle !== undefined && m.visibleAt > now && m.groupId !== undefined) blockedGroups.add(m.groupId);
        for (const message of [...queue.messages]) {
            if (taken.length >= max) break;
            if (queue.fifo && message.groupId !== undefined && blockedGroups.has(message.groupId)) continue;
            if (message.visibleAt > now) {
                if (queue.fifo && message.groupId !== undefined) blockedGroups.add(message.groupId);
                continue;
            }
            if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
                this.moveToDeadLetter(queue, message, redrive.target);
                continue;
            }
            message.receiveCount++;
            message.firstReceivedAt ??= now;
            message.visibleAt = now + visibilityMs;
            message.receiptHandle = receiptHandle(queue.name, message.id);
            taken.push(message);
        }
        return taken;
    }

    private redriveOf(queue: Queue): { maxReceiveCount: number; target: Queue } | undefined {
        if (queue.attributes.RedrivePolicy === undefined) return undefined;
        const policy = JSON.parse(queue.attributes.RedrivePolicy) as { deadLetterTargetArn: string; maxReceiveCount: number | string };
        const target = this.queueByArn(policy.deadLetterTargetArn);
        return target ? { maxReceiveCount: Number(policy.maxReceiveCount), target } : undefined;
    }

    private moveToDeadLetter(source: Queue, message: StoredMessage, target: Queue): void {
        source.messages.splice(source.messages.indexOf(message), 1);
        // The message keeps its id, body, attributes and sent time; its receives start again on the DLQ.
        target.messages.push({
            ...message,
            receiveCount: 0,
            firstReceivedAt: undefined,
            receiptHandle: undefined,
            visibleAt: this.now(),
            systemAttributes: { ...message.systemAttributes, DeadLetterQueueSourceArn: source.arn },
        });
        this.wake();
    }

    private asReceived(message: StoredMessage, systemNames: Set<string>, attributeNames: string[]): sqs.Message {
        const all = systemNames.has("All");
        const system: Record<string, string> = {
            SenderId: message.senderId,
            SentTimestamp: String(message.sentAt),
            ApproximateReceiveCount: String(message.receiveCount),
            ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
            ...(message.sequenceNumber ? { SequenceNumber: message.sequenceNumber } : {}),
            ...(message.deduplicationId ? { MessageDeduplicationId: message.deduplicationId } : {}),
            ...(message.groupId ? { MessageGroupId: message.groupId } : {}),
            ...message.systemAttributes,
        };
        const attributes = Object.fromEntries(Object.entries(system).filter(([name]) => all || systemNames.has(name)));
        const wantAll = attributeNames.includes("All") || attributeNames.includes(".*");
        const messageAttributes = Object.fromEntries(
            Object.entries(message.attributes).filter(
                ([name]) => wantAll || attributeNames.some((wanted) => (wanted.endsWith(".*") ? name.startsWith(wanted.slice(0, -1)) : wanted === name)),
            ),
        );
        const hasAttributes = Object.keys(messageAttributes).length > 0;
        return {
            MessageId: message.id,
            ReceiptHandle: message.receiptHandle,
            MD5OfBody: message.md5OfBody,
            Body: message.body,
            ...(Object.keys(attributes).length ? { Attributes: attributes } : {}),
            ...(hasAttributes ? { MD5OfMessageAttributes: md5OfMessageAttributes(messageAttributes), MessageAttributes: messageAttributes } : {}),
        };
    }

    private expire(queue: Queue, now: number): void {
        const retentionMs = 1000 * this.numeric(queue, "MessageRetentionPeriod");
        if (queue.messages.some((m) => now - m.sentAt >= retentionMs)) queue.messages = queue.messages.filter((m) => now - m.sentAt < retentionMs);
    }

    /** The message a receipt handle was issued for; a handle that is not one of ours is refused. */
    private byHandle(queue: Queue, handle: unknown): { message?: StoredMessage; current: boolean } {
        if (handle === undefined) throw missing("ReceiptHandle");
        const decoded = typeof handle === "string" ? decodeReceiptHandle(handle) : undefined;
        if (!decoded || decoded.queue !== queue.name) throw new SqsError("ReceiptHandleIsInvalid", `The input receipt handle "${String(handle)}" is not a valid receipt handle.`, 404);
        const message = queue.messages.find((m) => m.id === decoded.messageId);
        return { message, current: message?.receiptHandle === handle };
    }

    /** DeleteMessage: a handle from an earlier receive succeeds without deleting, as AWS documents. */
    public deleteMessage(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        this.deleteByHandle(queue, request.ReceiptHandle);
        return {};
    }

    private deleteByHandle(queue: Queue, handle: unknown): void {
        const { message, current } = this.byHandle(queue, handle);
        if (message && current) queue.messages.splice(queue.messages.indexOf(message), 1);
    }

    public deleteMessageBatch(request: Record<string, unknown>): sqs.DeleteMessageBatchResult {
        const queue = this.queueOf(request);
        const result: sqs.DeleteMessageBatchResult = { Successful: [], Failed: [] };
        for (const entry of this.batchEntries(request)) {
            try {
                this.deleteByHandle(queue, entry.ReceiptHandle);
                result.Successful!.push({ Id: String(entry.Id) });
            } catch (error) {
                result.Failed!.push(failedEntry(entry.Id, error));
            }
        }
        return result;
    }

    public changeMessageVisibility(request: Record<string, unknown>): Record<string, never> {
        const queue = this.queueOf(request);
        this.changeVisibility(queue, request.ReceiptHandle, request.VisibilityTimeout);
        return {};
    }

    public changeMessageVisibilityBatch(request: Record<string, unknown>): sqs.ChangeMessageVisibilityBatchResult {
        const queue = this.queueOf(request);
        const result: sqs.ChangeMessageVisibilityBatchResult = { Successful: [], Failed: [] };
        for (const entry of this.batchEntries(request)) {
            try {
                this.changeVisibility(queue, entry.ReceiptHandle, entry.VisibilityTimeout);
                result.Successful!.push({ Id: String(entry.Id) });
            } catch (error) {
                result.Failed!.push(failedEntry(entry.Id, error));
            }
        }
        return result;
    }

    private changeVisibility(queue: Queue, handle: unknown, timeout: unknown): void {
        if (timeout === undefined) throw missing("VisibilityTimeout");
        if (!Number.isInteger(timeout) || (timeout as number) < 0 || (timeout as number) > 43_200) {
            throw invalidValue(`Value ${String(timeout)} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.`);
        }
        const { message, current } = this.byHandle(queue, handle);
        const now = this.now();
        if (!message || !current || message.visibleAt <= now) throw new SqsError("MessageNotInflight", "Message does not exist or is not available for visibility timeout change.");
        message.visibleAt = now + 1000 * (timeout as number);
        if (timeout === 0) this.wake();
    }

    private batchEntries(request: Record<string, unknown>): Array<Record<string, unknown>> {
        const entries = request.Entries;
        if (entries === undefined) throw missing("Entries");
        if (!Array.isArray(entries) || entries.length === 0) throw new SqsError("EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.");
        if (entries.length > MAX_BATCH_ENTRIES) {
            throw new SqsError("TooManyEntriesInBatchRequest", `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${entries.length}.`);
        }
        const ids = new Set<string>();
        for (const entry of entries as Array<Record<string, unknown> | null>) {
            const id = entry?.Id;
            if (typeof id !== "string" || !BATCH_ID.test(id)) {
                throw new SqsError("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.");
            }
            if (ids.has(id)) throw new SqsError("BatchEntryIdsNotDistinct", `Id ${id} repeated.`);
            ids.add(id);
        }
        return entries as Array<Record<string, unknown>>;
    }

    // ----- waiting -----

    private wake(): void {
        for (const waiter of [...this.waiters]) waiter();
    }

    /** Waits up to `ms`, or until a message is sent or made visible. */
    private sleep(ms: number): Promise<void> {
        return new Promise((resolve) => {
            const done = () => {
                clearTimeout(timer);
                this.waiters.delete(done);
                resolve();
            };
            const timer = setTimeout(done, Math.max(ms, 1));
            this.waiters.add(done);
        });
    }

    /** Long polls in progress end (with no messages) so the runtime can stop. */
    public close(): void {
        this.closed = true;
        this.wake();
    }
}

function stringList(value: unknown): string[] {
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** A message's size as SQS counts it: the body and every attribute's name, type and value. */
function messageSize(request: Record<string, unknown>): number {
    let size = Buffer.byteLength(typeof request.MessageBody === "string" ? request.MessageBody : "");
    for (const [name, raw] of Object.entries(asRecord(request.MessageAttributes) ?? {})) {
        const value = asRecord(raw) ?? {};
        size += Buffer.byteLength(name) + Buffer.byteLength(String(value.DataType ?? ""));
        size += typeof value.BinaryValue === "string" ? Buffer.from(value.BinaryValue, "base64").length : Buffer.byteLength(String(value.StringValue ?? ""));
    }
    return size;
}

function failedEntry(id: unknown, error: unknown): sqs.BatchResultErrorEntry {
    if (!(error instanceof AwsError)) throw error;
    return { Id: String(id), SenderFault: error instanceof SqsError ? error.senderFault : true, Code: error instanceof SqsError ? error.queryCode : error.code, Message: error.message };
}

/** A receipt handle: the queue and message it is for, and random bytes that make each receive's handle its own. */
function receiptHandle(queue: string, messageId: string): string {
    return Buffer.from(JSON.stringify({ q: queue, m: messageId, r: randomBytes(12).toString("base64url") }), "utf8").toString("base64url");
}

function decodeReceiptHandle(handle: string): { queue: string; messageId: string } | undefined {
    try {
        const decoded = JSON.parse(Buffer.from(handle, "base64url").toString("utf8")) as { q?: unknown; m?: unknown; r?: unknown };
        return typeof decoded.q === "string" && typeof decoded.m === "string" && typeof decoded.r === "string" ? { queue: decoded.q, messageId: decoded.m } : undefined;
    } catch {
        return undefined;
    }
}
