/**
 * The systems a stack may deploy, by the name `choreography:systems` lists. Adding a system is one folder under
 * `systems/` and one line here.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../settings";
import { CookieReport } from "./cookieReport";
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
};

export type { Platform } from "./platform";
