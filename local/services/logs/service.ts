/**
 * CloudWatch Logs is not served: handler log lines go to the runtime's output (`--verbose`). Log groups get the
 * ARNs AWS gives them, since state machines and policies name them, and are listed as declared, not served.
 */
import { namedArn } from "../../core/naming";
import type { ResourceTypeSpec } from "../../core/registry";

export const LOG_GROUP_TYPES: Record<string, ResourceTypeSpec> = {
    "aws:cloudwatch/logGroup:LogGroup": { attributes: namedArn((r, name) => `arn:aws:logs:${r.region}:${r.accountId}:log-group:${name}`) },
};
