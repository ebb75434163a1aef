/** `npm start` as a user runs it: a line per resource, a ready line, serving until interrupted. */
import { strict as assert } from "assert";
import { ChildProcessWithoutNullStreams, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ListEventBusesCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { Command, UsageError, parseArgs, qualifyConfigKey, stackOutputsJson, usage } from "../local/cli";
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
            "s3          bucket cookiereport-results",
            "states      STANDARD state machine cookieReport-workflow",
            "states      EXPRESS  state machine finisher",
            "lambda      function cookieReport-processSingle (nodejs22.x, __index.handler)",
            "events      target cookieReport-workflow-start -> arn:aws:states:us-east-1:000000000000:stateMachine:cookieReport-workflow",
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
        assert.equal(parseArgs(["--max-express-executions", "5000"]).maxExpressExecutions, 5000);
        assert.throws(() => parseArgs(["--max-express-executions", "0"]), /--max-express-executions must be a whole number of at least 1/);
        for (const bad of ["0", "-3", "1.5", "many"]) {
            assert.throws(() => parseArgs(["--max-executions", bad]), /--max-executions must be a whole number of at least 1/);
        }
        assert.throws(() => parseArgs(["--max-executions"]), /--max-executions needs a value/);
    });

    const refusal = (argv: string[], command: Command, pattern: RegExp) =>
        assert.throws(
            () => parseArgs(argv, command),
            (error: unknown) => error instanceof UsageError && error.exitCode === 2 && pattern.test(error.message),
            `${command} ${argv.join(" ")} is refused with ${pattern}`,
        );

    it("refuses unknown flags and stray words on every command, naming them and pointing to --help", () => {
        for (const command of ["start", "bin", "demo"] as const) {
            refusal(["--bogus"], command, /^unknown argument --bogus \(.* --help lists the flags\)$/);
            refusal(["--port", "0", "stray"], command, /^unknown argument stray /);
            refusal(["-x"], command, /^unknown argument -x /);
        }
        // The demo's --count is the demo's alone; the server's program flags are not the demo's.
        refusal(["--count", "3"], "start", /unknown argument --count/);
        refusal(["--program", "."], "demo", /unknown argument --program/);
        assert.equal(parseArgs(["--count", "3"], "demo").count, 3);
        assert.equal(parseArgs(["--serve"], "demo").serve, true);
        refusal(["--serve"], "start", /unknown argument --serve/);
        refusal(["--count", "three"], "demo", /--count must be a whole number of at least 0, got "three"/);
    });

    it("names the flag whose value is bad or missing", () => {
        refusal(["--port", "65536"], "start", /--port must be a whole number from 0 to 65535, got "65536"/);
        refusal(["--port", "80x"], "bin", /--port must be/);
        refusal(["--port"], "demo", /--port needs a value/);
        refusal(["--config", "region"], "start", /--config takes key=value, got "region"/);
        refusal(["--config", ":x=1"], "start", /--config :x: a key is name or namespace:name/);
        refusal(["--stack", "../etc"], "start", /--stack must be a stack name/);
        refusal(["--outputs", "/no/such/folder/outputs.json"], "start", /--outputs \/no\/such\/folder\/outputs.json: no folder \/no\/such\/folder/);
        refusal(["--program", "/no/such/folder"], "bin", /--program \/no\/such\/folder: no such file or folder/);
        assert.equal(parseArgs(["--port", "0"]).port, 0);
    });

    it("namespaces --config keys as `pulumi config set` does: a bare key is the project's (from Pulumi.yaml)", () => {
        const options = parseArgs(["--config", "busName=orders", "--config", "aws:region=eu-west-1", "--config", "choreography:config:eventSource=a=b"]);
        assert.deepEqual(options.config, { "choreography:busName": "orders", "aws:region": "eu-west-1", "choreography:eventSource": "a=b" });
        const program = fs.mkdtempSync(path.join(os.tmpdir(), "cli-program-"));
        try {
            fs.writeFileSync(path.join(program, "Pulumi.yaml"), "name: shop\nruntime: nodejs\n");
            const other = parseArgs(["--program", program, "--stack", "test", "--config", "tableName=t", "--strict"], "bin");
            assert.deepEqual(other.config, { "shop:tableName": "t" });
            assert.equal(other.program, program);
            assert.equal(other.stack, "test");
            assert.equal(other.strict, true);
            fs.rmSync(path.join(program, "Pulumi.yaml"));
            refusal(["--program", program, "--config", "tableName=t"], "bin", /holds no Pulumi.yaml/);
        } finally {
            fs.rmSync(program, { recursive: true, force: true });
        }
        assert.equal(qualifyConfigKey("x", "p"), "p:x");
        // The bin serves the current folder's program unless told; `npm start` this repository's (left to the runtime).
        assert.equal(parseArgs([], "bin").program, process.cwd());
        assert.equal(parseArgs([], "start").program, undefined);
    });

    it("answers --help and -h on every command with a usage naming each of its flags", () => {
        const expected: Record<Command, string[]> = {
            start: ["--program DIR", "--stack NAME", "--config KEY=VALUE", "--outputs FILE", "--strict", "--port N", "--host HOST", "--data-dir DIR", "--max-executions N", "--max-express-executions N", "--verbose", "--ec2-fixtures FILE", "-h, --help"],
            bin: ["--program DIR", "--stack NAME", "--config KEY=VALUE", "--outputs FILE", "--strict", "--port N", "--host HOST", "--data-dir DIR", "--max-executions N", "--max-express-executions N", "--verbose", "--ec2-fixtures FILE", "-h, --help"],
            demo: ["--count N", "--serve", "--port N", "--host HOST", "--data-dir DIR", "--max-executions N", "--max-express-executions N", "--verbose", "-h, --help"],
        };
        for (const command of ["start", "bin", "demo"] as const) {
            assert.equal(parseArgs(["--help"], command).help, true);
            assert.equal(parseArgs(["-h"], command).help, true);
            const text = usage(command);
            for (const flag of expected[command]) assert.ok(text.includes(flag), `${command} --help names ${flag}:\n${text}`);
            const listed = text.split("\n").filter((line) => /^\s+(-h, )?--/.test(line));
            assert.equal(listed.length, expected[command].length, `${command} --help lists exactly its flags:\n${text}`);
        }
        assert.match(usage("bin"), /^usage: choreography-local \[flags\]/);
        assert.doesNotMatch(usage("demo"), /--program|--outputs/);
    });

    it("shows outputs as `pulumi stack output --json` does without --show-secrets", () => {
        assert.deepEqual(stackOutputsJson({ busName: "default", token: "s3cr3t", count: 2, nested: { a: [1] }, none: undefined }, ["token"]), {
            busName: "default",
            token: "[secret]",
            count: 2,
            nested: { a: [1] },
            none: null,
        });
    });
});

