/** Command-line plumbing shared by `npm start`, `choreography-local` (the bin) and `npm run demo`. */
import * as fs from "fs";
import * as path from "path";
import { parseArgs as parseNodeArgs } from "util";
import { readProject } from "./core/evaluate";
import { Runtime, RuntimeOptions, startRuntime } from "./core/runtime";

/** This repository: the program `npm start` and the demo serve. */
export const REPOSITORY_ROOT = path.resolve(__dirname, "..");

export interface CliOptions extends RuntimeOptions {
    /** `--help` / `-h`: print `usage(command)` and exit 0, nothing else. */
    help: boolean;
    /** `--outputs FILE`: where the stack outputs go, as `pulumi stack output --json` prints them. */
    outputsFile?: string;
    /** `--count N` (demo only): how many names the start event asks for. */
    count?: number;
    /** `--serve` (demo only): keep serving after the run, so its observability page can be opened, until interrupted. */
    serve?: boolean;
}

/** `start` is `npm start` (this repository), `bin` is `choreography-local` (any program), `demo` is `npm run demo`. */
export type Command = "start" | "bin" | "demo";

/** A command line that cannot be run as given: exit code 2, as shells and most CLIs use for usage errors. */
export class UsageError extends Error {
    readonly exitCode = 2;
}

interface FlagSpec {
    name: string;
    /** The value's placeholder in the usage; a flag without one is a switch. */
    value?: string;
    repeatable?: boolean;
    help: string;
}

const PROGRAM_FLAGS: FlagSpec[] = [
    { name: "program", value: "DIR", help: "the Pulumi program's folder (Pulumi.yaml, Pulumi.<stack>.yaml, its entry, node_modules)" },
    { name: "stack", value: "NAME", help: "the stack whose Pulumi.<stack>.yaml config is read (dev)" },
    {
        name: "config",
        value: "KEY=VALUE",
        repeatable: true,
        help: "stack config over Pulumi.<stack>.yaml, as `pulumi config set` takes it (a key without namespace is the project's); repeatable",
    },
    { name: "outputs", value: "FILE", help: "write the stack outputs there as `pulumi stack output --json` does, before the ready line" },
    { name: "strict", help: "refuse to start when a declared resource's type is not served" },
];
const SERVER_FLAGS: FlagSpec[] = [
    { name: "port", value: "N", help: "the endpoint's port (4566; 0 picks a free one)" },
    { name: "host", value: "HOST", help: "the address the endpoint listens on (127.0.0.1)" },
    { name: "data-dir", value: "DIR", help: "keep objects, tables and finished executions there across restarts (in memory otherwise)" },
    { name: "max-executions", value: "N", help: "finished STANDARD executions kept in memory (at least 1)" },
    { name: "max-express-executions", value: "N", help: "finished EXPRESS executions kept (100; a run's cost counts its finisher executions from them)" },
    { name: "verbose", help: "print every handler log line" },
];
/** Files services answer from instead of a cloud's own state (the demo serves this repository's program, which needs none). */
const FIXTURE_FLAGS: FlagSpec[] = [
    { name: "ec2-fixtures", value: "FILE", help: "answer EC2's describe calls (instances, spot requests, spot prices) from this JSON file (local/services/ec2/fixtures.example.json)" },
];
const HELP_FLAG: FlagSpec = { name: "help", help: "print this help and exit" };
const COUNT_FLAG: FlagSpec = { name: "count", value: "N", help: "how many names the start event asks for (the seed's own number otherwise)" };
const SERVE_FLAG: FlagSpec = { name: "serve", help: "keep serving after the run (its observability page, the APIs) until Ctrl-C" };

const FLAGS: Record<Command, FlagSpec[]> = {
    start: [...PROGRAM_FLAGS, ...SERVER_FLAGS, ...FIXTURE_FLAGS, HELP_FLAG],
    bin: [...PROGRAM_FLAGS, ...SERVER_FLAGS, ...FIXTURE_FLAGS, HELP_FLAG],
    demo: [COUNT_FLAG, SERVE_FLAG, ...SERVER_FLAGS, HELP_FLAG],
};

const INVOCATION: Record<Command, string> = {
    start: "npm start --",
    bin: "choreography-local",
    demo: "npm run demo --",
};

const SUMMARY: Record<Command, string> = {
    start: "Evaluates this repository's Pulumi program under Pulumi's mocks and serves every resource it declares behind one AWS-compatible endpoint, until interrupted. Nothing is deployed.",
    bin: "Evaluates a Pulumi TypeScript program (--program, the current folder by default) under Pulumi's mocks and serves every resource it declares behind one AWS-compatible endpoint, until interrupted. Nothing is deployed.",
    demo: "Starts the runtime on this repository's program, sends the start event, follows the execution and prints the report it leaves in S3, then the run's trace and its observability page's URL.",
};

