/**
 * State machine versions and aliases: what PublishStateMachineVersion, the alias operations and StartExecution on
 * a qualified ARN need. A version holds the machine as it was when published (the service's prepared machine, `M`),
 * so an execution of it runs that definition however the machine changed since.
 */
import { AwsError } from "../../core/awsError";
import { checkRoutingConfiguration, machineOfVersion, routeByWeight, sameRouting, type RoutingEntry } from "./controlPlane";

/** What the catalog needs to know of the service's prepared machine. */
export interface VersionedMachine {
    spec: { arn: string };
    revisionId: string;
}

export interface MachineVersion<M extends VersionedMachine> {
    arn: string;
    machineArn: string;
    version: number;
    prepared: M;
    description?: string;
    creationDate: number;
}

export interface MachineAlias {
    arn: string;
    name: string;
    machineArn: string;
    description?: string;
    routing: RoutingEntry[];
    creationDate: number;
    updateDate: number;
}

export class VersionCatalog<M extends VersionedMachine> {
    /** By version ARN (`...:stateMachine:name:3`). */
    private readonly versions = new Map<string, MachineVersion<M>>();
    /** The last number given per machine: numbers are never reused while the machine exists, as in AWS. */
    private readonly lastNumbers = new Map<string, number>();
    /** By alias ARN (`...:stateMachine:name:aliasName`). */
    private readonly aliases = new Map<string, MachineAlias>();

    /** The machine's current revision as a version: the next number, or the version already published from it. */
    publish(machine: M, description: string | undefined): MachineVersion<M> {
        const machineArn = machine.spec.arn;
        const published = [...this.versions.values()].find((version) => version.machineArn === machineArn && version.prepared.revisionId === machine.revisionId);
        if (published) {
            if (description !== undefined && description !== published.description) {
                throw new AwsError("ConflictException", `Revision '${machine.revisionId}' is already published as '${published.arn}' with a different description`);
            }
            return published;
        }
        const number = (this.lastNumbers.get(machineArn) ?? 0) + 1;
        this.lastNumbers.set(machineArn, number);
        const version: MachineVersion<M> = { arn: `${machineArn}:${number}`, machineArn, version: number, prepared: machine, description, creationDate: Date.now() };
        this.versions.set(version.arn, version);
        return version;
    }

    version(arn: string): MachineVersion<M> | undefined {
        return this.versions.get(arn);
    }

    /** StartExecution and DescribeStateMachine on an absent version: StateMachineDoesNotExist, as AWS answers. */
    requireVersion(arn: string): MachineVersion<M> {
        const version = this.versions.get(arn);
        if (!version) throw new AwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${arn}'`);
        return version;
    }

    /** Newest first, as ListStateMachineVersions answers. */
    versionsOf(machineArn: string): Array<MachineVersion<M>> {
        return [...this.versions.values()].filter((version) => version.machineArn === machineArn).sort((a, b) => b.version - a.version);
    }

    /** Refused (ConflictException) while an alias routes to it; deleting an absent version succeeds, as in AWS. */
    deleteVersion(arn: string): void {
        const routedBy = [...this.aliases.values()].find((alias) => alias.routing.some((entry) => entry.stateMachineVersionArn === arn));
        if (routedBy) throw new AwsError("ConflictException", `Version '${arn}' is referenced by alias '${routedBy.arn}'; update or delete the alias first`);
        this.versions.delete(arn);
    }

    /** A deleted machine's versions and aliases go with it. */
    forgetMachine(machineArn: string): void {
        for (const version of [...this.versions.values()]) if (version.machineArn === machineArn) this.versions.delete(version.arn);
        for (const alias of [...this.aliases.values()]) if (alias.machineArn === machineArn) this.aliases.delete(alias.arn);
        this.lastNumbers.delete(machineArn);
    }

    /** An identical existing alias is returned; a different one is a ConflictException. */
    createAlias(name: string, description: string | undefined, routingConfiguration: unknown): MachineAlias {
        const routing = this.checkRouting(routingConfiguration);
        const machineArn = machineOfVersion(routing[0].stateMachineVersionArn);
        const arn = `${machineArn}:${name}`;
        const existing = this.aliases.get(arn);
        if (existing) {
            if (existing.description === description && sameRouting(existing.routing, routing)) return existing;
            throw new AwsError("ConflictException", `Alias '${arn}' already exists with a different configuration`);
        }
        const now = Date.now();
        const alias: MachineAlias = { arn, name, machineArn, description, routing, creationDate: now, updateDate: now };
        this.aliases.set(arn, alias);
        return alias;
    }

    updateAlias(alias: MachineAlias, description: string | undefined, routingConfiguration: unknown): void {
        const routing = routingConfiguration === undefined ? alias.routing : this.checkRouting(routingConfiguration);
        if (routing.some((entry) => machineOfVersion(entry.stateMachineVersionArn) !== alias.machineArn)) {
            throw new AwsError("ValidationException", `Invalid routingConfiguration: alias '${alias.arn}' routes to versions of '${alias.machineArn}' only`);
        }
        alias.description = description;
        alias.routing = routing;
        alias.updateDate = Date.now();
    }

    requireAlias(arn: string): MachineAlias {
        const alias = this.aliases.get(arn);
        if (!alias) throw new AwsError("ResourceNotFound", `Resource not found: '${arn}'`);
        return alias;
    }

    /** Newest first; with `versionArn`, only the aliases routing to that version. */
    aliasesOf(machineArn: string, versionArn?: string): MachineAlias[] {
        return [...this.aliases.values()]
            .filter((alias) => alias.machineArn === machineArn && (versionArn === undefined || alias.routing.some((entry) => entry.stateMachineVersionArn === versionArn)))
            .reverse();
    }

    deleteAlias(arn: string): void {
        this.aliases.delete(arn);
    }

    /** The version an alias sends this execution to, by weight; `random` is in [0, 1). */
    route(alias: MachineAlias, random: number): MachineVersion<M> {
        return this.requireVersion(routeByWeight(alias.routing, random));
    }

    /** AWS's routing rules, and every version named must exist (ResourceNotFound otherwise). */
    private checkRouting(routingConfiguration: unknown): RoutingEntry[] {
        const routing = checkRoutingConfiguration(routingConfiguration);
        for (const entry of routing) {
            if (!this.versions.has(entry.stateMachineVersionArn)) throw new AwsError("ResourceNotFound", `Resource not found: '${entry.stateMachineVersionArn}'`);
        }
        return routing;
    }
}
