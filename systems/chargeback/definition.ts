/**
 * The chargeback's state machine (JSONata; no Lambda): one execution per `workflow_job` delivery.
 *
 *   Normalise ─▶ Check ─(a field missing or wrong)─▶ InvalidPayload (Fail, the cause names the fields)
 *                  ▼
 *               ReadJob (dynamodb:getItem, consistent) ─▶ Decide
 *                  ├─ delivery already applied ─────────────▶ Duplicate
 *                  ├─ record already at this rank or higher ─▶ RecordStale (ADD the delivery id only) ─▶ Stale
 *                  ├─ self-hosted, instance known from an earlier event ─▶ ReuseInstance ─┐
 *                  ├─ self-hosted ─▶ FindInstance (aws-sdk:ec2:describeInstances) ─────────┤
 *                  └─ otherwise ──────────────────────────────────────────────────────────┤
 *                                                                                       ▼
 *               PriceOrApply ─ not completed ───────────────────────────────────────────▶ Apply
 *                  ├─ no runner ─▶ NotRun ────────────────────────────────────────────────▶ Apply
 *                  ├─ GitHub-hosted ─▶ PriceHosted (rate table) ─────────────────────────▶ Apply
 *                  ├─ Spot ─▶ SpotPriceHistory ─▶ (history) PriceSpotHistory ─────────────▶ Apply
 *                  │                           └▶ (none) SpotRequest ─▶ PriceSpotRequest ──▶ Apply
 *                  └─ anything else ─▶ PriceUnknown ──────────────────────────────────────▶ Apply
 *               Apply (dynamodb:updateItem, conditional: rank strictly higher, delivery not applied)
 *                  └─ ConditionalCheckFailed (another event won the race) ─▶ RecordStale
 *
 * Why the record ends the same whatever the order and however often an event repeats: a status is written only by an
 * update whose rank is strictly higher than the record's (ranks never move back), every field the update writes comes
 * from that payload (its `*_at` times, not the receipt time) or from lookups that give the same answer for it, fields
 * the payload lacks are removed, and the delivery's id joins the record's `deliveries` in the same conditional write,
 * so a delivery applies once. The seed design's query-then-putItem could lose an update to a concurrent first sight;
 * here the first write is the same conditional updateItem (an upsert), so two first sights cannot overwrite each other.
 *
 * Retries: throttling and DynamoDB's internal errors retry with exponential backoff and full jitter; EC2's throttling
 * too, then fails the execution (a transient fault: the dead-letter queue keeps it for a redrive). Any other EC2 error
 * (no such instance, no history, not allowed) prices the job as `price_unknown` with the error in `priceNote`: never a
 * failed execution.
 */
import type { AslDefinition, AslState } from "../../protocol/asl";
import { PRICE_SOURCE, STATUS_RANK } from "./model";

/** Every attribute a record may have besides its key and `deliveries`: an update removes those its payload lacks. */
export const RECORD_ATTRIBUTES = [
    "runId", "runAttempt", "jobName", "workflowName", "organisation", "repository", "sender", "status", "statusRank", "conclusion",
    "createdAt", "startedAt", "completedAt", "labels", "runnerName", "runnerGroupName", "runnerKind",
    "instanceId", "instanceType", "availabilityZone", "instanceLifecycle", "spotInstanceRequestId", "productDescription", "runnerNote",
    "durationSeconds", "billedSeconds", "billedMinutes", "billing", "price", "priceUnit", "priceSource", "priceNote", "cost", "currency", "month",
] as const;

export interface ChargebackDefinitionArgs {
    tableName: string;
    /** USD per minute by GitHub-hosted runner label. */
    hostedRates: Record<string, number>;
    /** The EC2 tag holding a self-hosted runner's name (runners not named after their instance id). */
    runnerNameTag: string;
    executionTimeoutSeconds: number;
}

const jsonata = (expression: string): string => `{% ${expression.trim().replace(/\s*\n\s*/g, " ")} %}`;

