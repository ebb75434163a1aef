/**
 * The runtime serves a program that is not this repository's: `test/fixtures/userProgram` (project `shop`, its own
 * Pulumi.yaml and Pulumi.dev.yaml, a custom bus, a rule, a CallbackFunction writing DynamoDB, a state machine with a
 * `dynamodb:putItem` task), started through the package's bin and driven with the real AWS CLI signing with
 * `test`/`test`, as a LocalStack user would.
 */
import * as assert from "assert";
import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..");
const PROGRAM = path.join(__dirname, "fixtures", "userProgram");
const BIN = path.join(ROOT, "local", "bin.js");

describe("a user's own Pulumi program, through the choreography-local bin and the AWS CLI", function () {
    this.timeout(120_000);
    let child: ChildProcess;
    let url = "";
    let output = "";
    let outputsFile = "";
    const cli = ["/usr/bin/aws", "/usr/local/bin/aws"].find((p) => fs.existsSync(p));
    const env = {
        ...process.env,
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        AWS_DEFAULT_REGION: "eu-west-1",
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_PAGER: "",
    };
    const aws = async (...args: string[]) => JSON.parse((await run(cli!, ["--endpoint-url", url, "--output", "json", ...args], { env })).stdout || "{}");

    before(async function () {
        outputsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "user-program-")), "outputs.json");
        child = spawn(process.execPath, [BIN, "--program", PROGRAM, "--stack", "dev", "--port", "0", "--config", "greeting=hi from --config", "--outputs", outputsFile], {
            cwd: os.tmpdir(),
            stdio: ["ignore", "pipe", "pipe"],
        });
        child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        url = await new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ready line within 90 s:\n${output}`)), 90_000);
            const check = () => {
                const ready = /ready (http:\/\/\S+)/.exec(output);
                if (ready) {
                    clearTimeout(timer);
                    resolve(ready[1]);
                }
            };
            child.stdout!.on("data", check);
            child.once("exit", (code) => reject(new Error(`exited ${code} before ready:\n${output}`)));
        });
    });

    after(() => {
        child?.kill("SIGTERM");
    });

    it("evaluates the program as its own project and stack, with its config and --config, and writes its outputs", () => {
        const outputs = JSON.parse(fs.readFileSync(outputsFile, "utf8")) as Record<string, string>;
        assert.deepEqual(
            { project: outputs.project, stack: outputs.stack, tableName: outputs.tableName, busName: outputs.busName },
            { project: "shop", stack: "dev", tableName: "orders", busName: "shop" },
        );
        assert.deepEqual(outputs.zones, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
        assert.match(outputs.archiveArn, /^arn:aws:states:eu-west-1:000000000000:stateMachine:archive$/);
        assert.ok(output.indexOf("tableName") < output.indexOf("ready "), "the outputs are printed before the ready line");
    });

    it("lists what it serves at /_choreography/resources, with type, URN, ARN and service", async () => {
        const answer = (await (await fetch(`${url}/_choreography/resources`)).json()) as { resources: Array<{ service: string; type: string; urn: string; arn: string }> };
        const machine = answer.resources.find((r) => r.type === "aws:sfn/stateMachine:StateMachine");
        assert.deepEqual(machine && { service: machine.service, urn: machine.urn }, { service: "states", urn: "urn:pulumi:dev::shop::aws:sfn/stateMachine:StateMachine::archive" });
        const health = (await (await fetch(`${url}/_choreography/health`)).json()) as { status: string; project: string };
        assert.deepEqual([health.status, health.project], ["running", "shop"]);
    });

    it("runs the CallbackFunction and the state machine from one put-events of the AWS CLI, signed with test/test", async function () {
        if (!cli) {
            console.log("      skipped: the AWS CLI is not installed here (.ci/run installs it with apt-get install awscli)");
            this.skip();
        }
        const put = await aws("events", "put-events", "--entries", JSON.stringify([{ Source: "shop.orders", DetailType: "orderPlaced", EventBusName: "shop", Detail: JSON.stringify({ id: "o-1", total: 42 }) }]));
        assert.equal(put.FailedEntryCount, 0);
        const deadline = Date.now() + 30_000;
        let items: Array<Record<string, { S?: string; N?: string }>> = [];
        while (Date.now() < deadline) {
            items = (await aws("dynamodb", "scan", "--table-name", "orders")).Items ?? [];
            if (items.length >= 2) break;
            await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const byId = Object.fromEntries(items.map((item) => [item.id.S, item]));
        assert.deepEqual(Object.keys(byId).sort(), ["archived-o-1", "o-1"], output);
        assert.deepEqual([byId["o-1"].total.N, byId["o-1"].greeting.S], ["42", "hi from --config"]);
        const executions = await aws("stepfunctions", "list-executions", "--state-machine-arn", "arn:aws:states:eu-west-1:000000000000:stateMachine:archive");
        assert.deepEqual(executions.executions.map((e: { status: string }) => e.status), ["SUCCEEDED"]);
    });

    it("answers Lambda's own API: list-functions, get-function and invoke of the CallbackFunction", async function () {
        if (!cli) this.skip();
        const outputs = JSON.parse(fs.readFileSync(outputsFile, "utf8")) as Record<string, string>;
        const listed = await aws("lambda", "list-functions");
        const names = listed.Functions.map((f: { FunctionName: string }) => f.FunctionName);
        assert.ok(names.includes(outputs.recordOrderName), `list-functions: ${JSON.stringify(names)}`);
        const got = await aws("lambda", "get-function", "--function-name", outputs.recordOrderName);
        assert.equal(got.Configuration.Runtime, "nodejs22.x");
        assert.equal(got.Configuration.Environment.Variables.AWS_SECRET_ACCESS_KEY, undefined, "the function's own keys are never listed");
        const answer = path.join(path.dirname(outputsFile), "invoke.json");
        const invoked = await aws(
            "lambda",
            "invoke",
            "--function-name",
            outputs.recordOrderName,
            "--cli-binary-format",
            "raw-in-base64-out",
            "--payload",
            JSON.stringify({ detail: { id: "o-cli", total: 7 } }),
            answer,
        );
        assert.equal(invoked.StatusCode, 200);
        assert.deepEqual(JSON.parse(fs.readFileSync(answer, "utf8")), { saved: "o-cli" });
        const missing = await run(cli!, ["--endpoint-url", url, "lambda", "get-function", "--function-name", "nope"], { env }).then(
            () => "",
            (error: { stderr: string }) => error.stderr,
        );
        assert.match(missing, /ResourceNotFoundException/);
    });
});
