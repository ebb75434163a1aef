/**
 * `webhook`: the chargeback's ingress (API Gateway HTTP API, payload 2.0). It learns only the secret's ARN from its
 * environment and reads the value from Secrets Manager once per container; ../webhook.ts checks and forwards.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { eventTargetFromEnv, putEvent } from "../../../handlers/events";
import { SDK_CLIENT_CONFIG } from "../../../handlers/task";
import { WORKFLOW_JOB } from "../model";
import { handleWebhook } from "../webhook";

export function webhookFactory() {
    const secretArn = process.env.WEBHOOK_SECRET_ARN;
    if (!secretArn) throw new Error("WEBHOOK_SECRET_ARN must be set (the Chargeback component sets it)");
    const target = eventTargetFromEnv();
    const events = new EventBridgeClient(SDK_CLIENT_CONFIG);
    const secrets = new SecretsManagerClient(SDK_CLIENT_CONFIG);
    const logger = new Logger({ serviceName: "chargeback-webhook" });
    const emitter = process.env.AWS_LAMBDA_FUNCTION_NAME || "chargeback-webhook";
    let secret: Promise<string> | undefined;
    const readSecret = (): Promise<string> => {
        if (!secret) {
            const reading = secrets.send(new GetSecretValueCommand({ SecretId: secretArn })).then((value) => {
                if (!value.SecretString) throw new Error(`secret ${secretArn} has no SecretString`);
                return value.SecretString;
            });
            // A failed read is not kept: the next delivery tries again (the secret may just have been set).
            reading.catch(() => {
                if (secret === reading) secret = undefined;
            });
            secret = reading;
        }
        return secret;
    };
    return (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> =>
        handleWebhook(event, {
            secret: readSecret,
            forward: (detail) => putEvent(events, target, WORKFLOW_JOB, detail, { correlationId: `github-delivery:${detail.delivery}`, emitter }),
            log: (message, fields) => logger.info(message, fields),
        });
}
