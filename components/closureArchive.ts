/**
 * Lean Lambda packages for closures serialized by Pulumi.
 *
 * `aws.lambda.CallbackFunction` ships the serialized closure (`__index.js`) next to every package in
 * `dependencies`, used or not. Here the same serialized text is bundled with esbuild instead: only the code
 * the closure reaches is kept, tree-shaken, for the `nodejs22.x` runtime, with a source map beside it.
 *
 * Bundles are cached by content under `.choreography/cache/closures/` (never for a closure that captured a
 * secret): the key is the serialized text, the options, esbuild's version and this file; an entry is used only
 * while every file esbuild read for it, and the installed package tree, are unchanged.
 */
import * as crypto from "crypto";
import * as esbuild from "esbuild";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

/** The archive's entry file, named as CallbackFunction names it, so the handler is `__index.handler`. */
export const ENTRY_FILE = "__index.js";
export const HANDLER = "__index.handler";

const PROJECT_ROOT = path.resolve(__dirname, "..");
/** Where bundles are cached unless `cacheDir` says otherwise; `CHOREOGRAPHY_CLOSURE_CACHE=off` disables it. */
export const DEFAULT_CACHE_DIR = path.join(PROJECT_ROOT, ".choreography", "cache", "closures");

export interface ClosureArchiveOptions {
    /**
     * Bundle the AWS SDK v3 into the archive (pinned versions, bigger archive) rather than use the copy the
     * `nodejs22.x` runtime provides (smaller archive, SDK version chosen by AWS).
     */
    bundleAwsSdk: boolean;
    /** Folder esbuild resolves `require`s from; the project root by default. */
    resolveDir?: string;
    /** Folder of the bundle cache, or `false` for none. Default: `DEFAULT_CACHE_DIR`. */
    cacheDir?: string | false;
}

export interface ClosureArchive {
    /** Archive path -> file content: the bundle and its source map. */
    files: Record<string, string>;
    /** The closure captured a secret (serialized into the code): the archive must be treated as secret. */
    containsSecrets: boolean;
}

/** The packages the nodejs22.x runtime provides; left out of the bundle when the SDK is not bundled. */
export const RUNTIME_PROVIDED_SCOPES: readonly string[] = ["@aws-sdk", "@smithy", "@aws-crypto"];
const RUNTIME_PACKAGES = new RegExp(`^(${RUNTIME_PROVIDED_SCOPES.join("|")})/`);

function isExternal(specifier: string, bundleAwsSdk: boolean): boolean {
    return !bundleAwsSdk && RUNTIME_PACKAGES.test(specifier);
}

/**
 * Pulumi serializes `require`s of packages by the file Node resolved, e.g.
 * `@aws-sdk/client-s3/dist-cjs/index.js`. Pointing them back at the package root lets esbuild pick the ESM
 * build (tree-shakeable) when bundling, and keeps external imports valid for the runtime's copy.
 */
function packageRootPlugin(bundleAwsSdk: boolean): esbuild.Plugin {
    return {
        name: "package-root",
        setup(build) {
            build.onResolve({ filter: /^@?[^./][^/]*(\/[^/]+)?\/dist-cjs\/index\.js$/ }, async (args) => {
                const root = args.path.replace(/\/dist-cjs\/index\.js$/, "");
                if (isExternal(root, bundleAwsSdk)) return { path: root, external: true };
                const resolved = await build.resolve(root, { kind: args.kind, resolveDir: args.resolveDir });
                return resolved.errors.length ? undefined : { path: resolved.path };
            });
            if (!bundleAwsSdk) {
                build.onResolve({ filter: RUNTIME_PACKAGES }, (args) => ({ path: args.path, external: true }));
            }
        },
    };
}

function esbuildOptions(text: string, resolveDir: string, plugins: esbuild.Plugin[]): esbuild.BuildOptions & { write: false; metafile: true } {
    return {
        stdin: { contents: text, resolveDir, sourcefile: "closure.js", loader: "js" },
        absWorkingDir: resolveDir,
        bundle: true,
        platform: "node",
        target: "node22",
        format: "cjs",
        mainFields: ["module", "main"],
        minify: true,
        treeShaking: true,
        legalComments: "none",
        sourcemap: "external",
        outfile: ENTRY_FILE,
        write: false,
        metafile: true,
        logLevel: "silent",
        plugins,
    };
}

interface Bundle {
    files: Record<string, string>;
    /** The files esbuild read, relative to the resolve folder. */
    inputs: string[];
}

async function bundle(text: string, options: ClosureArchiveOptions, resolveDir: string): Promise<Bundle> {
    const result = await esbuild.build(esbuildOptions(text, resolveDir, [packageRootPlugin(options.bundleAwsSdk)]));
    const files: Record<string, string> = {};
    for (const file of result.outputFiles) files[path.basename(file.path)] = file.text;
    const inputs = Object.keys(result.metafile.inputs).filter((input) => !input.includes(":") && input !== "<stdin>");
    return { files, inputs };
}

