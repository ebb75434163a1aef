/**
 * Handler archives run from the archive itself: each is unpacked into an empty folder under the system temp folder
 * and its handler invoked in a new `node` process whose only other modules are what the nodejs22.x runtime
 * provides (@aws-sdk, @smithy, @aws-crypto on NODE_PATH). A package missing from an archive fails to load there.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    ArchiveFile,
    AwsStub,
    Unpacker,
    archiveFiles,
    extractZip,
    filesOf,
    handlerEnvironment,
    invokeOnce,
    isolatedTempDir,
    runtimeModulesDir,
    testEvent,
    writeDriver,
    writeZip,
} from "../bench/archives";
import { ENTRY_FILE, HANDLER, buildClosureArchive, bundleSerializedClosure } from "../components/closureArchive";
import { EvaluatedStack } from "../local/core/evaluate";
import { getMultipleFactory } from "../systems/cookieReport/handlers/getMultiple";
import { cookieReport, ofType, stackWith } from "../local/testing/stack";

const FUNCTION = "aws:lambda/function:Function";
const HANDLERS = ["getMultiple", "postProcessAll", "postProcessSingle", "processSingle", "sideEffect"].map(cookieReport);

describe("packaging: handler archives run from an empty folder", function () {
    this.timeout(180_000);
    let temp: string;
    let stub: AwsStub;
    let driver: string;
    let runtimeDir: string;
    let folders = 0;
    const unpacker = new Unpacker();

    before(async () => {
        temp = isolatedTempDir("packaging-test");
        stub = await AwsStub.start();
        driver = writeDriver(temp);
        runtimeDir = runtimeModulesDir(temp);
    });
    after(async () => {
        await stub?.close();
        if (temp) fs.rmSync(temp, { recursive: true, force: true });
    });

    function unpack(files: ArchiveFile[]): string {
        return unpacker.unpack(files, path.join(temp, `archive-${++folders}`));
    }

    /** Invokes `handler` from the folder with only `nodePath` besides it; fails with the process's output. */
    async function invoke(folder: string, name: string, event: unknown, nodePath: string) {
        const invocation = await invokeOnce({ driver, folder, handler: HANDLER, event, env: handlerEnvironment(stub, nodePath, temp) });
        assert.ok(invocation.ok, `${name}: ${invocation.error}\n--- output ---\n${invocation.output}`);
        return invocation;
    }

    async function runEveryFunction(stack: EvaluatedStack, nodePath: string): Promise<void> {
        const functions = ofType(stack, FUNCTION);
        assert.deepEqual(functions.map((f) => f.name).sort(), HANDLERS);
        const before = stub.requests.length;
        await Promise.all(
            functions.map(async (fn) => {
                assert.ok(pulumi.asset.Archive.isInstance(fn.inputs.code), `${fn.name}: code is not an archive`);
                const files = await archiveFiles(fn.inputs.code);
                assert.deepEqual(files.map((f) => f.name).sort(), [ENTRY_FILE, `${ENTRY_FILE}.map`], `${fn.name}: archive entries`);
                // Through a real zip, as `pulumi up` uploads it and Lambda unpacks it.
                const folder = path.join(temp, `zip-${++folders}`);
                extractZip(writeZip(files, `${folder}.zip`), folder);
                assert.deepEqual(fs.readdirSync(folder).sort(), [ENTRY_FILE, `${ENTRY_FILE}.map`], `${fn.name}: unpacked zip`);
                await invoke(folder, fn.name, testEvent(fn.name, stub), nodePath);
            }),
        );
        // sideEffect did its work through the stub: read the profile, announced sideEffectDone.
        const requests = stub.requests.slice(before);
        assert.ok(requests.includes("GET /profile.json"), requests.join("\n"));
        assert.ok(requests.some((r) => r.endsWith("AWSEvents.PutEvents")), requests.join("\n"));
    }

    it("isolates archives: the serialized closure alone, without its packages, does not load", async () => {
        const closure = await pulumi.runtime.serializeFunction(getMultipleFactory, {
            serialize: () => true,
            exportName: "handler",
            isFactoryFunction: true,
            allowSecrets: true,
        });
        const folder = unpack(filesOf({ [ENTRY_FILE]: closure.text }));
        const invocation = await invokeOnce({ driver, folder, handler: HANDLER, event: testEvent("getMultiple", stub), env: handlerEnvironment(stub, runtimeDir, temp) });
        assert.equal(invocation.ok, false);
        assert.match(invocation.error ?? "", /Cannot find module '@(aws-lambda-powertools|faker-js)\//);
    });

    it("runs every Function of the stack with only the runtime's SDK beside it", async () => {
        // The cookie report's handlers (the ones testEvent knows how to drive).
        await runEveryFunction(await stackWith({ "choreography:systems": '["cookieReport"]' }), runtimeDir);
    });

    it("runs every Function with nothing beside it when the SDK is bundled (choreography:bundleAwsSdk)", async () => {
        const empty = path.join(temp, "empty-node_path");
        fs.mkdirSync(empty, { recursive: true });
        await runEveryFunction(await stackWith({ "choreography:bundleAwsSdk": "true", "choreography:systems": '["cookieReport"]' }), empty);
    });

    it("keeps a captured config value, module-level constant and helper from another module working", async () => {
        const fixture = require.resolve("./fixtures/packagingHandler");
        delete require.cache[fixture];
        // Read at module level, as a stack reads its config: set it before the module loads.
        pulumi.runtime.setConfig("packaging-fixture:greeting", "Bonjour");
        const { greetingFactory } = require(fixture) as typeof import("./fixtures/packagingHandler");

        const archive = await buildClosureArchive(greetingFactory, { bundleAwsSdk: false, cacheDir: false });
        assert.deepEqual(Object.keys(archive.files).sort(), [ENTRY_FILE, `${ENTRY_FILE}.map`]);
        assert.equal(archive.containsSecrets, false);
        const invocation = await invoke(unpack(filesOf(archive.files)), "packaging fixture", { name: " ada " }, runtimeDir);
        assert.deepEqual(invocation.result, {
            message: "Bonjour, ADA!",
            signature: { from: "packaging fixture", version: 3 },
            startedWith: "Bonjour".length,
        });
    });
});

