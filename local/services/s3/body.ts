/**
 * Request bodies: aws-chunked framing decoded and declared digests (Content-MD5, x-amz-content-sha256, x-amz-checksum-*
 * headers and trailers) checked before s3rver stores anything; the body then replayed to s3rver from memory or a spool file.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as http from "http";
import * as path from "path";
import { Readable, Transform, TransformCallback } from "stream";
import { pipeline } from "stream/promises";
import * as zlib from "zlib";
import { S3Error } from "./errors";
import { splitOnce } from "./signature";

/** Spool files may hold secrets: their owner's only. */
const FILE_MODE = 0o600;

type DigestName = "md5" | "sha1" | "sha256" | "crc32";

/** A digest the request declares up front (a header) or at the end (an aws-chunked trailer). */
interface DeclaredDigest {
    algorithm: DigestName;
    /** `undefined` until the trailer has been read. */
    expected: () => string | undefined;
    encoding: "hex" | "base64";
    error: () => S3Error;
}

/** Bodies declared this small are kept in memory; larger ones, or ones of unknown length, go to a spool file. */
const MEMORY_SPOOL_BYTES = 1024 * 1024;

export type SpooledBody = ({ file: string; buffer?: undefined } | { file?: undefined; buffer: Buffer }) & {
    /** The headers s3rver should see: those of a plain (unframed) request of the decoded length. */
    headers: http.IncomingHttpHeaders;
};

/** The body's length as the request declares it (decoded, for aws-chunked framing), if it does. */
function declaredLength(req: http.IncomingMessage): number | undefined {
    const declared = isFramed(req) ? req.headers["x-amz-decoded-content-length"] : req.headers["content-length"];
    const length = Number(declared);
    return declared !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/**
 * Reads a small body into memory, decoding and metering it on the way. Plain events rather than `pipeline`, which
 * costs more than the body itself at this size (it creates and aborts an AbortController, with a stack trace).
 */
function readIntoMemory(req: http.IncomingMessage, decoder: AwsChunkedDecoder | undefined, meter: DigestMeter): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let failed = false;
        const fail = (err: unknown) => {
            if (failed) return;
            failed = true;
            req.resume(); // drain what is left, so the connection stays usable for the error response
            reject(err);
        };
        const keep = (data: Buffer) => {
            meter.update(data);
            if (meter.length > MEMORY_SPOOL_BYTES) throw new S3Error("IncompleteBody", "The request body is longer than declared", 400);
            chunks.push(data);
        };
        req.on("data", (chunk: Buffer) => {
            if (failed) return;
            try {
                if (decoder) decoder.feed(chunk, keep);
                else keep(chunk);
            } catch (err) {
                fail(err);
            }
        });
        req.on("end", () => {
            if (failed) return;
            try {
                decoder?.checkComplete();
                failed = true; // settled
                resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
            } catch (err) {
                fail(err);
            }
        });
        req.on("error", fail);
        req.on("close", () => {
            if (!failed) fail(new S3Error("IncompleteBody", "The request body terminated unexpectedly", 400));
        });
    });
}

