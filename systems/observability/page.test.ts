/** The observability page's build and its function: one self-contained HTML file under a strict policy. */
import { strict as assert } from "assert";
import { createHash } from "crypto";
import { contentSecurityPolicy, pageFactoryOf } from "./handlers/page";
import { buildPage } from "./page";

describe("observability page: the built HTML and the page function", () => {
    it("inlines the bundle (cytoscape, dagre, aws4fetch) and the style, and hashes the script for its policy", () => {
        const { html, scriptHash } = buildPage();
        assert.doesNotMatch(html, /__SCRIPT__|__STYLE__/);
        const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? "";
        assert.ok(script.length > 100_000, `a bundle of ${script.length} characters`);
        assert.equal(scriptHash, `sha256-${createHash("sha256").update(script).digest("base64")}`);
        assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, "nothing fetched from elsewhere");
    });

    it("fills the live URL (escaped) and the region, and sends a policy allowing only its script, API and socket", async () => {
        const page = { html: '<meta name="live-url" content="__LIVE_URL__"><meta name="region" content="__REGION__">', scriptHash: "sha256-abc" };
        const saved = { LIVE_URL: process.env.LIVE_URL, AWS_REGION: process.env.AWS_REGION };
        process.env.LIVE_URL = 'wss://x.execute-api.eu-west-1.amazonaws.com/live"><script>';
        process.env.AWS_REGION = "eu-west-1";
        try {
            const result = await pageFactoryOf(page)()({} as never);
            assert.equal(result.statusCode, 200);
            assert.equal(result.body, '<meta name="live-url" content="wss://x.execute-api.eu-west-1.amazonaws.com/live&quot;>&lt;script>"><meta name="region" content="eu-west-1">');
            assert.equal(result.headers?.["content-type"], "text/html; charset=utf-8");
        } finally {
            for (const [name, value] of Object.entries(saved)) {
                if (value === undefined) delete process.env[name];
                else process.env[name] = value;
            }
        }
        assert.equal(
            contentSecurityPolicy("sha256-abc", "wss://x.execute-api.eu-west-1.amazonaws.com/live"),
            "default-src 'none'; script-src 'sha256-abc'; style-src 'unsafe-inline'; connect-src 'self' wss://x.execute-api.eu-west-1.amazonaws.com; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        );
    });
});
