/**
 * The observability page, in the browser: the runs list, a run's Gantt timeline (critical path, late side effects,
 * the failure), its event table with filters, the architecture graph (cytoscape + dagre), kept up to date from the
 * live WebSocket while a run is in progress (polling when there is no socket).
 *
 * Every data call is signed with SigV4 in the browser (aws4fetch), with credentials the user types in; they stay in
 * this tab's sessionStorage and leave it only as signatures. The page itself holds no data: it is served unsigned.
 * Bundled by page.ts with esbuild into one HTML file; nothing is fetched from elsewhere.
 */
import { AwsClient } from "aws4fetch";
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";
import type { RunDetail, RunsPage } from "../api";
import type { Architecture } from "../architecture";
import type { LiveMessage } from "../live";
import type { RunSummary, StoredEvent } from "../store";
import type { Bar } from "../timeline";

cytoscape.use(dagre);

interface Credentials {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
    region: string;
}

const CREDENTIALS_KEY = "observability.credentials";
const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? "";
/** The API's base: the page is its `GET /` route. */
const apiBase = location.href.replace(/[?#].*$/, "").replace(/\/$/, "");
const liveUrl = meta("live-url");

const $ = <T extends HTMLElement>(selector: string) => {
    const found = document.querySelector<T>(selector);
    if (!found) throw new Error(`the page has no ${selector}`);
    return found;
};

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
    made.append(...children);
    return made;
}

const state: {
    client?: AwsClient;
    credentials?: Credentials;
    runs: RunSummary[];
    next?: string;
    selected?: string;
    detail?: RunDetail;
    socket?: WebSocket;
    cy?: cytoscape.Core;
} = { runs: [] };

declare global {
    interface Window {
        /** The architecture graph, for tests and the curious. */
        cy?: cytoscape.Core;
        /** How many times each view was drawn (the test reads it to see live updates). */
        observability: { timelineRenders: number; live: "connecting" | "open" | "polling" | "off" };
    }
}
window.observability = { timelineRenders: 0, live: "off" };

function status(text: string, isError = false): void {
    const line = $("#status");
    line.textContent = text;
    line.className = isError ? "error" : "";
}

async function api<T>(path: string): Promise<T> {
    if (!state.client) throw new Error("not signed in");
    const response = await state.client.fetch(`${apiBase}${path}`);
    const text = await response.text();
    if (!response.ok) {
        let message = text;
        try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
            // Not JSON: API Gateway's own refusals are plain text sometimes.
        }
        throw new Error(`${path}: ${response.status} ${message}`);
    }
    return JSON.parse(text) as T;
}

// ─── Sign-in ──────────────────────────────────────────────────────────────────────────────────────────────────

function signIn(credentials: Credentials): void {
    state.credentials = credentials;
    state.client = new AwsClient({ ...credentials, service: "execute-api" });
    sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(credentials));
    $("#signin").hidden = true;
    $("#app").hidden = false;
    $("#signed-in-as").textContent = `signed in as ${credentials.accessKeyId}`;
    void refreshRuns();
    void refreshArchitecture();
    connectLive();
}

function signOut(): void {
    sessionStorage.removeItem(CREDENTIALS_KEY);
    state.socket?.close();
    location.reload();
}

function setUpSignIn(): void {
    const form = $<HTMLFormElement>("#signin");
    ($<HTMLInputElement>("#region")).value = meta("region") || "us-east-1";
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        const value = (id: string) => ($<HTMLInputElement>(id)).value.trim();
        const credentials: Credentials = { accessKeyId: value("#access-key-id"), secretAccessKey: value("#secret-access-key"), region: value("#region") || "us-east-1" };
        if (value("#session-token")) credentials.sessionToken = value("#session-token");
        if (!credentials.accessKeyId || !credentials.secretAccessKey) return status("an access key id and its secret are needed", true);
        signIn(credentials);
    });
    $("#signout").addEventListener("click", signOut);
    const kept = sessionStorage.getItem(CREDENTIALS_KEY);
    if (kept) signIn(JSON.parse(kept) as Credentials);
}

// ─── Runs ─────────────────────────────────────────────────────────────────────────────────────────────────────

