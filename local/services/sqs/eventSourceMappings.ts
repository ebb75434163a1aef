/**
 * Lambda event source mappings from SQS queues (`aws.lambda.EventSourceMapping` whose `eventSourceArn` is a queue),
 * served by SQS, the side that holds the messages. Each mapping's pollers receive batches as Lambda's do, invoke
 * the function synchronously with an `SQSEvent`, and delete what it handled: the whole batch on success, all but
 * the `batchItemFailures` with `ReportBatchItemFailures`. A failed batch stays on the queue and returns after the
 * visibility timeout, so the queue's redrive policy moves what keeps failing to its dead-letter queue. What AWS
 * refuses when the mapping is created is refused here, by name; mappings from other sources (Kinesis, DynamoDB
 * streams, Kafka, MQ) and filter criteria are not served, and say so.
 */
import { createHash } from "node:crypto";
import type { SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from "aws-lambda";
import type * as sqs from "@aws-sdk/client-sqs";
import { AwsError } from "../../core/awsError";
import type { DeclaredResource } from "../../core/evaluate";
import type { SqsService } from "./queues";

export const EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping";

/** A mapping as served, its values checked. */
export interface QueueMapping {
    uuid: string;
    queueArn: string;
    functionArn: string;
    batchSize: number;
    batchingWindowMs: number;
    reportBatchItemFailures: boolean;
    /** Batches in flight at once: the mapping's `scalingConfig.maximumConcurrency`, else `DEFAULT_POLLERS`. */
    pollers: number;
}

/** Lambda starts with five pollers per queue; two keep a 2-core machine busy without taking messages it cannot run yet. */
const DEFAULT_POLLERS = 2;
/** An invocation's payload limit (synchronous): a batch stops growing before it. */
const PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

const invalid = (message: string) => new AwsError("InvalidParameterValueException", message);

/** The mapping's UUID and ARN, as the mock answers them: derived from its name, so the same program gets the same. */
export function mappingAttributes(r: { name: string; region: string; accountId: string; inputs: Record<string, unknown> }): Record<string, unknown> {
    const hex = createHash("sha256").update(`${r.name}\0${String(r.inputs.functionName)}\0${String(r.inputs.eventSourceArn)}`).digest("hex");
    const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    const name = String(r.inputs.functionName ?? "");
    const functionArn = name.startsWith("arn:") ? name : `arn:aws:lambda:${r.region}:${r.accountId}:function:${name}`;
    return { uuid, arn: `arn:aws:lambda:${r.region}:${r.accountId}:event-source-mapping:${uuid}`, functionArn, state: r.inputs.enabled === false ? "Disabled" : "Enabled" };
}

export interface MappingContext {
    /** The function a mapping names (name or ARN): its ARN, execution role and timeout; undefined when not declared. */
    functionOf(reference: string): { arn: string; role: string | undefined; timeoutSeconds: number } | undefined;
    /** Whether a role may make an action on a resource (local IAM). */
    allows(role: string | undefined, action: string, resource: string): boolean;
    queueByArn(arn: string): { fifo: boolean; attributes: Record<string, string> } | undefined;
}

/**
 * A declared mapping, checked as CreateEventSourceMapping checks it; undefined for a disabled one. Throws an
 * AwsError naming what is wrong or not served.
 */
export function queueMappingOf(resource: DeclaredResource, context: MappingContext): QueueMapping | undefined {
    const inputs = resource.inputs;
    const label = `event source mapping ${resource.urn}`;
    const source = typeof inputs.eventSourceArn === "string" ? inputs.eventSourceArn : undefined;
    if (!source) {
        const kind = inputs.selfManagedEventSource !== undefined ? "a self-managed Kafka cluster" : "no eventSourceArn";
        throw invalid(`${label}: ${kind}: the local runtime serves event source mappings from SQS queues only`);
    }
    const service = /^arn:aws[a-z-]*:([a-z0-9-]+):/.exec(source)?.[1];
    if (service !== "sqs") throw invalid(`${label}: event source mappings from ${service ?? source} (${source}) are not served by the local runtime (SQS queues are)`);
    for (const unserved of ["filterCriteria", "destinationConfig", "metricsConfig", "provisionedPollerConfig"] as const) {
        if (inputs[unserved] !== undefined) throw invalid(`${label}: ${unserved} is not served by the local runtime`);
    }
    const queue = context.queueByArn(source);
    if (!queue) throw invalid(`${label}: the queue ${source} does not exist`);
    const fn = context.functionOf(String(inputs.functionName ?? ""));
    if (!fn) throw new AwsError("ResourceNotFoundException", `${label}: the function ${String(inputs.functionName)} does not exist`);

    const batchSize = inputs.batchSize === undefined ? 10 : Number(inputs.batchSize);
    const windowSeconds = inputs.maximumBatchingWindowInSeconds === undefined ? 0 : Number(inputs.maximumBatchingWindowInSeconds);
    const maxBatch = queue.fifo ? 10 : 10_000;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > maxBatch) throw invalid(`${label}: batchSize must be between 1 and ${maxBatch} for ${queue.fifo ? "a FIFO" : "a standard"} queue (${String(inputs.batchSize)})`);
    if (!Number.isInteger(windowSeconds) || windowSeconds < 0 || windowSeconds > 300) throw invalid(`${label}: maximumBatchingWindowInSeconds must be between 0 and 300 (${String(inputs.maximumBatchingWindowInSeconds)})`);
    if (queue.fifo && windowSeconds > 0) throw invalid(`${label}: a FIFO queue takes no maximumBatchingWindowInSeconds`);
    if (batchSize > 10 && windowSeconds < 1) throw invalid(`${label}: maximumBatchingWindowInSeconds must be at least 1 when batchSize is over 10 (${batchSize})`);
    const responseTypes = Array.isArray(inputs.functionResponseTypes) ? inputs.functionResponseTypes.map(String) : [];
    for (const type of responseTypes) if (type !== "ReportBatchItemFailures") throw invalid(`${label}: functionResponseTypes: ${type} is not a response type (ReportBatchItemFailures is)`);
    const scaling = (inputs.scalingConfig ?? {}) as { maximumConcurrency?: unknown };
    const maximumConcurrency = scaling.maximumConcurrency === undefined ? undefined : Number(scaling.maximumConcurrency);
    if (maximumConcurrency !== undefined && (!Number.isInteger(maximumConcurrency) || maximumConcurrency < 2 || maximumConcurrency > 1000)) {
        throw invalid(`${label}: scalingConfig.maximumConcurrency must be between 2 and 1000 (${String(scaling.maximumConcurrency)})`);
    }
    // AWS refuses a mapping whose queue would let a message reappear while the function still handles it.
    const visibility = Number(queue.attributes.VisibilityTimeout ?? 30);
    if (visibility < fn.timeoutSeconds) throw invalid(`${label}: Queue visibility timeout: ${visibility} seconds is less than Function timeout: ${fn.timeoutSeconds} seconds`);
    // And one whose function's role may not read the queue.
    for (const action of ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]) {
        if (!context.allows(fn.role, action, source)) throw invalid(`${label}: The provided execution role ${fn.role} does not have permissions to call ${action.slice(4)} on SQS (${source})`);
    }
    if (inputs.enabled === false) return undefined;
    return {
        uuid: String(resource.state.uuid ?? ""),
        queueArn: source,
        functionArn: fn.arn,
        batchSize,
        batchingWindowMs: windowSeconds * 1000,
        reportBatchItemFailures: responseTypes.includes("ReportBatchItemFailures"),
        pollers: Math.min(maximumConcurrency ?? DEFAULT_POLLERS, DEFAULT_POLLERS),
    };
}