export function hasBody(req: http.IncomingMessage): boolean {
    return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/** Only STREAMING-* payloads are framed; a bare `Content-Encoding: aws-chunked` on a plain body is not (S3 agrees). */
function isFramed(req: http.IncomingMessage): boolean {
    return String(req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
}

export async function spoolBody(req: http.IncomingMessage, spoolDir: string): Promise<SpooledBody> {
    const length = declaredLength(req);
    const inMemory = length !== undefined && length <= MEMORY_SPOOL_BYTES;
    const file = inMemory ? undefined : path.join(spoolDir, crypto.randomUUID());
    const decoder = isFramed(req) ? new AwsChunkedDecoder() : undefined;
    const declared = declaredDigests(req, decoder);
    const meter = new DigestMeter([...new Set(declared.map((d) => d.algorithm))]);
    let buffer: Buffer | undefined;
    try {
        if (file === undefined) buffer = await readIntoMemory(req, decoder, meter);
        else await pipeline([req, ...(decoder ? [decoder] : []), meter, fs.createWriteStream(file, { mode: FILE_MODE })]);
        checkLength(req, decoder, meter.length);
        for (const digest of declared) {
            const expected = digest.expected();
            if (expected !== undefined && meter.digest(digest.algorithm, digest.encoding) !== expected) throw digest.error();
        }
    } catch (err) {
        if (file !== undefined) await fsp.rm(file, { force: true });
        throw err;
    }
    const headers = plainHeaders(req.headers, meter.length);
    return file === undefined ? { buffer: buffer as Buffer, headers } : { file, headers };
}

function declaredDigests(req: http.IncomingMessage, decoder: AwsChunkedDecoder | undefined): DeclaredDigest[] {
    const digests: DeclaredDigest[] = [];
    const header = (name: string) => {
        const value = req.headers[name];
        return typeof value === "string" ? value : undefined;
    };
    const contentSha256 = header("x-amz-content-sha256");
    if (contentSha256 && /^[0-9a-f]{64}$/i.test(contentSha256)) {
        digests.push({
            algorithm: "sha256",
            encoding: "hex",
            expected: () => contentSha256.toLowerCase(),
            error: () => new S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", 400),
        });
    }
    const contentMd5 = header("content-md5");
    if (contentMd5) {
        digests.push({
            algorithm: "md5",
            encoding: "base64",
            expected: () => contentMd5,
            error: () => new S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400),
        });
    }
    for (const algorithm of ["crc32", "sha1", "sha256"] as const) {
        const name = `x-amz-checksum-${algorithm}`;
        const error = () => new S3Error("BadDigest", `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`, 400);
        const fromHeader = header(name);
        if (fromHeader) digests.push({ algorithm, encoding: "base64", expected: () => fromHeader, error });
        // CRC32C and CRC64NVME trailers go unchecked: Node has no implementation of them built in.
        if (decoder && header("x-amz-trailer")?.toLowerCase() === name) {
            digests.push({ algorithm, encoding: "base64", expected: () => decoder.trailers.get(name), error });
        }
    }
    return digests;
}

function checkLength(req: http.IncomingMessage, decoder: AwsChunkedDecoder | undefined, length: number): void {
    const declared = req.headers["x-amz-decoded-content-length"];
    if (decoder && declared !== undefined && Number(declared) !== length) {
        throw new S3Error("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header", 400, {
            NumberBytesExpected: String(declared),
            NumberBytesProvided: String(length),
        });
    }
}

/** The headers of the same request sent unframed: what s3rver understands and what S3 records as metadata. */
function plainHeaders(headers: http.IncomingHttpHeaders, length: number): http.IncomingHttpHeaders {
    const plain: http.IncomingHttpHeaders = { ...headers, "content-length": String(length) };
    for (const name of ["transfer-encoding", "x-amz-decoded-content-length", "x-amz-trailer"]) delete plain[name];
    const encodings = (headers["content-encoding"] ?? "")
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e !== "" && e.toLowerCase() !== "aws-chunked");
    if (encodings.length > 0) plain["content-encoding"] = encodings.join(", ");
    else delete plain["content-encoding"];
    return plain;
}

/** Counts the bytes passing through and digests them with each algorithm a check needs. */
class DigestMeter extends Transform {
    length = 0;
    private readonly hashes = new Map<DigestName, crypto.Hash>();
    private crc: number | undefined;

    constructor(algorithms: DigestName[]) {
        super();
        for (const algorithm of algorithms) {
            if (algorithm === "crc32") this.crc = 0;
            else this.hashes.set(algorithm, crypto.createHash(algorithm));
        }
    }

    update(chunk: Buffer): void {
        this.length += chunk.length;
        for (const hash of this.hashes.values()) hash.update(chunk);
        if (this.crc !== undefined) this.crc = zlib.crc32(chunk, this.crc);
    }

    override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        this.update(chunk);
        done(null, chunk);
    }

    /** Only valid once the stream has finished. */
    digest(algorithm: DigestName, encoding: "hex" | "base64"): string {
        if (algorithm !== "crc32") return this.hashes.get(algorithm)?.copy().digest(encoding) ?? "";
        const bytes = Buffer.alloc(4);
        bytes.writeUInt32BE((this.crc ?? 0) >>> 0);
        return bytes.toString(encoding);
    }
}

const MAX_FRAME_LINE = 8192;

/**
 * Strips aws-chunked framing: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0[;…]\r\n<trailers>\r\n`.
 * Chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are skipped; the seed signature was verified.
 */
