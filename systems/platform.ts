/** What every system of a stack is built on: the bus, the one TaskFinisher, and the handlers' common settings. */
import type { Bus } from "../components/bus";
import type { TaskFinisher } from "../components/taskFinisher";

export interface Platform {
    bus: Bus;
    /** The stack's TaskFinisher, made on first use: a stack whose systems answer no task has none. */
    taskFinisher(): TaskFinisher;
    /** Settings every handler takes (`HandlerFunctionArgs`). */
    handlerDefaults: { logRetentionDays: number; bundleAwsSdk: boolean };
    logRetentionDays: number;
}
