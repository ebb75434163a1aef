/**
 * The observability web page in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core)
 * opens the page the HTTP API's `GET /` serves from the offline runtime, signs in, and watches a cookie report run
 * while it is in progress. The page's own code signs every call (aws4fetch) and follows the live WebSocket.
 * A screenshot is saved to test-artifacts/observability-page.png.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { type Browser, type Page, chromium } from "playwright-core";
import { atEndpoint } from "../local/core/naming";
import { TestRuntime, finished, newExecutions, putStart, startTestRuntime, until } from "../local/testing/runtime";
import { COOKIE_REPORT, ofType } from "../local/testing/stack";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(__dirname, "..", "test-artifacts");
/** Enough names that the run lasts a few seconds: the timeline is sampled twice while it runs. */
const NAMES = 120;

describe("observability page in headless Chromium, during a live run", function () {
    this.timeout(120_000);
    let runtime: TestRuntime;
    let browser: Browser;
    let page: Page;
    let pageUrl: string;
    const errors: string[] = [];

    before(async function () {
        if (!fs.existsSync(CHROMIUM)) {
            // CI installs it (.ci/run); a machine without it cannot run this suite.
            console.log(`      skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
            this.skip();
        }
        // A Map of one name at a time keeps the run long enough to watch.
        runtime = await startTestRuntime({ config: { "choreography:mapMaxConcurrency": "1" } });
        pageUrl = atEndpoint(String(runtime.stack.outputs.observabilityPageUrl), runtime.url);
        browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
        page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
        page.on("pageerror", (error) => errors.push(error.message));
        page.on("console", (message) => void (message.type() === "error" && errors.push(message.text())));
    });
    after(async () => {
        await browser?.close();
        await runtime?.close();
    });

    it("loads unsigned while its data routes refuse unsigned callers", async () => {
        const response = await page.goto(pageUrl);
        assert.equal(response?.status(), 200);
        assert.match(String(response?.headers()["content-security-policy"]), /default-src 'none'; script-src 'sha256-/);
        assert.equal((await fetch(`${pageUrl}runs`)).status, 403);
        assert.equal(await page.locator("#signin").isVisible(), true, "the sign-in form first");
    });

    it("signs in, and draws the run's timeline growing while it runs, the events with filters and a graph node per handler", async () => {
        await page.fill("#access-key-id", "AKIAPAGETEST");
        await page.fill("#secret-access-key", "page-test-secret");
        await page.click("#signin-submit");
        await page.waitForSelector("#app:not([hidden])");
        assert.equal(await page.locator("#signin").isVisible(), false, "the sign-in form gone once signed in");
        await page.waitForFunction(() => window.observability.live === "open", undefined, { timeout: 10_000 });

        await putStart(runtime, JSON.stringify({ count: NAMES }));
        const [executionArn] = await newExecutions(runtime, new Set());
        // The page lists the new run (pushed live) and selects it.
        const row = page.locator(`#runs tr[data-arn="${executionArn}"]`);
        await row.waitFor({ timeout: 10_000 });
        await row.click();
        const bars = () => page.locator("#timeline svg").getAttribute("data-bars").then((n) => Number(n ?? 0));
        const running = async () => (await runtime.clients.sfn.send(new (await import("@aws-sdk/client-sfn")).DescribeExecutionCommand({ executionArn }))).status === "RUNNING";
        const first = await until("a first bar while the run is in progress", async () => ((await bars()) > 0 ? bars() : undefined), 20_000);
        assert.ok(await running(), `the run ended before the first sample (${first} bars): make it longer`);
        const second = await until("more bars while the run is in progress", async () => {
            const now = await bars();
            return now > first ? now : undefined;
        }, 20_000);
        assert.ok(await running(), `the run ended before the second sample (${first} then ${second} bars): make it longer`);
        assert.ok(second > first, `${first} then ${second}`);

        assert.equal((await finished(runtime, executionArn, 60_000)).status, "SUCCEEDED");
        await runtime.idle();
        // Its end arrives live: the page shows the final timeline, the API's own.
        const api = await runtime.services.lambda.service.invoke("observability-api", {
            version: "2.0",
            routeKey: "GET /runs/{executionArnOrName}",
            rawPath: `/runs/${executionArn}`,
            rawQueryString: "",
            headers: {},
            pathParameters: { executionArnOrName: executionArn },
            requestContext: { http: { method: "GET", path: `/runs/${executionArn}` } },
            isBase64Encoded: false,
        });
        const expected = JSON.parse(String((api.payload as { body: string }).body)) as { timeline: { bars: { critical: boolean; afterExecutionEnd: boolean }[] }; events: { detailType: string }[] };
        await page.waitForFunction((n) => document.querySelectorAll("#timeline g.bar").length === n, expected.timeline.bars.length, { timeout: 15_000 });
        assert.equal(await page.locator("#timeline g.bar.critical").count(), expected.timeline.bars.filter((b) => b.critical).length, "the critical path highlighted");
        assert.equal(await page.locator("#timeline g.bar.late").count(), expected.timeline.bars.filter((b) => b.afterExecutionEnd).length, "late side effects marked");
        await page.waitForFunction((n) => document.querySelectorAll("#events tbody tr").length === n, expected.events.length, { timeout: 10_000 });

        // The event table's filters: one detail-type shows only its rows.
        await page.selectOption("#filter-type", "processSinglePost");
        const shown = await page.locator("#events tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-detail-type")));
        assert.equal(shown.length, expected.events.filter((e) => e.detailType === "processSinglePost").length);
        assert.ok(shown.length >= NAMES && shown.every((t) => t === "processSinglePost"), JSON.stringify(shown.slice(0, 3)));
        await page.selectOption("#filter-type", "");
        await page.fill("#filter-text", "no event holds this text");
        assert.equal(await page.locator("#events tbody tr").count(), 0);
        await page.fill("#filter-text", "");

        // The architecture graph (cytoscape): a node for every handler the stack declares.
        await page.click("#refresh");
        const handlers = ofType(runtime.stack, "choreography:lambda:HandlerFunction")
            .map((h) => h.name)
            .filter((name) => name.startsWith(`${COOKIE_REPORT}-`));
        assert.ok(handlers.length >= 5, JSON.stringify(handlers));
        await page.waitForFunction((names) => names.every((n) => window.cy?.getElementById(`emitter:${n}`).nonempty()), handlers, { timeout: 10_000 });
        const graph = await page.evaluate(() => ({ nodes: window.cy!.nodes().length, edges: window.cy!.edges().length }));
        assert.ok(graph.edges > 0, JSON.stringify(graph));

        fs.mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACTS, "observability-page.png") });
        assert.deepEqual(errors, [], "no script error on the page");
    });
});