class AwsChunkedDecoder extends Transform {
    /** Trailing headers, lower-cased names, e.g. `x-amz-checksum-crc32`. */
    readonly trailers = new Map<string, string>();
    private pending: Buffer = Buffer.alloc(0);
    private state: "size" | "data" | "dataEnd" | "trailer" | "done" = "size";
    private remaining = 0;

    /** Decodes one chunk of the framed body, handing each piece of data to `out`; throws on malformed framing. */
    feed(chunk: Buffer, out: (data: Buffer) => void): void {
        this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
        this.drain(out);
    }

    /** Throws unless the body ended where its framing says it does. */
    checkComplete(): void {
        // A missing blank line after the trailers is forgiven; missing data is not.
        const complete = this.state === "done" || (this.state === "trailer" && this.pending.length === 0);
        if (!complete) throw new S3Error("IncompleteBody", "The request body terminated unexpectedly", 400);
    }

    override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        try {
            this.feed(chunk, (data) => this.push(data));
            done();
        } catch (err) {
            done(err as Error);
        }
    }

    override _flush(done: TransformCallback): void {
        try {
            this.checkComplete();
            done();
        } catch (err) {
            done(err as Error);
        }
    }

    private drain(out: (data: Buffer) => void): void {
        while (this.pending.length > 0 && this.state !== "done") {
            if (this.state === "data") {
                const n = Math.min(this.remaining, this.pending.length);
                out(this.pending.subarray(0, n));
                this.pending = this.pending.subarray(n);
                this.remaining -= n;
                if (this.remaining === 0) this.state = "dataEnd";
                continue;
            }
            const line = this.takeLine();
            if (line === undefined) return;
            this.onLine(line);
        }
    }

    private takeLine(): string | undefined {
        const end = this.pending.indexOf("\r\n");
        if (end < 0) {
            if (this.pending.length > MAX_FRAME_LINE) throw invalidChunk();
            return undefined;
        }
        const line = this.pending.subarray(0, end).toString("latin1");
        this.pending = this.pending.subarray(end + 2);
        return line;
    }

    private onLine(line: string): void {
        if (this.state === "dataEnd") {
            if (line !== "") throw invalidChunk();
            this.state = "size";
        } else if (this.state === "size") {
            const size = line.split(";", 1)[0].trim();
            if (!/^[0-9a-f]{1,16}$/i.test(size)) throw invalidChunk();
            this.remaining = parseInt(size, 16);
            this.state = this.remaining === 0 ? "trailer" : "data";
        } else if (line === "") {
            this.state = "done";
        } else {
            const [name, value] = splitOnce(line, ":");
            this.trailers.set(name.trim().toLowerCase(), value.trim());
        }
    }
}

function invalidChunk(): S3Error {
    return new S3Error("InvalidRequest", "The aws-chunked request body is malformed.", 400);
}

/**
 * A request whose body we already consumed, replayed for s3rver from memory or from the spool file. It borrows the
 * original's socket only so code reading `req.socket` keeps working; its own stream never touches that socket.
 */
export class ReplayedRequest extends http.IncomingMessage {
    /** The whole body, when it was small enough to keep in memory (the store then takes it as is). */
    readonly buffered: Buffer | undefined;
    private readonly body: Readable | undefined;

    constructor(original: http.IncomingMessage, headers: http.IncomingHttpHeaders, body: Readable | Buffer) {
        super(original.socket);
        this.method = original.method;
        this.url = original.url;
        this.httpVersion = original.httpVersion;
        this.httpVersionMajor = original.httpVersionMajor;
        this.httpVersionMinor = original.httpVersionMinor;
        this.headers = headers;
        if (Buffer.isBuffer(body)) {
            this.buffered = body;
            if (body.length > 0) this.push(body);
            this.complete = true;
            this.push(null);
            return;
        }
        this.body = body;
        body.on("data", (chunk: Buffer) => {
            if (!this.push(chunk)) body.pause();
        });
        body.on("end", () => {
            this.complete = true;
            this.push(null);
        });
        body.on("error", (err) => this.destroy(err));
    }

    override _read(): void {
        this.body?.resume();
    }

    // IncomingMessage's own _destroy would destroy the shared socket, cutting off the response too.
    override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
        this.body?.destroy();
        done(err);
    }
}
