/** `processSingle`: writes a person's basic profile and hands it on as a presigned URL. */
import { faker } from "@faker-js/faker/locale/en";
import type { EventBridgeEvent } from "aws-lambda";
import { putEvent } from "../../../handlers/events";
import { DetailType, ProcessSingleDetail, ProcessSinglePostDetail } from "../events";
import { ResultsStore, presignGet, putJson, resultsStoreFromEnv } from "../../../handlers/storage";
import { personKey } from "../keys";
import { HandlerContext, createHandlerContext, withTaskFailure } from "../../../handlers/task";
import { parsePresignExpirySeconds, requireString } from "../../../handlers/validation";

export interface Profile {
    name: string;
    company: string;
    city: string;
}

export function buildProfile(name: string): Profile {
    return { name, company: faker.company.name(), city: faker.location.city() };
}

export interface ProcessSingleDeps extends ResultsStore {
    presignExpirySeconds: number;
}

/** Writes `<execution>/basic-<name>.json` and returns the `processSinglePost` detail carrying its URL. */
export async function processSingle(deps: ProcessSingleDeps, task: ProcessSingleDetail): Promise<ProcessSinglePostDetail> {
    const name = requireString("processSingle detail.name", task.name);
    const key = personKey(task.executionName, "basic", name);
    await putJson(deps.s3, deps.bucket, key, buildProfile(name));
    const url = await presignGet(deps.s3, deps.bucket, key, deps.presignExpirySeconds);
    return { ...task, name, url };
}

export function processSingleFactory() {
    const ctx: HandlerContext = createHandlerContext("processSingle");
    const deps: ProcessSingleDeps = {
        ...resultsStoreFromEnv(),
        presignExpirySeconds: parsePresignExpirySeconds("PRESIGN_EXPIRY_SECONDS", process.env.PRESIGN_EXPIRY_SECONDS),
    };
    return async (event: EventBridgeEvent<"processSingle", ProcessSingleDetail>): Promise<void> =>
        withTaskFailure(ctx, event, async (task, trace) => {
            const post = await processSingle(deps, task);
            await putEvent(ctx.events, ctx.target, DetailType.processSinglePost, post, trace);
        });
}
