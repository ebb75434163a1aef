/** A TaskFinisher no system registers with: evaluation must fail naming it (cookieReport.test.ts). */
import { Bus } from "../../../components/bus";
import { TaskFinisher } from "../../../components/taskFinisher";

const bus = new Bus("bus", { busName: "default", eventSource: "project" });
export const finisherArn = new TaskFinisher("finisher", { bus, logRetentionDays: 14 }).arn;
