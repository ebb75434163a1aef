/**
 * The seams of the offline runtime. A service (one folder under `local/services/`) declares itself once with a
 * `ServiceDefinition`: how requests reach it, the Pulumi resource types it serves (the attributes the mocks answer
 * for them, and how it provisions them), the EventBridge target kinds and Step Functions integrations it adds, and
 * its lifecycle. The runtime (`runtime.ts`) loops over `SERVICES` (`services.ts`); it names no service itself.
 */
import type { DeclaredResource, EvaluatedStack } from "./evaluate";
import type { JsonService, PrefixedService, RawJsonService, RawService, RestService } from "./endpoint";
import type { ServiceInstances } from "../services";

export type Inputs = Record<string, unknown>;

/** Where a resource is being declared, for the attributes AWS would compute. */
export interface MockContext {
    /** The resource's logical name (the last part of its URN). */
    name: string;
    type: string;
    urn: string;
    inputs: Inputs;
    region: string;
    accountId: string;
}

/** The attributes AWS computes for a resource (`arn`, `name`, `bucket`, `url`, `id`...), in the mocks' physical naming. */
export type MockAttributes = (resource: MockContext) => Inputs;

/** A Pulumi resource type a service serves. */
export interface ResourceTypeSpec {
    /** What the mock answers beyond the inputs. Absent: `{ name, arn }` in a generic shape. */
    attributes?: MockAttributes;
    /** The id Pulumi gets (`name` by default, as AWS uses for most of the types served). */
    id?: (state: Inputs) => string;
}

/** The resources of an evaluated stack, indexed by URN and by type, and found the ways other resources refer to them. */
export interface Declared {
    readonly stack: EvaluatedStack;
    all(): readonly DeclaredResource[];
    byUrn(urn: string): DeclaredResource | undefined;
    of(type: string): readonly DeclaredResource[];
    /** The resource of `type` a reference (ARN, physical name or id, as another resource's input holds it) points at. */
    find(type: string, reference: unknown): DeclaredResource | undefined;
}

/** One resource as served, for `/_choreography/resources` and the start-up listing. */
export interface ServedResource {
    service: string;
    type: string;
    urn?: string;
    arn?: string;
    name: string;
    /** The line printed at start, after the service's name (`bucket results-1234`). */
    description: string;
}

/** An EventBridge rule target as declared (`aws.cloudwatch.EventTarget` or `PutTargets`). */
export interface TargetDelivery {
    targetArn: string;
    /** The role EventBridge assumes for this target, when it has one. */
    roleArn?: string;
    ruleArn: string;
    /** The event after `Input`, `InputPath` or the input transformer: what the target receives. */
    input: string;
}

/** A kind of EventBridge target (state machines, functions, queues): the runtime picks the first whose `matches` holds. */
export interface TargetKind {
    /** For messages: `state machines`, `Lambda functions`. */
    description: string;
    matches(targetArn: string): boolean;
    /** Delivers one event; throws (an AwsError where AWS has a code) when the target refuses or does not exist. */
    deliver(delivery: TargetDelivery): Promise<void>;
}

/** One call of a Step Functions integration, as a Task state makes it: the machine's role and the execution that calls. */
export interface IntegrationCall {
    /** The Task state's `Resource` with any `.sync` / `.sync:2` / `.waitForTaskToken` suffix removed. */
    resource: string;
    /** `""`, `.sync`, `.sync:2` or `.waitForTaskToken`. */
    pattern: TaskPattern;
    /** The state's effective parameters (after `Parameters` / `Arguments`): any JSON value, an object for most integrations. */
    parameters: unknown;
    roleArn: string;
    executionArn: string;
    stateMachineArn: string;
    stateName: string;
    /** The task token, for `.waitForTaskToken` (already put in place of `$$.Task.Token` in `parameters`). */
    taskToken?: string;
    /** Aborted when the state times out or the execution stops or fails: `.sync` calls stop what they started. */
    signal: AbortSignal;
}

/** Step Functions' service integration patterns: request-response, run a job (`.sync`, `.sync:2`), callback. */
export type TaskPattern = "" | ".sync" | ".sync:2" | ".waitForTaskToken";

/**
 * A Step Functions service integration (`arn:aws:states:::events:putEvents`, `arn:aws:states:::aws-sdk:dynamodb:query`,
 * a bare Lambda function ARN...), contributed by the service it calls. The engine asks for the integration of each
 * Task's resource when a machine is created (no integration, or a pattern it lacks: the machine is refused, naming the
 * state and resource), then for each call checks `permissions` against the machine's role and awaits `run`.
 */
export interface TaskIntegration {
    /** Whether this integration serves a Task's resource (without its pattern suffix). */
    matches(resource: string): boolean;
    /** The patterns it supports; others are refused at creation. */
    patterns: readonly TaskPattern[];
    /**
     * The service name Step Functions puts before this integration's error codes: `EventBridge`, `Lambda`, `DynamoDB`
     * (optimised), `DynamoDb` (`aws-sdk:dynamodb`), `StepFunctions`, `Sfn`. An AwsError from `run` (or a refused
     * permission) fails the task as `<errorService>.<Code>Exception`.
     */
    errorService: string;
    /**
     * The IAM action(s) and resource(s) the machine's role must be allowed, checked before `run`; derived from the
     * parameters as AWS derives them (`events:PutEvents` on each entry's bus).
     */
    permissions(call: IntegrationCall): Array<{ action: string; resource: string }>;
    /**
     * Runs the call; resolves to the task's result (for `.waitForTaskToken`, to what the call answered: the task then
     * waits for its token). Rejects with a TaskFailure for an error named as is (a Lambda function's `errorType`,
     * `States.TaskFailed`), an AwsError for the called service's error code, anything else as `States.TaskFailed`.
     */
    run(call: IntegrationCall): Promise<unknown>;
}

