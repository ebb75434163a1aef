/**
 * The runtime's own paths on the endpoint, for people and scripts that want to know what runs:
 * `GET /_choreography/health` and `GET /_choreography/resources`. No AWS API has a path starting with `/_`, and
 * S3 bucket names cannot start with `_`, so these shadow nothing.
 */
import type * as http from "http";
import type { DeclaredResource, EvaluatedStack } from "./evaluate";
import type { ServedResource } from "./registry";

export const INTERNAL_PREFIX = "/_choreography/";

export interface InspectedRuntime {
    stack: EvaluatedStack;
    resources: ServedResource[];
    unserved: DeclaredResource[];
    services: string[];
}

export function internalRoutes(runtime: () => InspectedRuntime): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
    const started = Date.now();
    return (req, res) => {
        const path = (req.url ?? "").split("?", 1)[0];
        if (!path.startsWith(INTERNAL_PREFIX)) return false;
        const send = (status: number, body: unknown) => {
            const text = JSON.stringify(body, null, 2);
            res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
            res.end(text);
        };
        const { stack, resources, unserved, services } = runtime();
        if (req.method !== "GET") send(405, { message: `${req.method} is not allowed on ${path}; use GET` });
        else if (path === `${INTERNAL_PREFIX}health`) {
            send(200, { status: "running", project: stack.project, stack: stack.stack, region: stack.region, services, uptimeSeconds: Math.round((Date.now() - started) / 1000) });
        } else if (path === `${INTERNAL_PREFIX}resources`) {
            send(200, {
                resources: resources.map(({ service, type, urn, arn, name }) => ({ service, type, urn, arn, name })),
                notServed: unserved.map(({ type, urn }) => ({ type, urn })),
            });
        } else send(404, { message: `${path} is not a path of the runtime; try ${INTERNAL_PREFIX}health or ${INTERNAL_PREFIX}resources` });
        return true;
    };
}
