import assert from "node:assert/strict";
import {
    EventPattern,
    InvalidEventPatternError,
    WILDCARD_COMPLEXITY_LIMIT,
    matchesEventPattern,
    parseEventPattern,
    wildcardComplexity,
} from "../local/services/events/eventPattern";

/**
 * Cases taken from AWS's EventBridge user guide (each group cites its page), plus a few edge cases from
 * aws/event-ruler's README, the engine EventBridge runs on, where the guide is silent.
 */

interface MatchCase {
    readonly name: string;
    readonly pattern: EventPattern | string;
    readonly event: Record<string, unknown>;
    readonly expected: boolean;
}

/** The EC2 state-change event used throughout "Creating event patterns". */
const ec2Event = {
    version: "0",
    id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    source: "aws.ec2",
    account: "111122223333",
    time: "2017-12-22T18:43:48Z",
    region: "us-west-1",
    resources: ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    detail: { "instance-id": "i-1234567890abcdef0", state: "terminated" },
};

/** The EC2 envelope with another `detail`. */
function withDetail(detail: Record<string, unknown>): Record<string, unknown> {
    return { ...ec2Event, detail };
}

/** A case whose pattern only looks at `detail`. */
function detailCase(name: string, detailPattern: EventPattern, detail: Record<string, unknown>, expected: boolean): MatchCase {
    return { name, pattern: { detail: detailPattern }, event: withDetail(detail), expected };
}