/** A Task's failure with the Error and Cause it has in Step Functions, exactly (no service prefix added). */
export class TaskFailure extends Error {
    constructor(
        public readonly error: string,
        public readonly cause: string,
    ) {
        super(cause);
        this.name = error;
    }
}

/** Keys the runtime issued (one per function) or knows (its own), checked by signature and by IAM. */
export interface Credentials {
    /** Issues a key pair acting as `roleArn` (a function's execution role). */
    issue(label: string, roleArn: string): { accessKeyId: string; secretAccessKey: string };
    /** Every key issued so far. */
    issued(): Array<{ accessKeyId: string; secretAccessKey: string; roleArn: string }>;
    /** The secret of a key the runtime knows; undefined for anyone else's key (accepted unverified, as LocalStack does). */
    secretOf(accessKeyId: string): string | undefined;
    /** The role a key acts as; undefined for the user's and tools' keys, which IAM does not check. */
    roleOf(accessKeyId: string | undefined): string | undefined;
}

/** Local IAM: what a role may do, from every form of policy the stack declares. */
export interface Authorizer {
    allows(roleArn: string | undefined, action: string, resource: string): boolean;
    /** Throws `AccessDeniedException` (AWS's wording) when the role may not. Grants are cached; refusals are not. */
    authorize(roleArn: string | undefined, action: string, resource: string): void;
    /** As `authorize`, for the role behind an access key; the user's own keys pass. */
    authorizeCaller(accessKeyId: string | undefined, action: string, resource: string): void;
}

/** What the runtime hands every service. */
export interface ServiceContext {
    region: string;
    accountId: string;
    declared: Declared;
    /** The endpoint's URL, known once it listens (before any service's `provision`). */
    endpointUrl(): string;
    /** The service's folder under `--data-dir`, made on first use (0700); undefined when state is kept in memory. */
    dataDir(): string | undefined;
    /** The service's scratch folder, removed on close. */
    scratchDir(): string;
    /** The project's root, where the program's `node_modules` resolve (the AWS SDK the handlers are given). */
    programRoot: string;
    credentials: Credentials;
    iam: Authorizer;
    /** Another service, by name; available from `provision` on (services are created first, in registry order). */
    service<K extends keyof ServiceInstances>(name: K): ServiceInstances[K];
    /** Delivers an event to a target of any kind, as EventBridge does. */
    deliver(delivery: TargetDelivery): Promise<void>;
    /** The integration serving a Task resource, or undefined. */
    integration(resource: string): TaskIntegration | undefined;
    /** Records a resource as served (listed by `/_choreography/resources` and printed at start). */
    serve(resource: ServedResource): void;
    /** Redacted and printed. */
    log(line: string): void;
    /** Runtime options that concern only one service, as typed in `RuntimeOptions`. */
    options: ServiceOptions;
}

/** Options for single services, set from the command line. */
export interface ServiceOptions {
    verbose?: boolean;
    retryDelaysMs?: number[];
    maxWorkersPerFunction?: number;
    scaleOutAfterMs?: number;
    maxExecutions?: number;
    /** Finished EXPRESS executions kept (StepFunctionsServiceOptions.maxRetainedExpressExecutions). */
    maxExpressExecutions?: number;
    /** CloudWatch Logs events kept per log group (LogsServiceOptions.maxEventsPerGroup). */
    maxLogEventsPerGroup?: number;
    /** EC2 and other fixture files a service answers from. */
    fixtures?: Record<string, string>;
}

/** How requests reach a service on the one endpoint. */
export interface ServiceRoutes {
    /** JSON-protocol operations by `X-Amz-Target` (verified and parsed by the endpoint). */
    json?: JsonService;
    /** A JSON-protocol service that reads the raw request (dynalite), by target prefix; verified by the endpoint. */
    rawJson?: RawJsonService;
    /** REST operations on paths, verified and read by the endpoint (Lambda's `/2015-03-31/functions/...`). */
    rest?: RestService;
    /** A service that reads and verifies raw requests itself (S3: presigned URLs, `aws-chunked` bodies). */
    raw?: RawService;
    /** Requests on a path prefix whatever signs them, and WebSocket upgrades there (API Gateway's invoke URLs). */
    prefixed?: PrefixedService;
}

/** A service as it runs. */
export interface ServiceInstance {
    routes?: ServiceRoutes;
    /** Creates what the stack declared of this service's resource types (after every service exists). */
    provision?(): Promise<void>;
    targets?: TargetKind[];
    integrations?: TaskIntegration[];
    /** Work in flight (deliveries, invocations) that `idle` waits for. */
    pending?(): number;
    idle?(): Promise<void>;
    close?(): Promise<void>;
}

export interface ServiceDefinition<I extends ServiceInstance = ServiceInstance> {
    /** Its name in listings and logs (`states`, `events`). */
    name: string;
    /** The service in SigV4 credential scopes (`states`, `events`, `lambda`, `s3`, `dynamodb`). */
    signingName: string;
    /** Its folder under `--data-dir` (its name by default). */
    dataFolder?: string;
    /** Pulumi resource types it serves or reads (provisioned by it, or consulted while provisioning). */
    resourceTypes: Record<string, ResourceTypeSpec>;
    create(context: ServiceContext): Promise<I>;
}

export type { ServiceInstances };
