/**
 * The observability system's live push and its HTTP API over the endpoint, as a browser or a user's script calls
 * them: the WebSocket API's `$connect` signed in the query (aws4fetch, as a browser must sign it), every stored event
 * of a run pushed once to its subscribers, and the HTTP API's routes refusing unsigned callers.
 */
import { strict as assert } from "assert";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { AwsClient } from "aws4fetch";
import WebSocket from "ws";
import { atEndpoint } from "../local/core/naming";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";
import { TestRuntime, executionName, finished, newExecutions, putStart, startTestRuntime, until } from "../local/testing/runtime";
import { one } from "../local/testing/stack";
import type { RunDetail, RunsPage } from "../systems/observability/api";
import type { LiveMessage } from "../systems/observability/live";

/** A socket with every message it received, each with the time it arrived. */
interface Listener {
    socket: WebSocket;
    messages: { at: number; message: LiveMessage }[];
}

describe("observability live: the WebSocket push and the HTTP API over the endpoint", function () {
    this.timeout(90_000);
    let runtime: TestRuntime;
    let liveUrl: string;
    let apiUrl: string;
    const signer = new AwsClient({ ...LOCAL_CREDENTIALS, service: "execute-api", region: "us-east-1" });
    const known = new Set<string>();

    before(async () => {
        runtime = await startTestRuntime(process.env.DEBUG_LIVE ? { log: (l) => console.log(l), verbose: true } : {});
        liveUrl = atEndpoint(String(runtime.stack.outputs.observabilityLiveUrl), runtime.url);
        apiUrl = atEndpoint(String(runtime.stack.outputs.observabilityApiUrl), runtime.url);
    });
    const sockets: WebSocket[] = [];
    after(async () => {
        for (const socket of sockets) socket.terminate();
        await runtime?.close();
    });

    /** The live URL signed in its query, as a browser signs it (it cannot set a WebSocket's headers). */
    async function signedLiveUrl(query = ""): Promise<string> {
        const signed = await signer.sign(`${liveUrl.replace(/^ws/, "http")}${query}`, { method: "GET", aws: { signQuery: true } });
        return signed.url.replace(/^http/, "ws");
    }

    function listen(url: string): Promise<Listener> {
        return new Promise((resolve, reject) => {
            const socket = new WebSocket(url);
            const listener: Listener = { socket, messages: [] };
            sockets.push(socket);
            socket.on("message", (data) => listener.messages.push({ at: Date.now(), message: JSON.parse(String(data)) as LiveMessage }));
            socket.once("open", () => resolve(listener));
            socket.once("error", reject);
            socket.once("unexpected-response", (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
        });
    }

    async function signedGet<T>(path: string): Promise<{ status: number; body: T }> {
        const response = await signer.fetch(`${apiUrl}${path}`);
        return { status: response.status, body: (await response.json()) as T };
    }

    /** Starts a run of `count` names; its execution ARN. */
    async function startRun(count: number): Promise<string> {
        await putStart(runtime, JSON.stringify({ count }));
        const [arn] = await newExecutions(runtime, known);
        return arn;
    }

    /** The run as the store holds it once the recorder has stored every event the API lists and the run ended. */
    const storedRun = (arn: string) =>
        until(`the run ${arn} recorded to its end`, async () => {
            const { status, body } = await signedGet<RunDetail>(`/runs/${encodeURIComponent(arn)}`);
            return status === 200 && body.run?.status === "SUCCEEDED" ? body : undefined;
        }, 30_000);

    it("refuses an unsigned connection, and a run that is not one of the workflow's", async () => {
        await assert.rejects(listen(liveUrl), /refused with 403/);
        await assert.rejects(listen(await signedLiveUrl("?run=arn:aws:states:us-east-1:000000000000:execution:other:x")), /refused with 400/);
    });

    it("pushes every stored event of a run once to a client of all runs, and the run's status changes", async () => {
        const all = await listen(await signedLiveUrl());
        const arn = await startRun(3);
        assert.equal((await finished(runtime, arn)).status, "SUCCEEDED");
        const stored = await storedRun(arn);
        // The late events (side effects) are stored after the run ended: wait for their pushes too.
        // The run's `start` is stored before its execution exists (under no run) and reaches clients of every run so.
        const startEventId = stored.run?.startEventId;
        const pushedIds = () =>
            all.messages.flatMap(({ message }) => (message.type === "event" && (message.executionArn === arn || message.event.id === startEventId) ? [message.event.id] : []));
        await until("every stored event pushed", async () => {
            const { body } = await signedGet<RunDetail>(`/runs/${encodeURIComponent(arn)}`);
            return body.events.length === pushedIds().length ? true : undefined;
        }, 15_000);
        const final = (await signedGet<RunDetail>(`/runs/${encodeURIComponent(arn)}`)).body;
        assert.ok(final.events.length >= stored.events.length);
        assert.deepEqual([...pushedIds()].sort(), final.events.map((e) => e.id).sort(), "each stored event pushed");
        assert.equal(new Set(pushedIds()).size, pushedIds().length, "none twice");
        // As stored: the pushed event equals the API's (redacted) one.
        const pushedEvent = all.messages.find(({ message }) => message.type === "event" && message.event.detailType === "processSingle");
        assert.ok(pushedEvent && pushedEvent.message.type === "event");
        assert.deepEqual(pushedEvent.message.event, final.events.find((e) => e.id === (pushedEvent.message as { event: { id: string } }).event.id));
        const statuses = all.messages.flatMap(({ message }) => (message.type === "run" && message.run.executionArn === arn ? [message.run.status] : []));
        assert.deepEqual(statuses, ["RUNNING", "SUCCEEDED"]);
        // The push reaches the client soon after the event was emitted (the target is a second).
        const lags = all.messages.flatMap(({ at, message }) => (message.type === "event" && message.event.emittedAt ? [at - Date.parse(message.event.emittedAt)] : []));
        const worst = Math.max(...lags);
        console.log(`      live push lag over ${lags.length} events: median ${lags.sort((a, b) => a - b)[Math.floor(lags.length / 2)]} ms, worst ${worst} ms`);
        assert.ok(worst < 10_000, `an event pushed ${worst} ms after it was emitted`);
        all.socket.close();
    });

    it("pushes to a client of one run (named by its execution name) only that run's events; closing forgets it", async () => {
        const first = await startRun(2);
        const ofFirst = await listen(await signedLiveUrl(`?run=${executionName(first)}`));
        const second = await startRun(2);
        await storedRun(first);
        await storedRun(second);
        await until("the first run's end pushed", async () => (ofFirst.messages.some(({ message }) => message.type === "run" && message.run.status === "SUCCEEDED") ? true : undefined));
        const runsPushed = new Set(ofFirst.messages.map(({ message }) => (message.type === "event" ? message.executionArn : message.run.executionArn)));
        assert.deepEqual([...runsPushed], [first]);
        ofFirst.socket.close();
        const dynamodb = new DynamoDBClient({ endpoint: runtime.url, region: "us-east-1", credentials: LOCAL_CREDENTIALS });
        const connectionsTable = String(one(runtime.stack, "aws:dynamodb/table:Table", "observability-connections").state.name);
        await until("the closed connections forgotten ($disconnect)", async () => {
            const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName: connectionsTable }));
            return Items.length === 0 ? true : undefined;
        });
        dynamodb.destroy();
    });

    it("serves GET /runs and GET /architecture to a signed caller only", async () => {
        assert.equal((await fetch(`${apiUrl}/runs`)).status, 403, "unsigned");
        const runs = await signedGet<RunsPage>("/runs?limit=2");
        assert.equal(runs.status, 200);
        assert.equal(runs.body.runs.length, 2);
        assert.ok(runs.body.next, "a next page");
        const architecture = await signedGet<{ nodes: { id: string }[] }>("/architecture");
        assert.equal(architecture.status, 200);
        assert.ok(architecture.body.nodes.some((n) => n.id === "emitter:cookieReport-processSingle"), JSON.stringify(architecture.body.nodes.map((n) => n.id)));
    });
});
