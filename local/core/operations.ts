/**
 * A JSON-protocol service's operations, found by name: every operation of the service's AWS SDK client (its
 * `<Operation>Command` exports) that the service class has a method for (`putEvents` for `PutEvents`). A method
 * added to the class is served with no table to edit, and nothing that is not an AWS operation can be reached.
 */
import type { JsonOperation } from "./endpoint";

export function operationsOf(sdk: Record<string, unknown>, instance: object): Record<string, JsonOperation> {
    const operations: Record<string, JsonOperation> = {};
    const methods = instance as Record<string, unknown>;
    for (const name of Object.keys(sdk)) {
        if (!name.endsWith("Command") || name === "Command") continue;
        const operation = name.slice(0, -"Command".length);
        const run = methods[operation[0].toLowerCase() + operation.slice(1)];
        if (typeof run === "function") operations[operation] = (request) => (run as JsonOperation).call(instance, request);
    }
    return operations;
}
