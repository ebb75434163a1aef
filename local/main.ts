/**
 * `npm start`: evaluate the stack under Pulumi's mocks, serve every declared resource, and keep serving until
 * interrupted. Nothing is deployed: the program is evaluated, not previewed or applied.
 */
import { parseArgs, start } from "./cli";

async function main(): Promise<void> {
    const options = parseArgs(process.argv.slice(2));
    if (options.rest.length) throw new Error(`unknown arguments: ${options.rest.join(" ")} (flags: --port N --host H --data-dir D --max-executions N --verbose)`);
    const started = Date.now();
    const runtime = await start({ ...options, log: (line) => console.log(line) });
    console.log(
        `evaluated index.ts (stack ${runtime.stack.stack}) under Pulumi mocks: ${runtime.stack.resources.length} resources declared, nothing deployed`,
    );
    console.log(`state: ${options.dataDir ? `kept in ${options.dataDir}` : "in memory (pass --data-dir to keep it)"}`);
    console.log(`ready ${runtime.url} (${Date.now() - started} ms)`);
    const stop = async () => {
        console.log("stopping");
        await runtime.close();
        process.exit(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
}

main().catch((error: Error) => {
    console.error(`choreography: ${error.message}`);
    process.exit(1);
});
