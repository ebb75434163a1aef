/**
 * A Pulumi program for the packaging benchmark: for every handler factory in handlers/ (an export named
 * `<function>Factory`), an `aws.lambda.CallbackFunction` named `<function>` with Pulumi's default packaging of the
 * same closure. Evaluated under the same mocks as the stack (`evaluateStack({ program })`); a role ARN is given so
 * CallbackFunction declares no role.
 */
import * as aws from "@pulumi/aws";
import * as fs from "fs";
import * as path from "path";

const HANDLERS_DIR = path.resolve(__dirname, "..", "handlers");
export const DEFAULT_PACKAGING_ROLE = "arn:aws:iam::000000000000:role/default-packaging";

const functions: string[] = [];
for (const file of fs.readdirSync(HANDLERS_DIR).filter((f) => f.endsWith(".ts")).sort()) {
    const exported = require(path.join(HANDLERS_DIR, file)) as Record<string, unknown>;
    for (const [key, value] of Object.entries(exported)) {
        if (!key.endsWith("Factory") || typeof value !== "function") continue;
        const name = key.slice(0, -"Factory".length);
        new aws.lambda.CallbackFunction(name, { callbackFactory: value as () => (event: unknown) => Promise<unknown>, role: DEFAULT_PACKAGING_ROLE });
        functions.push(name);
    }
}

export const declared = functions;
