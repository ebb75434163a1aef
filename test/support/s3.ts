/** An S3 emulator behind a real HTTP server on 127.0.0.1, as the runtime's endpoint mounts it. */
import * as http from "http";
import { AddressInfo } from "net";
import { S3Client } from "@aws-sdk/client-s3";
import { S3Emulator, S3EmulatorOptions, createS3Emulator } from "../../local/services/s3/s3";

export interface ServedEmulator {
    endpoint: string;
    /** Every request received, in order (tests clear it with `length = 0`). */
    requests: http.IncomingMessage[];
    /** Every answer, with its status and headers as sent. */
    answers: Array<{ method: string; url: string; status: number; headers: Record<string, string> }>;
    close(): Promise<void>;
}

export async function serveEmulator(emulator: S3Emulator): Promise<ServedEmulator> {
    const requests: http.IncomingMessage[] = [];
    const answers: ServedEmulator["answers"] = [];
    const server = http.createServer((req, res) => {
        requests.push(req);
        res.on("finish", () => {
            // Headers given to writeHead are not in getHeaders(); the raw header block has them all.
            const raw = (res as unknown as { _header: string })._header ?? "";
            const headers: Record<string, string> = {};
            for (const line of raw.split("\r\n").slice(1)) {
                const at = line.indexOf(":");
                if (at > 0) headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
            }
            answers.push({ method: req.method ?? "", url: req.url ?? "", status: res.statusCode, headers });
        });
        emulator.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests,
        answers,
        close: () => {
            server.closeAllConnections();
            return new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

/** An emulator with buckets, served, and an SDK client (default settings) signed with the emulator's key (`test` without one). */
export interface RunningEmulator {
    emulator: S3Emulator;
    server: ServedEmulator;
    s3: S3Client;
    close(): Promise<void>;
}

export async function startServedEmulator(options: S3EmulatorOptions, buckets: string[] = []): Promise<RunningEmulator> {
    const emulator = await createS3Emulator(options);
    for (const bucket of buckets) await emulator.ensureBucket(bucket);
    const server = await serveEmulator(emulator);
    // Default settings on purpose: flexible checksums, no forcePathStyle.
    // With `secretOf` instead of a fixed key, the client signs as a user the emulator does not know.
    const credentials = { accessKeyId: options.accessKeyId ?? "test", secretAccessKey: options.secretAccessKey ?? "test" };
    const s3 = new S3Client({ endpoint: server.endpoint, region: options.region, credentials });
    return {
        emulator,
        server,
        s3,
        close: async () => {
            s3.destroy();
            await server.close();
            await emulator.close();
        },
    };
}

/**
 * Run as a program (`node -r tsx/cjs test/support/s3.ts <dataDir> <bucket>`), serves an emulator on that data
 * directory until killed, and prints `{"endpoint": ...}` once it listens: the crash tests kill it with SIGKILL.
 * Credentials come from S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY.
 */
if (require.main === module) {
    const [dataDir, bucket] = process.argv.slice(2);
    void startServedEmulator(
        { dataDir, accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID ?? "", secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY ?? "", region: "us-east-1" },
        [bucket],
    ).then((running) => process.stdout.write(`${JSON.stringify({ endpoint: running.server.endpoint })}\n`));
}
