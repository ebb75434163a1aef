/**
 * CloudWatch Logs: the log groups the program declares (`aws.cloudwatch.LogGroup`), groups and streams created over
 * the API, and what other services write for themselves (each Lambda invocation's lines). The JSON protocol
 * (`Logs_20140328.<Operation>`) serves the operations `LogsService` has methods for; a caller signing with a
 * function's key is checked by local IAM against its role, per group or stream, as AWS checks it.
 */
import * as logsSdk from "@aws-sdk/client-cloudwatch-logs";
import { namedArn, str } from "../../core/naming";
import { operationsOf } from "../../core/operations";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";
import { requestShapes } from "../../core/requestShapes";
import { redactText } from "../../../protocol/redact";
import { LogsService } from "./logs";

export interface LogsInstance extends ServiceInstance {
    service: LogsService;
}

const LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup";

/** Operations on a stream (checked on the stream's ARN); the others are checked on the group's (`...:log-group:<name>:*`). */
const STREAM_OPERATIONS = new Set(["CreateLogStream", "PutLogEvents", "GetLogEvents"]);

export const logsService: ServiceDefinition<LogsInstance> = {
    name: "logs",
    signingName: "logs",
    resourceTypes: {
        [LOG_GROUP]: { attributes: namedArn((r, name) => `arn:aws:logs:${r.region}:${r.accountId}:log-group:${name}`) },
    },
    async create(context) {
        const service = new LogsService({
            region: context.region,
            accountId: context.accountId,
            maxEventsPerGroup: context.options.maxLogEventsPerGroup,
            // The tokens Step Functions issued are recognised anywhere in a message (it exists by the first write).
            redact: (message) => redactText(message, context.service("states").service.redaction),
        });
        const resourceOf = (operation: string, request: Record<string, unknown>): string => {
            if (operation === "DescribeLogGroups") return `arn:aws:logs:${context.region}:${context.accountId}:log-group:*`;
            const group = service.groupNameOf({
                logGroupName: request.logGroupName === undefined ? undefined : str(request.logGroupName),
                logGroupIdentifier: request.logGroupIdentifier === undefined ? undefined : str(request.logGroupIdentifier),
            });
            if (STREAM_OPERATIONS.has(operation)) return service.streamArn(group, str(request.logStreamName));
            return `${service.groupArn(group)}:*`;
        };
        return {
            service,
            routes: {
                json: {
                    targetPrefix: "Logs_20140328",
                    contentType: "application/x-amz-json-1.1",
                    checkShape: requestShapes(logsSdk),
                    authorize: (accessKeyId, operation, request) => {
                        // The user's own keys pass unchecked (context.iam.authorizeCaller); a function's act as its role.
                        if (!context.credentials.roleOf(accessKeyId)) return;
                        context.iam.authorizeCaller(accessKeyId, `logs:${operation}`, resourceOf(operation, request));
                    },
                    operations: operationsOf(logsSdk, service),
                },
            },
            async provision() {
                for (const group of context.declared.of(LOG_GROUP)) {
                    const name = str(group.state.name);
                    const retention = group.inputs.retentionInDays === undefined ? undefined : Number(group.inputs.retentionInDays);
                    service.addGroup(name, retention);
                    context.serve({ service: "logs", type: LOG_GROUP, urn: group.urn, arn: str(group.state.arn), name, description: `log group ${name}` });
                }
            },
        };
    },
};
