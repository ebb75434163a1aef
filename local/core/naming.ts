/** The physical names and ARNs the mocks give, shared by the services' resource types. */
import type { MockContext } from "./registry";

/** The declared `name`, else the logical name (made unique by evaluation where AWS would autoname). */
export const physicalName = (resource: MockContext): string => (typeof resource.inputs.name === "string" ? resource.inputs.name : resource.name);

/** `{ name, arn }` with the ARN built from the physical name. */
export const namedArn =
    (arn: (resource: MockContext, name: string) => string) =>
    (resource: MockContext): Record<string, unknown> => {
        const name = physicalName(resource);
        return { name, arn: arn(resource, name) };
    };

export const str = (value: unknown): string => (typeof value === "string" ? value : String(value ?? ""));

/**
 * The endpoint URLs the mocks give (queue URLs, API endpoints) name: the runtime's default. A program is evaluated
 * before the endpoint listens (and tests reuse one evaluation on many ports), so what reaches a running function
 * (its environment) has this origin replaced by the endpoint's real one (`atEndpoint`).
 */
export const MOCK_ENDPOINT = "http://127.0.0.1:4566";

/** `text` with the mocks' endpoint origin (http or ws) replaced by `endpointUrl`'s. */
export function atEndpoint(text: string, endpointUrl: string): string {
    if (endpointUrl === MOCK_ENDPOINT || !text.includes("127.0.0.1:4566")) return text;
    const origin = MOCK_ENDPOINT.slice("http://".length);
    const actual = endpointUrl.replace(/^https?:\/\//, "");
    return text.split(`http://${origin}`).join(`http://${actual}`).split(`ws://${origin}`).join(`ws://${actual}`);
}