/** The help text of a command: what it does, then every flag it takes. */
export function usage(command: Command): string {
    const flags = FLAGS[command];
    const left = (f: FlagSpec) => `${f.name === "help" ? "-h, " : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`;
    const width = Math.max(...flags.map((f) => left(f).length));
    return [
        `usage: ${INVOCATION[command]} [flags]`,
        "",
        SUMMARY[command],
        "",
        "flags:",
        ...flags.map((f) => `  ${left(f).padEnd(width)}  ${f.help}`),
        "",
    ].join("\n");
}

/** The project name a program's `Pulumi.yaml` declares (`name:`), which namespaces its bare config keys. */
export function projectName(program: string): string {
    try {
        return readProject(program).name;
    } catch (error) {
        throw new UsageError((error as Error).message);
    }
}

/**
 * A `--config` key as `pulumi config set` stores it: `namespace:name`, a bare name in the project's namespace,
 * and the old `namespace:config:name` form read as `namespace:name`.
 */
export function qualifyConfigKey(key: string, project: string): string {
    const colon = key.indexOf(":");
    if (colon < 0) return `${project}:${key}`;
    const namespace = key.slice(0, colon);
    let name = key.slice(colon + 1);
    if (name.startsWith("config:")) name = name.slice("config:".length);
    if (!namespace || !name) throw new UsageError(`--config ${key}: a key is name or namespace:name`);
    return `${namespace}:${name}`;
}

function wholeNumber(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
        const range = max === Number.MAX_SAFE_INTEGER ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
        throw new UsageError(`${flag} must be ${range}, got ${JSON.stringify(text)}`);
    }
    return n;
}

/** Node's own messages, in the words of this command line (and pointing at --help). */
function usageErrorOf(error: NodeJS.ErrnoException, command: Command): UsageError {
    const hint = `(${INVOCATION[command]} --help lists the flags)`;
    const message = error.message.replace(/\. To specify a positional argument.*$/s, "");
    if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
        const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
        return new UsageError(`unknown argument ${flag} ${hint}`);
    }
    if (error.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
        const word = /'([^']*)'/.exec(message)?.[1] ?? message;
        return new UsageError(`unknown argument ${word} ${hint}`);
    }
    if (error.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
        // "Option '--port <value>' argument missing", or a value that looks like a flag.
        const flag = /'(--[a-z-]+)/.exec(message)?.[1] ?? "a flag";
        return new UsageError(`${flag} needs a value ${hint}`);
    }
    return new UsageError(`${message} ${hint}`);
}

/**
 * Reads a command line: every flag `usage(command)` lists and nothing else. An unknown word or flag, a missing or
 * bad value is a UsageError naming it. The bin's program is the current folder unless --program says otherwise;
 * `npm start`'s and the demo's is this repository.
 */