const cases: MatchCase[] = [
    // Creating event patterns / Match values:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
    {
        name: "doc example: source, detail-type and detail.state all match",
        pattern: {
            source: ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            detail: { state: ["terminated"] },
        },
        event: ec2Event,
        expected: true,
    },
    {
        name: "doc example: a different state does not match",
        pattern: { source: ["aws.ec2"], detail: { state: ["terminated"] } },
        event: withDetail({ state: "running" }),
        expected: false,
    },
    {
        name: "values in the array are ORed (aws.fargate)",
        pattern: { source: ["aws.ec2", "aws.fargate"] },
        event: { ...ec2Event, source: "aws.fargate" },
        expected: true,
    },
    {
        name: "a source outside the array does not match",
        pattern: { source: ["aws.ec2", "aws.fargate"] },
        event: { ...ec2Event, source: "aws.s3" },
        expected: false,
    },
    {
        name: "the event must contain every field named in the pattern",
        pattern: { source: ["aws.ec2"], detail: { "instance-type": ["t3.micro"] } },
        event: ec2Event,
        expected: false,
    },
    {
        name: "fields must appear with the same nesting (state is under detail, not top level)",
        pattern: { state: ["terminated"] },
        event: ec2Event,
        expected: false,
    },
    {
        name: "string matching is exact, without case folding",
        pattern: { source: ["AWS.EC2"] },
        event: ec2Event,
        expected: false,
    },
    {
        name: "top-level account and region fields",
        pattern: { account: ["111122223333"], region: ["us-west-1"] },
        event: ec2Event,
        expected: true,
    },
    {
        name: "top-level region mismatch",
        pattern: { account: ["111122223333"], region: ["us-east-1"] },
        event: ec2Event,
        expected: false,
    },
    {
        name: "top-level time and id fields",
        pattern: { time: ["2017-12-22T18:43:48Z"], id: ["6a7e8feb-b491-4cf7-a9f1-bf3703467718"] },
        event: ec2Event,
        expected: true,
    },
    detailCase("Macie example: risk-score 80 and trigger.risk 8", { "risk-score": [80], trigger: { risk: [8] } },
        { "risk-score": 80, trigger: { "alert-type": "basic", risk: 8 } }, true),
    detailCase("Macie example: trigger.risk 9 does not match", { "risk-score": [80], trigger: { risk: [8] } },
        { "risk-score": 80, trigger: { risk: 9 } }, false),
    detailCase("a pattern number does not match the string \"5\"", { count: [5] }, { count: "5" }, false),
    detailCase("a pattern string \"5\" does not match the number 5", { count: ["5"] }, { count: 5 }, false),
    detailCase("a pattern number matches the same JSON number", { count: [5] }, { count: 5 }, true),
    detailCase("true matches the JSON keyword true", { enabled: [true] }, { enabled: true }, true),
    detailCase("true does not match the string \"true\"", { enabled: [true] }, { enabled: "true" }, false),
    detailCase("a nested pattern does not match a scalar value", { state: { name: ["running"] } }, { state: "running" }, false),

    // Null values and empty strings:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
    detailCase("empty string matches an empty string", { eventVersion: [""] }, { eventVersion: "", responseElements: null }, true),
    detailCase("null matches null", { responseElements: [null] }, { eventVersion: "", responseElements: null }, true),
    detailCase("empty string does not match null", { responseElements: [""] }, { responseElements: null }, false),
    detailCase("null does not match an empty string", { eventVersion: [null] }, { eventVersion: "" }, false),
    detailCase("null does not match a missing field", { responseElements: [null] }, { eventVersion: "" }, false),

    // Arrays in event patterns:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
    {
        name: "doc example: an event array matches when the intersection is non-empty",
        pattern: {
            resources: [
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
            ],
        },
        event: {
            ...ec2Event,
            resources: [
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ],
        },
        expected: true,
    },
    {
        name: "an event array with an empty intersection does not match",
        pattern: { resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"] },
        event: ec2Event,
        expected: false,
    },
    {
        name: "an empty event array matches no value",
        pattern: { resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"] },
        event: { ...ec2Event, resources: [] },
        expected: false,
    },
    // event-ruler README, "JSON Array Matching": arrays of objects are crushed, but fields must come
    // from the same array element.
    detailCase("array of objects: a field of one element matches", { employees: { firstName: ["Anna"] } },
        { employees: [{ firstName: "John", lastName: "Doe" }, { firstName: "Anna", lastName: "Smith" }] }, true),
    detailCase("array of objects: fields from different elements do not combine",
        { employees: { firstName: ["Anna"], lastName: ["Jones"] } },
        { employees: [{ firstName: "Anna", lastName: "Smith" }, { firstName: "Peter", lastName: "Jones" }] }, false),
    detailCase("array of objects: fields from the same element match",
        { employees: { firstName: ["Peter"], lastName: ["Jones"] } },
        { employees: [[{ firstName: "Anna", lastName: "Smith" }], [{ firstName: "Peter", lastName: "Jones" }]] }, true),

    // Comparison operators / content filtering - prefix and suffix:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
    {
        name: "prefix: time starts with 2017-10-02",
        pattern: { time: [{ prefix: "2017-10-02" }] },
        event: { ...ec2Event, time: "2017-10-02T18:43:48Z" },
        expected: true,
    },
    {
        name: "prefix: another day does not match",
        pattern: { time: [{ prefix: "2017-10-02" }] },
        event: ec2Event,
        expected: false,
    },
    detailCase("prefix: only string values (a number never matches)", { year: [{ prefix: "20" }] }, { year: 2017 }, false),
    detailCase("prefix: case-sensitive without equals-ignore-case", { Region: [{ prefix: "us-" }] }, { Region: "US-EAST-1" }, false),
    detailCase("prefix equals-ignore-case: EventB matches eventbridge", { service: [{ prefix: { "equals-ignore-case": "EventB" } }] },
        { service: "eventbridge" }, true),
    detailCase("prefix equals-ignore-case: Lambda does not match", { service: [{ prefix: { "equals-ignore-case": "EventB" } }] },
        { service: "Lambda" }, false),
    detailCase("suffix: FileName ends with .png", { FileName: [{ suffix: ".png" }] }, { FileName: "image.png" }, true),
    detailCase("suffix: .jpg does not match .png", { FileName: [{ suffix: ".png" }] }, { FileName: "image.jpg" }, false),
    detailCase("suffix: case-sensitive without equals-ignore-case", { FileName: [{ suffix: ".png" }] }, { FileName: "IMAGE.PNG" }, false),
    detailCase("suffix equals-ignore-case: .PNG matches .png", { FileName: [{ suffix: { "equals-ignore-case": ".png" } }] },
        { FileName: "IMAGE.PNG" }, true),
    detailCase("suffix equals-ignore-case: tBridge matches EVENTBRIDGE", { service: [{ suffix: { "equals-ignore-case": "tBridge" } }] },
        { service: "EVENTBRIDGE" }, true),
    detailCase("suffix equals-ignore-case: .jpg does not match", { FileName: [{ suffix: { "equals-ignore-case": ".png" } }] },
        { FileName: "image.jpg" }, false),

    // Comparison operators - anything-but (string, number, lists, prefix, suffix, ignore case, wildcard):
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    detailCase("anything-but string: running is not initializing", { state: [{ "anything-but": "initializing" }] },
        { state: "running" }, true),
    detailCase("anything-but string: initializing is excluded", { state: [{ "anything-but": "initializing" }] },
        { state: "initializing" }, false),
    detailCase("anything-but number: 456 is not 123", { "x-limit": [{ "anything-but": 123 }] }, { "x-limit": 456 }, true),
    detailCase("anything-but number: 123 is excluded", { "x-limit": [{ "anything-but": 123 }] }, { "x-limit": 123 }, false),
    detailCase("anything-but string list: stopped is excluded", { state: [{ "anything-but": ["stopped", "overloaded"] }] },
        { state: "stopped" }, false),
    detailCase("anything-but string list: running is not in the list", { state: [{ "anything-but": ["stopped", "overloaded"] }] },
        { state: "running" }, true),
    detailCase("anything-but number list: 200 is excluded", { "x-limit": [{ "anything-but": [100, 200, 300] }] },
        { "x-limit": 200 }, false),
    detailCase("anything-but number list: 150 is not in the list", { "x-limit": [{ "anything-but": [100, 200, 300] }] },
        { "x-limit": 150 }, true),
    detailCase("anything-but does not match a missing field", { state: [{ "anything-but": "initializing" }] },
        { "instance-id": "i-1" }, false),
    detailCase("anything-but on an event array: matches when some element is not excluded",
        { price: [{ "anything-but": [100, 500] }] }, { price: [100, 50] }, true),
    detailCase("anything-but on an event array: every element excluded", { price: [{ "anything-but": [100, 500] }] },
        { price: [100, 500] }, false),
    detailCase("anything-but prefix: initializing starts with init", { state: [{ "anything-but": { prefix: "init" } }] },
        { state: "initializing" }, false),
    detailCase("anything-but prefix: running does not start with init", { state: [{ "anything-but": { prefix: "init" } }] },
        { state: "running" }, true),
    detailCase("anything-but prefix: Region is not in the US", { Region: [{ "anything-but": { prefix: "us-" } }] },
        { Region: "eu-west-1" }, true),
    detailCase("anything-but suffix: a .png file is excluded", { FileName: [{ "anything-but": { suffix: ".png" } }] },
        { FileName: "photo.png" }, false),
    detailCase("anything-but suffix: a .txt file matches", { FileName: [{ "anything-but": { suffix: ".png" } }] },
        { FileName: "notes.txt" }, true),
    detailCase("anything-but equals-ignore-case: INITIALIZING is excluded",
        { state: [{ "anything-but": { "equals-ignore-case": "initializing" } }] }, { state: "INITIALIZING" }, false),
    detailCase("anything-but equals-ignore-case: running matches",
        { state: [{ "anything-but": { "equals-ignore-case": "initializing" } }] }, { state: "running" }, true),
    detailCase("anything-but equals-ignore-case list: Stopped is excluded",
        { state: [{ "anything-but": { "equals-ignore-case": ["initializing", "stopped"] } }] }, { state: "Stopped" }, false),
    detailCase("anything-but wildcard: a path including /lib/ is excluded",
        { FilePath: [{ "anything-but": { wildcard: "*/lib/*" } }] }, { FilePath: "/usr/lib/libc.so" }, false),
    detailCase("anything-but wildcard: a path without /lib/ matches",
        { FilePath: [{ "anything-but": { wildcard: "*/lib/*" } }] }, { FilePath: "/usr/bin/ls" }, true),

    // Comparison operators - numeric ("works with values that are JSON numbers"):
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
    detailCase("numeric > 0, <= 5: 5 is inside", { "c-count": [{ numeric: [">", 0, "<=", 5] }] }, { "c-count": 5 }, true),
    detailCase("numeric > 0, <= 5: 0 is outside (exclusive bottom)", { "c-count": [{ numeric: [">", 0, "<=", 5] }] },
        { "c-count": 0 }, false),
    detailCase("numeric > 0, <= 5: 6 is outside", { "c-count": [{ numeric: [">", 0, "<=", 5] }] }, { "c-count": 6 }, false),
    detailCase("numeric < 10: 9.5 matches", { "d-count": [{ numeric: ["<", 10] }] }, { "d-count": 9.5 }, true),
    detailCase("numeric < 10: 10 does not", { "d-count": [{ numeric: ["<", 10] }] }, { "d-count": 10 }, false),
    detailCase("numeric = 3.018e2 matches 301.8", { "x-limit": [{ numeric: ["=", 3.018e2] }] }, { "x-limit": 301.8 }, true),
    detailCase("numeric = 3.018e2 does not match 301.9", { "x-limit": [{ numeric: ["=", 3.018e2] }] }, { "x-limit": 301.9 }, false),
    detailCase("numeric >= 10: the bound itself matches", { Price: [{ numeric: [">=", 10, "<", 20] }] }, { Price: 10 }, true),
    detailCase("numeric: a numeric string does not match", { "c-count": [{ numeric: [">", 0] }] }, { "c-count": "5" }, false),
    detailCase("numeric: a missing field does not match", { "c-count": [{ numeric: [">", 0] }] }, { "d-count": 1 }, false),
    detailCase("numeric: any element of an event array", { sizes: [{ numeric: [">", 10] }] }, { sizes: [1, 20] }, true),
    detailCase("numeric: negative values", { temp: [{ numeric: ["<", 0] }] }, { temp: -3.5 }, true),

    // Comparison operators - equals-ignore-case:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    detailCase("equals-ignore-case: ALICE matches alice", { Name: [{ "equals-ignore-case": "alice" }] }, { Name: "ALICE" }, true),
    detailCase("equals-ignore-case: Alicia does not", { Name: [{ "equals-ignore-case": "alice" }] }, { Name: "Alicia" }, false),
    detailCase("equals-ignore-case: only string values", { Code: [{ "equals-ignore-case": "5" }] }, { Code: 5 }, false),

    // Content filtering - IP address matching (IPv4 and IPv6):
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
    detailCase("cidr 10.0.0.0/24 contains 10.0.0.255", { sourceIPAddress: [{ cidr: "10.0.0.0/24" }] },
        { sourceIPAddress: "10.0.0.255" }, true),
    detailCase("cidr 10.0.0.0/24 does not contain 10.0.1.1", { sourceIPAddress: [{ cidr: "10.0.0.0/24" }] },
        { sourceIPAddress: "10.0.1.1" }, false),
    detailCase("cidr: a non-IP string does not match", { sourceIPAddress: [{ cidr: "10.0.0.0/8" }] },
        { sourceIPAddress: "example.com" }, false),
    detailCase("cidr IPv6 2001:db8::/32 contains 2001:db8:1234::1", { sourceIPAddress: [{ cidr: "2001:db8::/32" }] },
        { sourceIPAddress: "2001:db8:1234::1" }, true),
    detailCase("cidr IPv6 2001:db8::/32 does not contain 2001:db9::1", { sourceIPAddress: [{ cidr: "2001:db8::/32" }] },
        { sourceIPAddress: "2001:db9::1" }, false),
    detailCase("cidr IPv4 range does not match an IPv6 address", { sourceIPAddress: [{ cidr: "0.0.0.0/0" }] },
        { sourceIPAddress: "::1" }, false),

    // Content filtering - exists matching ("only works on leaf nodes"):
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
    detailCase("exists true: detail.state is present", { state: [{ exists: true }] }, { "instance-id": "i-abcd1111", state: "pending" }, true),
    detailCase("exists true: a missing field", { state: [{ exists: true }] }, { "c-count": { c1: 100 } }, false),
    detailCase("exists false: a missing field", { "c-count": [{ exists: false }] }, { state: ["initializing", "running"] }, true),
    detailCase("exists false: a present field", { "c-count": [{ exists: false }] }, { "c-count": 3 }, false),
    detailCase("exists false: c-count is an object, not a leaf", { "c-count": [{ exists: false }] },
        { state: "running", "c-count": { c1: 100 } }, true),
    detailCase("exists true: an object is not a leaf", { "c-count": [{ exists: true }] }, { "c-count": { c1: 100 } }, false),
    detailCase("exists true: a null value is present", { responseElements: [{ exists: true }] }, { responseElements: null }, true),
    {
        name: "exists false: holds when the parent object is missing",
        pattern: { detail: { "c-count": [{ exists: false }] } },
        event: { ...ec2Event, detail: undefined },
        expected: true,
    },
    detailCase("exists false ORed with a value", { state: [{ exists: false }, "running"] }, { state: "running" }, true),

    // Comparison operators - wildcard:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    detailCase("wildcard dir/*.png matches dir/a.png", { FileName: [{ wildcard: "dir/*.png" }] }, { FileName: "dir/a.png" }, true),
    detailCase("wildcard dir/*.png does not match dir/a.jpg", { FileName: [{ wildcard: "dir/*.png" }] }, { FileName: "dir/a.jpg" }, false),
    detailCase("wildcard is anchored at both ends", { FileName: [{ wildcard: "dir/*.png" }] }, { FileName: "old/dir/a.png.bak" }, false),
    detailCase("wildcard * matches zero characters", { FileName: [{ wildcard: "dir/*.png" }] }, { FileName: "dir/.png" }, true),
    detailCase("wildcard with several *: event bus ARN in any account",
        { EventBusArn: [{ wildcard: "arn:aws:events:us-east-1:*:event-bus/*" }] },
        { EventBusArn: "arn:aws:events:us-east-1:123456789012:event-bus/default" }, true),
    detailCase("wildcard \\* is a literal asterisk", { Name: [{ wildcard: "a\\*b" }] }, { Name: "a*b" }, true),
    detailCase("wildcard \\* does not match other characters", { Name: [{ wildcard: "a\\*b" }] }, { Name: "axb" }, false),
    detailCase("wildcard \\\\ is a literal backslash", { Path: [{ wildcard: "C:\\\\*" }] }, { Path: "C:\\Windows" }, true),
    detailCase("wildcard: regex metacharacters are literal", { Name: [{ wildcard: "v1.*(beta)" }] }, { Name: "v1x2(beta)" }, false),
    detailCase("wildcard: only string values", { Code: [{ wildcard: "1*" }] }, { Code: 12 }, false),

    // Comparison operators - $or (Or, multiple fields), at any level:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    detailCase("$or: Location is New York or Day is Monday (Day matches)",
        { $or: [{ Location: ["New York"] }, { Day: ["Monday"] }] }, { Location: "Boston", Day: "Monday" }, true),
    detailCase("$or: neither branch matches",
        { $or: [{ Location: ["New York"] }, { Day: ["Monday"] }] }, { Location: "Boston", Day: "Friday" }, false),
    detailCase("$or with numeric branches (c-count, d-count, x-limit)",
        {
            $or: [
                { "c-count": [{ numeric: [">", 0, "<=", 5] }] },
                { "d-count": [{ numeric: ["<", 10] }] },
                { "x-limit": [{ numeric: ["=", 3.018e2] }] },
            ],
        },
        { "c-count": 50, "d-count": 50, "x-limit": 301.8 }, true),
    {
        name: "$or at top level is ANDed with sibling fields",
        pattern: { source: ["aws.cloudwatch"], $or: [{ detail: { state: ["terminated"] } }, { region: ["us-west-1"] }] },
        event: ec2Event,
        expected: false,
    },
    {
        name: "$or at top level across source and detail-type",
        pattern: { $or: [{ source: ["aws.s3"] }, { "detail-type": ["EC2 Instance State-change Notification"] }] },
        event: ec2Event,
        expected: true,
    },
    detailCase("nested $or inside a $or branch (event-ruler README)",
        {
            $or: [
                { metricName: ["CPUUtilization"] },
                { namespace: ["AWS/EC2"], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
            ],
        },
        { metricName: "ReadLatency", namespace: "AWS/EC2", spaceId: 1000 }, true),
    detailCase("nested $or: the inner $or fails",
        {
            $or: [
                { metricName: ["CPUUtilization"] },
                { namespace: ["AWS/EC2"], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
            ],
        },
        { metricName: "ReadLatency", namespace: "AWS/EC2", spaceId: 2000 }, false),

    // Content filtering - complex example combining several operators, and duplicate keys:
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
    {
        name: "complex example: all conditions hold",
        pattern: {
            time: [{ prefix: "2017-10-02" }],
            detail: {
                state: [{ "anything-but": "initializing" }],
                "c-count": [{ numeric: [">", 0, "<=", 5] }],
                "d-count": [{ numeric: ["<", 10] }],
                "x-limit": [{ "anything-but": [100, 200, 300] }],
            },
        },
        event: {
            ...ec2Event,
            time: "2017-10-02T16:24:49Z",
            detail: { state: "running", "c-count": 5, "d-count": 3, "x-limit": 301.8 },
        },
        expected: true,
    },
    {
        name: "complex example: state initializing fails the whole pattern",
        pattern: {
            time: [{ prefix: "2017-10-02" }],
            detail: { state: [{ "anything-but": "initializing" }], "c-count": [{ numeric: [">", 0, "<=", 5] }] },
        },
        event: { ...ec2Event, time: "2017-10-02T16:24:49Z", detail: { state: "initializing", "c-count": 5 } },
        expected: false,
    },
    {
        name: "a key given twice: only the last one is used",
        pattern: '{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}',
        event: withDetail({ location: "eu-west" }),
        expected: true,
    },
    {
        name: "mixed operators in one array are ORed",
        pattern: { detail: { state: ["pending", { prefix: "term" }, { numeric: [">", 5] }] } },
        event: ec2Event,
        expected: true,
    },
];

interface InvalidCase {
    readonly name: string;
    readonly pattern: string | EventPattern;
    /** Fragments the message must contain: the offending key/path and the problem. */
    readonly mentions: readonly string[];
}

// Validation: what PutRule answers InvalidEventPatternException to. Message wording follows event-ruler
// (JsonRuleCompiler), which EventBridge surfaces as "Event pattern is not valid. Reason: ...".
const invalidCases: InvalidCase[] = [
    { name: "not JSON", pattern: '{"source": ["aws.ec2"]', mentions: ["JSON"] },
    { name: "not an object", pattern: '["aws.ec2"]', mentions: ["Filter is not an object"] },
    { name: "empty pattern", pattern: "{}", mentions: ["Empty objects are not allowed"] },
    { name: "leaf value not in an array", pattern: { source: "aws.ec2" }, mentions: ['"source" must be an object or an array'] },
    { name: "leaf value null", pattern: { detail: { state: null } }, mentions: ["detail.state", '"state" must be an object or an array'] },
    { name: "empty nested object", pattern: { detail: {} }, mentions: ["detail", "Empty objects"] },
    { name: "empty value array", pattern: { source: [] }, mentions: ["source", "Empty arrays"] },
    { name: "nested array value", pattern: { source: [["aws.ec2"]] }, mentions: ["source", "Match value must be"] },
    { name: "unknown operator", pattern: { detail: { type: [{ contains: "Normal" }] } }, mentions: ["detail.type", "Unrecognized match type contains"] },
    { name: "empty match expression", pattern: { source: [{}] }, mentions: ["source", "Match expression name not found"] },
    { name: "two operators in one expression", pattern: { source: [{ prefix: "a", suffix: "b" }] }, mentions: ["source", "Only one key", "prefix", "suffix"] },
    { name: "prefix not a string", pattern: { source: [{ prefix: 5 }] }, mentions: ["source", "prefix match pattern must be a string"] },
    { name: "prefix with an unsupported object", pattern: { source: [{ prefix: { wildcard: "a*" } }] }, mentions: ["source", "Unsupported prefix pattern: wildcard"] },
    { name: "suffix equals-ignore-case not a string", pattern: { source: [{ suffix: { "equals-ignore-case": 1 } }] }, mentions: ["source", "equals-ignore-case match pattern must be a string"] },
    { name: "equals-ignore-case not a string", pattern: { Name: [{ "equals-ignore-case": ["alice"] }] }, mentions: ["Name", "equals-ignore-case"] },
    { name: "numeric not an array", pattern: { detail: { n: [{ numeric: 5 }] } }, mentions: ["detail.n", "Value of numeric must be an array"] },
    { name: "numeric empty", pattern: { detail: { n: [{ numeric: [] }] } }, mentions: ["detail.n", "Invalid member in numeric match"] },
    { name: "numeric unknown operator", pattern: { detail: { n: [{ numeric: ["~", 1] }] } }, mentions: ["detail.n", "Unrecognized numeric range operator: ~"] },
    { name: "numeric missing operand", pattern: { detail: { n: [{ numeric: [">"] }] } }, mentions: ["detail.n", "Value of > must be numeric"] },
    { name: "numeric string operand", pattern: { detail: { n: [{ numeric: [">=", "1"] }] } }, mentions: ["detail.n", "Value of >= must be numeric"] },
    { name: "numeric upper bound first", pattern: { detail: { n: [{ numeric: ["<", 10, ">", 0] }] } }, mentions: ["detail.n", "Too many elements"] },
    { name: "numeric = with a range", pattern: { detail: { n: [{ numeric: ["=", 1, "<", 2] }] } }, mentions: ["detail.n", "Too many elements"] },
    { name: "numeric two lower bounds", pattern: { detail: { n: [{ numeric: [">", 0, ">", 5] }] } }, mentions: ["detail.n", "Bad numeric range operator"] },
    { name: "numeric five terms", pattern: { detail: { n: [{ numeric: [">", 0, "<", 5, 6] }] } }, mentions: ["detail.n", "Too many terms"] },
    { name: "numeric empty range", pattern: { detail: { n: [{ numeric: [">", 5, "<", 1] }] } }, mentions: ["detail.n", "Bottom must be less than top"] },
    { name: "numeric out of range", pattern: { detail: { n: [{ numeric: [">", 1e10] }] } }, mentions: ["detail.n", "Value must be between"] },
    { name: "numeric too many decimals", pattern: { detail: { n: [{ numeric: ["=", 0.1234567] }] } }, mentions: ["detail.n", "6 decimals"] },
    { name: "exists not boolean", pattern: { detail: { state: [{ exists: "true" }] } }, mentions: ["detail.state", "exists match pattern must be either true or false"] },
    { name: "exists number", pattern: { detail: { state: [{ exists: 1 }] } }, mentions: ["detail.state", "exists"] },
    { name: "anything-but null", pattern: { state: [{ "anything-but": null }] }, mentions: ["state", "Value of anything-but must be"] },
    { name: "anything-but boolean list", pattern: { state: [{ "anything-but": [true] }] }, mentions: ["state", "start|null|boolean is not supported"] },
    { name: "anything-but mixed list", pattern: { state: [{ "anything-but": ["a", 1] }] }, mentions: ["state", "mixed type is not supported"] },
    { name: "anything-but empty list", pattern: { state: [{ "anything-but": [] }] }, mentions: ["state", "anything but list"] },
    { name: "anything-but unsupported object", pattern: { state: [{ "anything-but": { contains: "x" } }] }, mentions: ["state", "Unsupported anything-but pattern: contains"] },
    { name: "anything-but empty prefix", pattern: { state: [{ "anything-but": { prefix: "" } }] }, mentions: ["state", "Null prefix/suffix not allowed"] },
    { name: "anything-but prefix number", pattern: { state: [{ "anything-but": { prefix: 1 } }] }, mentions: ["state", "anything-but prefix match pattern must be a string"] },
    { name: "anything-but number out of range", pattern: { n: [{ "anything-but": 6e9 }] }, mentions: ["n", "Value must be between"] },
    { name: "anything-but invalid wildcard", pattern: { p: [{ "anything-but": { wildcard: "a**" } }] }, mentions: ["p", "Consecutive wildcard characters"] },
    { name: "wildcard consecutive *", pattern: { FileName: [{ wildcard: "dir/**.png" }] }, mentions: ["FileName", "Consecutive wildcard characters"] },
    { name: "wildcard invalid escape", pattern: { FileName: [{ wildcard: "dir\\.png" }] }, mentions: ["FileName", "Invalid escape character"] },
    { name: "wildcard trailing backslash", pattern: { FileName: [{ wildcard: "dir\\" }] }, mentions: ["FileName", "Invalid escape character"] },
    { name: "wildcard not a string", pattern: { FileName: [{ wildcard: 5 }] }, mentions: ["FileName", "wildcard match pattern must be a string"] },
    { name: "cidr without mask", pattern: { ip: [{ cidr: "10.0.0.0" }] }, mentions: ["ip", "Malformed CIDR"] },
    { name: "cidr mask too long", pattern: { ip: [{ cidr: "10.0.0.0/33" }] }, mentions: ["ip", "mask bits"] },
    { name: "cidr mask not a number", pattern: { ip: [{ cidr: "10.0.0.0/x" }] }, mentions: ["ip", "mask bits must be an integer"] },
    { name: "cidr bad address", pattern: { ip: [{ cidr: "300.0.0.0/8" }] }, mentions: ["ip", "Invalid IP address: 300.0.0.0"] },
    { name: "cidr not a string", pattern: { ip: [{ cidr: ["10.0.0.0/8"] }] }, mentions: ["ip", "cidr match pattern must be a string"] },
    { name: "$or not an array", pattern: { $or: { source: ["aws.ec2"] } }, mentions: ["$or", "It must be an Array"] },
    { name: "$or with one branch", pattern: { detail: { $or: [{ state: ["x"] }] } }, mentions: ["detail.$or", "at least 2 Objects"] },
    { name: "$or with a non-object branch", pattern: { $or: [{ source: ["a"] }, ["b"]] }, mentions: ["$or[1]", "Only JSON object"] },
    { name: "$or branch using an operator as a field", pattern: { $or: [{ prefix: ["a"] }, { source: ["b"] }] }, mentions: ["$or[0].prefix", "reserved"] },
    { name: "$or branch with an invalid leaf", pattern: { detail: { $or: [{ a: ["x"] }, { b: [{ numeric: [">", "x"] }] }] } }, mentions: ["detail.$or[1].b", "Value of > must be numeric"] },
    { name: "invalid pattern given as an object", pattern: { detail: { state: [{ exists: null }] } }, mentions: ["detail.state", "exists"] },
];


/**
 * Glob semantics from the operators page ("Wildcard matching"): `*` matches zero or more characters, the
 * match is anchored at both ends, `\*` and `\\` are a literal asterisk and backslash. Each row: the
 * wildcard as written in the pattern's JSON, a value, whether it matches.
 */
const globCases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["*", "", true],
    ["*", "anything", true],
    ["a*", "a", true],
    ["*a", "a", true],
    ["a*", "ba", false],
    ["*a", "ab", false],
    ["a*a", "a", false], // the two literal pieces may not overlap
    ["a*a", "aa", true],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["*ab*ab*", "abab", true],
    ["*ab*ab*", "aba", false],
    ["*a*a*a*", "aaa", true],
    ["*a*a*a*", "aa", false],
    ["x*yz", "xyzyz", true], // the last piece is anchored at the end, not at its first occurrence
    ["x*yz*", "xy", false],
    ["a\\*b", "a*b", true],
    ["a\\*b", "aXb", false],
    ["a\\**", "a*bc", true],
    ["*\\*", "no star", false],
    ["*\\*", "ends with *", true],
    ["C:\\\\*", "C:\\dir", true],
    ["C:\\\\*", "C:/dir", false],
    ["[a-z]*", "[a-z]x", true], // no character classes: brackets are literal
    ["[a-z]*", "bx", false],
    ["a.c*", "abc", false], // a dot is literal
    ["日本*語", "日本の語", true],
    ["", "", true],
    ["", "a", false],
];

/**
 * event-ruler's own MachineComplexityEvaluatorTest (aws/event-ruler), whose expected scores are for bare byte
 * strings: `wildcardComplexity(..., { quoted: false })` must agree with every one.
 */
const eventRulerComplexityCases: ReadonlyArray<readonly [number, readonly string[]]> = [
    [1, ["*"]], [3, ["*", "ab*c"]], [1, ["abc"]], [2, ["*ab"]], [3, ["*aa"]], [2, ["a*b"]], [2, ["aa*"]], [2, ["a*bc"]],
    [3, ["a*bb"]], [3, ["a*bcb"]], [4, ["a*bbb"]], [4, ["*ab*ad"]], [3, ["*ab*d"]], [4, ["*aba*"]], [5, ["a*b*bb"]],
    [4, ["a*b*cb"]], [3, ["a*b*cd"]], [4, ["a*b*b"]], [4, ["a*bb*"]], [3, ["ab*b*"]], [3, ["ab*c", "x*xx"]],
    [4, ["*abc", "*abcde"]], [4, ["a*bcd", "ab*cd"]], [4, ["a*bc", "a*bcde"]], [7, ["a*aaa", "aa*aa"]], [4, ["a*bc", "abc*d"]],
    [6, ["a*aaa", "aaa*a"]], [5, ["a*aax", "aaa*x"]], [4, ["a*bc", "abc*"]], [5, ["a*aa", "aaa*"]], [3, ["abc*", "abcde*"]],
    [6, ["ab*cd", "ab*wx", "ab*yz"]], [7, ["*ab*b*b*"]], [17, ["*a*a*a*a*a*a*a*a*"]], [2, ["ab*c", "ab*c"]],
    [10, ["F*eatureFeature", "Fe*atureFeature", "Fea*tureFeature"]],
    [45, ("aahed* aal*ii aargh* aarti* a*baca *abaci a*back ab*acs abaf*t *abaka ab*amp a*band *abase abash* abas*k ab*ate " +
        "aba*ya abbas* abbed* ab*bes abbey* *abbot ab*cee abea*m abe*ar a*bele a*bers abet*s *abhor abi*de a*bies *abled").split(" ")],
];

const TOO_COMPLEX = "Event pattern is not valid. Reason: Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

/** Runs `action` and returns how long it took, in milliseconds. */
function timed(action: () => void): number {
    const start = process.hrtime.bigint();
    action();
    return Number(process.hrtime.bigint() - start) / 1e6;
}

describe("eventPattern", () => {
    describe("matchesEventPattern", () => {
        for (const c of cases) {
            it(`${c.expected ? "matches" : "does not match"}: ${c.name}`, () => {
                const pattern = parseEventPattern(c.pattern);
                assert.equal(matchesEventPattern(pattern, c.event), c.expected);
            });
        }
    });

    describe("parseEventPattern rejects invalid patterns", () => {
        for (const c of invalidCases) {
            it(c.name, () => {
                assert.throws(() => parseEventPattern(c.pattern), (err: unknown) => {
                    assert.ok(err instanceof InvalidEventPatternError, `expected InvalidEventPatternError, got ${String(err)}`);
                    assert.equal(err.code, "InvalidEventPatternException");
                    assert.match(err.message, /^Event pattern is not valid\. Reason: /);
                    for (const fragment of c.mentions) {
                        assert.ok(err.message.includes(fragment), `message ${JSON.stringify(err.message)} should mention ${fragment}`);
                    }
                    return true;
                });
            });
        }
    });


    describe("wildcard: glob semantics without backtracking", () => {
        for (const [wildcard, value, expected] of globCases) {
            it(`${JSON.stringify(wildcard)} ${expected ? "matches" : "does not match"} ${JSON.stringify(value)}`, () => {
                const pattern = parseEventPattern({ detail: { v: [{ wildcard }] } });
                assert.equal(matchesEventPattern(pattern, withDetail({ v: value })), expected);
                // anything-but wildcard is its exact negation on a string value.
                const negated = parseEventPattern({ detail: { v: [{ "anything-but": { wildcard } }] } });
                assert.equal(matchesEventPattern(negated, withDetail({ v: value })), !expected);
            });
        }

        it("the 25-wildcard pattern of issue 11 is refused in milliseconds (it used to run for minutes)", () => {
            const text = JSON.stringify({ detail: { v: [{ wildcard: "*a".repeat(25) + "*b" }] } });
            let error: unknown;
            const ms = timed(() => {
                try {
                    parseEventPattern(text);
                } catch (err) {
                    error = err;
                }
            });
            assert.ok(error instanceof InvalidEventPatternError, `refused, got ${String(error)}`);
            assert.equal(error.message, TOO_COMPLEX);
            assert.ok(ms < 200, `took ${ms} ms`);
        });

        it("a pattern within the limit, on a value made to backtrack, matches in milliseconds", () => {
            // `*a*a*a*b` scores 8 (<= 10); against 100,000 a's a backtracking regular expression needs ~n^3 steps.
            const pattern = parseEventPattern({ detail: { v: [{ wildcard: "*a*a*a*b" }] } });
            const value = "a".repeat(100_000);
            let results: boolean[] = [];
            const ms = timed(() => {
                results = [matchesEventPattern(pattern, withDetail({ v: value })), matchesEventPattern(pattern, withDetail({ v: `${value}b` }))];
            });
            assert.deepEqual(results, [false, true]);
            assert.ok(ms < 200, `took ${ms} ms`);
        });

        it("a valid pattern with several wildcards still matches correctly", () => {
            const pattern = parseEventPattern({ resources: [{ wildcard: "arn:aws:*:us-*-1:*:function:*-prod" }] });
            const withResource = (arn: string) => ({ ...ec2Event, resources: [arn] });
            assert.equal(matchesEventPattern(pattern, withResource("arn:aws:lambda:us-east-1:123456789012:function:orders-prod")), true);
            assert.equal(matchesEventPattern(pattern, withResource("arn:aws:lambda:us-east-1:123456789012:function:orders-dev")), false);
            assert.equal(matchesEventPattern(pattern, withResource("arn:aws:lambda:eu-west-1:123456789012:function:orders-prod")), false);
        });
    });

    describe("wildcard complexity, as event-ruler measures it", () => {
        for (const [expected, wildcards] of eventRulerComplexityCases) {
            it(`${wildcards.length > 3 ? `${wildcards.length} patterns (Quamina exploder)` : wildcards.join(", ")} scores ${expected}`, () => {
                assert.equal(wildcardComplexity(wildcards, { quoted: false }), expected);
            });
        }

        it("the limit is 10 on quoted values: three `*:stack/<name>/*` on one field pass, four are refused (a published case)", () => {
            const stacks = ["SharedStack", "ApiStack", "DataStack", "MonitoringStack"].map((name) => ({ wildcard: `*:stack/${name}/*` }));
            assert.equal(WILDCARD_COMPLEXITY_LIMIT, 10);
            assert.doesNotThrow(() => parseEventPattern({ detail: { "stack-id": stacks.slice(0, 3) } }));
            assert.throws(() => parseEventPattern({ detail: { "stack-id": stacks } }), { message: TOO_COMPLEX });
        });

        it("wildcards on different fields are scored apart; the same field across $or branches together", () => {
            const three = (name: string) => [1, 2, 3].map((i) => ({ wildcard: `*:${name}${i}/*` }));
            assert.doesNotThrow(() => parseEventPattern({ detail: { a: three("a"), b: three("b") } }));
            assert.throws(
                () => parseEventPattern({ detail: { $or: [{ a: three("a") }, { a: three("b") }] } }),
                { message: TOO_COMPLEX },
            );
        });

        it("anything-but wildcards count as wildcards", () => {
            const values = ["a", "b", "c", "d"].map((n) => `*:stack/${n}/*`);
            assert.throws(() => parseEventPattern({ detail: { s: [{ "anything-but": { wildcard: values } }] } }), { message: TOO_COMPLEX });
        });

        it("scoring is bounded: a 4,096-character wildcard of many stars is scored in milliseconds", () => {
            const wildcard = "F*e*a*t*u*r*e*".repeat(292);
            const ms = timed(() => assert.equal(wildcardComplexity([wildcard], { cap: 100 }), 100));
            assert.ok(ms < 500, `took ${ms} ms`);
        });
    });

    describe("API", () => {
        it("parses JSON text and returns the parsed pattern", () => {
            const parsed = parseEventPattern('{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}');
            assert.deepEqual(parsed, { source: ["aws.ec2"], detail: { state: ["terminated"] } });
        });

        it("returns an already parsed pattern as is", () => {
            const pattern = { source: ["aws.ec2"] };
            assert.equal(parseEventPattern(pattern), pattern);
        });

        it("matchesEventPattern validates a pattern it has not seen", () => {
            assert.throws(() => matchesEventPattern({ source: "aws.ec2" }, ec2Event), InvalidEventPatternError);
        });

        it(`has at least 60 match cases (has ${cases.length})`, () => {
            assert.ok(cases.length >= 60);
        });
    });
});