describe("packaging: how closures are bundled", () => {
    it("reuses a cached bundle only while the files it was built from are unchanged, and never caches a secret", async function () {
        this.timeout(60_000);
        const cacheDir = isolatedTempDir("closure-cache");
        try {
            const text = 'const import_yaml = require("yaml");\nexports.handler = async (e) => (0, import_yaml.stringify)(e);\n';
            const first = await bundleSerializedClosure(text, { bundleAwsSdk: false, cacheDir });
            const [entryName] = fs.readdirSync(cacheDir);
            const entryFile = path.join(cacheDir, entryName);
            const entry = JSON.parse(fs.readFileSync(entryFile, "utf8")) as { files: Record<string, string>; stamps: { file: string; mtimeMs: number }[] };
            assert.ok(entry.stamps.some((s) => s.file.startsWith("node_modules/yaml/")), "the package's files are recorded");
            assert.deepEqual(await bundleSerializedClosure(text, { bundleAwsSdk: false, cacheDir }), first);

            // An entry is used as it is (shown by altering its content)...
            entry.files[ENTRY_FILE] = "// from the cache";
            fs.writeFileSync(entryFile, JSON.stringify(entry));
            assert.equal((await bundleSerializedClosure(text, { bundleAwsSdk: false, cacheDir }))[ENTRY_FILE], "// from the cache");
            // ...until a file it was built from changes.
            entry.stamps[0].mtimeMs -= 1000;
            fs.writeFileSync(entryFile, JSON.stringify(entry));
            assert.deepEqual(await bundleSerializedClosure(text, { bundleAwsSdk: false, cacheDir }), first);

            const secret = pulumi.secret("s3cr3t");
            const secretArchive = await buildClosureArchive(() => async () => secret.get(), { bundleAwsSdk: false, cacheDir });
            assert.equal(secretArchive.containsSecrets, true);
            assert.deepEqual(fs.readdirSync(cacheDir), [entryName], "nothing was cached for the closure with a secret");
        } finally {
            fs.rmSync(cacheDir, { recursive: true, force: true });
        }
    });
});