export function parseArgs(argv: string[], command: Command = "start"): CliOptions {
    const specs = FLAGS[command];
    let parsed: { values: Record<string, string | boolean | Array<string | boolean> | undefined> };
    try {
        // A value flag takes the next word whatever it is (`--max-executions -3` is a bad count, not a missing one),
        // as before; Node's parser would call a value starting with "-" ambiguous.
        const valued = new Set(specs.filter((f) => f.value).map((f) => `--${f.name}`));
        const joined: string[] = [];
        for (let i = 0; i < argv.length; i++) {
            if (valued.has(argv[i]) && i + 1 < argv.length) joined.push(`${argv[i]}=${argv[++i]}`);
            else joined.push(argv[i]);
        }
        parsed = parseNodeArgs({
            args: joined,
            strict: true,
            allowPositionals: false,
            options: Object.fromEntries(
                specs.map((f) => [
                    f.name,
                    { type: f.value ? ("string" as const) : ("boolean" as const), multiple: f.repeatable === true, ...(f.name === "help" ? { short: "h" } : {}) },
                ]),
            ),
        });
    } catch (error) {
        // Only the command line's faults are usage errors; anything else is a fault here and shows as one.
        if (!String((error as NodeJS.ErrnoException).code).startsWith("ERR_PARSE_ARGS_")) throw error;
        throw usageErrorOf(error as NodeJS.ErrnoException, command);
    }
    const v = parsed.values;
    const options: CliOptions = { help: v.help === true };
    if (options.help) return options;
    const text = (name: string) => (typeof v[name] === "string" ? (v[name] as string) : undefined);
    if (text("port") !== undefined) options.port = wholeNumber("--port", text("port")!, 0, 65535);
    if (text("max-executions") !== undefined) options.maxExecutions = wholeNumber("--max-executions", text("max-executions")!, 1);
    if (text("max-express-executions") !== undefined) options.maxExpressExecutions = wholeNumber("--max-express-executions", text("max-express-executions")!, 1);
    if (text("count") !== undefined) options.count = wholeNumber("--count", text("count")!, 0);
    if (v.serve === true) options.serve = true;
    if (text("host") !== undefined) options.host = text("host");
    if (text("data-dir") !== undefined) options.dataDir = text("data-dir");
    if (text("ec2-fixtures") !== undefined) {
        const file = path.resolve(text("ec2-fixtures")!);
        if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new UsageError(`--ec2-fixtures ${text("ec2-fixtures")}: no such file`);
        options.fixtures = { ec2: file };
    }
    if (v.verbose === true) options.verbose = true;
    if (v.strict === true) options.strict = true;
    if (text("stack") !== undefined) {
        const stack = text("stack")!;
        // The stack name picks a file (Pulumi.<stack>.yaml): no separators, as Pulumi's own names allow.
        if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new UsageError(`--stack must be a stack name (letters, digits, - _ .), got ${JSON.stringify(stack)}`);
        options.stack = stack;
    }
    if (text("outputs") !== undefined) {
        options.outputsFile = path.resolve(text("outputs")!);
        // Found out now rather than after the whole program has been evaluated and served.
        const folder = path.dirname(options.outputsFile);
        if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new UsageError(`--outputs ${text("outputs")}: no folder ${folder}`);
    }
    if (text("program") !== undefined) options.program = path.resolve(text("program")!);
    else if (command === "bin") options.program = process.cwd();
    if (options.program !== undefined && !fs.existsSync(options.program)) throw new UsageError(`--program ${options.program}: no such file or folder`);
    const configs = (Array.isArray(v.config) ? v.config : []).map(String);
    if (configs.length) {
        const project = projectName(options.program ?? REPOSITORY_ROOT);
        options.config = {};
        for (const setting of configs) {
            const eq = setting.indexOf("=");
            if (eq <= 0) throw new UsageError(`--config takes key=value, got ${JSON.stringify(setting)}`);
            options.config[qualifyConfigKey(setting.slice(0, eq), project)] = setting.slice(eq + 1);
        }
    }
    return options;
}

/** Writes the usage (`--help`: stdout, exit 0) or a usage error (stderr, exit 2); other errors rethrow. */
export function exitOnUsage(command: Command, argv: string[]): CliOptions {
    try {
        const options = parseArgs(argv, command);
        if (options.help) {
            process.stdout.write(usage(command));
            process.exit(0);
        }
        return options;
    } catch (error) {
        if (error instanceof UsageError) {
            console.error(`${INVOCATION[command].replace(/ --$/, "")}: ${error.message}`);
            process.exit(error.exitCode);
        }
        throw error;
    }
}

/** What `pulumi stack output --json` shows without --show-secrets: each output by name, secrets as "[secret]". */
export function stackOutputsJson(outputs: Record<string, unknown>, secretNames: Iterable<string> = []): Record<string, unknown> {
    const secret = new Set(secretNames);
    return Object.fromEntries(Object.entries(outputs).map(([name, value]) => [name, secret.has(name) ? "[secret]" : (value ?? null)]));
}

/** Writes the outputs file as the Pulumi CLI prints it (two-space indent, a final newline), atomically. */
export function writeOutputsFile(file: string, outputs: Record<string, unknown>): void {
    const partial = `${file}.${process.pid}.partial`;
    fs.writeFileSync(partial, `${JSON.stringify(outputs, null, 2)}\n`);
    fs.renameSync(partial, file);
}

/** The names of the outputs the program exported as secrets, where the evaluation tells them. */
export function secretOutputNames(stack: Runtime["stack"]): string[] {
    return stack.secretOutputs;
}

/** Starts the runtime; a taken default port is reported with what to do, not as a stack trace. */
export async function start(options: RuntimeOptions): Promise<Runtime> {
    // The SDK warns that Node 20 support ends; handlers target nodejs22.x and the runtime works on both.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    // Everything the runtime writes (objects, tables, executions, unpacked archives) is its owner's only, including
    // files made by code that sets no mode of its own (dynalite's LevelDB).
    process.umask(0o077);
    try {
        return await startRuntime(options);
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
            throw new Error(`port ${options.port ?? 4566} is in use: stop what holds it, or pass --port <free port> (0 picks one)`);
        }
        throw error;
    }
}

