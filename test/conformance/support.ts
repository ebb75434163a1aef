/** What the conformance runners share: reading a suite's case files, and a runtime with no program behind it. */
import * as fs from "fs";
import * as path from "path";
import type { EvaluatedStack } from "../../local/core/evaluate";

/** Every case of every `*.json` file in `dir` (each file a JSON array), in file-name order, each with its file. */
export function loadCases<T>(dir: string): Array<T & { file: string }> {
    return fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .flatMap((file) => (JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as T[]).map((c) => ({ ...c, file })));
}

/** No program to evaluate: the services answer what the cases send (patterns, machines created over the API). */
export function emptyStack(accountId: string, region = "us-east-1"): EvaluatedStack {
    return { project: "conformance", stack: "dev", region, accountId, resources: [], outputs: {}, root: path.join(__dirname, "..", ".."), secretOutputs: [] };
}
