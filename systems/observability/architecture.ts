/**
 * The architecture as the events show it: producers → detail-types → consumers. A producer is the emitter an event
 * names; a consumer of a detail-type is whatever emitted an event caused by one of that type (`trace.causedBy`), a
 * state machine for the event its execution's input is (`start`), and the waiting step for an answer carrying its
 * task token. Nothing is read from the stack's declaration: what is drawn is what ran.
 */
import { LAMBDA_FAILURE, TaskAnswer } from "../../protocol/taskToken";
import { EXECUTION_STATUS_CHANGE, EXTERNAL_PREFIX, STATES_SOURCE, StoredEvent } from "./store";
import { tokenOf } from "./timeline";

export interface ArchitectureNode {
    /** `emitter:<name>` or `detailType:<source>:<detail-type>`. */
    id: string;
    /** `step` (`<machine>.<state>`), `stateMachine`, `function` (any other traced emitter), `external` (an event with no
     * trace, named `external:<source>`: a user's `start`), or `detailType`. */
    kind: "step" | "stateMachine" | "function" | "external" | "detailType";
    label: string;
    /** For a step, its state machine; for a detail-type, its source. */
    group?: string;
    /** Events emitted by it (an emitter) or of it (a detail-type). */
    count: number;
}

export interface ArchitectureEdge {
    from: string;
    to: string;
    /** `emits` (producer → detail-type), `causedBy` (detail-type → the handler it invoked), `executionInput`
     * (detail-type → the state machine it started), `taskToken` (an answer → the step that waited for it). */
    via: "emits" | "causedBy" | "executionInput" | "taskToken";
    count: number;
}

export interface Architecture {
    since: string;
    /** How many runs the graph was drawn from. */
    runs: number;
    nodes: ArchitectureNode[];
    edges: ArchitectureEdge[];
}

const emitterId = (name: string) => `emitter:${name}`;
const typeId = (e: StoredEvent) => `detailType:${e.source}:${e.detailType}`;

export function inferArchitecture(events: StoredEvent[], since: string, runs: number): Architecture {
    const unique = [...new Map(events.map((e) => [e.id, e])).values()];
    const byId = new Map(unique.map((e) => [e.id, e]));
    const nodes = new Map<string, ArchitectureNode>();
    const edges = new Map<string, ArchitectureEdge>();
    // State machines: those whose status events were seen, and those whose steps emitted (`<machine>.<state>`).
    const machines = new Set([
        ...unique.filter((e) => e.source === STATES_SOURCE && e.detailType === EXECUTION_STATUS_CHANGE).map((e) => e.emitter),
        ...unique.filter((e) => e.emitter.indexOf(".") > 0 && !e.emitter.startsWith(EXTERNAL_PREFIX)).map((e) => e.emitter.slice(0, e.emitter.indexOf("."))),
    ]);
    const node = (id: string, make: () => Omit<ArchitectureNode, "count">, counted = true) => {
        const found = nodes.get(id) ?? { ...make(), count: 0 };
        if (counted) found.count++;
        nodes.set(id, found);
    };
    const emitterNode = (name: string, counted = true) =>
        node(
            emitterId(name),
            () => {
                const dot = name.indexOf(".");
                if (name.startsWith(EXTERNAL_PREFIX)) return { id: emitterId(name), kind: "external", label: name.slice(EXTERNAL_PREFIX.length) };
                if (dot > 0) return { id: emitterId(name), kind: "step", label: name.slice(dot + 1), group: name.slice(0, dot) };
                return { id: emitterId(name), kind: machines.has(name) ? "stateMachine" : "function", label: name };
            },
            counted,
        );
    const edge = (from: string, to: string, via: ArchitectureEdge["via"]) => {
        const key = `${from}→${to}→${via}`;
        const found = edges.get(key) ?? { from, to, via, count: 0 };
        found.count++;
        edges.set(key, found);
    };
    const steps = new Map<string, StoredEvent>();
    for (const e of unique) {
        const token = tokenOf(e);
        if (token && e.emitter.includes(".") && e.detailType !== TaskAnswer.taskFinished && e.detailType !== TaskAnswer.taskFailed) steps.set(token, e);
    }
    for (const e of unique) {
        const isStatus = e.source === STATES_SOURCE && e.detailType === EXECUTION_STATUS_CHANGE;
        // A status change is the machine itself, not a message between parts: drawn as the machine's node only.
        if (isStatus) {
            emitterNode(e.emitter, false);
            const cause = e.causedBy ? byId.get(e.causedBy) : undefined;
            if (cause && (e.detail as { status?: unknown } | null)?.status === "RUNNING") edge(typeId(cause), emitterId(e.emitter), "executionInput");
            continue;
        }
        emitterNode(e.emitter);
        node(typeId(e), () => ({ id: typeId(e), kind: "detailType", label: e.detailType, group: e.source }));
        edge(emitterId(e.emitter), typeId(e), "emits");
        const cause = e.causedBy ? byId.get(e.causedBy) : undefined;
        if (cause) edge(typeId(cause), emitterId(e.emitter), "causedBy");
        const isAnswer = e.detailType === TaskAnswer.taskFinished || e.detailType === TaskAnswer.taskFailed || e.source === LAMBDA_FAILURE.source;
        const step = isAnswer ? steps.get(tokenOf(e) ?? "") : undefined;
        if (step && e.source !== LAMBDA_FAILURE.source) edge(typeId(e), emitterId(step.emitter), "taskToken");
    }
    // A step's machine, when its status events were not seen, still groups its steps.
    for (const n of [...nodes.values()]) if (n.kind === "step" && n.group && !nodes.has(emitterId(n.group))) emitterNode(n.group, false);
    return {
        since,
        runs,
        nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
        edges: [...edges.values()].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to)),
    };
}