/** DynamoDB's throttling and server-side errors, as the optimised integration names them. */
const DYNAMODB_RETRY = {
    ErrorEquals: [
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.RequestLimitExceeded",
        "DynamoDB.InternalServerErrorException",
        "DynamoDB.ServiceUnavailableException",
    ],
    IntervalSeconds: 1,
    BackoffRate: 2,
    MaxAttempts: 6,
    MaxDelaySeconds: 20,
    JitterStrategy: "FULL",
};
/** EC2's throttling and server-side errors, as the AWS SDK integration names them (`Ec2.<Code>Exception`). */
const EC2_TRANSIENT = ["Ec2.RequestLimitExceededException", "Ec2.InternalErrorException", "Ec2.InternalFailureException", "Ec2.UnavailableException", "Ec2.ServiceUnavailableException"];
const EC2_RETRY = { ErrorEquals: EC2_TRANSIENT, IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 6, MaxDelaySeconds: 20, JitterStrategy: "FULL" };
/** After its retries a transient EC2 error fails the execution with the error as it came. */
const EC2_GIVE_UP = { ErrorEquals: EC2_TRANSIENT, Output: jsonata("$states.errorOutput"), Next: "GiveUp" };

/** The price of a completed job, from the seconds it ran (shared by every pricing state). */
const RUN = `
    $startMs := $toMillis($job.startedAt);
    $endMs := $toMillis($job.completedAt);
    $seconds := $endMs > $startMs ? ($endMs - $startMs) / 1000 : 0;
    $month := $substring($fromMillis($endMs), 0, 7);`;
const perSecond = (price: string, source: string, note: string, cost: string) => `{
    "durationSeconds": $seconds, "billedSeconds": $seconds, "billedMinutes": $seconds / 60, "billing": "per-second",
    "price": ${price}, "priceUnit": "USD/hour", "priceSource": ${source}, "priceNote": ${note}, "cost": ${cost},
    "currency": "USD", "month": $month }`;

