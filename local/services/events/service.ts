/** EventBridge: buses, rules and targets the stack declares, delivering to any target kind a service registers. */
import * as eventBridgeSdk from "@aws-sdk/client-eventbridge";
import { operationsOf } from "../../core/operations";
import { namedArn, physicalName, str } from "../../core/naming";
import { AwsError } from "../../core/awsError";
import { TaskFailure, type IntegrationCall, type ServiceDefinition, type ServiceInstance, type TaskIntegration } from "../../core/registry";
import { EventBridgeService, type PutEventsRequestEntry, type PutEventsResponse } from "./eventBridge";

export interface EventsInstance extends ServiceInstance {
    service: EventBridgeService;
}

const BUS = "aws:cloudwatch/eventBus:EventBus";
const RULE = "aws:cloudwatch/eventRule:EventRule";
const TARGET = "aws:cloudwatch/eventTarget:EventTarget";

export const eventsService: ServiceDefinition<EventsInstance> = {
    name: "events",
    signingName: "events",
    resourceTypes: {
        [BUS]: { attributes: namedArn((r, name) => `arn:aws:events:${r.region}:${r.accountId}:event-bus/${name}`) },
        [RULE]: {
            attributes: (r) => {
                const name = physicalName(r);
                const bus = r.inputs.eventBusName && r.inputs.eventBusName !== "default" ? `${str(r.inputs.eventBusName)}/` : "";
                return { name, arn: `arn:aws:events:${r.region}:${r.accountId}:rule/${bus}${name}` };
            },
        },
        [TARGET]: {},
    },
    async create(context) {
        const service = new EventBridgeService({
            region: context.region,
            accountId: context.accountId,
            log: (line) => context.log(line),
            dispatcher: { deliver: (target, rule, input) => context.deliver({ targetArn: target.arn, roleArn: target.roleArn, ruleArn: rule.arn, input }) },
            // The record AWS puts on a target's dead-letter queue: the event, with the failure in message attributes.
            deadLetter: async (record) => {
                const attribute = (value: string) => ({ DataType: "String", StringValue: value });
                await context.service("sqs").send(
                    record.queueArn,
                    {
                        body: JSON.stringify(record.event),
                        attributes: {
                            RULE_ARN: attribute(record.rule.arn),
                            TARGET_ARN: attribute(record.target.arn),
                            ERROR_CODE: attribute(record.errorCode),
                            ERROR_MESSAGE: attribute(record.errorMessage.slice(0, 1024)),
                            RETRY_ATTEMPTS: attribute("0"),
                        },
                    },
                    { principal: "events.amazonaws.com", sourceArn: record.rule.arn },
                );
            },
        });
        return {
            service,
            integrations: eventBridgeIntegrations({ region: context.region, accountId: context.accountId, putEvents: (entries) => service.putEvents({ Entries: entries }) }),
            routes: {
                json: {
                    targetPrefix: "AWSEvents",
                    contentType: "application/x-amz-json-1.1",
                    // EventBridge checks member types itself (for its direct callers too), so not here as well; the
                    // IAM check below runs first and reads only what it can.
                    authorize: (accessKeyId, operation, request) => {
                        if (operation !== "PutEvents" || !Array.isArray(request.Entries)) return;
                        for (const entry of request.Entries as Array<{ EventBusName?: unknown } | null>) {
                            // An entry whose bus is not a name or ARN is refused by PutEvents itself, for every caller.
                            const bus = entry?.EventBusName;
                            if (bus !== undefined && typeof bus !== "string") continue;
                            context.iam.authorizeCaller(accessKeyId, "events:PutEvents", service.busArn(service.busName(bus)));
                        }
                    },
                    operations: operationsOf(eventBridgeSdk, service),
                },
            },
            async provision() {
                const serve = (type: string, urn: string, arn: string, name: string, description: string) =>
                    context.serve({ service: "events", type, urn, arn, name, description });
                for (const bus of context.declared.of(BUS)) {
                    service.addBus(str(bus.state.name));
                    serve(BUS, bus.urn, str(bus.state.arn), str(bus.state.name), `bus ${str(bus.state.name)}`);
                }
                for (const rule of context.declared.of(RULE)) {
                    const busName = service.busName(str(rule.inputs.eventBusName || "default"));
                    service.addRule({
                        name: str(rule.state.name),
                        arn: str(rule.state.arn),
                        busName,
                        eventPattern: rule.inputs.eventPattern === undefined ? undefined : str(rule.inputs.eventPattern),
                        scheduleExpression: rule.inputs.scheduleExpression === undefined ? undefined : str(rule.inputs.scheduleExpression),
                        state: rule.inputs.state === "DISABLED" ? "DISABLED" : "ENABLED",
                    });
                    serve(RULE, rule.urn, str(rule.state.arn), str(rule.state.name), `rule ${str(rule.state.name)} on ${busName}: ${str(rule.inputs.eventPattern)}`);
                }
                for (const target of context.declared.of(TARGET)) {
                    const busName = service.busName(str(target.inputs.eventBusName || "default"));
                    const transformer = target.inputs.inputTransformer as { inputPaths?: Record<string, string>; inputTemplate: string } | undefined;
                    const deadLetter = target.inputs.deadLetterConfig as { arn?: string } | undefined;
                    service.addTarget(busName, str(target.inputs.rule), {
                        id: str(target.inputs.targetId ?? target.name),
                        arn: str(target.inputs.arn),
                        roleArn: target.inputs.roleArn === undefined ? undefined : str(target.inputs.roleArn),
                        input: target.inputs.input === undefined ? undefined : str(target.inputs.input),
                        inputPath: target.inputs.inputPath === undefined ? undefined : str(target.inputs.inputPath),
                        inputTransformer: transformer ? { inputPathsMap: transformer.inputPaths, inputTemplate: transformer.inputTemplate } : undefined,
                        ...(deadLetter?.arn ? { deadLetterArn: deadLetter.arn } : {}),
                    });
                    serve(TARGET, target.urn, str(target.inputs.arn), str(target.inputs.targetId ?? target.name), `target ${str(target.inputs.rule)} -> ${str(target.inputs.arn)}`);
                }
            },
            pending: () => service.pending,
            close: async () => service.close(),
            idle: () => service.idle(),
        };
    },
};

