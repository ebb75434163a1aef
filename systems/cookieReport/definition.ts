/** The cookie report's state machine: every step an event, every wait bounded by a timeout. */
import { AslDefinition, waitForEvent } from "../../protocol/asl";
import type { CookieReportSettings } from "../../settings";
import { DetailType } from "./events";

export function cookieReportDefinition(bus: { name: string; source: string }, settings: CookieReportSettings): AslDefinition {
    const event = { busName: bus.name, source: bus.source, timeoutSeconds: settings.taskTimeoutSeconds };
    return {
        Comment: "Cookie report: each step emits an event with a task token and waits for taskFinished/taskFailed.",
        StartAt: "GetMultiple",
        TimeoutSeconds: settings.executionTimeoutSeconds,
        States: {
            GetMultiple: {
                ...waitForEvent({ ...event, step: "GetMultiple", detailType: DetailType.getMultiple, detail: { "input.$": "$.detail" } }),
                ResultSelector: { "names.$": "$.result" },
                ResultPath: "$.getMultiple",
                Next: "ProcessMultiple",
            },
            ProcessMultiple: {
                Type: "Map",
                ItemsPath: "$.getMultiple.names",
                MaxConcurrency: settings.mapMaxConcurrency,
                ItemSelector: { "name.$": "$$.Map.Item.Value" },
                ItemProcessor: {
                    ProcessorConfig: { Mode: "INLINE" },
                    StartAt: "ProcessSingle",
                    States: {
                        ProcessSingle: {
                            ...waitForEvent({ ...event, step: "ProcessSingle", detailType: DetailType.processSingle, detail: { "name.$": "$.name" } }),
                            End: true,
                        },
                    },
                },
                // Each person's result is in S3; carrying 1,000 results in the state would only grow the history.
                ResultPath: null,
                Next: "PostProcessAll",
            },
            PostProcessAll: {
                ...waitForEvent({
                    ...event,
                    step: "PostProcessAll",
                    detailType: DetailType.processAll,
                    detail: { "names.$": "$.getMultiple.names" },
                    heartbeatSeconds: settings.heartbeatSeconds,
                }),
                ResultSelector: { "totalCookiesConsumed.$": "$.result.totalCookiesConsumed", "reportKey.$": "$.result.reportKey" },
                ResultPath: "$.report",
                Next: "Success",
            },
            Success: { Type: "Succeed", OutputPath: "$.report" },
        },
    };
}
