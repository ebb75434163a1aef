/**
 * The one folder a runtime keeps its scratch in (unpacked Lambda archives, the S3 spool and, without a data
 * directory, its objects, the DynamoDB emulator's socket). It is named after the process, so a runtime that
 * starts can tell the folders of runtimes that died (`kill -9`, a crash) from those of live ones, and remove them.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Linux's shared-memory tmpfs, and the room it must have left for us to use it (Docker's default is 64 MB). */
const MEMORY_FS = "/dev/shm";
const MEMORY_FS_MIN_FREE_BYTES = 1024 * 1024 * 1024;
const PREFIX = "choreography-runtime-";
/**
 * This machine's name, hashed: a pid is only this host's (or container's) to check, so a folder of a runtime on
 * another host sharing the same /tmp is never taken for a dead one's.
 */
export const HOST = createHash("sha256").update(os.hostname()).digest("hex").slice(0, 8);

/**
 * Where files that need not outlive this process go: tmpfs when there is one with room to spare, else the OS's
 * temporary directory. Creating a small file on tmpfs costs microseconds; on a VM's ext4 disk about a millisecond.
 */
export function scratchRoot(): string {
    try {
        fs.accessSync(MEMORY_FS, fs.constants.W_OK);
        const stats = fs.statfsSync(MEMORY_FS);
        if (stats.bavail * stats.bsize >= MEMORY_FS_MIN_FREE_BYTES) return MEMORY_FS;
    } catch {
        // no tmpfs here
    }
    return os.tmpdir();
}

/** Whether a folder lies on the shared-memory tmpfs (where a synchronous small write costs microseconds). */
export function onMemoryFs(dir: string): boolean {
    const resolved = path.resolve(dir);
    return resolved === MEMORY_FS || resolved.startsWith(`${MEMORY_FS}/`);
}

/** Whether a process with this id is alive (signal 0 checks without sending anything). */
function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        // EPERM: it exists but is someone else's.
        return (error as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** Removes the scratch folders under `root` whose runtime's process (on this host) is gone; returns their paths. */
export function removeLeftovers(root: string): string[] {
    const removed: string[] = [];
    let entries: string[];
    try {
        entries = fs.readdirSync(root);
    } catch {
        return removed;
    }
    for (const entry of entries) {
        const owner = /^choreography-runtime-([0-9a-f]{8})-(\d+)-/.exec(entry);
        const pid = Number(owner?.[2]);
        if (owner?.[1] !== HOST || !Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
        const folder = path.join(root, entry);
        fs.rmSync(folder, { recursive: true, force: true });
        removed.push(folder);
    }
    return removed;
}

export interface ScratchFolder {
    /** The folder, owner-only (0700). */
    path: string;
    /** Folders of dead runtimes removed when this one was made. */
    removedLeftovers: string[];
    /** A sub-folder, made on first use. */
    sub(name: string): string;
    remove(): Promise<void>;
}

/** Makes this runtime's scratch folder, after removing dead runtimes' leftovers from the same places. */
export function createScratchFolder(root: string = scratchRoot()): ScratchFolder {
    const removedLeftovers = [...new Set([root, os.tmpdir()])].flatMap(removeLeftovers);
    const folder = fs.mkdtempSync(path.join(root, `${PREFIX}${HOST}-${process.pid}-`));
    fs.chmodSync(folder, 0o700);
    return {
        path: folder,
        removedLeftovers,
        sub(name) {
            const sub = path.join(folder, name);
            fs.mkdirSync(sub, { recursive: true, mode: 0o700 });
            return sub;
        },
        remove: () => fs.promises.rm(folder, { recursive: true, force: true }),
    };
}
