/**
 * EC2 (signing name `ec2`): DescribeInstances, DescribeSpotInstanceRequests and DescribeSpotPriceHistory over the
 * query protocol, answered from `--ec2-fixtures FILE` (see `ec2.ts` for its shape; none given: no instances, no
 * requests, no prices), and the Step Functions integrations `aws-sdk:ec2:describeInstances` and the two others.
 */
import { randomUUID } from "node:crypto";
import { AwsError } from "../../core/awsError";
import type { RestRequest, RestResponse } from "../../core/endpoint";
import type { IntegrationCall, ServiceDefinition, ServiceInstance, TaskIntegration } from "../../core/registry";
import { EMPTY_FIXTURES, Ec2Error, Ec2Service, readEc2Fixtures } from "./ec2";
import { operationSchema, readQuery, writeError, writeResponse } from "./query";

export interface Ec2Instance extends ServiceInstance {
    service: Ec2Service;
}

/** The operations served, by the name the query protocol's `Action` and IAM give them. */
const OPERATIONS = ["DescribeInstances", "DescribeSpotInstanceRequests", "DescribeSpotPriceHistory"] as const;
type Operation = (typeof OPERATIONS)[number];
const isOperation = (name: string): name is Operation => (OPERATIONS as readonly string[]).includes(name);

function run(service: Ec2Service, operation: Operation, request: Record<string, unknown>): unknown {
    switch (operation) {
        case "DescribeInstances":
            return service.describeInstances(request);
        case "DescribeSpotInstanceRequests":
            return service.describeSpotInstanceRequests(request);
        case "DescribeSpotPriceHistory":
            return service.describeSpotPriceHistory(request);
    }
}

export const ec2Service: ServiceDefinition<Ec2Instance> = {
    name: "ec2",
    signingName: "ec2",
    resourceTypes: {},
    async create(context) {
        const file = context.options.fixtures?.ec2;
        const service = new Ec2Service(file ? readEc2Fixtures(file) : EMPTY_FIXTURES, context.accountId);
        /** A caller whose role may not make the call is refused as EC2 refuses (UnauthorizedOperation, 403). */
        const authorize = (accessKeyId: string, operation: Operation) => {
            try {
                context.iam.authorizeCaller(accessKeyId, `ec2:${operation}`, "*");
            } catch (error) {
                if (error instanceof AwsError && error.code === "AccessDeniedException") throw new Ec2Error("UnauthorizedOperation", `You are not authorized to perform this operation. ${error.message}`, 403);
                throw error;
            }
        };
        const handle = async (request: RestRequest): Promise<RestResponse> => {
            const requestId = randomUUID();
            const xml = (status: number, body: string): RestResponse => ({ status, headers: { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId }, body });
            try {
                const params = new URLSearchParams(request.query);
                if (request.body.length) for (const [key, value] of new URLSearchParams(request.body.toString("utf8"))) params.append(key, value);
                const action = params.get("Action");
                if (action === null) throw new Ec2Error("MissingAction", "The request must contain the parameter Action");
                const schema = operationSchema(action);
                if (!isOperation(action) || !schema) {
                    throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service (the local EC2 serves ${OPERATIONS.join(", ")}).`);
                }
                authorize(request.accessKeyId, action);
                const input = readQuery(schema, params);
                if (input.DryRun === true) throw new Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412);
                return xml(200, writeResponse(action, schema, run(service, action, input), requestId));
            } catch (error) {
                if (!(error instanceof AwsError)) throw error;
                return xml(error.statusCode, writeError(error.code, error.message, requestId));
            }
        };
        return { service, routes: { rest: { handle } }, integrations: [ec2Integration(service)] };
    },
};

/** `describeSpotPriceHistory` -> `DescribeSpotPriceHistory`. */
const AWS_SDK = /^arn:aws[a-z-]*:states:::aws-sdk:ec2:([a-z][A-Za-z]*)$/;
const operationOf = (resource: string): Operation | undefined => {
    const name = AWS_SDK.exec(resource)?.[1];
    const operation = name ? name.charAt(0).toUpperCase() + name.slice(1) : "";
    return isOperation(operation) ? operation : undefined;
};

/**
 * `arn:aws:states:::aws-sdk:ec2:describeInstances` (and the spot calls): parameters in the SDK's PascalCase shape,
 * the result as the SDK returns it, errors `Ec2.<Code>Exception` with the code's dots dropped
 * (`InvalidInstanceID.NotFound` fails the task as `Ec2.InvalidInstanceIDNotFoundException`).
 */
export function ec2Integration(service: Ec2Service): TaskIntegration {
    return {
        matches: (resource) => operationOf(resource) !== undefined,
        patterns: [""],
        errorService: "Ec2",
        permissions: (call: IntegrationCall) => [{ action: `ec2:${operationOf(call.resource)}`, resource: "*" }],
        run: async (call: IntegrationCall) => {
            const operation = operationOf(call.resource)!;
            const parameters = call.parameters ?? {};
            if (typeof parameters !== "object" || Array.isArray(parameters)) throw new AwsError("InvalidParameterValue", `ec2:${operation} Parameters must be an object.`);
            try {
                return JSON.parse(JSON.stringify(run(service, operation, parameters as Record<string, unknown>))) as unknown;
            } catch (error) {
                if (error instanceof Ec2Error) throw new AwsError(error.code.replace(/\./g, ""), error.message, error.statusCode);
                throw error;
            }
        },
    };
}
