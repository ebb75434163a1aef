/** The runtime's scratch folder: one per process, owner-only, and dead runtimes' folders removed at the next start. */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HOST, createScratchFolder } from "../local/core/scratch";

describe("scratch folder", () => {
    let root: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "scratch-root-"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("removes only this host's folders whose process is gone, and is owner-only and removed on stop", async () => {
        // A pid that certainly belonged to a process that has exited.
        const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
        const folder = (host: string, pid: number) => {
            const made = path.join(root, `choreography-runtime-${host}-${pid}-abc123`);
            fs.mkdirSync(path.join(made, "lambda"), { recursive: true });
            return made;
        };
        const deadHere = folder(HOST, dead);
        const aliveHere = folder(HOST, process.pid);
        const otherHost = folder("0badc0de" === HOST ? "0badc0df" : "0badc0de", dead);
        const unrelated = path.join(root, "choreography-something-else");
        fs.mkdirSync(unrelated);

        const scratch = createScratchFolder(root);
        assert.ok(scratch.removedLeftovers.includes(deadHere));
        assert.ok(!fs.existsSync(deadHere), "a dead runtime's folder is removed");
        for (const kept of [aliveHere, otherHost, unrelated]) assert.ok(fs.existsSync(kept), `${kept} is kept`);
        assert.match(path.basename(scratch.path), new RegExp(`^choreography-runtime-${HOST}-${process.pid}-`));
        assert.equal(fs.statSync(scratch.path).mode & 0o777, 0o700);
        assert.equal(fs.statSync(scratch.sub("s3")).mode & 0o777, 0o700);
        await scratch.remove();
        assert.ok(!fs.existsSync(scratch.path));
    });
});
