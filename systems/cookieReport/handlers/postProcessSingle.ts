/** `postProcessSingle`: reads the profile through its URL, adds cookies, and finishes the person's task. */
import { faker } from "@faker-js/faker/locale/en";
import type { EventBridgeEvent } from "aws-lambda";
import { ProcessSinglePostDetail } from "../events";
import { Profile } from "./processSingle";
import { ResultsStore, fetchJson, putJson, resultsStoreFromEnv } from "../../../handlers/storage";
import { personKey } from "../keys";
import { createHandlerContext, finishTask, withTaskFailure } from "../../../handlers/task";
import { requireString } from "../../../handlers/validation";

export interface CookieProfile extends Profile {
    numberOfCookiesConsumed: number;
}

export interface ProcessSingleResult {
    name: string;
    key: string;
}

/** Reads only through the presigned URL: this handler's role has no s3:GetObject. */
export async function postProcessSingle(
    deps: ResultsStore,
    task: ProcessSinglePostDetail,
): Promise<ProcessSingleResult> {
    const name = requireString("processSinglePost detail.name", task.name);
    const url = requireString("processSinglePost detail.url", task.url);
    const profile = await fetchJson<Profile>(url, `reading the basic profile of ${name}`);
    const withCookies: CookieProfile = { ...profile, numberOfCookiesConsumed: faker.number.int({ min: 0, max: 100 }) };
    const key = personKey(task.executionName, "cookies", name);
    await putJson(deps.s3, deps.bucket, key, withCookies);
    return { name, key };
}

export function postProcessSingleFactory() {
    const ctx = createHandlerContext("postProcessSingle");
    const store = resultsStoreFromEnv();
    return async (event: EventBridgeEvent<"processSinglePost", ProcessSinglePostDetail>): Promise<void> =>
        withTaskFailure(ctx, event, async (task, trace) => {
            await finishTask(ctx, task, await postProcessSingle(store, task), trace);
        });
}
