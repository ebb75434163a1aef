/** The live push's plain parts: which run a connection subscribes to, and frames within API Gateway's limit. */
import { strict as assert } from "assert";
import { ALL_RUNS, MAX_MESSAGE_BYTES, frameOf, liveMessagesOf, managementEndpointOf, subscriptionOf } from "./live";
import type { StoredEvent } from "./store";

const WORKFLOW = "arn:aws:states:us-east-1:123456789012:stateMachine:cookieReport-workflow";
const EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:cookieReport-workflow:run-1";

const event = (detail: unknown): StoredEvent => ({
    correlationId: EXECUTION,
    sk: "event#2026-12-03T00:00:00.000Z#-#e1",
    id: "e1",
    time: "2026-12-03T00:00:00.000Z",
    detailType: "processSingle",
    source: "project",
    emitter: "cookieReport-workflow.ProcessSingle",
    detail,
});

describe("observability live: subscriptions and frames", () => {
    it("subscribes to every run, to an execution ARN of the workflow, or to an execution named; refuses others naming why", () => {
        assert.deepEqual(subscriptionOf(undefined, WORKFLOW), { subscription: ALL_RUNS });
        assert.deepEqual(subscriptionOf("", WORKFLOW), { subscription: ALL_RUNS });
        assert.deepEqual(subscriptionOf(EXECUTION, WORKFLOW), { subscription: EXECUTION });
        assert.deepEqual(subscriptionOf("run-1", WORKFLOW), { subscription: EXECUTION });
        for (const bad of ["arn:aws:states:us-east-1:123456789012:execution:other:run-1", "a b", "x".repeat(81), `${WORKFLOW.replace(":stateMachine:", ":execution:")}:`]) {
            const refused = subscriptionOf(bad, WORKFLOW);
            assert.ok("refused" in refused && /run must be an execution ARN of .*cookieReport-workflow/.test(refused.refused), bad);
        }
    });

    it("sends the event and, when the status changed, the run; an event past 127 KB goes without its detail", () => {
        const small = liveMessagesOf(event({ name: "x" }));
        assert.deepEqual(small.map((m) => m.type), ["event"]);
        assert.deepEqual(JSON.parse(frameOf(small[0])), small[0]);
        const big = liveMessagesOf(event({ blob: "y".repeat(MAX_MESSAGE_BYTES) }), { executionArn: EXECUTION, executionName: "run-1", status: "RUNNING", startedAt: "2026-12-03T00:00:00.000Z", eventCount: 1 });
        assert.deepEqual(big.map((m) => m.type), ["event", "run"]);
        const frame = frameOf(big[0]);
        assert.ok(Buffer.byteLength(frame) <= MAX_MESSAGE_BYTES);
        assert.deepEqual(JSON.parse(frame).event, { ...event(null), detailOmitted: true });
    });

    it("calls the management API at the stage's URL over HTTPS (HTTP offline)", () => {
        assert.equal(managementEndpointOf("wss://abc.execute-api.us-east-1.amazonaws.com/live"), "https://abc.execute-api.us-east-1.amazonaws.com/live");
        assert.equal(managementEndpointOf("ws://127.0.0.1:4566/_apis/abc/live"), "http://127.0.0.1:4566/_apis/abc/live");
    });
});
