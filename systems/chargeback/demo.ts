/**
 * `npm run demo -- --system chargeback`: the chargeback, offline. Starts the runtime on this repository's program with
 * the chargeback alone (its webhook secret and EC2 answers from test/fixtures/chargeback), POSTs the fixture's signed
 * GitHub deliveries to the webhook over HTTP (several organisations and repositories, Spot and GitHub-hosted runners,
 * shuffled, some twice, one with a bad signature, a ping and a push), waits for every execution, and prints the
 * report `GET /chargeback` answers (signed with SigV4) for the month of the deliveries. Exits non-zero when an
 * execution failed or a delivery was answered other than expected.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import { AwsClient } from "aws4fetch";
import type { CliOptions } from "../../local/cli";
import { start, watchParent } from "../../local/cli";
import { LOCAL_CREDENTIALS } from "../../local/core/runtime";
import type { FixtureDelivery } from "../../test/fixtures/chargeback/generate";
import { reportTable, type ChargebackReport } from "./reportApi";

const FIXTURES = path.join(__dirname, "..", "..", "test", "fixtures", "chargeback");
const MONTH = "2025-06";

export async function chargebackDemo(options: Omit<CliOptions, "help" | "count">): Promise<number> {
    const { secret, deliveries } = JSON.parse(fs.readFileSync(path.join(FIXTURES, "deliveries.json"), "utf8")) as { secret: string; deliveries: FixtureDelivery[] };
    const started = Date.now();
    const runtime = await start({
        ...options,
        port: options.port ?? 4566,
        // The demo's secret is the fixture's, given as `pulumi config set --secret` would; never a deployed stack's.
        config: { "choreography:systems": JSON.stringify(["chargeback"]), "choreography:chargebackWebhookSecret": secret },
        fixtures: { ec2: path.join(FIXTURES, "ec2.json") },
    });
    watchParent(() => {
        console.error("choreography demo: parent process gone, stopping");
        void runtime.close().finally(() => process.exit(1));
    });
    const outputs = runtime.stack.outputs as Record<string, string>;
    const api = new URL(new URL(outputs.chargebackApiUrl).pathname, runtime.url).toString();
    console.log(`evaluated index.ts with choreography:systems [chargeback]: ${runtime.stack.resources.length} resources, served locally (nothing deployed)`);
    console.log(`ready ${runtime.url} (${Date.now() - started} ms); webhook ${api}/github/webhook`);

    // Shuffled with a fixed seed (the same run every time), every third delivery sent twice as GitHub's retries would.
    let seed = 20250601;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sent = [...deliveries, ...deliveries.filter((_, i) => i % 3 === 1)]
        .map((d) => ({ d, key: random() }))
        .sort((a, b) => a.key - b.key)
        .map(({ d }) => d);
    let unexpected = 0;
    for (const delivery of sent) {
        const response = await fetch(`${api}/github/webhook`, { method: "POST", headers: delivery.headers, body: delivery.body });
        const expected = delivery.label.startsWith("forged") ? 401 : delivery.label === "ping" ? 200 : 202;
        if (response.status !== expected) unexpected++;
        const { message } = (await response.json()) as { message: string };
        console.log(`${String(response.status).padEnd(4)} ${delivery.headers["x-github-event"].padEnd(13)} ${delivery.label}${response.status === expected ? "" : `  (expected ${expected}: ${message})`}`);
    }

    const sfn = new SFNClient({ endpoint: runtime.url, region: runtime.stack.region, credentials: LOCAL_CREDENTIALS });
    await runtime.services.events.service.idle();
    const executions = await (async () => {
        const deadline = Date.now() + 60_000;
        for (;;) {
            const { executions: list = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: outputs.chargebackWorkflowArn, maxResults: 1000 }));
            if (list.every((e) => e.status !== "RUNNING")) return list;
            if (Date.now() > deadline) throw new Error("executions still running after 60 s");
            await new Promise((r) => setTimeout(r, 50));
        }
    })();
    const outcomes = await Promise.all(executions.map((e) => sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }))));
    const failed = outcomes.filter((o) => o.status !== "SUCCEEDED");
    const counts = outcomes.reduce<Record<string, number>>((all, o) => {
        const output = o.output ? (JSON.parse(o.output) as { applied?: boolean; reason?: string }) : {};
        const key = o.status !== "SUCCEEDED" ? o.status! : output.applied ? "applied" : (output.reason ?? "other");
        return { ...all, [key]: (all[key] ?? 0) + 1 };
    }, {});
    console.log(`\n${outcomes.length} executions: ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ")}`);
    for (const f of failed) console.log(`  ${f.status} ${f.executionArn}: ${f.error} ${f.cause}`);

    const signed = new AwsClient({ ...LOCAL_CREDENTIALS, service: "execute-api", region: runtime.stack.region });
    const response = await signed.fetch(`${api}/chargeback?month=${MONTH}`);
    if (!response.ok) throw new Error(`GET /chargeback?month=${MONTH}: ${response.status} ${await response.text()}`);
    console.log(`\nGET /chargeback?month=${MONTH} (AWS_IAM, signed):\n`);
    console.log(reportTable((await response.json()) as ChargebackReport));
    console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    await runtime.close();
    return failed.length === 0 && unexpected === 0 ? 0 : 1;
}
