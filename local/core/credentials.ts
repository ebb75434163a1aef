/**
 * The keys the runtime knows: its own (what you, the CLI and the tests may sign with; IAM does not check them) and
 * one issued per function, acting as its execution role. Any other key is accepted unverified, as a user's.
 */
import { randomBytes } from "crypto";
import type { Credentials } from "./registry";

export const LOCAL_CREDENTIALS = { accessKeyId: "choreographylocal", secretAccessKey: "choreography-local-secret" } as const;

export interface IssuedKey {
    accessKeyId: string;
    secretAccessKey: string;
    roleArn: string;
}

export class KeyRing implements Credentials {
    private readonly keys = new Map<string, IssuedKey>();

    issue(label: string, roleArn: string): IssuedKey {
        const key = {
            accessKeyId: `LOCAL${label.toUpperCase().replace(/[^A-Z0-9]/g, "").slice(0, 40)}${randomBytes(4).toString("hex").toUpperCase()}`,
            secretAccessKey: randomBytes(20).toString("hex"),
            roleArn,
        };
        this.keys.set(key.accessKeyId, key);
        return key;
    }

    issued(): IssuedKey[] {
        return [...this.keys.values()];
    }

    secretOf(accessKeyId: string): string | undefined {
        if (accessKeyId === LOCAL_CREDENTIALS.accessKeyId) return LOCAL_CREDENTIALS.secretAccessKey;
        return this.keys.get(accessKeyId)?.secretAccessKey;
    }

    roleOf(accessKeyId: string | undefined): string | undefined {
        return accessKeyId === undefined ? undefined : this.keys.get(accessKeyId)?.roleArn;
    }
}
