import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { strToU8, zipSync } from "fflate";
import { archiveContents } from "../local/services/lambda/archive";

/** A program folder of its own, so relative paths are seen to resolve against it and not the repository. */
const programRoot = fs.mkdtempSync(path.join(os.tmpdir(), "archive-test-"));

function text(value: string | Uint8Array | undefined): string | undefined {
    return value === undefined ? undefined : typeof value === "string" ? value : Buffer.from(value).toString("utf8");
}

describe("archiveContents", () => {
    before(() => {
        fs.mkdirSync(path.join(programRoot, "app", "lib"), { recursive: true });
        fs.writeFileSync(path.join(programRoot, "app", "index.js"), "exports.handler = 1;");
        fs.writeFileSync(path.join(programRoot, "app", "lib", "util.js"), "module.exports = 2;");
        fs.writeFileSync(path.join(programRoot, "single.js"), "single");
        fs.writeFileSync(
            path.join(programRoot, "code.zip"),
            zipSync({ "index.js": strToU8("zipped"), "nested/": new Uint8Array(), "nested/a.txt": strToU8("a") }),
        );
        fs.writeFileSync(path.join(programRoot, "evil.zip"), zipSync({ "../outside.js": strToU8("x") }));
        fs.writeFileSync(path.join(programRoot, "code.tgz"), "not really");
    });
    after(() => fs.rmSync(programRoot, { recursive: true, force: true }));

    it("reads string assets, file assets, folder archives and zips inside an AssetArchive, relative to the program root", async () => {
        const archive = new pulumi.asset.AssetArchive({
            "__index.js": new pulumi.asset.StringAsset("exports.handler = async () => 1;"),
            "copy.js": new pulumi.asset.FileAsset("single.js"),
            vendor: new pulumi.asset.FileArchive("app"),
            bundle: new pulumi.asset.FileArchive("code.zip"),
            deeper: new pulumi.asset.AssetArchive({ "x.txt": new pulumi.asset.StringAsset("x") }),
        });
        const contents = await archiveContents(archive, programRoot);
        assert.deepEqual(
            Object.fromEntries(Object.entries(contents).map(([k, v]) => [k, text(v)])),
            {
                "__index.js": "exports.handler = async () => 1;",
                "copy.js": "single",
                "vendor/index.js": "exports.handler = 1;",
                "vendor/lib/util.js": "module.exports = 2;",
                "bundle/index.js": "zipped",
                "bundle/nested/a.txt": "a",
                "deeper/x.txt": "x",
            },
        );
    });

    it("takes a FileArchive of a .zip or of a folder as the whole code", async () => {
        const zipped = await archiveContents(new pulumi.asset.FileArchive("code.zip"), programRoot);
        assert.deepEqual(Object.keys(zipped).sort(), ["index.js", "nested/a.txt"]);
        assert.equal(text(zipped["index.js"]), "zipped");
        const folder = await archiveContents(new pulumi.asset.FileArchive(path.join(programRoot, "app")), "/nonexistent");
        assert.deepEqual(Object.keys(folder).sort(), ["index.js", "lib/util.js"]);
    });

    it("names the missing path, as given and as resolved", async () => {
        await assert.rejects(
            archiveContents(new pulumi.asset.AssetArchive({ "a.js": new pulumi.asset.FileAsset("missing.js") }), programRoot),
            (error: Error) => error.message.includes('"missing.js"') && error.message.includes(path.join(programRoot, "missing.js")) && /no such file/.test(error.message),
        );
        await assert.rejects(
            archiveContents(new pulumi.asset.FileArchive("nowhere.zip"), programRoot),
            (error: Error) => error.message.includes(path.join(programRoot, "nowhere.zip")) && /no such file/.test(error.message),
        );
    });

    it("refuses remote assets, tar archives and zip entries that leave the archive, by name", async () => {
        await assert.rejects(
            archiveContents(new pulumi.asset.AssetArchive({ "r.js": new pulumi.asset.RemoteAsset("https://example.com/r.js") }), programRoot),
            /remote asset at "r.js" \(https:\/\/example.com\/r.js\): remote assets are not supported/,
        );
        await assert.rejects(archiveContents(new pulumi.asset.RemoteArchive("https://example.com/a.zip"), programRoot), /remote archives are not supported/);
        await assert.rejects(archiveContents(new pulumi.asset.FileArchive("code.tgz"), programRoot), /tar archives are not supported/);
        await assert.rejects(archiveContents(new pulumi.asset.FileArchive("evil.zip"), programRoot), /"\.\.\/outside\.js" points outside the archive/);
        await assert.rejects(
            archiveContents(new pulumi.asset.AssetArchive({ dir: new pulumi.asset.FileAsset("app") }), programRoot),
            /not a file \(use a FileArchive for a folder\)/,
        );
    });
});
