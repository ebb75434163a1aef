/** `npm start` as a user runs it: a line per resource, a ready line, serving until interrupted. */
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { ListEventBusesCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { parseArgs } from "../local/cli";
import { LOCAL_CREDENTIALS } from "../local/core/runtime";

describe("cli: npm start", function () {
    this.timeout(60_000);

    it("prints one line per served resource and a ready line, serves, and stops on SIGINT", async () => {
        const root = path.resolve(__dirname, "..");
        const child = spawn(process.execPath, [path.join(root, "node_modules/tsx/dist/cli.mjs"), "local/main.ts", "--port", "0"], { cwd: root });
        let out = "";
        const ready = await new Promise<string>((resolve, reject) => {
            child.stdout.on("data", (chunk: Buffer) => {
                out += chunk.toString();
                const match = /^ready (http:\/\/\S+)/m.exec(out);
                if (match) resolve(match[1]);
            });
            child.once("exit", (code) => reject(new Error(`exited ${code} before ready:\n${out}`)));
        });
        for (const line of [
            "s3          bucket results",
            "states      STANDARD state machine workflow",
            "states      EXPRESS  state machine finisher",
            "lambda      function processSingle (nodejs22.x, __index.handler)",
            "events      target workflow-start -> arn:aws:states:us-east-1:000000000000:stateMachine:workflow",
        ]) {
            assert.ok(out.includes(line), `missing line: ${line}\n${out}`);
        }
        assert.match(out, /under Pulumi mocks: \d+ resources declared, nothing deployed/);
        assert.match(out, /state: in memory/);
        const client = new EventBridgeClient({ endpoint: ready, region: "us-east-1", credentials: LOCAL_CREDENTIALS });
        assert.deepEqual((await client.send(new ListEventBusesCommand({}))).EventBuses?.map((b) => b.Name), ["default"]);
        const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
        child.kill("SIGINT");
        assert.equal(await exited, 0);
    });
});

describe("cli: flags", () => {
    it("takes --max-executions as a whole number of at least 1 and refuses anything else, naming the flag", () => {
        assert.equal(parseArgs(["--max-executions", "50"]).maxExecutions, 50);
        for (const bad of ["0", "-3", "1.5", "many"]) {
            assert.throws(() => parseArgs(["--max-executions", bad]), /--max-executions must be a whole number of at least 1/);
        }
        assert.throws(() => parseArgs(["--max-executions"]), /--max-executions needs a value/);
    });
});
