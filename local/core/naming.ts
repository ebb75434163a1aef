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
