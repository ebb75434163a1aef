/**
 * RedriveExecution's rules: which executions may be redriven (AWS's redriveStatus), and where a redrive resumes.
 * The engine resumes a run at the top-level state found here, with the input that state had.
 */
import { AwsError } from "../../core/awsError";
import type { HistoryEvent, JsonObject, JsonValue } from "./history";

function isObject(value: unknown): value is JsonObject {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** AWS's redriveStatus: only a finished, unsuccessful STANDARD execution may be redriven. */
export function redriveStatusOf(data: { stateMachineType: "STANDARD" | "EXPRESS"; status: string }): { redriveStatus: "REDRIVABLE" | "NOT_REDRIVABLE"; redriveStatusReason: string } {
    if (data.stateMachineType !== "STANDARD") return { redriveStatus: "NOT_REDRIVABLE", redriveStatusReason: "Execution is EXPRESS and cannot be redriven" };
    if (data.status === "RUNNING" || data.status === "SUCCEEDED") return { redriveStatus: "NOT_REDRIVABLE", redriveStatusReason: `Execution is ${data.status} and cannot be redriven` };
    return { redriveStatus: "REDRIVABLE", redriveStatusReason: "" };
}

/** Where a redrive resumes: the top-level state that was running when the execution failed, and its input. */
export interface ResumePoint {
    stateName: string;
    input: JsonValue;
}

/**
 * Finds the resume point in an execution's history: the last top-level state entered and not exited. A failure
 * inside a Map or Parallel state is refused by name: the engine cannot resume inside one, and rerunning the whole
 * state would rerun the iterations and branches that succeeded, which AWS does not.
 */
export function resumePointOf(executionArn: string, history: readonly HistoryEvent[], definition: JsonObject, executionInput: JsonValue): ResumePoint {
    const topLevel = isObject(definition.States) ? definition.States : {};
    let open: { name: string; type: string; input: string } | undefined;
    let entered = false;
    for (const event of history) {
        const entry = /^([A-Za-z]+)StateEntered$/.exec(event.type);
        const exit = /^([A-Za-z]+)StateExited$/.exec(event.type);
        if (entry) {
            const details = event.stateEnteredEventDetails ?? {};
            const name = typeof details.name === "string" ? details.name : "";
            // States entered inside an open Map or Parallel belong to it, even when one shares a top-level name.
            if (open && (open.type === "Map" || open.type === "Parallel")) continue;
            if (!(name in topLevel)) continue;
            open = { name, type: entry[1], input: typeof details.input === "string" ? details.input : "null" };
            entered = true;
        } else if (exit && open) {
            const details = event.stateExitedEventDetails ?? {};
            if (details.name === open.name && exit[1] === open.type) open = undefined;
        }
    }
    if (!entered) return { stateName: String(definition.StartAt), input: executionInput };
    if (!open) {
        throw new AwsError("ExecutionNotRedrivable", `Execution '${executionArn}' cannot be redriven here: it did not stop inside a state (every state it entered was exited), so the offline runtime has no state to resume from`);
    }
    if (open.type === "Map" || open.type === "Parallel") {
        throw new AwsError(
            "ExecutionNotRedrivable",
            `Execution '${executionArn}' failed inside ${open.type} state '${open.name}'; the offline runtime redrives failures in top-level states only, not inside a Map iteration or Parallel branch`,
        );
    }
    return { stateName: open.name, input: JSON.parse(open.input) as JsonValue };
}