export function chargebackDefinition(args: ChargebackDefinitionArgs): AslDefinition {
    const key = { jobId: { S: jsonata("$job.jobId") } };
    const states: Record<string, AslState> = {
        Normalise: {
            Type: "Pass",
            Comment: "The payload's members as the record names them; every time from the payload",
            Assign: {
                delivery: jsonata("$type($states.input.detail.delivery) = 'string' ? $states.input.detail.delivery : null"),
                rank: jsonata(`$lookup(${JSON.stringify(STATUS_RANK)}, $states.input.detail.workflow_job.status)`),
                rates: args.hostedRates,
                attributes: [...RECORD_ATTRIBUTES],
                runner: {},
                price: {},
                spotNote: null,
                problems: jsonata(`(
                    $d := $states.input.detail;
                    $j := $d.workflow_job;
                    $time := /^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$/;
                    $needsStart := $j.status = 'in_progress' or $j.status = 'completed';
                    [
                        $type($d.delivery) = 'string' and $d.delivery != '' ? () : 'detail.delivery (X-GitHub-Delivery) is missing',
                        $type($j) = 'object' ? () : 'detail.workflow_job is missing',
                        $type($j.id) = 'number' ? () : 'detail.workflow_job.id is missing or not a number',
                        $type($j.run_id) = 'number' ? () : 'detail.workflow_job.run_id is missing or not a number',
                        $exists($j.status) ? () : 'detail.workflow_job.status is missing',
                        $exists($j.status) and $not($exists($lookup(${JSON.stringify(STATUS_RANK)}, $j.status)))
                            ? 'detail.workflow_job.status must be one of ${Object.keys(STATUS_RANK).join(", ")}, got ' & $string($j.status) : (),
                        $type($j.labels) = 'array' ? () : 'detail.workflow_job.labels is missing or not a list',
                        $type($d.repository.full_name) = 'string' ? () : 'detail.repository.full_name is missing',
                        $type($d.repository.owner.login) = 'string' ? () : 'detail.repository.owner.login is missing',
                        $needsStart and $type($j.started_at) != 'string' ? 'detail.workflow_job.started_at is missing (status ' & $j.status & ')' : (),
                        $type($j.started_at) = 'string' and $not($contains($j.started_at, $time)) ? 'detail.workflow_job.started_at is not an ISO 8601 time' : (),
                        $j.status = 'completed' and $type($j.completed_at) != 'string' ? 'detail.workflow_job.completed_at is missing (status completed)' : (),
                        $type($j.completed_at) = 'string' and $not($contains($j.completed_at, $time)) ? 'detail.workflow_job.completed_at is not an ISO 8601 time' : ()
                    ]
                )`),
                job: jsonata(`(
                    $d := $states.input.detail;
                    $j := $d.workflow_job;
                    $text := function($v) { $type($v) = 'string' and $v != '' ? $v : () };
                    $labels := $type($j.labels) = 'array' ? $j.labels : [];
                    $runnerName := $text($j.runner_name);
                    {
                        "jobId": $type($j.id) = 'number' ? $string($j.id) : (),
                        "runId": $j.run_id,
                        "runAttempt": $type($j.run_attempt) = 'number' ? $j.run_attempt : (),
                        "jobName": $text($j.name),
                        "workflowName": $text($j.workflow_name),
                        "organisation": $text($d.organization.login) ? $d.organization.login : $d.repository.owner.login,
                        "repository": $d.repository.full_name,
                        "sender": $text($d.sender.login),
                        "status": $j.status,
                        "conclusion": $text($j.conclusion),
                        "createdAt": $text($j.created_at),
                        "startedAt": $text($j.started_at),
                        "completedAt": $text($j.completed_at),
                        "labels": $labels,
                        "runnerName": $runnerName,
                        "runnerGroupName": $text($j.runner_group_name),
                        "runnerKind": $exists($runnerName) ? ('self-hosted' in $labels ? 'self-hosted' : 'github-hosted') : 'none'
                    }
                )`),
            },
            Next: "Check",
        },
        Check: {
            Type: "Choice",
            Choices: [{ Condition: jsonata("$count($problems) > 0"), Next: "InvalidPayload" }],
            Default: "ReadJob",
        },
        InvalidPayload: {
            Type: "Fail",
            Error: "Chargeback.InvalidPayload",
            Cause: jsonata("'workflow_job delivery ' & ($delivery ? $delivery : '(no id)') & ': ' & $join($problems, '; ')"),
        },
        ReadJob: {
            Type: "Task",
            Resource: "arn:aws:states:::dynamodb:getItem",
            Arguments: { TableName: args.tableName, Key: key, ConsistentRead: true },
            TimeoutSeconds: 30,
            Retry: [DYNAMODB_RETRY],
            Assign: { item: jsonata("$exists($states.result.Item) ? $states.result.Item : null") },
            Next: "Decide",
        },
        Decide: {
            Type: "Choice",
            Choices: [
                { Condition: jsonata("$item != null and $exists($item.deliveries) and $delivery in $item.deliveries.SS"), Next: "Duplicate" },
                { Condition: jsonata("$item != null and $exists($item.statusRank) and $number($item.statusRank.N) >= $rank"), Next: "RecordStale" },
                {
                    Condition: jsonata("$job.runnerKind = 'self-hosted' and $item != null and $exists($item.instanceType) and $item.runnerName.S = $job.runnerName"),
                    Next: "ReuseInstance",
                },
                { Condition: jsonata("$job.runnerKind = 'self-hosted'"), Next: "FindInstance" },
            ],
            Default: "PriceOrApply",
        },
        ReuseInstance: {
            Type: "Pass",
            Comment: "An earlier event of this job found the runner's instance: an ephemeral runner's may be gone by now",
            Assign: {
                runner: jsonata(`{
                    "instanceId": $item.instanceId.S, "instanceType": $item.instanceType.S, "availabilityZone": $item.availabilityZone.S,
                    "instanceLifecycle": $item.instanceLifecycle.S, "spotInstanceRequestId": $item.spotInstanceRequestId.S,
                    "productDescription": $item.productDescription.S
                }`),
            },
            Next: "PriceOrApply",
        },
        FindInstance: {
            Type: "Task",
            Comment: "The runner's instance: by id when the runner is named after it, else by its name tag",
            Resource: "arn:aws:states:::aws-sdk:ec2:describeInstances",
            Arguments: {
                Filters: jsonata(
                    `[$contains($job.runnerName, /^i-[0-9a-f]{8,17}$/) ? { "Name": "instance-id", "Values": [$job.runnerName] } : { "Name": "tag:${args.runnerNameTag}", "Values": [$job.runnerName] }]`,
                ),
            },
            TimeoutSeconds: 30,
            Retry: [EC2_RETRY],
            Catch: [
                EC2_GIVE_UP,
                {
                    ErrorEquals: ["States.ALL"],
                    Assign: { runner: jsonata("{ 'runnerNote': 'DescribeInstances failed: ' & $states.errorOutput.Error & ': ' & $states.errorOutput.Cause }") },
                    Next: "PriceOrApply",
                },
            ],
            Assign: {
                runner: jsonata(`(
                    $i := ($states.result.Reservations.Instances)[0];
                    $i ? {
                        "instanceId": $i.InstanceId, "instanceType": $i.InstanceType, "availabilityZone": $i.Placement.AvailabilityZone,
                        "instanceLifecycle": $i.InstanceLifecycle ? $i.InstanceLifecycle : 'on-demand',
                        "spotInstanceRequestId": $i.SpotInstanceRequestId,
                        "productDescription": $i.PlatformDetails ? $i.PlatformDetails : 'Linux/UNIX'
                    } : { "runnerNote": 'no EC2 instance has the id or the ${args.runnerNameTag} tag ' & $job.runnerName }
                )`),
            },
            Next: "PriceOrApply",
        },
        PriceOrApply: {
            Type: "Choice",
            Choices: [
                { Condition: jsonata("$job.status != 'completed'"), Next: "Apply" },
                { Condition: jsonata("$job.runnerKind = 'none'"), Next: "NotRun" },
                { Condition: jsonata("$job.runnerKind = 'github-hosted'"), Next: "PriceHosted" },
                { Condition: jsonata("$runner.instanceLifecycle = 'spot'"), Next: "SpotPriceHistory" },
            ],
            Default: "PriceUnknown",
        },
        NotRun: {
            Type: "Pass",
            Assign: {
                price: jsonata(`(${RUN}
                    { "durationSeconds": $seconds, "billedSeconds": 0, "billedMinutes": 0, "billing": "none", "price": 0, "priceSource": "${PRICE_SOURCE.notRun}",
                      "priceNote": "no runner took the job", "cost": 0, "currency": "USD", "month": $month }
                )`),
            },
            Next: "Apply",
        },
        PriceHosted: {
            Type: "Pass",
            Comment: "GitHub bills its hosted runners per started minute, at the rate of the runner's label",
            Assign: {
                price: jsonata(`(${RUN}
                    $label := $filter($job.labels, function($l) { $exists($lookup($rates, $l)) })[0];
                    $minutes := $ceil($seconds / 60);
                    $rate := $label ? $lookup($rates, $label) : 0;
                    {
                        "durationSeconds": $seconds, "billedSeconds": $minutes * 60, "billedMinutes": $minutes, "billing": "per-started-minute",
                        "price": $rate, "priceUnit": "USD/minute",
                        "priceSource": $label ? "${PRICE_SOURCE.hostedRateTable}" : "${PRICE_SOURCE.unknown}",
                        "priceNote": $label ? 'rate of label ' & $label
                            : 'no rate in choreography:chargebackHostedRates for the labels ' & $join($job.labels, ', '),
                        "cost": $minutes * $rate, "currency": "USD", "month": $month
                    }
                )`),
            },
            Next: "Apply",
        },
        SpotPriceHistory: {
            Type: "Task",
            Comment: "The prices in effect during the run: the one at its start and every change until its end",
            Resource: "arn:aws:states:::aws-sdk:ec2:describeSpotPriceHistory",
            Arguments: {
                InstanceTypes: jsonata("[$runner.instanceType]"),
                AvailabilityZone: jsonata("$runner.availabilityZone"),
                ProductDescriptions: jsonata("[$runner.productDescription]"),
                StartTime: jsonata("$job.startedAt"),
                EndTime: jsonata("$job.completedAt"),
                MaxResults: 1000,
            },
            TimeoutSeconds: 30,
            Retry: [EC2_RETRY],
            Catch: [
                EC2_GIVE_UP,
                {
                    ErrorEquals: ["States.ALL"],
                    Assign: { history: [], spotNote: jsonata("'DescribeSpotPriceHistory failed: ' & $states.errorOutput.Error & ': ' & $states.errorOutput.Cause") },
                    Next: "HasHistory",
                },
            ],
            Assign: { history: jsonata("$append([], $states.result.SpotPriceHistory)") },
            Next: "HasHistory",
        },
        HasHistory: {
            Type: "Choice",
            Choices: [
                { Condition: jsonata("$count($history) > 0"), Next: "PriceSpotHistory" },
                { Condition: jsonata("$exists($runner.spotInstanceRequestId)"), Next: "SpotRequest" },
            ],
            Default: "PriceUnknown",
        },
        PriceSpotHistory: {
            Type: "Pass",
            Comment: "Each price weighted by the part of the run it was in effect for",
            Assign: {
                price: jsonata(`(${RUN}
                    $points := $sort($history, function($a, $b) { $toMillis($a.Timestamp) > $toMillis($b.Timestamp) });
                    $n := $count($points);
                    $spans := $map($points, function($p, $i) { (
                        $from := $max([$toMillis($p.Timestamp), $startMs]);
                        $to := $i < $n - 1 ? $min([$toMillis($points[$i + 1].Timestamp), $endMs]) : $endMs;
                        { "price": $number($p.SpotPrice), "ms": $to > $from ? $to - $from : 0 }
                    ) });
                    $covered := $sum($spans.ms);
                    $atStart := $points[$toMillis(Timestamp) <= $startMs];
                    $hourly := $covered > 0 ? $sum($spans.(price * ms)) / $covered
                        : $number(($count($atStart) > 0 ? $atStart[-1] : $points[0]).SpotPrice);
                    ${perSecond(
                        "$hourly",
                        `"${PRICE_SOURCE.spotPriceHistory}"`,
                        `'time-weighted over ' & $string($n) & ' Spot price(s) of ' & $runner.instanceType & ' in ' & $runner.availabilityZone & ' (' & $runner.productDescription & ')'`,
                        "$seconds / 3600 * $hourly",
                    )}
                )`),
            },
            Next: "Apply",
        },
        SpotRequest: {
            Type: "Task",
            Resource: "arn:aws:states:::aws-sdk:ec2:describeSpotInstanceRequests",
            Arguments: { SpotInstanceRequestIds: jsonata("[$runner.spotInstanceRequestId]") },
            TimeoutSeconds: 30,
            Retry: [EC2_RETRY],
            Catch: [
                EC2_GIVE_UP,
                {
                    ErrorEquals: ["States.ALL"],
                    Assign: { spotNote: jsonata("'no Spot price history for the run, and DescribeSpotInstanceRequests failed: ' & $states.errorOutput.Error & ': ' & $states.errorOutput.Cause") },
                    Next: "PriceUnknown",
                },
            ],
            Assign: { request: jsonata("($states.result.SpotInstanceRequests)[0]") },
            Next: "HasRequestPrice",
        },
        HasRequestPrice: {
            Type: "Choice",
            Choices: [{ Condition: jsonata("$exists($request.SpotPrice)"), Next: "PriceSpotRequest" }],
            Default: "PriceUnknown",
        },
        PriceSpotRequest: {
            Type: "Pass",
            Comment: "The request's SpotPrice is the most it would pay, not what it paid: an upper bound, and the record says so",
            Assign: {
                price: jsonata(`(${RUN}
                    $hourly := $number($request.SpotPrice);
                    ${perSecond(
                        "$hourly",
                        `"${PRICE_SOURCE.spotRequestMaxPrice}"`,
                        `'no Spot price history of ' & $runner.instanceType & ' in ' & $runner.availabilityZone & ' for the run: priced at the maximum price of Spot request ' & $runner.spotInstanceRequestId & ', an upper bound'`,
                        "$seconds / 3600 * $hourly",
                    )}
                )`),
            },
            Next: "Apply",
        },
        PriceUnknown: {
            Type: "Pass",
            Assign: {
                price: jsonata(`(${RUN}
                    $note := $runner.runnerNote ? $runner.runnerNote
                        : $spotNote ? $spotNote
                        : $runner.instanceLifecycle and $runner.instanceLifecycle != 'spot'
                            ? 'instance ' & $runner.instanceId & ' is ' & $runner.instanceLifecycle & ': only Spot and GitHub-hosted runners are priced'
                        : 'no Spot price history for the run and no Spot request price';
                    { "durationSeconds": $seconds, "billedSeconds": $seconds, "billedMinutes": $seconds / 60, "billing": "per-second",
                      "priceSource": "${PRICE_SOURCE.unknown}", "priceNote": $note, "cost": 0, "currency": "USD", "month": $month }
                )`),
            },
            Next: "Apply",
        },
        Apply: {
            Type: "Task",
            Comment: "One conditional write: only a higher status than the record's, only a delivery not yet applied",
            Resource: "arn:aws:states:::dynamodb:updateItem",
            Arguments: jsonata(`(
                $fields := $sift($merge([$job, $runner, $price, { "statusRank": $rank }]), function($v, $k) { $k != 'jobId' and $v != null });
                $names := $keys($fields);
                $absent := $filter($attributes, function($a) { $not($a in $names) });
                $value := function($v) {
                    $type($v) = 'number' ? { "N": $string($v) }
                    : $type($v) = 'array' ? { "L": [$map($v, function($x) { { "S": $string($x) } })] }
                    : $type($v) = 'boolean' ? { "BOOL": $v }
                    : { "S": $string($v) }
                };
                {
                    "TableName": "${args.tableName}",
                    "Key": { "jobId": { "S": $job.jobId } },
                    "UpdateExpression": 'SET ' & $join($map($names, function($n, $i) { '#a' & $i & ' = :a' & $i }), ', ')
                        & ($count($absent) > 0 ? ' REMOVE ' & $join($map($absent, function($n, $i) { '#r' & $i }), ', ') : '')
                        & ' ADD #deliveries :delivery',
                    "ConditionExpression": '(attribute_not_exists(#rank) OR #rank < :rank) AND NOT contains(#deliveries, :deliveryId)',
                    "ExpressionAttributeNames": $merge([
                        $map($names, function($n, $i) { { '#a' & $i: $n } }),
                        $map($absent, function($n, $i) { { '#r' & $i: $n } }),
                        { "#deliveries": "deliveries", "#rank": "statusRank" }
                    ]),
                    "ExpressionAttributeValues": $merge([
                        $map($names, function($n, $i) { { ':a' & $i: $value($lookup($fields, $n)) } }),
                        { ":delivery": { "SS": [$delivery] }, ":deliveryId": { "S": $delivery }, ":rank": { "N": $string($rank) } }
                    ])
                }
            )`),
            TimeoutSeconds: 30,
            Retry: [DYNAMODB_RETRY],
            Catch: [{ ErrorEquals: ["DynamoDB.ConditionalCheckFailedException"], Next: "RecordStale" }],
            Output: jsonata(`{ "jobId": $job.jobId, "delivery": $delivery, "status": $job.status, "applied": true, "priceSource": $price.priceSource, "cost": $price.cost }`),
            End: true,
        },
        RecordStale: {
            Type: "Task",
            Comment: "A status the record already has or passed: only the delivery's id is kept, so a repeat is known as one",
            Resource: "arn:aws:states:::dynamodb:updateItem",
            Arguments: {
                TableName: args.tableName,
                Key: key,
                UpdateExpression: "ADD #deliveries :delivery",
                ConditionExpression: "attribute_exists(jobId) AND NOT contains(#deliveries, :deliveryId)",
                ExpressionAttributeNames: { "#deliveries": "deliveries" },
                ExpressionAttributeValues: { ":delivery": { SS: jsonata("[$delivery]") }, ":deliveryId": { S: jsonata("$delivery") } },
            },
            TimeoutSeconds: 30,
            Retry: [DYNAMODB_RETRY],
            Catch: [{ ErrorEquals: ["DynamoDB.ConditionalCheckFailedException"], Next: "Duplicate" }],
            Output: jsonata(`{ "jobId": $job.jobId, "delivery": $delivery, "status": $job.status, "applied": false, "reason": "stale" }`),
            End: true,
        },
        Duplicate: {
            Type: "Succeed",
            Output: jsonata(`{ "jobId": $job.jobId, "delivery": $delivery, "status": $job.status, "applied": false, "reason": "duplicate" }`),
        },
        GiveUp: {
            Type: "Fail",
            Comment: "A transient error that outlasted its retries",
            Error: jsonata("$states.input.Error"),
            Cause: jsonata("$states.input.Cause"),
        },
    };
    return {
        Comment: "GitHub Actions chargeback: one workflow_job delivery into its job's record, priced on completion; no Lambda.",
        QueryLanguage: "JSONata",
        StartAt: "Normalise",
        TimeoutSeconds: args.executionTimeoutSeconds,
        States: states,
    } as AslDefinition & { QueryLanguage: "JSONata" };
}
