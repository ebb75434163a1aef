/**
 * A run's trace as terminal text (`npm run trace`): the run, its bars as a Gantt chart in milliseconds from the
 * execution's start, the critical path, side effects that outlived the execution, a failure's step and cause, every
 * event in causal order, and the run's cost.
 */
import type { RunDetail } from "./api";
import type { Bar } from "./timeline";

const WIDTH = 40;

function seconds(ms: number | undefined): string {
    return ms === undefined ? "?" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(3)} s`;
}

function barLabel(b: Bar): string {
    if (b.kind === "execution") return `▶ ${b.label}`;
    if (b.kind === "wait") return `  wait    ${b.label}`;
    return `  handler ${b.label}`;
}

/** What `npm run trace` prints; `cost` is the run's bill as lines (cost.ts's formatBill), last. */
export function formatTrace(detail: RunDetail, cost?: string[]): string {
    const t = detail.timeline;
    const lines: string[] = [];
    const origin = Date.parse(t.startedAt ?? t.bars[0]?.start ?? new Date().toISOString());
    const span = Math.max(1, ...t.bars.map((b) => Date.parse(b.end) - origin));
    lines.push(`Run ${detail.run?.executionName ?? detail.executionArn.split(":").pop()}  ${t.status ?? "UNKNOWN"}  ${seconds(t.durationMs)}`);
    lines.push(`  ${detail.executionArn}`);
    if (t.startedAt) lines.push(`  started ${t.startedAt}${t.stoppedAt ? `, stopped ${t.stoppedAt}` : ", still running"}`);
    lines.push("");

    if (t.failure) {
        const f = t.failure;
        lines.push(`FAILED at ${f.step ?? "an unknown step"}${f.handler ? ` (answered by ${f.handler})` : ""}`);
        lines.push(`  error: ${f.error ?? "?"}`);
        lines.push(`  cause: ${f.cause ?? "?"}`);
        lines.push("");
    }

    const labelWidth = Math.min(60, Math.max(...t.bars.map((b) => barLabel(b).length), 10));
    lines.push(`${"bar".padEnd(labelWidth)}  ${"start".padStart(7)}  ${"duration".padStart(9)}  ${"timeline (ms from the execution's start)".padEnd(WIDTH)}`);
    for (const b of t.bars) {
        const start = Date.parse(b.start) - origin;
        const from = Math.max(0, Math.floor((start / span) * WIDTH));
        const length = Math.max(1, Math.round((b.durationMs / span) * WIDTH));
        const fill = b.critical ? "█" : b.sideEffect ? "░" : "▒";
        const chart = `${" ".repeat(from)}${fill.repeat(Math.min(length, WIDTH - from + 1))}`.padEnd(WIDTH + 1);
        const marks = [
            b.critical ? "critical" : "",
            b.sideEffect ? "side effect" : "",
            b.afterExecutionEnd ? "AFTER THE EXECUTION ENDED" : "",
            b.outcome !== "succeeded" ? b.outcome.toUpperCase() : "",
        ].filter(Boolean);
        lines.push(`${barLabel(b).padEnd(labelWidth).slice(0, labelWidth)}  ${String(start).padStart(7)}  ${`${b.durationMs} ms`.padStart(9)}  ${chart} ${marks.join(", ")}`);
    }
    lines.push("");

    const byId = new Map(t.bars.map((b) => [b.id, b]));
    const path = t.criticalPath.map((id) => byId.get(id)).filter((b): b is Bar => b !== undefined);
    lines.push(`Critical path (${path.length} bars): ${path.map((b) => `${b.kind === "wait" ? "wait " : ""}${b.label} ${b.durationMs} ms`).join(" → ") || "none"}`);
    const late = t.bars.filter((b) => b.afterExecutionEnd);
    lines.push(`Side effects after the execution ended: ${late.length ? late.map((b) => `${b.label} (+${Date.parse(b.end) - Date.parse(t.stoppedAt!)} ms)`).join(", ") : "none"}`);
    lines.push("");

    lines.push(`Events and history in causal order (${t.entries.length}):`);
    for (const e of t.entries) {
        const offset = `+${Date.parse(e.at) - origin}`.padStart(7);
        if (e.kind === "event") {
            const ev = e.event;
            lines.push(`${offset} ms  event    ${ev.detailType}  from ${ev.emitter}${ev.causedBy ? `  (caused by ${ev.causedBy})` : ""}  [${ev.id}]`);
        } else {
            const h = e.history;
            const extra = [h.stateName, h.error, h.cause].filter(Boolean).join("  ");
            lines.push(`${offset} ms  history  ${h.type}${extra ? `  ${extra}` : ""}`);
        }
    }
    lines.push("");

    // The run's bill, computed by cost.ts from the run's own records (trace.ts passes it); the API's callers have none.
    lines.push("── Cost of the run ──");
    lines.push(...(cost ?? ["  (not computed)"]));
    return lines.join("\n");
}
