/** `postProcessAll`: sums every person's cookies into the run's report and finishes the PostProcessAll step. */
import { SFNClient, SendTaskHeartbeatCommand } from "@aws-sdk/client-sfn";
import type { EventBridgeEvent } from "aws-lambda";
import { ProcessAllDetail } from "./events";
import { CookieProfile } from "./postProcessSingle";
import { ResultsStore, getJson, personKey, putJson, reportKey, resultsStoreFromEnv } from "./storage";
import { SDK_CLIENT_CONFIG, createHandlerContext, finishTask, withTaskFailure } from "./task";
import { invalidInput } from "./validation";

export interface CookieReport {
    names: string[];
    numberOfPeople: number;
    totalCookiesConsumed: number;
}

export interface PostProcessAllResult {
    totalCookiesConsumed: number;
    reportKey: string;
}

export interface PostProcessAllDeps extends ResultsStore {
    /** Called between batches so a long read keeps the task alive within its HeartbeatSeconds. */
    heartbeat: () => Promise<void>;
}

/** Reads at most this many objects at once: fast for 1,000 people without flooding S3 or the event loop. */
const READ_BATCH = 25;

export function summarize(names: string[], profiles: CookieProfile[]): CookieReport {
    return {
        names,
        numberOfPeople: profiles.length,
        totalCookiesConsumed: profiles.reduce((sum, p) => sum + p.numberOfCookiesConsumed, 0),
    };
}

export async function postProcessAll(deps: PostProcessAllDeps, task: ProcessAllDetail): Promise<PostProcessAllResult> {
    if (!Array.isArray(task.names)) throw invalidInput("processAll detail.names must be an array of names");
    const profiles: CookieProfile[] = [];
    for (let i = 0; i < task.names.length; i += READ_BATCH) {
        await deps.heartbeat();
        const batch = task.names.slice(i, i + READ_BATCH);
        profiles.push(
            ...(await Promise.all(
                batch.map((name) => getJson<CookieProfile>(deps.s3, deps.bucket, personKey(task.executionName, "cookies", name))),
            )),
        );
    }
    const report = summarize(task.names, profiles);
    const key = reportKey(task.executionName);
    await putJson(deps.s3, deps.bucket, key, report);
    return { totalCookiesConsumed: report.totalCookiesConsumed, reportKey: key };
}

export function postProcessAllFactory() {
    const ctx = createHandlerContext("postProcessAll");
    const sfn = new SFNClient(SDK_CLIENT_CONFIG);
    const store = resultsStoreFromEnv();
    return async (event: EventBridgeEvent<"processAll", ProcessAllDetail>): Promise<void> =>
        withTaskFailure(ctx, event.detail, async (task) => {
            const heartbeat = async () => {
                await sfn.send(new SendTaskHeartbeatCommand({ taskToken: task.taskToken }));
            };
            await finishTask(ctx, task, await postProcessAll({ ...store, heartbeat }, task));
        });
}
