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

export interface Settings {
    platform: PlatformSettings;
    /** The systems the stack deploys (`choreography:systems`), in order; names are checked against the registry. */
    systems: string[];
    cookieReport: CookieReportSettings;
    observability: ObservabilitySettings;
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
    return { platform, systems: systemsSetting(config, knownSystems), cookieReport, observability };
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
