/**
 * The observability page as one HTML file: web/app.ts bundled for browsers by esbuild (cytoscape, its dagre layout
 * and aws4fetch inside), with web/style.css, into web/index.html. Built once per process while the program is
 * evaluated, then served by the page function (handlers/page.ts) from the HTTP API's `GET /` route: nothing is
 * fetched from elsewhere, so the page works offline and under a strict Content-Security-Policy.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { buildSync } from "esbuild";

export interface BuiltPage {
    /** The HTML, with `__LIVE_URL__` and `__REGION__` left for the function to fill. */
    html: string;
    /** `sha256-<base64>` of the inline script, for the page's Content-Security-Policy. */
    scriptHash: string;
}

const WEB = path.join(__dirname, "web");
let built: BuiltPage | undefined;

export function buildPage(): BuiltPage {
    if (built) return built;
    const bundle = buildSync({
        entryPoints: [path.join(WEB, "app.ts")],
        bundle: true,
        write: false,
        format: "iife",
        platform: "browser",
        target: ["chrome120", "firefox120", "safari17"],
        minify: true,
        legalComments: "none",
        logLevel: "silent",
    });
    // An inline script ends at the first `</script`: the bundle's own (in strings) must not end it.
    const script = bundle.outputFiles[0].text.replace(/<\/script/gi, "<\\/script");
    const style = fs.readFileSync(path.join(WEB, "style.css"), "utf8");
    const html = fs
        .readFileSync(path.join(WEB, "index.html"), "utf8")
        .replace("__STYLE__", () => style)
        .replace("__SCRIPT__", () => script);
    built = { html, scriptHash: `sha256-${createHash("sha256").update(script).digest("base64")}` };
    return built;
}
