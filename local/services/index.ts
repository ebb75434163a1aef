/**
 * The registry: every service the offline runtime serves, one line each, in the order they are created and
 * provisioned (a service may use another's instance from `provision` on: functions get their keys before S3 is
 * told them). Adding a service is one folder under `local/services/` and one line here.
 */
import { dynamodbService } from "./dynamodb/service";
import { iamService } from "./iam/service";
import { eventsService } from "./events/service";
import { lambdaService } from "./lambda/service";
import { apiGatewayService } from "./apigatewayv2/service";
import { s3Service } from "./s3/service";
import { sqsService } from "./sqs/service";
import { secretsManagerService } from "./secretsmanager/service";
import { ssmService } from "./ssm/service";
import { ec2Service } from "./ec2/service";
import { statesService } from "./stepfunctions/service";
import { logsService } from "./logs/service";
import type { ResourceTypeSpec } from "../core/registry";

export const SERVICES = {
    iam: iamService,
    dynamodb: dynamodbService,
    events: eventsService,
    states: statesService,
    lambda: lambdaService,
    apigateway: apiGatewayService,
    s3: s3Service,
    sqs: sqsService,
    secretsmanager: secretsManagerService,
    ssm: ssmService,
    ec2: ec2Service,
    logs: logsService,
} as const;

/** Each registered service's instance type, by name (`runtime.services.states.service`). */
export type ServiceInstances = { [K in keyof typeof SERVICES]: Awaited<ReturnType<(typeof SERVICES)[K]["create"]>> };

/** Types no service serves but whose attributes AWS computes (other resources name their ARNs). */
export const ATTRIBUTES_ONLY: Record<string, ResourceTypeSpec> = {};

/** Every resource type some service serves or reads, with the attributes its mock answers. */
export function registeredResourceTypes(): Map<string, ResourceTypeSpec> {
    const types = new Map<string, ResourceTypeSpec>(Object.entries(ATTRIBUTES_ONLY));
    for (const definition of Object.values(SERVICES)) for (const [type, spec] of Object.entries(definition.resourceTypes)) types.set(type, spec);
    return types;
}