// ---------------------------------------------------------------------------------------------------------------
// The bundle cache.

interface FileStamp {
    file: string;
    size: number;
    mtimeMs: number;
}

interface CacheEntry {
    files: Record<string, string>;
    stamps: FileStamp[];
}

/** The installed package tree; npm rewrites it on every install, so a changed tree invalidates every entry. */
const PACKAGE_TREE = path.join("node_modules", ".package-lock.json");

/** This file as it was loaded (read now, not at first use, so an edit made later cannot pass for this code). */
const OWN_SOURCE = crypto.createHash("sha256").update(fs.readFileSync(__filename)).digest("hex");

function cacheKey(text: string, options: ClosureArchiveOptions, resolveDir: string): string {
    return crypto
        .createHash("sha256")
        .update(JSON.stringify({ esbuild: esbuild.version, source: OWN_SOURCE, bundleAwsSdk: options.bundleAwsSdk, resolveDir }))
        .update("\0")
        .update(text)
        .digest("hex");
}

function stamp(resolveDir: string, file: string): FileStamp | undefined {
    try {
        const stat = fs.statSync(path.resolve(resolveDir, file));
        return { file, size: stat.size, mtimeMs: stat.mtimeMs };
    } catch {
        return undefined;
    }
}

function cacheDirOf(options: ClosureArchiveOptions): string | undefined {
    if (options.cacheDir === false || process.env.CHOREOGRAPHY_CLOSURE_CACHE === "off") return undefined;
    return options.cacheDir ?? DEFAULT_CACHE_DIR;
}

function readCache(file: string, resolveDir: string): Record<string, string> | undefined {
    let entry: CacheEntry;
    try {
        entry = JSON.parse(fs.readFileSync(file, "utf8")) as CacheEntry;
    } catch {
        return undefined;
    }
    for (const recorded of entry.stamps) {
        const now = stamp(resolveDir, recorded.file);
        if (!now || now.size !== recorded.size || now.mtimeMs !== recorded.mtimeMs) return undefined;
    }
    return entry.files;
}

/** Writes the entry atomically (rename), so concurrent evaluations never read half an entry. Best effort. */
function writeCache(file: string, resolveDir: string, built: Bundle): void {
    const stamps: FileStamp[] = [];
    for (const input of [...built.inputs, PACKAGE_TREE]) {
        const recorded = stamp(resolveDir, input);
        if (recorded) stamps.push(recorded);
    }
    const entry: CacheEntry = { files: built.files, stamps };
    const temporary = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
    try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(temporary, JSON.stringify(entry));
        fs.renameSync(temporary, file);
    } catch {
        fs.rmSync(temporary, { force: true });
    }
}

/** Bundles a serialized closure's text (what `serializeFunction` produced) into a lean archive. */
export async function bundleSerializedClosure(text: string, options: ClosureArchiveOptions): Promise<Record<string, string>> {
    const resolveDir = options.resolveDir ?? PROJECT_ROOT;
    const cacheDir = cacheDirOf(options);
    const cacheFile = cacheDir && path.join(cacheDir, `${cacheKey(text, options, resolveDir)}.json`);
    const cached = cacheFile && readCache(cacheFile, resolveDir);
    if (cached) return cached;
    const built = await bundle(text, options, resolveDir);
    if (cacheFile) writeCache(cacheFile, resolveDir, built);
    return built.files;
}

/**
 * When this process's `serializeFunction` calls ran (first start, last end, ms since the epoch) and how many: the
 * packaging benchmark reports the serializer's share of a stack evaluation from it.
 */
export const serializationSpan = { calls: 0, firstStart: 0, lastEnd: 0 };

/** Serializes a handler factory exactly as CallbackFunction does, then bundles it. */
export async function buildClosureArchive(
    callbackFactory: () => unknown,
    options: ClosureArchiveOptions,
): Promise<ClosureArchive> {
    const started = Date.now();
    const closure = await pulumi.runtime.serializeFunction(callbackFactory, {
        serialize: () => true,
        exportName: "handler",
        isFactoryFunction: true,
        allowSecrets: true,
    });
    serializationSpan.calls++;
    serializationSpan.firstStart = serializationSpan.firstStart ? Math.min(serializationSpan.firstStart, started) : started;
    serializationSpan.lastEnd = Math.max(serializationSpan.lastEnd, Date.now());
    // A captured secret is in the text: it is never written to the cache.
    const bundleOptions = closure.containsSecrets ? { ...options, cacheDir: false as const } : options;
    return { files: await bundleSerializedClosure(closure.text, bundleOptions), containsSecrets: closure.containsSecrets };
}

/** The archive as a Pulumi asset archive (what `aws.lambda.Function.code` takes). */
export function toAssetArchive(archive: ClosureArchive): pulumi.asset.AssetArchive {
    const assets: Record<string, pulumi.asset.Asset> = {};
    for (const [name, text] of Object.entries(archive.files)) assets[name] = new pulumi.asset.StringAsset(text);
    return new pulumi.asset.AssetArchive(assets);
}
