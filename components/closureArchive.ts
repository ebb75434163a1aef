/**
 * Lean Lambda packages for closures serialized by Pulumi.
 *
 * `aws.lambda.CallbackFunction` ships the serialized closure (`__index.js`) next to every package in
 * `dependencies`, used or not. Here the same serialized text is bundled with esbuild instead: only the code
 * the closure reaches is kept, tree-shaken, for the `nodejs22.x` runtime, with a source map beside it.
 */
import * as esbuild from "esbuild";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

/** The archive's entry file, named as CallbackFunction names it, so the handler is `__index.handler`. */
export const ENTRY_FILE = "__index.js";
export const HANDLER = "__index.handler";

export interface ClosureArchiveOptions {
    /**
     * Bundle the AWS SDK v3 into the archive (pinned versions, bigger archive) rather than use the copy the
     * `nodejs22.x` runtime provides (smaller archive, SDK version chosen by AWS).
     */
    bundleAwsSdk: boolean;
    /** Folder esbuild resolves `require`s from; the project root by default. */
    resolveDir?: string;
}

export interface ClosureArchive {
    /** Archive path -> file content: the bundle and its source map. */
    files: Record<string, string>;
    /** The closure captured a secret (serialized into the code): the archive must be treated as secret. */
    containsSecrets: boolean;
}

/** The packages the nodejs22.x runtime provides; left out of the bundle when the SDK is not bundled. */
const RUNTIME_PACKAGES = /^@(aws-sdk|smithy|aws-crypto)\//;

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
                if (!bundleAwsSdk && RUNTIME_PACKAGES.test(root)) return { path: root, external: true };
                const resolved = await build.resolve(root, { kind: args.kind, resolveDir: args.resolveDir });
                return resolved.errors.length ? undefined : { path: resolved.path };
            });
            if (!bundleAwsSdk) {
                build.onResolve({ filter: RUNTIME_PACKAGES }, (args) => ({ path: args.path, external: true }));
            }
        },
    };
}

/** Bundles a serialized closure's text (what `serializeFunction` produced) into a lean archive. */
export async function bundleSerializedClosure(text: string, options: ClosureArchiveOptions): Promise<Record<string, string>> {
    const result = await esbuild.build({
        stdin: { contents: text, resolveDir: options.resolveDir ?? path.resolve(__dirname, ".."), sourcefile: "closure.js", loader: "js" },
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
        logLevel: "silent",
        plugins: [packageRootPlugin(options.bundleAwsSdk)],
    });
    const files: Record<string, string> = {};
    for (const file of result.outputFiles) files[path.basename(file.path)] = file.text;
    return files;
}

/** Serializes a handler factory exactly as CallbackFunction does, then bundles it. */
export async function buildClosureArchive(
    callbackFactory: () => unknown,
    options: ClosureArchiveOptions,
): Promise<ClosureArchive> {
    const closure = await pulumi.runtime.serializeFunction(callbackFactory, {
        serialize: () => true,
        exportName: "handler",
        isFactoryFunction: true,
        allowSecrets: true,
    });
    return { files: await bundleSerializedClosure(closure.text, options), containsSecrets: closure.containsSecrets };
}

/** The archive as a Pulumi asset archive (what `aws.lambda.Function.code` takes). */
export function toAssetArchive(archive: ClosureArchive): pulumi.asset.AssetArchive {
    const assets: Record<string, pulumi.asset.Asset> = {};
    for (const [name, text] of Object.entries(archive.files)) assets[name] = new pulumi.asset.StringAsset(text);
    return new pulumi.asset.AssetArchive(assets);
}
