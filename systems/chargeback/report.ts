/**
 * `npm run chargeback -- --month YYYY-MM [--csv] [--url URL] [--region REGION]`: the chargeback report of a month,
 * from the stack's `GET /chargeback` (IAM auth: the request is signed with SigV4 for execute-api, with the credentials
 * the AWS SDK finds: environment, profile, SSO, instance role). The API's URL is `--url`, else $CHARGEBACK_API_URL,
 * else `pulumi stack output chargebackApiUrl` of the selected stack. Against the offline runtime (`npm start`), pass
 * the `chargebackApiUrl` it prints and any key (AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test).
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { AwsClient } from "aws4fetch";
import { MONTH } from "./model";
import { reportTable, type ChargebackReport } from "./reportApi";

// The SDK warns that Node 20 support ends; the CLI works on Node 20 and 22 alike.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const USAGE = "usage: npm run chargeback -- --month YYYY-MM [--csv] [--url URL] [--region REGION]";

function fail(message: string, code = 2): never {
    console.error(`chargeback: ${message}`);
    process.exit(code);
}

function apiUrl(given: string | undefined): string {
    if (given) return given;
    if (process.env.CHARGEBACK_API_URL) return process.env.CHARGEBACK_API_URL;
    try {
        return execFileSync("pulumi", ["stack", "output", "chargebackApiUrl"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    } catch {
        return fail("no API URL: pass --url, set CHARGEBACK_API_URL, or run from a Pulumi project whose selected stack deploys chargeback");
    }
}

async function main(): Promise<void> {
    let values: { month?: string; csv?: boolean; url?: string; region?: string; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: process.argv.slice(2),
            options: { month: { type: "string" }, csv: { type: "boolean" }, url: { type: "string" }, region: { type: "string" }, help: { type: "boolean", short: "h" } },
            strict: true,
        }));
    } catch (error) {
        return fail(`${(error as Error).message}\n${USAGE}`);
    }
    if (values.help) {
        console.log(USAGE);
        return;
    }
    if (!values.month || !MONTH.test(values.month)) fail(`--month must be YYYY-MM (2025-06), got ${JSON.stringify(values.month ?? null)}\n${USAGE}`);
    const base = apiUrl(values.url).replace(/\/+$/, "");
    // A deployed API's host names its region (<id>.execute-api.<region>.amazonaws.com).
    const region = values.region ?? /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(base)?.[1] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
    let credentials;
    try {
        // The SDK's default provider chain, as every AWS tool resolves it.
        credentials = await new DynamoDBClient({ region }).config.credentials();
    } catch (error) {
        return fail(`no AWS credentials: ${(error as Error).message}`, 1);
    }
    const client = new AwsClient({ ...credentials, service: "execute-api", region });
    const url = `${base}/chargeback?month=${values.month}${values.csv ? "&format=csv" : ""}`;
    const response = await client.fetch(url);
    const text = await response.text();
    if (!response.ok) fail(`GET ${url}: ${response.status} ${text}`, 1);
    if (values.csv) process.stdout.write(text);
    else console.log(reportTable(JSON.parse(text) as ChargebackReport));
}

main().catch((error: Error) => fail(error.stack ?? error.message, 1));