/** A process's parent and command line, from /proc (Linux); undefined where there is no /proc or no such process. */
function processInfo(pid: number): { ppid: number; argv: string[] } | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ")".
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
        return Number.isInteger(ppid) ? { ppid, argv } : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Processes that only pass a command on (`sh -c`, the tsx CLI that runs the script in a child Node): when one of
 * them loses its own parent, the process the user started (npm, a test, a terminal) is gone, though they are not.
 */
function passesCommandOn(argv: string[]): boolean {
    const [program, first] = argv;
    if (!program) return false;
    const base = path.basename(program);
    if (/^(sh|dash|bash|zsh)$/.test(base) && first === "-c") return true;
    return /^node(js)?$/.test(base) && typeof first === "string" && /(^|\/)tsx(\/dist\/cli\.[cm]?js)?$/.test(first);
}

/**
 * Calls `onGone` once the process that started this one is gone: its parent, and through any `sh -c` or tsx CLI
 * between them, the process above those (npm → sh → tsx → node: killing npm leaves sh and tsx running). Polls once
 * a second on a timer that does not keep the process alive. Returns a function that stops watching.
 */
export function watchParent(onGone: () => void, intervalMs = 1000): () => void {
    // Each link is a child and the parent it had at start; the chain is broken when a child has another parent.
    const links: Array<{ child: number; parent: number }> = [{ child: process.pid, parent: process.ppid }];
    for (let ancestor = process.ppid, depth = 0; depth < 8; depth++) {
        const info = processInfo(ancestor);
        if (!info || !passesCommandOn(info.argv) || info.ppid <= 1) break;
        links.push({ child: ancestor, parent: info.ppid });
        ancestor = info.ppid;
    }
    const timer = setInterval(() => {
        const broken = links.some(({ child, parent }) => (child === process.pid ? process.ppid : processInfo(child)?.ppid) !== parent);
        if (broken) {
            clearInterval(timer);
            onGone();
        }
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
}

/** Stops on SIGINT, SIGTERM, SIGHUP or when the parent goes; a close that hangs is cut short after `graceMs`. */
export function stopWith(runtime: Runtime, log: (line: string) => void, graceMs = 10_000): void {
    let stopping = false;
    const stop = (why: string) => {
        if (stopping) return;
        stopping = true;
        log(`stopping (${why})`);
        setTimeout(() => process.exit(1), graceMs).unref();
        runtime.close().then(
            () => process.exit(0),
            (error: Error) => {
                console.error(`choreography: closing failed: ${error.message}`);
                process.exit(1);
            },
        );
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => stop(signal));
    watchParent(() => stop("parent process gone"));
}

/**
 * `npm start` and `choreography-local`: evaluate, serve, print the outputs (and write --outputs), then `ready`,
 * and serve until interrupted or the parent goes.
 */
export async function serve(command: "start" | "bin", argv: string[]): Promise<void> {
    const options = exitOnUsage(command, argv);
    const started = Date.now();
    const { outputsFile, help: _help, count: _count, ...runtimeOptions } = options;
    const runtime = await start({ ...runtimeOptions, log: (line) => console.log(line) });
    const entry = options.program ? path.relative(process.cwd(), options.program) || "." : "index.ts";
    console.log(
        `evaluated ${entry} (stack ${runtime.stack.stack}) under Pulumi mocks: ${runtime.stack.resources.length} resources declared, nothing deployed`,
    );
    console.log(`state: ${options.dataDir ? `kept in ${options.dataDir}` : "in memory (pass --data-dir to keep it)"}`);
    const outputs = stackOutputsJson(runtime.stack.outputs, secretOutputNames(runtime.stack));
    if (outputsFile) writeOutputsFile(outputsFile, outputs);
    console.log(`outputs${outputsFile ? ` (written to ${outputsFile})` : ""}:`);
    for (const [name, value] of Object.entries(outputs)) console.log(`    ${name}: ${JSON.stringify(value)}`);
    console.log(`ready ${runtime.url} (${Date.now() - started} ms)`);
    stopWith(runtime, (line) => console.log(line));
}

/** The end of every entry point: a failure is one line naming the command, exit 1. */
export function reportFailure(prefix: string): (error: Error) => never {
    return (error) => {
        console.error(`${prefix}: ${error.message}`);
        process.exit(1);
    };
}
