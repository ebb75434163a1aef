/**
 * What the chargeback's webhook, state machine, report and tests share: the event it puts on the bus, the status
 * ranks, the record the table holds for a job and how it is priced. No Pulumi or SDK import.
 */

/** The detail-type of every delivery the webhook puts on the bus. */
export const WORKFLOW_JOB = "workflow_job";

/** A job's statuses in the order GitHub moves through them; an update never moves a record to a lower rank. */
export const STATUS_RANK = { queued: 1, waiting: 2, in_progress: 3, completed: 4 } as const;
export type JobStatus = keyof typeof STATUS_RANK;

/** The table's global secondary index the report reads: partition `month` (`YYYY-MM` of `completedAt`), sort `repository`. */
export const MONTH_INDEX = "byMonth";
/** What that index projects besides its keys and the table's key: what the report sums. */
export const MONTH_INDEX_ATTRIBUTES = ["organisation", "billedMinutes", "cost", "priceSource", "runnerKind"] as const;

/** Where a job's price came from. */
export const PRICE_SOURCE = {
    /** A GitHub-hosted runner: its label's USD/minute from `choreography:chargebackHostedRates`. */
    hostedRateTable: "github-rate-table",
    /** A Spot runner: DescribeSpotPriceHistory of its instance type and AZ, time-weighted over the job's run (USD/hour). */
    spotPriceHistory: "spot-price-history",
    /** A Spot runner with no price history for the run: the Spot request's SpotPrice, the most it would pay (USD/hour). */
    spotRequestMaxPrice: "spot-request-max-price",
    /** No runner ever took the job (cancelled while queued): nothing to bill. */
    notRun: "not_run",
    /** No price could be found; `priceNote` says why. The job counts in the report with a cost of 0. */
    unknown: "price_unknown",
} as const;
export type PriceSource = (typeof PRICE_SOURCE)[keyof typeof PRICE_SOURCE];

export type RunnerKind = "github-hosted" | "self-hosted" | "none";

/**
 * A job's record (the table's item, keyed by `jobId`), as the state machine writes it. Every time is the payload's
 * (`workflow_job.*_at`), never when an event arrived, so the record is the same whatever order the events came in.
 */
export interface ChargebackRecord {
    jobId: string;
    runId: number;
    runAttempt?: number;
    jobName?: string;
    workflowName?: string;
    /** The organisation (or user) that owns the repository: `organization.login`, else `repository.owner.login`. */
    organisation: string;
    /** `owner/name`. */
    repository: string;
    sender?: string;
    status: JobStatus;
    statusRank: number;
    conclusion?: string;
    createdAt?: string;
    startedAt?: string;
    completedAt?: string;
    labels: string[];
    runnerName?: string;
    runnerGroupName?: string;
    runnerKind: RunnerKind;
    /** The self-hosted runner's instance, from DescribeInstances. */
    instanceId?: string;
    instanceType?: string;
    availabilityZone?: string;
    /** `spot` for a Spot instance, else `on-demand` (EC2 reports no lifecycle for those). */
    instanceLifecycle?: string;
    spotInstanceRequestId?: string;
    productDescription?: string;
    /** Why the runner's instance is not known (no instance of that name, DescribeInstances refused). */
    runnerNote?: string;
    /** Set once the job is completed: */
    durationSeconds?: number;
    billedSeconds?: number;
    billedMinutes?: number;
    /** `per-started-minute` (GitHub-hosted) or `per-second` (Spot). */
    billing?: string;
    price?: number;
    /** `USD/minute` or `USD/hour`. */
    priceUnit?: string;
    priceSource?: PriceSource;
    priceNote?: string;
    cost?: number;
    currency?: "USD";
    /** `YYYY-MM` of `completedAt` (UTC): the report's partition; only completed jobs have it. */
    month?: string;
    /** Every `X-GitHub-Delivery` applied (or seen and found stale): a delivery is applied once. */
    deliveries: string[];
}

/** What the webhook puts on the bus: GitHub's payload as it came, with the delivery's id. */
export interface WorkflowJobDetail extends WorkflowJobPayload {
    /** `X-GitHub-Delivery`: the delivery's GUID, the same on GitHub's redeliveries. */
    delivery: string;
}

/** The members of GitHub's `workflow_job` webhook payload the chargeback reads (the payload has more). */
export interface WorkflowJobPayload {
    action: string;
    workflow_job: {
        id: number;
        run_id: number;
        run_attempt?: number;
        name?: string;
        workflow_name?: string | null;
        status: string;
        conclusion?: string | null;
        created_at?: string;
        started_at?: string | null;
        completed_at?: string | null;
        labels: string[];
        runner_id?: number | null;
        runner_name?: string | null;
        runner_group_id?: number | null;
        runner_group_name?: string | null;
        head_branch?: string | null;
        html_url?: string;
    };
    repository: { id?: number; name?: string; full_name: string; owner: { login: string } };
    organization?: { login: string };
    sender?: { login: string };
}

/** A month as the report takes it. */
export const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/**
 * How a job is billed (the state machine computes the same in JSONata; the tests check one against the other):
 * GitHub-hosted runners per started minute, as GitHub bills them; Spot runners per second of the job's run, since EC2
 * bills Linux instances per second and the job is the share of the instance the chargeback attributes (EC2's
 * one-minute minimum applies to an instance's launch, not to each job, so it is not added).
 */
export function billedSeconds(kind: "hosted" | "spot", durationSeconds: number): number {
    if (durationSeconds <= 0) return 0;
    return kind === "hosted" ? Math.ceil(durationSeconds / 60) * 60 : durationSeconds;
}
