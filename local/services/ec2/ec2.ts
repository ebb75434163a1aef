/**
 * EC2's describe calls answered from a fixture file (`--ec2-fixtures FILE`): DescribeInstances,
 * DescribeSpotInstanceRequests and DescribeSpotPriceHistory, with filters, ids, time ranges and paging as AWS applies
 * them. Requests and results are in the SDK's shapes (`@aws-sdk/client-ec2`, PascalCase), which both the query
 * protocol (`query.ts`) and the Step Functions integration (`aws-sdk:ec2:*`) speak.
 *
 * The fixture file is JSON: `{ "instances": Instance[], "spotInstanceRequests": SpotInstanceRequest[],
 * "spotPriceHistory": SpotPrice[] }`, each item in the SDK's field names (`InstanceId`, `Placement.AvailabilityZone`,
 * `State.Name`, `Tags`, ...), timestamps as ISO 8601 text. An instance may carry `ReservationId` and `OwnerId`
 * beside its fields (instances sharing one are one reservation); without them each instance is its own reservation.
 * `local/services/ec2/fixtures.example.json` is an example.
 */
import * as fs from "fs";
import type * as ec2 from "@aws-sdk/client-ec2";
import { createHash } from "node:crypto";
import { AwsError } from "../../core/awsError";

export interface Ec2Fixtures {
    instances: Array<ec2.Instance & { ReservationId?: string; OwnerId?: string }>;
    spotInstanceRequests: ec2.SpotInstanceRequest[];
    spotPriceHistory: ec2.SpotPrice[];
}

export const EMPTY_FIXTURES: Ec2Fixtures = { instances: [], spotInstanceRequests: [], spotPriceHistory: [] };

