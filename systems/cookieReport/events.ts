/**
 * The cookie report's events. `start` comes from users (`aws events put-events`); the steps' events carry a
 * task token (`TaskDetail`) and are answered with the protocol's `taskFinished` / `taskFailed`.
 */
import { TaskDetail } from "../../protocol/taskToken";

/** Detail types of this system on the bus, all from the stack's source. */
export const DetailType = {
    start: "start",
    getMultiple: "getMultiple",
    processSingle: "processSingle",
    processSinglePost: "processSinglePost",
    processAll: "processAll",
    sideEffectDone: "sideEffectDone",
} as const;

export interface GetMultipleDetail extends TaskDetail {
    /** The `start` event's detail, as it arrived. */
    input: unknown;
}
export interface ProcessSingleDetail extends TaskDetail {
    name: string;
}
export interface ProcessSinglePostDetail extends ProcessSingleDetail {
    /** Presigned GET URL of the person's basic profile. */
    url: string;
}
export interface ProcessAllDetail extends TaskDetail {
    names: string[];
}
export interface SideEffectDoneDetail {
    executionName: string;
    name: string;
    company: string;
}
