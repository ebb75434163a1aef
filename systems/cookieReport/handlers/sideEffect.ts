/**
 * `sideEffect`: a second subscriber to `processSinglePost`, off the state machine's critical path. It reads
 * the profile through the URL and announces `sideEffectDone`; it never answers a task (and the TaskFinisher
 * ignores its failure records). Input at fault (a URL S3 refuses, a missing name) is logged and dropped, since
 * retrying cannot help; any other error is thrown, and Lambda retries it.
 */
import type { EventBridgeEvent } from "aws-lambda";
import { putEvent } from "../../../handlers/events";
import { DetailType, ProcessSinglePostDetail, SideEffectDoneDetail } from "../events";
import { Profile } from "./processSingle";
import { withRequestCounts } from "../../../handlers/requests";
import { fetchJson } from "../../../handlers/storage";
import { createHandlerContext, traceFor } from "../../../handlers/task";
import { isInvalidInput, requireString } from "../../../handlers/validation";

export async function sideEffect(detail: ProcessSinglePostDetail): Promise<SideEffectDoneDetail> {
    const name = requireString("processSinglePost detail.name", detail.name);
    const profile = await fetchJson<Profile>(requireString("processSinglePost detail.url", detail.url), `side effect for ${name}`);
    return { executionName: detail.executionName, name, company: profile.company };
}

export function sideEffectFactory() {
    const ctx = createHandlerContext("sideEffect");
    return async (event: EventBridgeEvent<"processSinglePost", ProcessSinglePostDetail>): Promise<void> => {
        const trace = traceFor(ctx, event);
        let done: SideEffectDoneDetail;
        try {
            done = await withRequestCounts(ctx.logger, trace.correlationId, () => sideEffect(event.detail));
        } catch (error) {
            if (!isInvalidInput(error)) throw error;
            ctx.logger.warn("side effect skipped: its input is at fault", { executionName: event.detail?.executionName, error: error.message });
            return;
        }
        await putEvent(ctx.events, ctx.target, DetailType.sideEffectDone, done, trace);
        ctx.logger.info("side effect done", { executionName: done.executionName, name: done.name });
    };
}