/** Reads and checks a fixture file; a fault names the file and the item. */
export function readEc2Fixtures(file: string): Ec2Fixtures {
    let parsed: unknown;
    try {
        parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (error) {
        throw new Error(`--ec2-fixtures ${file}: ${(error as Error).message}`);
    }
    const root = parsed as Record<string, unknown> | null;
    if (typeof root !== "object" || root === null || Array.isArray(root)) throw new Error(`--ec2-fixtures ${file}: the file must hold a JSON object`);
    const known = new Set(["instances", "spotInstanceRequests", "spotPriceHistory"]);
    for (const key of Object.keys(root)) if (!known.has(key)) throw new Error(`--ec2-fixtures ${file}: unknown member ${key} (the file holds ${[...known].join(", ")})`);
    const list = <T>(key: string, required: string[]): T[] => {
        const value = root[key] ?? [];
        if (!Array.isArray(value)) throw new Error(`--ec2-fixtures ${file}: ${key} must be a list`);
        value.forEach((item: Record<string, unknown>, i) => {
            for (const field of required) if (typeof item?.[field] !== "string") throw new Error(`--ec2-fixtures ${file}: ${key}[${i}] has no ${field}`);
            for (const field of ["LaunchTime", "CreateTime", "ValidFrom", "ValidUntil", "Timestamp"]) {
                if (item[field] !== undefined && Number.isNaN(Date.parse(String(item[field])))) throw new Error(`--ec2-fixtures ${file}: ${key}[${i}].${field} is not an ISO 8601 time`);
            }
        });
        return value as T[];
    };
    return {
        instances: list("instances", ["InstanceId"]),
        spotInstanceRequests: list("spotInstanceRequests", ["SpotInstanceRequestId"]),
        spotPriceHistory: list("spotPriceHistory", ["InstanceType", "ProductDescription", "SpotPrice", "Timestamp", "AvailabilityZone"]),
    };
}

/** An EC2 error (`InvalidInstanceID.NotFound`), answered as EC2's XML by the query protocol. */
export class Ec2Error extends AwsError {}

const invalidValue = (message: string) => new Ec2Error("InvalidParameterValue", message);

/** One filter's values of an item: what `Filter.N.Value.M` is compared with. */
type FilterField<T> = (item: T) => Array<string | undefined>;

const text = (value: unknown): string | undefined => (value === undefined || value === null ? undefined : value instanceof Date ? value.toISOString() : String(value));
const tagsOf = (item: object): ec2.Tag[] => (item as { Tags?: ec2.Tag[] }).Tags ?? [];

const INSTANCE_FILTERS: Record<string, FilterField<ec2.Instance & { ReservationId?: string; OwnerId?: string }>> = {
    "availability-zone": (i) => [i.Placement?.AvailabilityZone],
    "instance-id": (i) => [i.InstanceId],
    "instance-type": (i) => [i.InstanceType],
    "instance-state-name": (i) => [i.State?.Name],
    "instance-state-code": (i) => [text(i.State?.Code)],
    "instance-lifecycle": (i) => [i.InstanceLifecycle],
    "image-id": (i) => [i.ImageId],
    "architecture": (i) => [i.Architecture],
    "platform": (i) => [i.Platform],
    "key-name": (i) => [i.KeyName],
    "launch-time": (i) => [text(i.LaunchTime)],
    "private-ip-address": (i) => [i.PrivateIpAddress],
    "ip-address": (i) => [i.PublicIpAddress],
    "private-dns-name": (i) => [i.PrivateDnsName],
    "dns-name": (i) => [i.PublicDnsName],
    "subnet-id": (i) => [i.SubnetId],
    "vpc-id": (i) => [i.VpcId],
    "spot-instance-request-id": (i) => [i.SpotInstanceRequestId],
    "reservation-id": (i) => [reservationIdOf(i)],
    "owner-id": (i) => [i.OwnerId],
    "instance.group-id": (i) => (i.SecurityGroups ?? []).map((g) => g.GroupId),
    "instance.group-name": (i) => (i.SecurityGroups ?? []).map((g) => g.GroupName),
};

const SPOT_REQUEST_FILTERS: Record<string, FilterField<ec2.SpotInstanceRequest>> = {
    "spot-instance-request-id": (r) => [r.SpotInstanceRequestId],
    "state": (r) => [r.State],
    "status-code": (r) => [r.Status?.Code],
    "status-message": (r) => [r.Status?.Message],
    "instance-id": (r) => [r.InstanceId],
    "type": (r) => [r.Type],
    "spot-price": (r) => [r.SpotPrice],
    "product-description": (r) => [r.ProductDescription],
    "launched-availability-zone": (r) => [r.LaunchedAvailabilityZone],
    "availability-zone-group": (r) => [r.AvailabilityZoneGroup],
    "launch-group": (r) => [r.LaunchGroup],
    "create-time": (r) => [text(r.CreateTime)],
    "valid-from": (r) => [text(r.ValidFrom)],
    "valid-until": (r) => [text(r.ValidUntil)],
    "launch.instance-type": (r) => [r.LaunchSpecification?.InstanceType],
    "launch.image-id": (r) => [r.LaunchSpecification?.ImageId],
    "launch.key-name": (r) => [r.LaunchSpecification?.KeyName],
};

const SPOT_PRICE_FILTERS: Record<string, FilterField<ec2.SpotPrice>> = {
    "availability-zone": (p) => [p.AvailabilityZone],
    "instance-type": (p) => [p.InstanceType],
    "product-description": (p) => [p.ProductDescription],
    "spot-price": (p) => [p.SpotPrice],
    "timestamp": (p) => [text(p.Timestamp)],
};

/** EC2's filter wildcards: `*` any run of characters, `?` zero or one character; `\` escapes them. */
function filterPattern(value: string): RegExp {
    let source = "";
    for (let i = 0; i < value.length; i++) {
        const c = value[i];
        if (c === "\\" && i + 1 < value.length) source += value[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        else if (c === "*") source += ".*";
        else if (c === "?") source += ".?";
        else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
    return new RegExp(`^${source}$`, "s");
}

/**
 * Applies `Filters` as AWS does: every filter must hold (AND), a filter holds when any of its values matches any of the
 * item's (OR); `tag:<key>`, `tag-key` and `tag-value` read the item's tags. A name the call does not document is refused.
 */
function applyFilters<T extends object>(items: T[], filters: ec2.Filter[] | undefined, fields: Record<string, FilterField<T>>, operation: string): T[] {
    if (!filters?.length) return items;
    const tests = filters.map((filter) => {
        const name = filter.Name;
        if (!name) throw new Ec2Error("InvalidParameterValue", "The filter name must not be empty");
        const values = (filter.Values ?? []).map(filterPattern);
        if (!values.length) throw invalidValue(`The filter '${name}' has no values`);
        let field: FilterField<T> | undefined;
        if (name.startsWith("tag:")) {
            const key = name.slice(4);
            field = (item) => tagsOf(item).filter((t) => t.Key === key).map((t) => t.Value);
        } else if (name === "tag-key") field = (item) => tagsOf(item).map((t) => t.Key);
        else if (name === "tag-value") field = (item) => tagsOf(item).map((t) => t.Value);
        else field = Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
        if (!field) throw invalidValue(`The filter '${name}' is invalid for ${operation}; served here: ${[...Object.keys(fields), "tag:<key>", "tag-key", "tag-value"].join(", ")}`);
        const read = field;
        return (item: T) => read(item).some((actual) => actual !== undefined && values.some((pattern) => pattern.test(actual)));
    });
    return items.filter((item) => tests.every((test) => test(item)));
}

function reservationIdOf(instance: { InstanceId?: string; ReservationId?: string }): string {
    return instance.ReservationId ?? `r-${createHash("sha256").update(instance.InstanceId ?? "").digest("hex").slice(0, 17)}`;
}

/** One page of `items` from `NextToken`, at most `MaxResults` (within `min`..1000) long. */
function page<T>(items: T[], request: { MaxResults?: number; NextToken?: string }, min: number, operation: string): { items: T[]; NextToken?: string } {
    const max = request.MaxResults;
    if (max !== undefined && (!Number.isInteger(max) || max < min || max > 1000)) {
        throw invalidValue(`Value ( ${String(max)} ) for parameter maxResults is invalid. Expecting a value between ${min} and 1000.`);
    }
    let start = 0;
    if (request.NextToken !== undefined) {
        const decoded = /^\d+$/.test(Buffer.from(String(request.NextToken), "base64url").toString("utf8")) ? Number(Buffer.from(String(request.NextToken), "base64url").toString("utf8")) : NaN;
        if (!Number.isInteger(decoded) || decoded > items.length) throw new Ec2Error("InvalidPaginationToken", `Invalid pagination token for ${operation}: ${String(request.NextToken)}`);
        start = decoded;
    }
    const size = max ?? 1000;
    const end = start + size;
    return { items: items.slice(start, end), ...(end < items.length ? { NextToken: Buffer.from(String(end), "utf8").toString("base64url") } : {}) };
}

function checkIds(ids: string[] | undefined, pattern: RegExp, code: string, what: string): void {
    for (const id of ids ?? []) if (!pattern.test(id)) throw new Ec2Error(`${code}.Malformed`, `Invalid id: "${id}" (expecting "${what}")`);
}

function missingIds(ids: string[], found: Set<string>, code: string, what: string): void {
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length === 1) throw new Ec2Error(`${code}.NotFound`, `The ${what} ID '${missing[0]}' does not exist`);
    if (missing.length > 1) throw new Ec2Error(`${code}.NotFound`, `The ${what} IDs '${missing.join(", ")}' do not exist`);
}

const time = (value: unknown, parameter: string): number | undefined => {
    if (value === undefined) return undefined;
    const ms = value instanceof Date ? value.getTime() : Date.parse(String(value));
    if (Number.isNaN(ms)) throw invalidValue(`Value (${String(value)}) for parameter ${parameter} is invalid: not a date and time`);
    return ms;
};

export class Ec2Service {
    constructor(
        private readonly fixtures: Ec2Fixtures,
        private readonly accountId: string,
        private readonly now: () => number = Date.now,
    ) {}

    public describeInstances(request: ec2.DescribeInstancesRequest): ec2.DescribeInstancesResult {
        checkIds(request.InstanceIds, /^i-[0-9a-f]{8,17}$/, "InvalidInstanceID", "i-xxxxxxxx");
        if (request.InstanceIds?.length && request.MaxResults !== undefined) {
            throw new Ec2Error("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults");
        }
        let instances = this.fixtures.instances;
        if (request.InstanceIds?.length) {
            const wanted = new Set(request.InstanceIds);
            instances = instances.filter((i) => wanted.has(i.InstanceId!));
            missingIds(request.InstanceIds, new Set(instances.map((i) => i.InstanceId!)), "InvalidInstanceID", "instance");
        }
        instances = applyFilters(instances, request.Filters, INSTANCE_FILTERS, "DescribeInstances");
        const { items, NextToken } = page(instances, request, 5, "DescribeInstances");
        const reservations = new Map<string, ec2.Reservation>();
        for (const { ReservationId, OwnerId, ...instance } of items) {
            const id = reservationIdOf({ InstanceId: instance.InstanceId, ReservationId });
            const reservation = reservations.get(id) ?? { ReservationId: id, OwnerId: OwnerId ?? this.accountId, Groups: [], Instances: [] };
            reservation.Instances!.push(instance);
            reservations.set(id, reservation);
        }
        return { Reservations: [...reservations.values()], ...(NextToken ? { NextToken } : {}) };
    }

    public describeSpotInstanceRequests(request: ec2.DescribeSpotInstanceRequestsRequest): ec2.DescribeSpotInstanceRequestsResult {
        checkIds(request.SpotInstanceRequestIds, /^sir-[0-9a-z]{8,17}$/, "InvalidSpotInstanceRequestID", "sir-xxxxxxxx");
        let requests = this.fixtures.spotInstanceRequests;
        if (request.SpotInstanceRequestIds?.length) {
            const wanted = new Set(request.SpotInstanceRequestIds);
            requests = requests.filter((r) => wanted.has(r.SpotInstanceRequestId!));
            missingIds(request.SpotInstanceRequestIds, new Set(requests.map((r) => r.SpotInstanceRequestId!)), "InvalidSpotInstanceRequestID", "spot instance request");
        }
        requests = applyFilters(requests, request.Filters, SPOT_REQUEST_FILTERS, "DescribeSpotInstanceRequests");
        const { items, NextToken } = page(requests, request, 5, "DescribeSpotInstanceRequests");
        return { SpotInstanceRequests: items, ...(NextToken ? { NextToken } : {}) };
    }

    /**
     * The price changes between StartTime and EndTime (EndTime now by default), plus, for each instance type, product
     * and zone, the last change before StartTime: the price in effect at StartTime, as AWS documents. Newest first.
     */
    public describeSpotPriceHistory(request: ec2.DescribeSpotPriceHistoryRequest): ec2.DescribeSpotPriceHistoryResult {
        const start = time(request.StartTime, "startTime");
        const end = time(request.EndTime, "endTime") ?? this.now();
        if (start !== undefined && start > end) throw invalidValue("The parameter startTime must be before endTime");
        let prices = this.fixtures.spotPriceHistory;
        if (request.InstanceTypes?.length) prices = prices.filter((p) => request.InstanceTypes!.includes(p.InstanceType!));
        if (request.ProductDescriptions?.length) prices = prices.filter((p) => request.ProductDescriptions!.includes(p.ProductDescription!));
        if (request.AvailabilityZone !== undefined) prices = prices.filter((p) => p.AvailabilityZone === request.AvailabilityZone);
        prices = applyFilters(prices, request.Filters, SPOT_PRICE_FILTERS, "DescribeSpotPriceHistory");
        const at = (p: ec2.SpotPrice) => Date.parse(String(p.Timestamp));
        const inRange = prices.filter((p) => at(p) <= end && (start === undefined || at(p) >= start));
        const inEffect: ec2.SpotPrice[] = [];
        if (start !== undefined) {
            const latest = new Map<string, ec2.SpotPrice>();
            for (const p of prices) {
                if (at(p) >= start) continue;
                const key = `${p.InstanceType}\u0000${p.ProductDescription}\u0000${p.AvailabilityZone}`;
                const seen = latest.get(key);
                if (!seen || at(seen) < at(p)) latest.set(key, p);
            }
            inEffect.push(...latest.values());
        }
        const ordered = [...inRange, ...inEffect].sort((a, b) => at(b) - at(a) || String(a.InstanceType).localeCompare(String(b.InstanceType)) || String(a.AvailabilityZone).localeCompare(String(b.AvailabilityZone)));
        const { items, NextToken } = page(ordered, request, 5, "DescribeSpotPriceHistory");
        return { SpotPriceHistory: items, ...(NextToken ? { NextToken } : {}) };
    }
}
