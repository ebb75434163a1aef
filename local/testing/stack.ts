/** One evaluation of the dev stack shared by every test file (evaluating it costs seconds). */
import { DeclaredResource, EvaluatedStack, EvaluateOptions, evaluateStack } from "../core/evaluate";

let dev: Promise<EvaluatedStack> | undefined;
/** The stack as `Pulumi.dev.yaml` configures it. Other configs evaluate afresh and leave this one cached. */
export function devStack(): Promise<EvaluatedStack> {
    dev ??= evaluateStack();
    return dev;
}

/** Evaluations run one at a time: the Pulumi runtime's settings are global to the process. */
let queue: Promise<unknown> = Promise.resolve();
export function stackWith(config: Record<string, string>, options: Omit<EvaluateOptions, "config"> = {}): Promise<EvaluatedStack> {
    const next = queue.then(() => devStack()).then(() => evaluateStack({ ...options, config }));
    queue = next.catch(() => undefined);
    return next;
}

export function ofType(stack: EvaluatedStack, type: string): DeclaredResource[] {
    return stack.resources.filter((r) => r.type === type);
}

export function one(stack: EvaluatedStack, type: string, name: string): DeclaredResource {
    const found = stack.resources.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
    return found[0];
}

/** The parent component of a resource, as `type::name`. */
export function parentOf(resource: DeclaredResource): string | undefined {
    if (!resource.parentUrn) return undefined;
    const parts = resource.parentUrn.split("::");
    return `${parts[2].split("$").pop()}::${parts[3]}`;
}

export interface PolicyStatementJson {
    Effect: string;
    Action: string | string[];
    Resource: string | string[];
}
export function statementsOf(policyJson: unknown): PolicyStatementJson[] {
    const doc = JSON.parse(String(policyJson)) as { Statement: PolicyStatementJson | PolicyStatementJson[] };
    return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
}
export const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** The dev stack's cookie report is the system `cookieReport`: its children are named `cookieReport-<child>`. */
export const COOKIE_REPORT = "cookieReport";
export const cookieReport = (child: string): string => `${COOKIE_REPORT}-${child}`;
