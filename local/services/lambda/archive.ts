/**
 * The files of a Pulumi archive as the mocks record it (string and file assets, nested asset archives, and
 * folders, as CallbackFunction ships each package): what the offline runtime serves and the benchmarks measure.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

/** One file of an archive: its text, or the file on disk it is copied from. */
export interface ArchiveFile {
    /** Path inside the archive, `/`-separated. */
    name: string;
    size: number;
    text?: string;
    source?: string;
}

/** What Pulumi's asset and archive classes hold at run time (their declared types leave the fields out). */
interface AssetShape {
    assets?: Promise<pulumi.asset.AssetMap>;
    path?: Promise<string>;
    text?: Promise<string>;
    uri?: Promise<string>;
}

function filesUnder(folder: string, prefix: string, out: ArchiveFile[]): void {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
        const source = path.join(folder, entry.name);
        const name = `${prefix}/${entry.name}`;
        const stat = fs.statSync(source);
        if (stat.isDirectory()) filesUnder(source, name, out);
        else if (stat.isFile()) out.push({ name, size: stat.size, source });
    }
}

/**
 * The files of a Pulumi archive as Pulumi would upload them: string assets, file assets, and folders (file
 * archives, as CallbackFunction uses for each package in node_modules), relative paths from `baseDir`.
 */
export async function archiveFiles(archive: pulumi.asset.Archive, baseDir: string = path.resolve(__dirname, "../../.."), prefix = ""): Promise<ArchiveFile[]> {
    const { assets } = archive as AssetShape;
    if (!assets) throw new Error(`${prefix || "the archive"}: only asset archives are supported at the top level`);
    const out: ArchiveFile[] = [];
    for (const [key, value] of Object.entries(await assets)) {
        const name = prefix ? `${prefix}/${key}` : key;
        const shape = value as AssetShape;
        if (pulumi.asset.Archive.isInstance(value)) {
            if (shape.assets) {
                out.push(...(await archiveFiles(value, baseDir, name)));
                continue;
            }
            const folder = shape.path ? path.resolve(baseDir, await shape.path) : undefined;
            if (!folder || !fs.statSync(folder).isDirectory()) throw new Error(`${name}: only folder archives are supported`);
            filesUnder(folder, name, out);
        } else if (shape.text !== undefined) {
            const text = await shape.text;
            out.push({ name, size: Buffer.byteLength(text), text });
        } else if (shape.path !== undefined) {
            const source = path.resolve(baseDir, await shape.path);
            out.push({ name, size: fs.statSync(source).size, source });
        } else {
            throw new Error(`${name}: remote assets are not supported`);
        }
    }
    return out;
}

/** Every file of an archive with its content, path -> text or bytes (what a Lambda worker is given). */
export async function archiveContents(archive: pulumi.asset.Archive): Promise<Record<string, string | Uint8Array>> {
    const contents: Record<string, string | Uint8Array> = {};
    for (const file of await archiveFiles(archive)) contents[file.name] = file.text ?? fs.readFileSync(file.source!);
    return contents;
}