/** A message as Lambda hands it to the function. */
export function sqsRecordOf(message: sqs.Message, queueArn: string, region: string): SQSRecord {
    const messageAttributes: SQSMessageAttributes = {};
    for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
        messageAttributes[name] = {
            dataType: value.DataType ?? "String",
            stringListValues: [],
            binaryListValues: [],
            ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
            ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString("base64") } : {}),
        };
    }
    const attributes = (message.Attributes ?? {}) as SQSRecord["attributes"];
    return {
        messageId: message.MessageId ?? "",
        receiptHandle: message.ReceiptHandle ?? "",
        body: message.Body ?? "",
        attributes,
        messageAttributes,
        md5OfBody: message.MD5OfBody ?? "",
        ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
        eventSource: "aws:sqs",
        eventSourceARN: queueArn,
        awsRegion: region,
    };
}

/**
 * Which of a batch's messages the function handled: all on success, all but the reported failures with
 * ReportBatchItemFailures. A malformed report (an identifier not in the batch, an empty one) fails the whole batch,
 * as Lambda takes it.
 */
export function handledMessages(batch: readonly SQSRecord[], payload: unknown, reportBatchItemFailures: boolean): SQSRecord[] {
    if (!reportBatchItemFailures || payload === null || typeof payload !== "object") return [...batch];
    const failures = (payload as Partial<SQSBatchResponse>).batchItemFailures;
    if (failures === undefined || failures === null) return [...batch];
    if (!Array.isArray(failures)) return [];
    const ids = new Set(batch.map((record) => record.messageId));
    const failed = new Set<string>();
    for (const failure of failures) {
        const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
        if (typeof id !== "string" || !ids.has(id)) return [];
        failed.add(id);
    }
    return batch.filter((record) => !failed.has(record.messageId));
}