/** What the Step Functions integration of EventBridge calls: PutEvents, as the API answers it. */
export interface PutEventsIntegrationDeps {
    region: string;
    accountId: string;
    putEvents(entries: PutEventsRequestEntry[]): PutEventsResponse | Promise<PutEventsResponse>;
}

/**
 * `arn:aws:states:::events:putEvents` (and `.waitForTaskToken`): the entries as the Task gives them (`Detail` may be
 * an object), the execution's and machine's ARNs appended to each entry's `Resources` as AWS does, and the task
 * failed as `EventBridge.FailedEntry` when any entry failed.
 */
export function eventBridgeIntegrations(deps: PutEventsIntegrationDeps): TaskIntegration[] {
    const busArn = (bus: string) => (bus.startsWith("arn:") ? bus : `arn:aws:events:${deps.region}:${deps.accountId}:event-bus/${bus}`);
    const entriesOf = (call: IntegrationCall): unknown[] | undefined => {
        const parameters = call.parameters;
        const entries = typeof parameters === "object" && parameters !== null ? (parameters as { Entries?: unknown }).Entries : undefined;
        return Array.isArray(entries) ? entries : undefined;
    };
    return [
        {
            matches: (resource) => /^arn:aws[a-z-]*:states:::events:putEvents$/.test(resource),
            patterns: ["", ".waitForTaskToken"],
            errorService: "EventBridge",
            permissions: (call) =>
                (entriesOf(call) ?? []).map((entry) => {
                    const bus = (entry as { EventBusName?: unknown } | null)?.EventBusName;
                    return { action: "events:PutEvents", resource: busArn(typeof bus === "string" ? bus : "default") };
                }),
            run: async (call) => {
                const entries = entriesOf(call);
                if (!entries) throw new AwsError("ValidationException", "putEvents Parameters must contain an Entries array.");
                const response = await deps.putEvents(entries.map((entry) => toPutEventsEntry(entry, [call.executionArn, call.stateMachineArn])));
                if (response.FailedEntryCount > 0) throw new TaskFailure("EventBridge.FailedEntry", describeFailedEntries(response));
                return response;
            },
        },
    ];
}

/** An ASL putEvents entry (Detail may be an object) as the EventBridge API takes it. */
function toPutEventsEntry(raw: unknown, appendedResources: string[]): PutEventsRequestEntry {
    const entry = (typeof raw === "object" && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
    const text = (value: unknown) => (typeof value === "string" ? value : undefined);
    const resources = Array.isArray(entry.Resources) ? entry.Resources.filter((item): item is string => typeof item === "string") : [];
    const result: PutEventsRequestEntry = { Resources: [...resources, ...appendedResources] };
    if (text(entry.Source) !== undefined) result.Source = text(entry.Source);
    if (text(entry.DetailType) !== undefined) result.DetailType = text(entry.DetailType);
    if (entry.Detail !== undefined) result.Detail = typeof entry.Detail === "string" ? entry.Detail : JSON.stringify(entry.Detail);
    if (text(entry.EventBusName) !== undefined) result.EventBusName = text(entry.EventBusName);
    if (text(entry.Time) !== undefined) result.Time = text(entry.Time);
    return result;
}

function describeFailedEntries(response: PutEventsResponse): string {
    const failures = response.Entries.map((entry, index) => ({ index, entry }))
        .filter(({ entry }) => entry.ErrorCode !== undefined)
        .map(({ index, entry }) => `entry ${index}: ${entry.ErrorCode}${entry.ErrorMessage ? ` (${entry.ErrorMessage})` : ""}`);
    return `PutEvents reported ${response.FailedEntryCount} failed entr${response.FailedEntryCount === 1 ? "y" : "ies"}: ${failures.join("; ") || "no details"}`;
}
