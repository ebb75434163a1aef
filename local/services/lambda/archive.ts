/**
 * The files of a Pulumi archive as the mocks record it (string and file assets, nested asset archives, folders and
 * `.zip` file archives, as CallbackFunction and hand-written programs ship code): what the offline runtime serves and
 * the benchmarks measure. Paths in assets are relative to the Pulumi program's folder (Pulumi resolves them against
 * the program's working directory), so every entry point here takes that folder.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { unzipSync } from "fflate";

/** One file of an archive: its text, its bytes (from a zip), or the file on disk it is copied from. */
export interface ArchiveFile {
    /** Path inside the archive, `/`-separated. */
    name: string;
    size: number;
    text?: string;
    bytes?: Uint8Array;
    source?: string;
}

/** What Pulumi's asset and archive classes hold at run time (their declared types leave the fields out). */
interface AssetShape {
    assets?: Promise<pulumi.asset.AssetMap>;
    path?: Promise<string>;
    text?: Promise<string>;
    uri?: Promise<string>;
}

/** The root the repository's own programs (bench/, test fixtures) are evaluated from. */
const REPOSITORY_ROOT = path.resolve(__dirname, "../../..");

/** Archive formats Pulumi reads from a FileArchive path that this runtime can unpack (a jar is a zip). */
const ZIP_EXTENSIONS = [".zip", ".jar"];
/** Formats Pulumi accepts that are refused here by name rather than mis-read. */
const TAR_EXTENSIONS = [".tar", ".tgz", ".tar.gz"];

function describe(kind: string, name: string, given: string, resolved: string): string {
    const where = given === resolved ? resolved : `${JSON.stringify(given)}, resolved as ${resolved}`;
    return `${kind} ${name ? `at ${JSON.stringify(name)} ` : ""}(${where})`;
}

function statOrThrow(kind: string, name: string, given: string, resolved: string): fs.Stats {
    try {
        return fs.statSync(resolved);
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") throw new Error(`${describe(kind, name, given, resolved)}: no such file or folder`);
        throw new Error(`${describe(kind, name, given, resolved)}: ${(error as Error).message}`);
    }
}

function join(prefix: string, name: string): string {
    return prefix ? `${prefix}/${name}` : name;
}

function filesUnder(folder: string, prefix: string, out: ArchiveFile[]): void {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
        const source = path.join(folder, entry.name);
        const name = join(prefix, entry.name);
        const stat = fs.statSync(source);
        if (stat.isDirectory()) filesUnder(source, name, out);
        else if (stat.isFile()) out.push({ name, size: stat.size, source });
    }
}

/** A zip's files (folders are implied by their files' paths); entries that would escape the archive are refused. */
function filesOfZip(zipPath: string, label: string, prefix: string, out: ArchiveFile[]): void {
    let entries: Record<string, Uint8Array>;
    try {
        entries = unzipSync(fs.readFileSync(zipPath));
    } catch (error) {
        throw new Error(`${label}: not a readable zip archive: ${(error as Error).message}`);
    }
    for (const [entry, bytes] of Object.entries(entries)) {
        if (entry.endsWith("/")) continue;
        const normalized = path.posix.normalize(entry.replaceAll("\\", "/"));
        if (normalized.startsWith("../") || normalized === ".." || path.posix.isAbsolute(normalized)) {
            throw new Error(`${label}: entry ${JSON.stringify(entry)} points outside the archive`);
        }
        out.push({ name: join(prefix, normalized), size: bytes.byteLength, bytes });
    }
}

/** A FileArchive: a folder, or a zip file, its contents placed under `prefix`. */
function filesOfFileArchive(given: string, programRoot: string, prefix: string, out: ArchiveFile[]): void {
    const resolved = path.resolve(programRoot, given);
    const label = describe("file archive", prefix, given, resolved);
    const stat = statOrThrow("file archive", prefix, given, resolved);
    if (stat.isDirectory()) return filesUnder(resolved, prefix, out);
    const lower = resolved.toLowerCase();
    if (ZIP_EXTENSIONS.some((ext) => lower.endsWith(ext))) return filesOfZip(resolved, label, prefix, out);
    if (TAR_EXTENSIONS.some((ext) => lower.endsWith(ext))) throw new Error(`${label}: tar archives are not supported by the local runtime; use a folder or a .zip`);
    throw new Error(`${label}: not a folder or a .zip archive`);
}

/**
 * The files of a Pulumi archive as Pulumi would upload them: AssetArchives (string assets, file assets, nested
 * archives), FileArchives of folders (as CallbackFunction uses for each package in node_modules) and of `.zip` files.
 * Relative paths resolve against `programRoot`, the Pulumi program's folder; it defaults to this repository's root
 * only for the repository's own benchmarks and tests, whose programs live there.
 * Remote assets and archives, and tar archives, are refused by name.
 */
export async function archiveFiles(archive: pulumi.asset.Archive, programRoot: string = REPOSITORY_ROOT, prefix = ""): Promise<ArchiveFile[]> {
    const out: ArchiveFile[] = [];
    await collect(archive, programRoot, prefix, out);
    return out;
}

async function collect(archive: pulumi.asset.Archive, programRoot: string, prefix: string, out: ArchiveFile[]): Promise<void> {
    const shape = archive as AssetShape;
    if (shape.assets) {
        for (const [key, value] of Object.entries(await shape.assets)) {
            const name = join(prefix, key);
            if (pulumi.asset.Archive.isInstance(value)) await collect(value, programRoot, name, out);
            else await collectAsset(value, programRoot, name, out);
        }
    } else if (shape.path !== undefined) {
        filesOfFileArchive(await shape.path, programRoot, prefix, out);
    } else if (shape.uri !== undefined) {
        throw new Error(`remote archive ${prefix ? `at ${JSON.stringify(prefix)} ` : ""}(${await shape.uri}): remote archives are not supported by the local runtime`);
    } else {
        throw new Error(`${prefix ? JSON.stringify(prefix) : "the archive"}: not a Pulumi archive (AssetArchive, FileArchive or RemoteArchive)`);
    }
}

async function collectAsset(asset: pulumi.asset.Asset, programRoot: string, name: string, out: ArchiveFile[]): Promise<void> {
    const shape = asset as AssetShape;
    if (shape.text !== undefined) {
        const text = await shape.text;
        out.push({ name, size: Buffer.byteLength(text), text });
    } else if (shape.path !== undefined) {
        const given = await shape.path;
        const source = path.resolve(programRoot, given);
        const stat = statOrThrow("file asset", name, given, source);
        if (!stat.isFile()) throw new Error(`${describe("file asset", name, given, source)}: not a file (use a FileArchive for a folder)`);
        out.push({ name, size: stat.size, source });
    } else if (shape.uri !== undefined) {
        throw new Error(`remote asset at ${JSON.stringify(name)} (${await shape.uri}): remote assets are not supported by the local runtime`);
    } else {
        throw new Error(`${JSON.stringify(name)}: not a Pulumi asset (StringAsset, FileAsset or RemoteAsset)`);
    }
}

/**
 * Every file of an archive with its content, path -> text or bytes (what a Lambda worker is given). `programRoot` is
 * the Pulumi program's folder, against which relative asset paths resolve.
 */
export async function archiveContents(archive: pulumi.asset.Archive, programRoot: string): Promise<Record<string, string | Uint8Array>> {
    const contents: Record<string, string | Uint8Array> = {};
    for (const file of await archiveFiles(archive, programRoot)) contents[file.name] = file.text ?? file.bytes ?? fs.readFileSync(file.source as string);
    return contents;
}
