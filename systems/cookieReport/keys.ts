/** Where the cookie report keeps each run's objects: under the execution's name, one prefix per run. */
import { requireKeySegment } from "../../handlers/validation";

export type PersonFileKind = "basic" | "cookies";

/** `<execution name>/<kind>-<name>.json`; both segments are checked so no key leaves the execution's prefix. */
export function personKey(executionName: string, kind: PersonFileKind, name: string): string {
    return `${requireKeySegment("executionName", executionName)}/${kind}-${requireKeySegment("name", name)}.json`;
}

/** The run's report sorts first in its prefix. */
export function reportKey(executionName: string): string {
    return `${requireKeySegment("executionName", executionName)}/0-cookies.json`;
}
