/** `getMultiple`: answers the GetMultiple step with the names the run will process. */
import { faker } from "@faker-js/faker/locale/en";
import type { EventBridgeEvent } from "aws-lambda";
import { GetMultipleDetail } from "../events";
import { createHandlerContext, finishTask, withTaskFailure } from "../../../handlers/task";
import { DEFAULT_MAX_RANDOM_NAMES, parseStartDetail } from "../validation";

/**
 * `count` distinct fake names when the `start` detail asks for a count, else a random 0 to 20. Names are
 * distinct because each one becomes its own object in S3 and its own Map item.
 */
export function chooseNames(startDetail: unknown): string[] {
    const { count = faker.number.int({ min: 0, max: DEFAULT_MAX_RANDOM_NAMES }) } = parseStartDetail(startDetail);
    const names = new Set<string>();
    while (names.size < count) {
        const name = faker.person.fullName();
        names.add(names.has(name) ? `${name} ${names.size}` : name);
    }
    return [...names];
}

export function getMultipleFactory() {
    const ctx = createHandlerContext("getMultiple");
    return async (event: EventBridgeEvent<"getMultiple", GetMultipleDetail>): Promise<void> =>
        withTaskFailure(ctx, event, async (task, trace) => {
            await finishTask(ctx, task, chooseNames(task.input), trace);
        });
}
