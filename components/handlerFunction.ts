/**
 * HandlerFunction: a Lambda function declared from a closure, with its own role and log group.
 *
 * The closure is serialized by Pulumi exactly as `aws.lambda.CallbackFunction` serializes it, then bundled
 * into a lean archive (see closureArchive.ts). Unlike CallbackFunction's default role, the role holds only the
 * statements given here plus writing to its own log group.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Context } from "aws-lambda";
import { HANDLER, buildClosureArchive, toAssetArchive } from "./closureArchive";
import { Statement, serviceRole } from "./iam";

/** A handler as the factory returns it: an async function of the event. */
export type LambdaHandler = (event: never, context: Context) => Promise<unknown>;

export interface HandlerFunctionArgs {
    /** Runs once per container (build clients, read the environment) and returns the handler. */
    callbackFactory: () => LambdaHandler;
    /** What the function is for, shown in the console. */
    description?: string;
    /** Environment variables the handler reads. */
    environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The role's permissions beyond writing its own logs: exactly the actions the handler calls. */
    statements: pulumi.Input<pulumi.Input<Statement>[]>;
    /** Lambda timeout in seconds (default 30). */
    timeoutSeconds?: number;
    /** Memory in MB (default 256). */
    memorySizeMb?: number;
    /** Days its log group keeps logs. */
    logRetentionDays: number;
    /** Bundle the AWS SDK v3 into the archive instead of using the runtime's copy. */
    bundleAwsSdk: boolean;
    /** ARN of an EventBridge bus that receives failed asynchronous invocations after Lambda's two retries. */
    onFailureDestinationArn?: pulumi.Input<string>;
}

export class HandlerFunction extends pulumi.ComponentResource {
    public readonly function: aws.lambda.Function;
    public readonly role: aws.iam.Role;
    public readonly logGroup: aws.cloudwatch.LogGroup;
    public readonly arn: pulumi.Output<string>;

    constructor(name: string, args: HandlerFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
        super("choreography:lambda:HandlerFunction", name, {}, opts);
        const parent = { parent: this };

        this.logGroup = new aws.cloudwatch.LogGroup(
            name,
            { name: `/choreography/${pulumi.getStack()}/${name}`, retentionInDays: args.logRetentionDays },
            parent,
        );
        const statements = pulumi.all([args.statements, this.logGroup.arn]).apply(([own, logGroupArn]): Statement[] => [
            { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logGroupArn}:*` },
            ...own,
        ]);
        const { role, policy } = serviceRole(name, "lambda.amazonaws.com", statements, parent);
        this.role = role;

        // A closure that captured a secret carries it in its code, so the archive itself becomes secret.
        const code = pulumi.output(buildClosureArchive(args.callbackFactory, { bundleAwsSdk: args.bundleAwsSdk })).apply((archive) =>
            archive.containsSecrets ? pulumi.secret(toAssetArchive(archive)) : toAssetArchive(archive),
        );
        this.function = new aws.lambda.Function(
            name,
            {
                description: args.description,
                runtime: aws.lambda.Runtime.NodeJS22dX,
                handler: HANDLER,
                code,
                role: role.arn,
                timeout: args.timeoutSeconds ?? 30,
                memorySize: args.memorySizeMb ?? 256,
                environment: { variables: args.environment ?? {} },
                loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
            },
            { parent: this, dependsOn: [policy] },
        );
        this.arn = this.function.arn;

        if (args.onFailureDestinationArn) {
            new aws.lambda.FunctionEventInvokeConfig(
                name,
                {
                    functionName: this.function.name,
                    maximumRetryAttempts: 2,
                    destinationConfig: { onFailure: { destination: args.onFailureDestinationArn } },
                },
                parent,
            );
        }
        this.registerOutputs({ arn: this.arn, roleArn: role.arn });
    }
}
