/** Command-line plumbing shared by `npm start` and `npm run demo`. */
import { Runtime, RuntimeOptions, startRuntime } from "./core/runtime";

export interface CliOptions extends RuntimeOptions {
    /** Further words after the flags. */
    rest: string[];
}

/** `--port N --host H --data-dir D --max-executions N --verbose`, as the README documents them. */
export function parseArgs(argv: string[]): CliOptions {
    const options: CliOptions = { rest: [] };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined) throw new Error(`${flag} needs a value`);
            return v;
        };
        if (flag === "--port") options.port = Number(value());
        else if (flag === "--host") options.host = value();
        else if (flag === "--data-dir") options.dataDir = value();
        else if (flag === "--verbose") options.verbose = true;
        else if (flag === "--max-executions") options.maxExecutions = Number(value());
        else options.rest.push(flag);
    }
    if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) {
        throw new Error(`--port must be a port number, got ${options.port}`);
    }
    if (options.maxExecutions !== undefined && (!Number.isInteger(options.maxExecutions) || options.maxExecutions < 1)) {
        throw new Error(`--max-executions must be a whole number of at least 1, got ${options.maxExecutions}`);
    }
    return options;
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
