/**
 * The composition root: the stack's settings, the platform every system shares (the bus and the TaskFinisher), then
 * one call per system that `choreography:systems` lists, then the stack's outputs.
 */
import { Bus } from "./components/bus";
import { TaskFinisher } from "./components/taskFinisher";
import { readSettings } from "./settings";
import { Platform, SYSTEMS } from "./systems";

const settings = readSettings(Object.keys(SYSTEMS));

const bus = new Bus("bus", { busName: settings.platform.busName, eventSource: settings.platform.eventSource });
let finisher: TaskFinisher | undefined;
const platform: Platform = {
    bus,
    taskFinisher: () => (finisher ??= new TaskFinisher("finisher", { bus, logRetentionDays: settings.platform.logRetentionDays })),
    handlerDefaults: { logRetentionDays: settings.platform.logRetentionDays, bundleAwsSdk: settings.platform.bundleAwsSdk },
    logRetentionDays: settings.platform.logRetentionDays,
};

const systems = Object.fromEntries(settings.systems.map((name) => [name, SYSTEMS[name].create(name, platform, settings).outputs]));

export const busName = bus.name;
export const eventSource = settings.platform.eventSource;
export const finisherArn = finisher?.arn;
export const deployedSystems = settings.systems;
/** The cookie report's state machine, results bucket and the command that starts a run (when it is deployed). */
export const workflowArn = systems.cookieReport?.workflowArn;
export const bucketName = systems.cookieReport?.bucketName;
export const startCommand = systems.cookieReport?.startCommand;
/** The observability HTTP API (IAM auth) and its events table (when it is deployed). */
export const observabilityApiUrl = systems.observability?.apiUrl;
export const observabilityTableName = systems.observability?.tableName;
export const observabilityLiveUrl = systems.observability?.liveUrl;
/** The observability web page (the HTTP API's root): sign in with AWS credentials. */
export const observabilityPageUrl = systems.observability?.pageUrl;
/** The GitHub Actions chargeback (when it is deployed): GitHub's Payload URL, the report API (IAM auth), its table and failures. */
export const chargebackWebhookUrl = systems.chargeback?.webhookUrl;
export const chargebackApiUrl = systems.chargeback?.apiUrl;
export const chargebackTableName = systems.chargeback?.tableName;
export const chargebackWorkflowArn = systems.chargeback?.workflowArn;
export const chargebackDeadLetterQueueUrl = systems.chargeback?.deadLetterQueueUrl;
export const chargebackWebhookSecretArn = systems.chargeback?.webhookSecretArn;
