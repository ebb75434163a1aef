/**
 * The stack's settings, read once from `choreography:*` config, typed and checked: a bad value fails evaluation with
 * the key, what it must be and what it was, before any resource is declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { invalidInput, parsePresignExpirySeconds } from "./handlers/validation";

/** CloudWatch Logs accepts only these retention periods. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** What every system shares. */
export interface PlatformSettings {
    /** `default` for the account's default bus, else the name of the bus the stack creates. */
    busName: string;
    /** The `source` every event of the stack carries and every rule requires. */
    eventSource: string;
    logRetentionDays: number;
    bundleAwsSdk: boolean;
}

/** The cookie report's own settings. */
export interface CookieReportSettings {
    mapMaxConcurrency: number;
    taskTimeoutSeconds: number;
    heartbeatSeconds: number;
    executionTimeoutSeconds: number;
    presignExpirySeconds: number;
    bucketForceDestroy: boolean;
}

/** The observability system's own settings (`choreography:observability*`). */
export interface ObservabilitySettings {
    /** Days a recorded event is kept (the table's TTL). */
    ttlDays: number;
    /** The STANDARD state machine whose executions are the runs: its status events are recorded, bare names resolve to it. */
    workflowName: string;
}

/** The GitHub Actions chargeback's own settings (`choreography:chargeback*`). */
export interface ChargebackSettings {
    /** The `source` of the `workflow_job` events the webhook puts on the bus (its rule requires it). */
    eventSource: string;
    /** GitHub-hosted runners' price in USD per minute, by runner label (`ubuntu-latest`, `windows-2022`, ...). */
    hostedRates: Record<string, number>;
    /** The EC2 tag whose value is a self-hosted runner's name, for runners not named after their instance id. */
    runnerNameTag: string;
    /**
     * The webhook secret GitHub signs deliveries with (`pulumi config set --secret choreography:chargebackWebhookSecret`),
     * kept in Secrets Manager; undefined when unset, and the webhook then refuses every delivery.
     */
    webhookSecret: pulumi.Output<string> | undefined;
}

/**
 * GitHub's published per-minute rates for its standard hosted runners (USD; Linux 2-core, Windows 2-core, macOS 3/4-core
 * at the time of writing). A stack sets its own with `choreography:chargebackHostedRates` (larger runners, new prices).
 */
export const DEFAULT_HOSTED_RATES: Readonly<Record<string, number>> = {
    "ubuntu-latest": 0.008,
    "ubuntu-24.04": 0.008,
    "ubuntu-22.04": 0.008,
    "windows-latest": 0.016,
    "windows-2025": 0.016,
    "windows-2022": 0.016,
    "macos-latest": 0.08,
    "macos-15": 0.08,
    "macos-14": 0.08,
};

export interface Settings {
    platform: PlatformSettings;
    /** The systems the stack deploys (`choreography:systems`), in order; names are checked against the registry. */
    systems: string[];
    cookieReport: CookieReportSettings;
    observability: ObservabilitySettings;
    chargeback: ChargebackSettings;
}