export interface PollerDeps {
    sqs: SqsService;
    region: string;
    queueUrl: string;
    /** Synchronous invocation: the function's result, or its error. */
    invoke(functionArn: string, event: SQSEvent): Promise<{ payload?: unknown; functionError?: { errorType: string; errorMessage: string } }>;
    log(line: string): void;
}

/** A mapping's pollers: each receives a batch, invokes the function with it and deletes what it handled. */
export class QueuePollers {
    private stopped = false;
    /** Batches received and not yet settled (deleted or left to reappear). */
    private settling = 0;
    private readonly loops: Promise<void>[] = [];

    constructor(
        private readonly mapping: QueueMapping,
        private readonly deps: PollerDeps,
    ) {}

    start(): void {
        for (let i = 0; i < this.mapping.pollers; i++) this.loops.push(this.poll());
    }

    /** Messages waiting to be taken and batches in flight: what `idle` waits for. */
    pending(): number {
        if (this.stopped) return 0;
        const visible = this.deps.sqs.getQueueAttributes({ QueueUrl: this.deps.queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }).Attributes?.ApproximateNumberOfMessages;
        return Number(visible ?? 0) + this.settling;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await Promise.all(this.loops);
    }

    private async poll(): Promise<void> {
        while (!this.stopped) {
            try {
                const batch = await this.receiveBatch();
                if (batch.length === 0) continue;
                try {
                    await this.invoke(batch);
                } finally {
                    this.settling--;
                }
            } catch (error) {
                if (this.stopped) return;
                this.deps.log(`event source mapping ${this.mapping.uuid}: polling ${this.mapping.queueArn} failed: ${error instanceof Error ? error.message : String(error)}`);
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
        }
    }

    /** Long polls for a first message, then fills the batch with what is there (or arrives within the window). */
    private async receiveBatch(): Promise<SQSRecord[]> {
        const { sqs, queueUrl, region } = this.deps;
        const receive = async (wait: number, max: number) =>
            (await sqs.receiveMessage({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(10, max), WaitTimeSeconds: wait, MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"] })).Messages ?? [];
        const first = await receive(this.stopped ? 0 : 20, this.mapping.batchSize);
        if (first.length === 0) return [];
        this.settling++;
        const batch = first.map((m) => sqsRecordOf(m, this.mapping.queueArn, region));
        let bytes = batch.reduce((n, r) => n + Buffer.byteLength(r.body), 0);
        const deadline = Date.now() + this.mapping.batchingWindowMs;
        while (batch.length < this.mapping.batchSize && !this.stopped) {
            const more = await receive(0, this.mapping.batchSize - batch.length);
            if (more.length === 0) {
                if (Date.now() >= deadline) break;
                await new Promise((resolve) => setTimeout(resolve, Math.min(50, deadline - Date.now())));
                continue;
            }
            for (const message of more) {
                const record = sqsRecordOf(message, this.mapping.queueArn, region);
                if (bytes + Buffer.byteLength(record.body) > PAYLOAD_LIMIT_BYTES) {
                    // Over the payload limit: back on the queue at once, for the next batch.
                    sqs.changeMessageVisibility({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 0 });
                    continue;
                }
                bytes += Buffer.byteLength(record.body);
                batch.push(record);
            }
            if (bytes >= PAYLOAD_LIMIT_BYTES) break;
        }
        return batch;
    }

    private async invoke(batch: SQSRecord[]): Promise<void> {
        let handled: SQSRecord[];
        try {
            const result = await this.deps.invoke(this.mapping.functionArn, { Records: batch });
            if (result.functionError) {
                this.deps.log(`event source mapping ${this.mapping.uuid}: ${this.mapping.functionArn} failed a batch of ${batch.length} from ${this.mapping.queueArn} (${result.functionError.errorType}: ${result.functionError.errorMessage}); its messages return after the visibility timeout`);
                return;
            }
            handled = handledMessages(batch, result.payload, this.mapping.reportBatchItemFailures);
        } catch (error) {
            this.deps.log(`event source mapping ${this.mapping.uuid}: invoking ${this.mapping.functionArn} failed: ${error instanceof Error ? error.message : String(error)}; the batch returns after the visibility timeout`);
            return;
        }
        for (const record of handled) this.deps.sqs.deleteMessage({ QueueUrl: this.deps.queueUrl, ReceiptHandle: record.receiptHandle });
    }
}
