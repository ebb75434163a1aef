/**
 * `sideEffect`: a second subscriber to `processSinglePost`, off the state machine's critical path. It reads
 * the profile through the URL and announces `sideEffectDone`; it never answers a task, so its failure cannot
 * fail a run (Lambda retries it, then its failure record goes to the bus like any handler's).
 */
import type { EventBridgeEvent } from "aws-lambda";
import { DetailType, ProcessSinglePostDetail, SideEffectDoneDetail, putTaskEvent } from "./events";
import { Profile } from "./processSingle";
import { fetchJson } from "./storage";
import { createHandlerContext } from "./task";
import { requireString } from "./validation";

export async function sideEffect(detail: ProcessSinglePostDetail): Promise<SideEffectDoneDetail> {
    const name = requireString("processSinglePost detail.name", detail.name);
    const profile = await fetchJson<Profile>(requireString("processSinglePost detail.url", detail.url), `side effect for ${name}`);
    return { executionName: detail.executionName, name, company: profile.company };
}

export function sideEffectFactory() {
    const ctx = createHandlerContext("sideEffect");
    return async (event: EventBridgeEvent<"processSinglePost", ProcessSinglePostDetail>): Promise<void> => {
        const done = await sideEffect(event.detail);
        await putTaskEvent(ctx.events, ctx.target, DetailType.sideEffectDone, done);
        ctx.logger.info("side effect done", { executionName: done.executionName, name: done.name });
    };
}
