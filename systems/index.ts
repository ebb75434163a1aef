/**
 * The systems a stack may deploy, by the name `choreography:systems` lists. Adding a system is one folder under
 * `systems/` and one line here.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../settings";
import { Chargeback } from "./chargeback";
import { CookieReport } from "./cookieReport";
import { DetailType as CookieReportDetailType } from "./cookieReport/events";
import { Observability } from "./observability";
import { TaskAnswer } from "../protocol/taskToken";
import type { Platform } from "./platform";

export interface SystemDefinition {
    /** Declares the system as one ComponentResource named `name`, with its stack outputs. */
    create(name: string, platform: Platform, settings: Settings): { component: pulumi.ComponentResource; outputs: Record<string, pulumi.Output<unknown>> };
}

export const SYSTEMS: Record<string, SystemDefinition> = {
    cookieReport: {
        create(name, platform, settings) {
            const report = new CookieReport(name, { platform, settings: settings.cookieReport });
            return { component: report, outputs: { workflowArn: report.workflowArn, bucketName: report.bucketName, startCommand: report.startCommand } };
        },
    },
    observability: {
        create(name, platform, settings) {
            // What the capture rule lists: the answers every system shares, and each deployed system's own types.
            const detailTypes = [...Object.values(TaskAnswer), ...(settings.systems.includes("cookieReport") ? Object.values(CookieReportDetailType) : [])];
            const observability = new Observability(name, { platform, settings: settings.observability, detailTypes });
            return { component: observability, outputs: { apiUrl: observability.apiUrl, liveUrl: observability.liveUrl, pageUrl: observability.pageUrl, tableName: observability.tableName } };
        },
    },
    chargeback: {
        create(name, platform, settings) {
            const chargeback = new Chargeback(name, { platform, settings: settings.chargeback });
            return {
                component: chargeback,
                outputs: {
                    apiUrl: chargeback.apiUrl,
                    webhookUrl: chargeback.webhookUrl,
                    tableName: chargeback.tableName,
                    workflowArn: chargeback.workflowArn,
                    deadLetterQueueUrl: chargeback.deadLetterQueueUrl,
                    webhookSecretArn: chargeback.webhookSecretArn,
                },
            };
        },
    },
};

export type { Platform } from "./platform";
