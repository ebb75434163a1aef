/**
 * `page`: the observability page on the HTTP API's `GET /` (no IAM: the page holds no data; every call it makes is
 * signed). It fills in the live WebSocket's URL and the region, and forbids everything the page does not do.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { BuiltPage } from "../page";

const escapeAttribute = (text: string) => text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** The page's Content-Security-Policy: its one inline script, its API, its live socket; nothing else. */
export function contentSecurityPolicy(scriptHash: string, liveUrl: string): string {
    const liveOrigin = /^wss?:\/\/[^/]+/.exec(liveUrl)?.[0];
    return [
        "default-src 'none'",
        `script-src '${scriptHash}'`,
        "style-src 'unsafe-inline'",
        `connect-src 'self'${liveOrigin ? ` ${liveOrigin}` : ""}`,
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ].join("; ");
}

/** The page function's factory, holding the page built at evaluation. */
export function pageFactoryOf(page: BuiltPage) {
    return () => {
        const liveUrl = process.env.LIVE_URL ?? "";
        const region = process.env.AWS_REGION ?? "us-east-1";
        const body = page.html.replace("__LIVE_URL__", () => escapeAttribute(liveUrl)).replace("__REGION__", () => escapeAttribute(region));
        const headers = {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "content-security-policy": contentSecurityPolicy(page.scriptHash, liveUrl),
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        };
        return async (_event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => ({ statusCode: 200, headers, body });
    };
}