/** The processes below `pid` (Linux /proc), zombies left out: they have stopped, only their exit is unread. */
function liveDescendants(pid: number): number[] {
    const parentOf = new Map<number, number>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            if (state !== "Z") parentOf.set(Number(entry), Number(ppid));
        } catch {
            // Gone while listed.
        }
    }
    const found: number[] = [];
    for (const [child] of parentOf) {
        for (let p = parentOf.get(child); p !== undefined; p = parentOf.get(p)) {
            if (p === pid) {
                found.push(child);
                break;
            }
        }
    }
    return found;
}

const alive = (pid: number) => {
    try {
        return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
    } catch {
        return false;
    }
};

function untilReady(child: ChildProcessWithoutNullStreams): Promise<{ url: string; out: string }> {
    let out = "";
    return new Promise((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString();
            const match = /^ready (http:\/\/\S+)/m.exec(out);
            if (match) resolve({ url: match[1], out });
        });
        child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.once("exit", (code) => reject(new Error(`exited ${code} before ready:\n${out}`)));
    });
}

describe("cli: outputs, parent and signals", function () {
    this.timeout(60_000);
    const root = path.resolve(__dirname, "..");

    it("writes --outputs before ready, takes --config, and stops when its parent is killed (npm → sh → tsx → node)", async function () {
        if (!fs.existsSync("/proc/self/stat")) this.skip();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-outputs-"));
        const file = path.join(dir, "outputs.json");
        const tsx = path.join(root, "node_modules/tsx/dist/cli.mjs");
        // `; true` keeps sh as a parent of its own (a lone command would be exec'd in its place), as under npm.
        const script = `"${process.execPath}" "${tsx}" local/main.ts --port 0 --outputs "${file}" --config eventSource=cli-test; true`;
        const shell = spawn("sh", ["-c", script], { cwd: root });
        // Once sh is gone its children are no longer below it: they are remembered for the cleanup.
        let below: number[] = [];
        try {
            const { out } = await untilReady(shell);
            // Written before the ready line: it is there the moment ready is read.
            assert.ok(fs.existsSync(file), `no ${file} at ready:\n${out}`);
            const outputs = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
            assert.equal(outputs.busName, "default");
            assert.equal(outputs.eventSource, "cli-test", "the bare --config key reached the program as choreography:eventSource");
            assert.match(String(outputs.workflowArn), /^arn:aws:states:us-east-1:\d{12}:stateMachine:cookieReport-workflow$/);
            const before = out.slice(0, out.indexOf("\nready "));
            assert.match(before, /outputs \(written to .*outputs\.json\):\n {4}bucketName: "cookiereport-results"\n/);
            assert.ok(before.includes(`    eventSource: "cli-test"`), out);

            below = liveDescendants(shell.pid!);
            assert.ok(below.length >= 2, `tsx and the server run below sh: ${below}`);
            shell.kill("SIGKILL");
            const deadline = Date.now() + 3_500;
            while (below.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
            assert.deepEqual(below.filter(alive), [], "the server and tsx stopped within ~3 s of their parent's death");
        } finally {
            for (const pid of [...below, ...liveDescendants(shell.pid!)].filter(alive)) process.kill(pid, "SIGKILL");
            shell.kill("SIGKILL");
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the bin serves the current folder's program and stops on SIGHUP", async () => {
        const child = spawn(process.execPath, [path.join(root, "local/bin.js"), "--port", "0"], { cwd: root });
        try {
            const { url, out } = await untilReady(child);
            assert.match(out, /evaluated \. \(stack dev\) under Pulumi mocks/);
            const client = new EventBridgeClient({ endpoint: url, region: "us-east-1", credentials: LOCAL_CREDENTIALS });
            assert.deepEqual((await client.send(new ListEventBusesCommand({}))).EventBuses?.map((b) => b.Name), ["default"]);
            const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
            child.kill("SIGHUP");
            assert.equal(await exited, 0);
        } finally {
            child.kill("SIGKILL");
        }
    });

    it("refuses unknown arguments at the command line with exit code 2, and answers --help with exit 0", async () => {
        const run = (args: string[]) =>
            new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
                const child = spawn(process.execPath, args, { cwd: root });
                let stdout = "";
                let stderr = "";
                child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
                child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
                child.once("exit", (code) => resolve({ code, stdout, stderr }));
            });
        const bogus = await run(["--require", "tsx/cjs", "local/demo.ts", "--bogus"]);
        assert.equal(bogus.code, 2);
        assert.match(bogus.stderr, /unknown argument --bogus \(npm run demo -- --help lists the flags\)/);
        const help = await run([path.join(root, "local/bin.js"), "--help"]);
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, /^usage: choreography-local/);
    });
});
