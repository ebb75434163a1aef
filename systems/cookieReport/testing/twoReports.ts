/**
 * A program with two cookie reports on one platform: the same handler names in both, one shared TaskFinisher.
 * Evaluated by cookieReport.test.ts.
 */
import { Bus } from "../../../components/bus";
import { TaskFinisher } from "../../../components/taskFinisher";
import { readSettings } from "../../../settings";
import { SYSTEMS } from "../..";
import { CookieReport } from "..";

const settings = readSettings(Object.keys(SYSTEMS));
const bus = new Bus("bus", { busName: "default", eventSource: "project" });
const finisher = new TaskFinisher("finisher", { bus, logRetentionDays: 14 });
const platform = { bus, taskFinisher: () => finisher, handlerDefaults: { logRetentionDays: 14, bundleAwsSdk: false }, logRetentionDays: 14 };
export const alpha = new CookieReport("alpha", { platform, settings: settings.cookieReport }).workflowArn;
export const beta = new CookieReport("beta", { platform, settings: settings.cookieReport }).workflowArn;
export const finisherArn = finisher.arn;
