/**
 * IAM: the roles and policies the stack declares. There is no IAM API locally; what these resources say is what
 * local IAM (`local/core/iam.ts`) enforces on every call a function or a state machine makes.
 */
import { namedArn } from "../../core/naming";
import type { ServiceDefinition, ServiceInstance } from "../../core/registry";

export const IAM_TYPES = {
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    policy: "aws:iam/policy:Policy",
    rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    policyAttachment: "aws:iam/policyAttachment:PolicyAttachment",
} as const;

export const iamService: ServiceDefinition<ServiceInstance> = {
    name: "iam",
    signingName: "iam",
    resourceTypes: {
        [IAM_TYPES.role]: { attributes: namedArn((r, name) => `arn:aws:iam::${r.accountId}:role/${name}`) },
        [IAM_TYPES.policy]: { attributes: namedArn((r, name) => `arn:aws:iam::${r.accountId}:policy/${name}`), id: (state) => String(state.arn) },
        [IAM_TYPES.rolePolicy]: {},
        [IAM_TYPES.rolePolicyAttachment]: {},
        [IAM_TYPES.policyAttachment]: {},
    },
    async create() {
        return {};
    },
};