const durationOf = (from?: string, to?: string) => (from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(2)} s` : "");

async function refreshRuns(more = false): Promise<void> {
    try {
        const page = await api<RunsPage>(`/runs?limit=25${more && state.next ? `&next=${encodeURIComponent(state.next)}` : ""}`);
        state.runs = more ? [...state.runs, ...page.runs] : page.runs;
        state.next = page.next;
        renderRuns();
        if (!state.selected && state.runs[0]) void select(state.runs[0].executionArn);
    } catch (error) {
        status((error as Error).message, true);
    }
}

function renderRuns(): void {
    const body = $("#runs tbody");
    body.replaceChildren(
        ...state.runs.map((run) => {
            const row = element(
                "tr",
                { "data-arn": run.executionArn, "data-status": run.status ?? "UNKNOWN", class: run.executionArn === state.selected ? "selected" : "" },
                element("td", {}, run.executionName),
                element("td", { class: `status ${run.status ?? "UNKNOWN"}` }, run.status ?? "…"),
                element("td", {}, new Date(run.startedAt).toLocaleString()),
                element("td", {}, durationOf(run.startedAt, run.stoppedAt)),
                element("td", {}, String(run.eventCount)),
            );
            row.addEventListener("click", () => void select(run.executionArn));
            return row;
        }),
    );
    $<HTMLButtonElement>("#more-runs").hidden = !state.next;
}

async function select(executionArn: string): Promise<void> {
    state.selected = executionArn;
    renderRuns();
    await refreshRun();
}

let refreshing: Promise<void> | undefined;
let refreshAgain = false;
/** One read of the selected run at a time; a request during one reads again after it. */
async function refreshRun(): Promise<void> {
    if (refreshing) {
        refreshAgain = true;
        return refreshing;
    }
    refreshing = (async () => {
        do {
            refreshAgain = false;
            const arn = state.selected;
            if (!arn) return;
            try {
                const detail = await api<RunDetail>(`/runs/${encodeURIComponent(arn)}`);
                if (state.selected !== arn) continue;
                state.detail = detail;
                renderRun(detail);
                status(`${detail.run?.executionName ?? arn}: ${detail.run?.status ?? "recording"} · ${detail.events.length} events · ${detail.timeline.bars.length} bars`);
            } catch (error) {
                status((error as Error).message, true);
            }
        } while (refreshAgain);
    })().finally(() => (refreshing = undefined));
    return refreshing;
}

// ─── A run: summary, Gantt, failure, events ──────────────────────────────────────────────────────────────────

function renderRun(detail: RunDetail): void {
    const t = detail.timeline;
    $("#run-title").textContent = detail.run?.executionName ?? detail.executionArn;
    $("#run-summary").textContent = [t.status ?? "recording", t.durationMs !== undefined ? `${(t.durationMs / 1000).toFixed(2)} s` : "", `critical path: ${t.criticalPath.length} bars`].filter(Boolean).join(" · ");
    const failure = $("#failure");
    failure.hidden = !t.failure;
    if (t.failure) failure.textContent = `failed at ${t.failure.step ?? "?"}${t.failure.handler ? ` (handler ${t.failure.handler})` : ""}: ${t.failure.error ?? ""} ${t.failure.cause ?? ""}`;
    renderTimeline(t.bars, t.stoppedAt);
    renderEvents(detail.events);
}

const BAR_HEIGHT = 16;
const LABEL_WIDTH = 260;
const CHART_WIDTH = 900;

function renderTimeline(bars: Bar[], stoppedAt?: string): void {
    window.observability.timelineRenders++;
    const svgNs = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNs, "svg");
    const height = (bars.length + 1) * (BAR_HEIGHT + 4) + 20;
    svg.setAttribute("viewBox", `0 0 ${LABEL_WIDTH + CHART_WIDTH + 10} ${height}`);
    svg.setAttribute("width", "100%");
    svg.setAttribute("data-bars", String(bars.length));
    if (bars.length === 0) {
        $("#timeline").replaceChildren(element("p", {}, "no bars yet"));
        return;
    }
    const starts = bars.map((b) => Date.parse(b.start));
    const ends = bars.map((b) => Date.parse(b.end));
    const from = Math.min(...starts);
    const to = Math.max(...ends, from + 1);
    const x = (ms: number) => LABEL_WIDTH + ((ms - from) / (to - from)) * CHART_WIDTH;
    const add = (tag: string, attributes: Record<string, string | number>, text?: string) => {
        const made = document.createElementNS(svgNs, tag);
        for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, String(value));
        if (text !== undefined) made.textContent = text;
        svg.append(made);
    };
    if (stoppedAt) {
        const end = x(Date.parse(stoppedAt));
        add("line", { x1: end, x2: end, y1: 0, y2: height, class: "execution-end" });
        add("text", { x: end - 3, y: 10, class: "axis", "text-anchor": "end" }, "execution ended");
    }
    drawBars(svg, bars, x);
    $("#timeline").replaceChildren(svg);
}

/** One `g.bar` per bar, a row each: its label, and its span on the time axis. */
function drawBars(svg: SVGSVGElement, bars: Bar[], x: (ms: number) => number): void {
    const svgNs = "http://www.w3.org/2000/svg";
    bars.forEach((bar, row) => {
        const y = 14 + row * (BAR_HEIGHT + 4);
        const group = document.createElementNS(svgNs, "g");
        group.setAttribute("class", ["bar", bar.kind, bar.outcome, bar.critical ? "critical" : "", bar.afterExecutionEnd ? "late" : "", bar.sideEffect ? "side-effect" : ""].filter(Boolean).join(" "));
        group.setAttribute("data-id", bar.id);
        group.setAttribute("data-critical", String(bar.critical));
        group.setAttribute("data-late", String(bar.afterExecutionEnd));
        const label = document.createElementNS(svgNs, "text");
        label.setAttribute("x", "4");
        label.setAttribute("y", String(y + BAR_HEIGHT - 4));
        label.textContent = `${bar.label}${bar.afterExecutionEnd ? " (after the end)" : ""}`;
        const rect = document.createElementNS(svgNs, "rect");
        const left = x(Date.parse(bar.start));
        rect.setAttribute("x", String(left));
        rect.setAttribute("y", String(y));
        rect.setAttribute("width", String(Math.max(2, x(Date.parse(bar.end)) - left)));
        rect.setAttribute("height", String(BAR_HEIGHT));
        const title = document.createElementNS(svgNs, "title");
        title.textContent = `${bar.label}: ${bar.durationMs} ms, ${bar.outcome}${bar.critical ? ", on the critical path" : ""}${bar.afterExecutionEnd ? ", ended after the execution" : ""}${bar.error ? `, ${bar.error}: ${bar.cause ?? ""}` : ""}`;
        rect.append(title);
        group.append(label, rect);
        svg.append(group);
    });
}

function renderEvents(events: StoredEvent[]): void {
    const typeFilter = $<HTMLSelectElement>("#filter-type");
    const emitterFilter = $<HTMLSelectElement>("#filter-emitter");
    const options = (select: HTMLSelectElement, values: string[], all: string) => {
        const chosen = select.value;
        select.replaceChildren(element("option", { value: "" }, all), ...values.map((v) => element("option", { value: v }, v)));
        select.value = values.includes(chosen) ? chosen : "";
    };
    options(typeFilter, [...new Set(events.map((e) => e.detailType))].sort(), "every detail-type");
    options(emitterFilter, [...new Set(events.map((e) => e.emitter))].sort(), "every emitter");
    applyEventFilters();
}

function applyEventFilters(): void {
    const events = state.detail?.events ?? [];
    const type = $<HTMLSelectElement>("#filter-type").value;
    const emitter = $<HTMLSelectElement>("#filter-emitter").value;
    const text = $<HTMLInputElement>("#filter-text").value.trim().toLowerCase();
    const shown = events.filter(
        (e) => (!type || e.detailType === type) && (!emitter || e.emitter === emitter) && (!text || JSON.stringify(e).toLowerCase().includes(text)),
    );
    const start = events.length ? Math.min(...events.map((e) => Date.parse(e.emittedAt ?? e.time))) : 0;
    $("#events tbody").replaceChildren(
        ...shown.map((e) =>
            element(
                "tr",
                { "data-id": e.id, "data-detail-type": e.detailType, "data-emitter": e.emitter },
                element("td", {}, `+${Date.parse(e.emittedAt ?? e.time) - start} ms`),
                element("td", {}, e.detailType),
                element("td", {}, e.emitter),
                element("td", {}, e.causedBy ?? ""),
                element("td", { class: "detail" }, element("code", {}, JSON.stringify(e.detail))),
            ),
        ),
    );
    $("#events-count").textContent = `${shown.length} of ${events.length} events`;
}

// ─── Architecture ─────────────────────────────────────────────────────────────────────────────────────────────

async function refreshArchitecture(): Promise<void> {
    try {
        renderArchitecture(await api<Architecture>("/architecture"));
    } catch (error) {
        status((error as Error).message, true);
    }
}

function renderArchitecture(architecture: Architecture): void {
    const elements: cytoscape.ElementDefinition[] = [
        ...architecture.nodes.map((n) => ({ data: { id: n.id, label: n.kind === "detailType" ? n.label : `${n.label}${n.group && n.kind === "step" ? `\n(${n.group})` : ""}`, kind: n.kind, count: n.count } })),
        ...architecture.edges.map((e) => ({ data: { id: `${e.from}->${e.to}`, source: e.from, target: e.to, label: String(e.count), via: e.via } })),
    ];
    state.cy?.destroy();
    state.cy = cytoscape({
        container: $("#graph"),
        elements,
        layout: { name: "dagre", rankDir: "TB", nodeSep: 10, rankSep: 40 } as cytoscape.LayoutOptions,
        style: [
            { selector: "node", style: { label: "data(label)", "font-size": 10, "text-wrap": "wrap", "text-valign": "center", "text-halign": "center", width: 120, height: 34, shape: "round-rectangle", "background-color": "#dbe8f7", "border-width": 1, "border-color": "#5b7fa8" } },
            { selector: 'node[kind = "detailType"]', style: { shape: "ellipse", "background-color": "#fff4d6", "border-color": "#b08a2e", width: 110 } },
            { selector: 'node[kind = "function"]', style: { "background-color": "#dff2df", "border-color": "#4b8a4b" } },
            { selector: 'node[kind = "external"]', style: { "background-color": "#eeeeee", "border-style": "dashed" } },
            { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#999", "target-arrow-color": "#999", label: "data(label)", "font-size": 8 } },
        ],
    });
    window.cy = state.cy;
    $("#graph-summary").textContent = `${architecture.nodes.length} nodes, ${architecture.edges.length} edges over ${architecture.runs} runs`;
}

// ─── Live ─────────────────────────────────────────────────────────────────────────────────────────────────────

let pollTimer: ReturnType<typeof setInterval> | undefined;
let runTimer: ReturnType<typeof setTimeout> | undefined;
let architectureTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * Reads the selected run again soon: many events arrive together, one read answers them all. A timer already set
 * is kept, not pushed back, so a busy run still redraws every quarter second rather than only once it goes quiet.
 */
function soon(what: "run" | "runs" | "architecture"): void {
    if (what === "run") {
        runTimer ??= setTimeout(() => {
            runTimer = undefined;
            void refreshRun();
        }, 250);
    } else if (what === "architecture") {
        architectureTimer ??= setTimeout(() => {
            architectureTimer = undefined;
            void refreshArchitecture();
        }, 2000);
    } else void refreshRuns();
}

function onLive(message: LiveMessage): void {
    if (message.type === "run") {
        const known = state.runs.findIndex((r) => r.executionArn === message.run.executionArn);
        if (known >= 0) {
            state.runs[known] = message.run;
            renderRuns();
        } else soon("runs");
        if (message.run.executionArn === state.selected) soon("run");
        return;
    }
    if (message.executionArn === state.selected) soon("run");
    else if (!message.executionArn.startsWith("event:") && !state.runs.some((r) => r.executionArn === message.executionArn)) soon("runs");
    soon("architecture");
}

async function connectLive(): Promise<void> {
    if (!liveUrl || !state.client) return startPolling();
    window.observability.live = "connecting";
    try {
        const signed = await state.client.sign(liveUrl.replace(/^ws/, "http"), { method: "GET", aws: { signQuery: true } });
        const socket = new WebSocket(signed.url.replace(/^http/, "ws"));
        state.socket = socket;
        socket.addEventListener("open", () => {
            window.observability.live = "open";
            stopPolling();
            $("#live").textContent = "live";
        });
        socket.addEventListener("message", (event) => onLive(JSON.parse(String(event.data)) as LiveMessage));
        socket.addEventListener("close", () => {
            $("#live").textContent = "polling";
            startPolling();
            // API Gateway closes idle connections after 10 minutes and every one after 2 hours: connect again.
            setTimeout(() => void connectLive(), 5000);
        });
    } catch {
        startPolling();
    }
}

function startPolling(): void {
    window.observability.live = "polling";
    pollTimer ??= setInterval(() => {
        const run = state.runs.find((r) => r.executionArn === state.selected);
        if (!run || run.status === null || run.status === "RUNNING") {
            void refreshRun();
            void refreshRuns();
        }
    }, 1000);
}

function stopPolling(): void {
    clearInterval(pollTimer);
    pollTimer = undefined;
}

// ─── Start ────────────────────────────────────────────────────────────────────────────────────────────────────

for (const id of ["#filter-type", "#filter-emitter"]) $(id).addEventListener("change", applyEventFilters);
$("#filter-text").addEventListener("input", applyEventFilters);
$("#more-runs").addEventListener("click", () => void refreshRuns(true));
$("#refresh").addEventListener("click", () => {
    void refreshRuns();
    void refreshRun();
    void refreshArchitecture();
});
setUpSignIn();