export function readSettings(knownSystems: readonly string[], config = new pulumi.Config("choreography")): Settings {
    /** An integer setting with bounds, named in the error when it is out of them. */
    const integer = (key: string, defaultValue: number, min: number, max: number): number => {
        const raw = config.get(key);
        const value = raw === undefined ? defaultValue : Number(raw);
        if (!Number.isInteger(value) || value < min || value > max) {
            throw invalidInput(`choreography:${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
        }
        return value;
    };
    const platform: PlatformSettings = {
        busName: config.get("busName") ?? "default",
        eventSource: config.get("eventSource") ?? "project",
        logRetentionDays: integer("logRetentionDays", 14, 1, 3653),
        bundleAwsSdk: config.getBoolean("bundleAwsSdk") ?? false,
    };
    if (!LOG_RETENTION_DAYS.includes(platform.logRetentionDays)) {
        throw invalidInput(`choreography:logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")} (what CloudWatch Logs accepts), got ${platform.logRetentionDays}`);
    }
    const cookieReport: CookieReportSettings = {
        mapMaxConcurrency: integer("mapMaxConcurrency", 2, 1, 1000),
        taskTimeoutSeconds: integer("taskTimeoutSeconds", 300, 1, 86400),
        heartbeatSeconds: integer("heartbeatSeconds", 60, 1, 86400),
        executionTimeoutSeconds: integer("executionTimeoutSeconds", 3600, 1, 31536000),
        presignExpirySeconds: parsePresignExpirySeconds("choreography:presignExpirySeconds", config.get("presignExpirySeconds") ?? "300"),
        bucketForceDestroy: config.getBoolean("bucketForceDestroy") ?? false,
    };
    // The States Language requires a heartbeat shorter than the task's timeout, and a task cannot outlive its execution.
    if (cookieReport.heartbeatSeconds >= cookieReport.taskTimeoutSeconds) {
        throw invalidInput(
            `choreography:heartbeatSeconds (${cookieReport.heartbeatSeconds}) must be less than choreography:taskTimeoutSeconds (${cookieReport.taskTimeoutSeconds})`,
        );
    }
    if (cookieReport.taskTimeoutSeconds > cookieReport.executionTimeoutSeconds) {
        throw invalidInput(
            `choreography:taskTimeoutSeconds (${cookieReport.taskTimeoutSeconds}) must not exceed choreography:executionTimeoutSeconds (${cookieReport.executionTimeoutSeconds})`,
        );
    }
    const observability: ObservabilitySettings = {
        ttlDays: integer("observabilityTtlDays", 7, 1, 3650),
        workflowName: config.get("observabilityWorkflow") ?? "cookieReport-workflow",
    };
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(observability.workflowName)) {
        throw invalidInput(`choreography:observabilityWorkflow must be a state machine name (1-80 letters, digits, - or _), got ${JSON.stringify(observability.workflowName)}`);
    }
    return { platform, systems: systemsSetting(config, knownSystems), cookieReport, observability, chargeback: chargebackSettings(config) };
}

function chargebackSettings(config: pulumi.Config): ChargebackSettings {
    const eventSource = config.get("chargebackEventSource") ?? "github.webhook";
    // EventBridge refuses `aws.` sources from callers; a source is at most 256 characters.
    if (!/^[A-Za-z0-9._\/-]{1,256}$/.test(eventSource) || eventSource.startsWith("aws.")) {
        throw invalidInput(`choreography:chargebackEventSource must be an event source (letters, digits, ".", "-", "_", "/"; not "aws."), got ${JSON.stringify(eventSource)}`);
    }
    const rawRates = config.get("chargebackHostedRates");
    let hostedRates: Record<string, number> = { ...DEFAULT_HOSTED_RATES };
    if (rawRates !== undefined) {
        let parsed: unknown;
        try {
            parsed = JSON.parse(rawRates);
        } catch {
            parsed = undefined;
        }
        const entries = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? Object.entries(parsed) : undefined;
        const bad = entries?.find(([label, rate]) => label === "" || typeof rate !== "number" || !Number.isFinite(rate) || rate < 0);
        if (!entries || bad) {
            throw invalidInput(
                `choreography:chargebackHostedRates must map runner labels to a price in USD per minute (a number, 0 or more)${bad ? `; ${JSON.stringify(bad[0])} is ${JSON.stringify(bad[1])}` : `, got ${JSON.stringify(rawRates)}`}`,
            );
        }
        hostedRates = Object.fromEntries(entries) as Record<string, number>;
    }
    const runnerNameTag = config.get("chargebackRunnerNameTag") ?? "github-runner-name";
    if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u.test(runnerNameTag) || runnerNameTag.startsWith("aws:")) {
        throw invalidInput(`choreography:chargebackRunnerNameTag must be an EC2 tag key (1-128 characters, not "aws:"), got ${JSON.stringify(runnerNameTag)}`);
    }
    return { eventSource, hostedRates, runnerNameTag, webhookSecret: config.getSecret("chargebackWebhookSecret") };
}

/** `choreography:systems`: a YAML list (or JSON array) of known system names, each once; every known system by default. */
function systemsSetting(config: pulumi.Config, known: readonly string[]): string[] {
    const raw = config.get("systems");
    if (raw === undefined) return [...known];
    let names: unknown;
    try {
        names = JSON.parse(raw);
    } catch {
        names = undefined;
    }
    if (!Array.isArray(names) || names.some((n) => typeof n !== "string")) {
        throw invalidInput(`choreography:systems must be a list of system names (of ${known.join(", ")}), got ${JSON.stringify(raw)}`);
    }
    const unknown = names.filter((n: string) => !known.includes(n));
    if (unknown.length) throw invalidInput(`choreography:systems names ${unknown.map((n) => JSON.stringify(n)).join(", ")}, which is not a system of this project (known: ${known.join(", ")})`);
    const repeated = names.filter((n: string, i: number) => names.indexOf(n) !== i);
    if (repeated.length) throw invalidInput(`choreography:systems lists ${JSON.stringify(repeated[0])} more than once`);
    return names as string[];
}
