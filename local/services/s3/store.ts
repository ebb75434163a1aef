/**
 * The S3 emulator's object store: what s3rver's controllers call (the interface of its FilesystemStore,
 * lib/stores/filesystem.js), with files laid out so that no request can reach outside the data directory.
 *
 * s3rver's own store turned each key into a path (`<bucket>/<key>._S3rver_object` plus two sidecar files), so a key
 * like `../../x` wrote anywhere, a segment over the file-name limit failed, and a crash between its three writes left
 * new content with the old ETag. Here:
 * - a bucket is a folder named after a validated bucket name (nothing else can name one);
 * - an object is ONE file named after the SHA-256 of its key, holding the content followed by a JSON trailer (key,
 *   MD5, size, time, metadata, encryption). It is written to a temporary file and renamed into place, so a reader
 *   (or a restart after `kill -9`) sees either the whole old object or the whole new one, never a mix;
 * - listings read the keys back from the trailers and sort them as S3 does (UTF-8 bytes); files that are not
 *   readable objects are skipped, so one damaged file cannot break a listing;
 * - upload ids and part numbers are validated before they name a file.
 * A data directory written by s3rver's store is converted once, at open.
 *
 * A rename is atomic against a crash of this process; without an fsync it is not durable against a power cut,
 * which a local emulator does not need to survive.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as path from "path";
import { Readable, Transform, TransformCallback } from "stream";
import { pipeline } from "stream/promises";

// ---------------------------------------------------------------------------------------------------------------
// Typings for the parts of s3rver 3.7.1 the store works with (it ships none).

/** s3rver's model of an object: metadata as S3 reports it, content as a stream (or a Buffer for form uploads). */
export interface S3rverObject {
    bucket: string;
    key: string;
    content: Readable | Buffer | null;
    metadata: Record<string, string | number>;
    range?: { start: number; end: number };
}
interface S3rverObjectConstructor {
    new (bucket: string, key: string, content: Readable | Buffer | null, metadata: Readonly<Record<string, unknown>>): S3rverObject;
    ALLOWED_METADATA: string[];
}
export const S3rverObjectModel = require("s3rver/lib/models/object") as S3rverObjectConstructor;

export interface S3rverBucket {
    name: string;
    creationDate: Date;
}
const S3rverBucketModel = require("s3rver/lib/models/bucket") as new (name: string, creationDate: Date) => S3rverBucket;

/** A bucket or object configuration (cors, website, tagging) as s3rver's models hold it. */
export interface S3rverConfig {
    type: string;
    toXML(space?: number): string;
}
const { getConfigModel } = require("s3rver/lib/models/config") as {
    getConfigModel(type: string): (new (xml: string) => S3rverConfig) | undefined;
};

export interface S3rverErrorInstance extends Error {
    code: string;
    status: number;
    expose: boolean;
    /** The extra elements of the XML error document. */
    detail: Record<string, unknown>;
}
const S3rverError = require("s3rver/lib/models/error") as new (code: string, message: string, detail?: Record<string, unknown>) => S3rverErrorInstance;

/** An error s3rver's error handler renders as S3's XML error with this status (its own table lacks some codes). */
export function storeError(code: string, message: string, status: number, detail: Record<string, unknown> = {}): S3rverErrorInstance {
    const error = new S3rverError(code, message, detail);
    error.status = status;
    error.expose = status < 500;
    return error;
}

/** Whether an error is one the store (or the emulator's checks) threw in S3's terms. */
export function isStoreError(err: unknown): err is S3rverErrorInstance {
    return err instanceof S3rverError;
}

export type RangeOptions = { start?: number; end?: number } | undefined;

export interface ListOptions {
    delimiter?: string;
    startAfter?: string;
    prefix?: string;
    maxKeys?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Names

/**
 * AWS's rules for general purpose bucket names
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). A name that passes can never be
 * `.`, `..`, contain a slash or collide with the store's own folders (which start with a dot).
 */
export function isValidBucketName(name: string): boolean {
    return (
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
        !name.includes("..") &&
        !/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) &&
        !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
        !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)
    );
}

export function invalidBucketName(name: string): S3rverErrorInstance {
    return storeError("InvalidBucketName", `The specified bucket is not valid: ${JSON.stringify(name)}`, 400, { BucketName: name });
}

/** S3's limit on a key: 1,024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

export function keyTooLong(key: string): S3rverErrorInstance {
    return storeError("KeyTooLongError", "Your key is too long", 400, { Size: Buffer.byteLength(key), MaxSizeAllowed: MAX_KEY_BYTES });
}

/** s3rver makes upload ids of 16 random bytes in hex; nothing else may name an upload folder. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;
const MAX_PART_NUMBER = 10_000;

/** UTF-8 byte order, S3's order for keys (JavaScript's `<` compares UTF-16 code units, which differs above U+FFFF). */
export function compareKeys(a: string, b: string): number {
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// ---------------------------------------------------------------------------------------------------------------
// Object files: content, then a JSON trailer, its length (uint32 BE) and a magic marker.

const MAGIC = Buffer.from("\nCHS3v1\n");
const TRAILER_FIXED = 4 + MAGIC.length;
/** One read at the end of a file usually covers the whole trailer (and, for small objects, the content too). */
const TAIL_READ_BYTES = 16 * 1024;

/** How an object is encrypted at rest, as S3 reports it (nothing is really encrypted here). */
export interface StoredEncryption {
    /** `x-amz-server-side-encryption`: AES256, aws:kms or aws:kms:dsse; absent for SSE-C. */
    algorithm?: string;
    kmsKeyId?: string;
    bucketKeyEnabled?: boolean;
    /** SSE-C: the algorithm and the base64 MD5 of the customer's key (the key itself is never kept). */
    customerAlgorithm?: string;
    customerKeyMd5?: string;
}

/** What the trailer of an object file holds. */
export interface ObjectRecord {
    key: string;
    md5: string;
    size: number;
    /** Milliseconds since the epoch. */
    modified: number;
    /** The allowed headers (content-type, ...) and the user's x-amz-meta-*, as s3rver's store kept them. */
    metadata: Record<string, string>;
    encryption?: StoredEncryption;
    /** Changes with every write: binds the object's tagging to this very version. */
    version: string;
}

/** The headers an object's encryption adds to GET, HEAD and PUT answers. */
export function encryptionHeaders(encryption: StoredEncryption | undefined): Record<string, string> {
    const headers: Record<string, string> = {};
    if (!encryption) return headers;
    if (encryption.algorithm) headers["x-amz-server-side-encryption"] = encryption.algorithm;
    if (encryption.kmsKeyId) headers["x-amz-server-side-encryption-aws-kms-key-id"] = encryption.kmsKeyId;
    if (encryption.bucketKeyEnabled) headers["x-amz-server-side-encryption-bucket-key-enabled"] = "true";
    if (encryption.customerAlgorithm) headers["x-amz-server-side-encryption-customer-algorithm"] = encryption.customerAlgorithm;
    if (encryption.customerKeyMd5) headers["x-amz-server-side-encryption-customer-key-md5"] = encryption.customerKeyMd5;
    return headers;
}

/** The metadata s3rver's models show for a stored object: its headers, intrinsic values and encryption headers. */
export function recordMetadata(record: ObjectRecord): Record<string, string | number> {
    return {
        ...record.metadata,
        etag: JSON.stringify(record.md5),
        "last-modified": new Date(record.modified).toUTCString(),
        "content-length": record.size,
        ...encryptionHeaders(record.encryption),
    };
}

/** The metadata FilesystemStore.putMetadata kept: the allowed headers, then the user's x-amz-meta-* ones. */
export function storedMetadata(metadata: Readonly<Record<string, unknown>>): Record<string, string> {
    const stored: Record<string, string> = {};
    for (const name of S3rverObjectModel.ALLOWED_METADATA) if (metadata[name] !== undefined) stored[name] = String(metadata[name]);
    for (const [name, value] of Object.entries(metadata)) if (name.startsWith("x-amz-meta-") && value !== undefined) stored[name] = String(value);
    return stored;
}

function trailerOf(record: ObjectRecord): Buffer {
    const json = Buffer.from(JSON.stringify(record));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(json.length);
    return Buffer.concat([json, length, MAGIC]);
}

/** An open object file: its record and where its content is. Undefined when the file is not a readable object. */
interface OpenedObject {
    handle: fsp.FileHandle;
    record: ObjectRecord;
    /** The whole content, when the tail read covered it. */
    content?: Buffer;
}

function parseTail(tail: Buffer, fileSize: number): { length: number } | undefined {
    if (tail.length < TRAILER_FIXED || !tail.subarray(tail.length - MAGIC.length).equals(MAGIC)) return undefined;
    const length = tail.readUInt32BE(tail.length - TRAILER_FIXED);
    return length + TRAILER_FIXED <= fileSize ? { length } : undefined;
}

function parseRecord(json: Buffer, contentSize: number): ObjectRecord | undefined {
    try {
        const record = JSON.parse(json.toString()) as ObjectRecord;
        const valid =
            typeof record.key === "string" &&
            typeof record.md5 === "string" &&
            record.size === contentSize &&
            typeof record.modified === "number" &&
            typeof record.metadata === "object" &&
            record.metadata !== null;
        return valid ? record : undefined;
    } catch {
        return undefined;
    }
}

/** Opens an object file and reads its trailer; undefined if it does not exist or is not an object of this store. */
async function openObject(file: string): Promise<OpenedObject | undefined> {
    let handle: fsp.FileHandle;
    try {
        handle = await fsp.open(file, "r");
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
    try {
        const { size } = await handle.stat();
        const tailLength = Math.min(size, TAIL_READ_BYTES);
        const tail = Buffer.alloc(tailLength);
        await handle.read(tail, 0, tailLength, size - tailLength);
        const parsed = parseTail(tail, size);
        if (!parsed) throw new CorruptObject();
        const trailerBytes = parsed.length + TRAILER_FIXED;
        const contentSize = size - trailerBytes;
        let json: Buffer;
        if (trailerBytes <= tailLength) {
            json = tail.subarray(tailLength - trailerBytes, tailLength - TRAILER_FIXED);
        } else {
            json = Buffer.alloc(parsed.length);
            await handle.read(json, 0, parsed.length, contentSize);
        }
        const record = parseRecord(json, contentSize);
        if (!record) throw new CorruptObject();
        const content = size <= tailLength ? tail.subarray(0, contentSize) : undefined;
        return { handle, record, content };
    } catch (err) {
        await handle.close();
        if (err instanceof CorruptObject) return undefined;
        throw err;
    }
}

class CorruptObject extends Error {}

function isNotFound(err: unknown): boolean {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    return code === "ENOENT" || code === "ENOTDIR";
}

/** Computes MD5 and length of what passes through. */
class Md5Meter extends Transform {
    readonly hash = crypto.createHash("md5");
    length = 0;
    override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        this.hash.update(chunk);
        this.length += chunk.length;
        done(null, chunk);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The store

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const OBJECTS = ".objects";
const UPLOADS = ".uploads";
const CONFIG = ".config";
/** Temporary files, under the data directory so a rename into a bucket never crosses file systems. */
const TEMP = ".tmp";
/** The suffixes of s3rver's FilesystemStore files (a data directory it wrote is converted at open). */
const LEGACY_SUFFIX = "._S3rver_";

/** A bucket's default encryption, as PutBucketEncryption (or the stack's configuration) sets it. */
export interface BucketEncryption {
    sseAlgorithm: string;
    kmsMasterKeyId?: string;
    bucketKeyEnabled?: boolean;
}

export interface ObjectStoreOptions {
    /** Small objects are written with synchronous calls (microseconds on tmpfs, less than a thread-pool round trip). */
    writeSmallObjectsSync: boolean;
}

/** Objects up to this size may be written synchronously. */
export const SYNC_WRITE_BYTES = 256 * 1024;

export class ObjectStore {
    /** Fan-out folders known to exist, so a PUT does not ask again. */
    private readonly knownDirs = new Set<string>();
    private readonly bucketEncryption = new Map<string, BucketEncryption | null>();

    private constructor(
        readonly rootDirectory: string,
        private readonly options: ObjectStoreOptions,
    ) {}

    /** Opens (or creates) a store: removes temporary files a crash left, converts s3rver's layout, owner-only modes. */
    static async open(rootDirectory: string, options: ObjectStoreOptions): Promise<ObjectStore> {
        const store = new ObjectStore(rootDirectory, options);
        await fsp.mkdir(rootDirectory, { recursive: true, mode: DIR_MODE });
        await fsp.chmod(rootDirectory, DIR_MODE);
        await fsp.rm(store.tempDir, { recursive: true, force: true });
        await fsp.mkdir(store.tempDir, { mode: DIR_MODE });
        for (const entry of await fsp.readdir(rootDirectory, { withFileTypes: true })) {
            if (!entry.isDirectory() || !isValidBucketName(entry.name)) continue;
            await fsp.chmod(path.join(rootDirectory, entry.name), DIR_MODE);
            await store.prepareBucket(entry.name);
            await store.convertLegacyBucket(entry.name);
        }
        return store;
    }

    private get tempDir(): string {
        return path.join(this.rootDirectory, TEMP);
    }

    private tempFile(): string {
        return path.join(this.tempDir, crypto.randomUUID());
    }

    private bucketPath(bucket: string): string {
        if (!isValidBucketName(bucket)) throw invalidBucketName(bucket);
        return path.join(this.rootDirectory, bucket);
    }

    /** The object's file: `<bucket>/.objects/<2 hex>/<sha256 of the key>`, whatever the key holds. */
    objectPath(bucket: string, key: string): string {
        if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw keyTooLong(key);
        const hash = crypto.createHash("sha256").update(key).digest("hex");
        return path.join(this.bucketPath(bucket), OBJECTS, hash.slice(0, 2), hash);
    }

    private uploadPath(bucket: string, uploadId: string): string {
        if (typeof uploadId !== "string" || !UPLOAD_ID.test(uploadId)) {
            throw storeError("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", 404, {
                UploadId: String(uploadId),
            });
        }
        return path.join(this.bucketPath(bucket), UPLOADS, uploadId);
    }

    private configPath(bucket: string, type: string): string {
        if (!/^[a-z]+$/.test(type)) throw storeError("InvalidArgument", `Unknown configuration ${JSON.stringify(type)}`, 400);
        return path.join(this.bucketPath(bucket), CONFIG, `${type}.xml`);
    }

    private async prepareBucket(bucket: string): Promise<void> {
        const root = this.bucketPath(bucket);
        for (const dir of [OBJECTS, UPLOADS, CONFIG]) await fsp.mkdir(path.join(root, dir), { recursive: true, mode: DIR_MODE });
        this.bucketEncryption.delete(bucket);
    }

    // --- buckets ------------------------------------------------------------------------------------------------

    reset(): void {
        for (const name of fs.readdirSync(this.rootDirectory)) {
            if (name !== TEMP) fs.rmSync(path.join(this.rootDirectory, name), { recursive: true, force: true });
        }
        this.knownDirs.clear();
        this.bucketEncryption.clear();
    }

    async listBuckets(): Promise<S3rverBucket[]> {
        const entries = await fsp.readdir(this.rootDirectory, { withFileTypes: true });
        const buckets = await Promise.all(entries.filter((e) => e.isDirectory() && isValidBucketName(e.name)).map((e) => this.getBucket(e.name)));
        return buckets.filter((b): b is S3rverBucket => b !== null);
    }

    async getBucket(bucket: string): Promise<S3rverBucket | null> {
        try {
            const stat = await fsp.stat(this.bucketPath(bucket));
            return stat.isDirectory() ? new S3rverBucketModel(bucket, stat.birthtime) : null;
        } catch (err) {
            if (isNotFound(err)) return null;
            throw err;
        }
    }

    async putBucket(bucket: string): Promise<S3rverBucket | null> {
        await fsp.mkdir(this.bucketPath(bucket), { recursive: true, mode: DIR_MODE });
        await this.prepareBucket(bucket);
        return this.getBucket(bucket);
    }

    async deleteBucket(bucket: string): Promise<void> {
        const root = this.bucketPath(bucket);
        for (const dir of this.knownDirs) if (dir.startsWith(root + path.sep)) this.knownDirs.delete(dir);
        this.bucketEncryption.delete(bucket);
        await fsp.rm(root, { recursive: true, force: true });
    }

    /** The bucket's default encryption; null when it has no configuration of its own. */
    async getBucketEncryption(bucket: string): Promise<BucketEncryption | null> {
        const known = this.bucketEncryption.get(bucket);
        if (known !== undefined) return known;
        let found: BucketEncryption | null = null;
        try {
            found = JSON.parse(await fsp.readFile(path.join(this.bucketPath(bucket), CONFIG, "encryption.json"), "utf8")) as BucketEncryption;
        } catch (err) {
            if (!isNotFound(err) && !(err instanceof SyntaxError)) throw err;
        }
        // Only a bucket that exists is remembered: names from requests must not grow the map.
        if (found !== null || (await this.getBucket(bucket))) this.bucketEncryption.set(bucket, found);
        return found;
    }

    async putBucketEncryption(bucket: string, encryption: BucketEncryption | null): Promise<void> {
        const file = path.join(this.bucketPath(bucket), CONFIG, "encryption.json");
        if (encryption === null) await fsp.rm(file, { force: true });
        else await this.writeFileAtomically(file, JSON.stringify(encryption));
        this.bucketEncryption.set(bucket, encryption);
    }

    // --- objects ------------------------------------------------------------------------------------------------

    async existsObject(bucket: string, key: string): Promise<boolean> {
        try {
            await fsp.stat(this.objectPath(bucket, key));
            return true;
        } catch (err) {
            if (isNotFound(err)) return false;
            throw err;
        }
    }

    /** The object's record without its content; undefined if there is no such object. */
    async headObject(bucket: string, key: string): Promise<ObjectRecord | undefined> {
        const opened = await openObject(this.objectPath(bucket, key));
        if (!opened) return undefined;
        await opened.handle.close();
        return opened.record.key === key ? opened.record : undefined;
    }

    /** FilesystemStore.getObject: the object with its metadata and content (a range of it), null if absent. */
    getObject(bucket: string, key: string, options?: RangeOptions): Promise<S3rverObject | null> {
        return this.readObject(bucket, key, options);
    }

    /** getObject for the store's own use (wrappers of getObject check what a request may read). */
    private async readObject(bucket: string, key: string, options?: RangeOptions): Promise<S3rverObject | null> {
        const opened = await openObject(this.objectPath(bucket, key));
        if (!opened) return null;
        const { record } = opened;
        if (record.key !== key) {
            await opened.handle.close();
            return null;
        }
        const lastByte = Math.max(0, record.size - 1);
        const range = { start: options?.start || 0, end: Math.min(options?.end || Infinity, lastByte) };
        const ranged = options !== undefined && (options.start !== undefined || Boolean(options.end));
        const satisfiable = range.start >= 0 && Math.min(range.end, lastByte) >= range.start;
        let content: Readable | null = null;
        if (!satisfiable) {
            await opened.handle.close();
        } else if (opened.content !== undefined || record.size === 0) {
            await opened.handle.close();
            content = Readable.from([(opened.content ?? Buffer.alloc(0)).subarray(range.start, range.end + 1)], { objectMode: false });
        } else {
            // Reads the file already open: an overwrite renamed over it meanwhile does not change what this GET sends.
            content = opened.handle.createReadStream({ start: range.start, end: range.end, autoClose: true });
        }
        const object = objectModel(bucket, key, content, record);
        if (ranged) object.range = range;
        return object;
    }

    /** FilesystemStore.putObject: stores the object's content with its metadata; one rename publishes both. */
    async putObject(object: S3rverObject, encryption?: StoredEncryption): Promise<{ size: number; md5: string }> {
        const record = Buffer.isBuffer(object.content)
            ? await this.writeObject(object.bucket, object.key, object.content, object.metadata, encryption)
            : await this.writeObjectStream(object.bucket, object.key, object.content ?? Readable.from([]), object.metadata, encryption);
        return { size: record.size, md5: record.md5 };
    }

    /** Writes an object whose content is in memory; synchronously when the store was opened for that. */
    async writeObject(bucket: string, key: string, content: Buffer, metadata: Readonly<Record<string, unknown>>, encryption?: StoredEncryption): Promise<ObjectRecord> {
        const file = this.objectPath(bucket, key);
        const record: ObjectRecord = {
            key,
            md5: crypto.createHash("md5").update(content).digest("hex"),
            size: content.length,
            modified: Date.now(),
            metadata: storedMetadata(metadata),
            encryption,
            version: crypto.randomBytes(8).toString("hex"),
        };
        const trailer = trailerOf(record);
        const temp = this.tempFile();
        if (this.options.writeSmallObjectsSync && content.length <= SYNC_WRITE_BYTES) {
            const fd = fs.openSync(temp, "wx", FILE_MODE);
            try {
                fs.writevSync(fd, [content, trailer]);
            } finally {
                fs.closeSync(fd);
            }
            this.publishSync(temp, file, bucket);
        } else {
            const handle = await fsp.open(temp, "wx", FILE_MODE);
            try {
                await handle.writev([content, trailer]);
            } finally {
                await handle.close();
            }
            await this.publish(temp, file, bucket);
        }
        return record;
    }

    private async writeObjectStream(
        bucket: string,
        key: string,
        content: Readable,
        metadata: Readonly<Record<string, unknown>>,
        encryption?: StoredEncryption,
        modified = Date.now(),
    ): Promise<ObjectRecord> {
        const file = this.objectPath(bucket, key);
        const temp = this.tempFile();
        const meter = new Md5Meter();
        try {
            const out = fs.createWriteStream(temp, { flags: "wx", mode: FILE_MODE });
            await pipeline(content, meter, out);
            const record: ObjectRecord = {
                key,
                md5: meter.hash.digest("hex"),
                size: meter.length,
                modified,
                metadata: storedMetadata(metadata),
                encryption,
                version: crypto.randomBytes(8).toString("hex"),
            };
            await fsp.appendFile(temp, trailerOf(record));
            await this.publish(temp, file, bucket);
            return record;
        } catch (err) {
            await fsp.rm(temp, { force: true });
            throw err;
        }
    }

    /** Renames a finished temporary file into place, creating the fan-out folder on first use. */
    private async publish(temp: string, file: string, bucket: string): Promise<void> {
        const dir = path.dirname(file);
        try {
            if (!this.knownDirs.has(dir)) await this.makeFanOut(dir, bucket);
            await fsp.rename(temp, file);
        } catch (err) {
            await fsp.rm(temp, { force: true });
            throw err;
        }
    }

    private publishSync(temp: string, file: string, bucket: string): void {
        const dir = path.dirname(file);
        try {
            if (!this.knownDirs.has(dir)) this.makeFanOutSync(dir, bucket);
            fs.renameSync(temp, file);
        } catch (err) {
            fs.rmSync(temp, { force: true });
            throw err;
        }
    }

    /** The fan-out folder, but never the bucket: a PUT racing a DeleteBucket must not bring the bucket back. */
    private async makeFanOut(dir: string, bucket: string): Promise<void> {
        try {
            await fsp.mkdir(dir, { mode: DIR_MODE });
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") throw noSuchBucket(bucket);
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        this.knownDirs.add(dir);
    }

    private makeFanOutSync(dir: string, bucket: string): void {
        try {
            fs.mkdirSync(dir, { mode: DIR_MODE });
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") throw noSuchBucket(bucket);
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        this.knownDirs.add(dir);
    }

    private async writeFileAtomically(file: string, data: string): Promise<void> {
        const temp = this.tempFile();
        await fsp.writeFile(temp, data, { mode: FILE_MODE, flag: "wx" });
        try {
            await fsp.rename(temp, file);
        } catch (err) {
            await fsp.rm(temp, { force: true });
            throw err;
        }
    }

    /**
     * FilesystemStore.copyObject: the source's content under the destination key, with the source's metadata or
     * the replacement, and the destination's encryption. Returns the destination's metadata.
     */
    async copyObject(
        srcBucket: string,
        srcKey: string,
        destBucket: string,
        destKey: string,
        replacementMetadata: Readonly<Record<string, unknown>> | null | undefined,
        encryption?: StoredEncryption,
    ): Promise<Record<string, string | number>> {
        const source = await this.readObject(srcBucket, srcKey);
        if (!source?.content) throw noSuchKey(srcKey);
        const sourceRecord = recordOf(source);
        const metadata = replacementMetadata ?? sourceRecord?.metadata ?? {};
        const record = await this.writeObjectStream(destBucket, destKey, source.content as Readable, metadata, encryption);
        return recordMetadata(record);
    }

    async deleteObject(bucket: string, key: string): Promise<void> {
        const file = this.objectPath(bucket, key);
        await Promise.all([fsp.rm(file, { force: true }), fsp.rm(`${file}.tagging.xml`, { force: true })]);
    }

    /**
     * FilesystemStore.listObjects: keys in UTF-8 order after `startAfter`, under `prefix`, rolled up at `delimiter`.
     * Every object file's trailer names its key; a file that is not a readable object is skipped.
     */
    async listObjects(bucket: string, options: ListOptions): Promise<{ objects: S3rverObject[]; commonPrefixes: string[]; isTruncated: boolean }> {
        const { delimiter = "", startAfter = "", prefix = "", maxKeys = Infinity } = options;
        const records = await this.readAllRecords(bucket);
        records.sort((a, b) => compareKeys(a.key, b.key));
        const commonPrefixes = new Set<string>();
        const objects: S3rverObject[] = [];
        let isTruncated = false;
        for (const record of records) {
            const { key } = record;
            if (compareKeys(key, startAfter) <= 0 || !key.startsWith(prefix)) continue;
            if (delimiter) {
                const at = key.indexOf(delimiter, prefix.length);
                if (at !== -1) {
                    commonPrefixes.add(key.slice(0, at + delimiter.length));
                    continue;
                }
            }
            if (objects.length >= maxKeys) {
                isTruncated = true;
                break;
            }
            objects.push(objectModel(bucket, key, null, record));
        }
        return { objects, commonPrefixes: [...commonPrefixes].sort(compareKeys), isTruncated };
    }

    /** The records of every object under `prefix`, in S3's listing order (UTF-8 bytes). */
    async listRecords(bucket: string, prefix = ""): Promise<ObjectRecord[]> {
        const records = (await this.readAllRecords(bucket)).filter((record) => record.key.startsWith(prefix));
        return records.sort((a, b) => compareKeys(a.key, b.key));
    }

    private async readAllRecords(bucket: string): Promise<ObjectRecord[]> {
        const root = path.join(this.bucketPath(bucket), OBJECTS);
        const records: ObjectRecord[] = [];
        let fanOut: fs.Dirent[];
        try {
            fanOut = await fsp.readdir(root, { withFileTypes: true });
        } catch (err) {
            if (isNotFound(err)) return records;
            throw err;
        }
        for (const dir of fanOut) {
            if (!dir.isDirectory() || !/^[0-9a-f]{2}$/.test(dir.name)) continue;
            const names = await fsp.readdir(path.join(root, dir.name)).catch(() => [] as string[]);
            await Promise.all(
                names
                    .filter((name) => /^[0-9a-f]{64}$/.test(name) && name.startsWith(dir.name))
                    .map(async (name) => {
                        const opened = await openObject(path.join(root, dir.name, name)).catch(() => undefined);
                        if (!opened) return;
                        await opened.handle.close();
                        // A file whose key does not hash to its name was put there by someone else: not an object.
                        if (crypto.createHash("sha256").update(opened.record.key).digest("hex") === name) records.push(opened.record);
                    }),
            );
        }
        return records;
    }

    // --- multipart uploads --------------------------------------------------------------------------------------

    async initiateUpload(bucket: string, key: string, uploadId: string, metadata: Readonly<Record<string, unknown>>, encryption?: StoredEncryption): Promise<void> {
        if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw keyTooLong(key);
        const dir = this.uploadPath(bucket, uploadId);
        await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
        await fsp.writeFile(path.join(dir, "upload.json"), JSON.stringify({ key, metadata: storedMetadata(metadata), encryption }), { mode: FILE_MODE });
    }

    private async readUpload(bucket: string, uploadId: string): Promise<{ dir: string; key: string; metadata: Record<string, string>; encryption?: StoredEncryption }> {
        const dir = this.uploadPath(bucket, uploadId);
        try {
            const upload = JSON.parse(await fsp.readFile(path.join(dir, "upload.json"), "utf8")) as { key: string; metadata: Record<string, string>; encryption?: StoredEncryption };
            return { dir, ...upload };
        } catch (err) {
            if (isNotFound(err) || err instanceof SyntaxError) {
                throw storeError("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", 404, { UploadId: uploadId });
            }
            throw err;
        }
    }

    /** The key and encryption a multipart upload was initiated with; NoSuchUpload if there is no such upload. */
    async uploadOf(bucket: string, uploadId: string): Promise<{ key: string; encryption?: StoredEncryption }> {
        const { key, encryption } = await this.readUpload(bucket, uploadId);
        return { key, encryption };
    }

    async putPart(bucket: string, uploadId: string, partNumber: unknown, content: Readable): Promise<{ size: number; md5: string }> {
        const number = partNumberOf(partNumber);
        const { dir } = await this.readUpload(bucket, uploadId);
        const temp = this.tempFile();
        const meter = new Md5Meter();
        try {
            await pipeline(content, meter, fs.createWriteStream(temp, { flags: "wx", mode: FILE_MODE }));
            const md5 = meter.hash.digest("hex");
            await fsp.writeFile(`${temp}.md5`, md5, { mode: FILE_MODE });
            // The MD5 first: a part file is only ever renamed in next to its own MD5.
            await fsp.rename(`${temp}.md5`, path.join(dir, `${number}.md5`));
            await fsp.rename(temp, path.join(dir, String(number)));
            return { size: meter.length, md5 };
        } catch (err) {
            await Promise.all([fsp.rm(temp, { force: true }), fsp.rm(`${temp}.md5`, { force: true })]);
            throw err;
        }
    }

    async putObjectMultipart(bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<{ size: number; md5: string }> {
        const upload = await this.readUpload(bucket, uploadId);
        const ordered = [...parts].sort((a, b) => a.number - b.number);
        for (const part of ordered) {
            partNumberOf(part.number);
            const md5 = await fsp.readFile(path.join(upload.dir, `${part.number}.md5`), "utf8").catch(() => undefined);
            if (md5 === undefined || (part.etag && part.etag !== md5)) {
                throw storeError(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
                    400,
                    { UploadId: uploadId, PartNumber: part.number, ETag: part.etag },
                );
            }
        }
        const content = Readable.from(
            (async function* () {
                for (const part of ordered) yield* fs.createReadStream(path.join(upload.dir, String(part.number)));
            })(),
            { objectMode: false },
        );
        const record = await this.writeObjectStream(bucket, upload.key, content, upload.metadata, upload.encryption);
        await fsp.rm(upload.dir, { recursive: true, force: true });
        return { size: record.size, md5: record.md5 };
    }

    // --- subresources -------------------------------------------------------------------------------------------

    /** A bucket's configuration (cors, website) or an object's tagging; null when there is none. */
    async getSubresource(bucket: string, key: string | undefined, type: string): Promise<S3rverConfig | null> {
        const Model = getConfigModel(type);
        if (!Model) return null;
        if (key === undefined || key === "") {
            try {
                return new Model(await fsp.readFile(this.configPath(bucket, type), "utf8"));
            } catch (err) {
                if (isNotFound(err)) return null;
                throw err;
            }
        }
        const record = await this.headObject(bucket, key);
        if (!record) return null;
        try {
            const stored = await fsp.readFile(this.subresourcePath(bucket, key, type), "utf8");
            const [version, xml] = splitFirstLine(stored);
            // Tagging belongs to one version of an object: an overwrite since then starts without it.
            return version === record.version ? new Model(xml) : null;
        } catch (err) {
            if (isNotFound(err)) return null;
            throw err;
        }
    }

    async putSubresource(bucket: string, key: string | undefined, resource: S3rverConfig): Promise<void> {
        if (key === undefined || key === "") {
            await this.writeFileAtomically(this.configPath(bucket, resource.type), resource.toXML(2));
            return;
        }
        const record = await this.headObject(bucket, key);
        if (!record) throw noSuchKey(key);
        await this.writeFileAtomically(this.subresourcePath(bucket, key, resource.type), `${record.version}\n${resource.toXML(2)}`);
    }

    async deleteSubresource(bucket: string, key: string | undefined, type: string): Promise<void> {
        const file = key === undefined || key === "" ? this.configPath(bucket, type) : this.subresourcePath(bucket, key, type);
        await fsp.rm(file, { force: true });
    }

    private subresourcePath(bucket: string, key: string, type: string): string {
        if (type !== "tagging") throw storeError("InvalidArgument", `Objects have no ${JSON.stringify(type)} configuration`, 400);
        return `${this.objectPath(bucket, key)}.${type}.xml`;
    }

    // --- s3rver's layout ----------------------------------------------------------------------------------------

    /**
     * Converts the objects s3rver's FilesystemStore left in a bucket folder (`<key>._S3rver_object`, with
     * `.md5` and `._S3rver_metadata.json` beside it) into this store's files, then removes the old ones. An object
     * whose metadata is missing or unreadable keeps its content (and default metadata). Keys are read from the
     * folder names only, so nothing outside the bucket folder is touched.
     */
    private async convertLegacyBucket(bucket: string): Promise<void> {
        const root = this.bucketPath(bucket);
        const legacyFiles: string[] = [];
        const walk = async (dir: string, relative: string[]): Promise<void> => {
            for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
                if (relative.length === 0 && [OBJECTS, UPLOADS, CONFIG].includes(entry.name)) continue;
                const full = path.join(dir, entry.name);
                if (entry.isDirectory()) await walk(full, [...relative, entry.name]);
                else if (entry.isFile() && entry.name.includes(LEGACY_SUFFIX)) legacyFiles.push(full);
            }
        };
        await walk(root, []);
        const objectSuffix = `${LEGACY_SUFFIX}object`;
        for (const file of legacyFiles.filter((f) => f.endsWith(objectSuffix))) {
            const key = path.relative(root, file.slice(0, -objectSuffix.length)).split(path.sep).join("/");
            if (Buffer.byteLength(key) > MAX_KEY_BYTES) continue;
            const base = file.slice(0, -objectSuffix.length);
            const metadata = await fsp
                .readFile(`${base}${LEGACY_SUFFIX}metadata.json`, "utf8")
                .then((text) => JSON.parse(text) as Record<string, unknown>)
                .catch(() => ({}));
            if (!(await this.existsObject(bucket, key))) {
                // The converted object keeps the Last-Modified s3rver reported for it: its file's time.
                const { mtime } = await fsp.stat(file);
                await this.writeObjectStream(bucket, key, fs.createReadStream(file), metadata, undefined, mtime.getTime());
            }
            const tagging = await fsp.readFile(`${base}${LEGACY_SUFFIX}tagging.xml`, "utf8").catch(() => undefined);
            const record = tagging !== undefined ? await this.headObject(bucket, key) : undefined;
            if (tagging !== undefined && record) await this.writeFileAtomically(this.subresourcePath(bucket, key, "tagging"), `${record.version}\n${tagging}`);
        }
        for (const type of ["cors", "website"]) {
            const legacy = path.join(root, `${LEGACY_SUFFIX}${type}.xml`);
            const xml = await fsp.readFile(legacy, "utf8").catch(() => undefined);
            if (xml !== undefined) await this.writeFileAtomically(this.configPath(bucket, type), xml);
        }
        await Promise.all(legacyFiles.map((f) => fsp.rm(f, { force: true })));
        await removeEmptyDirs(root, [OBJECTS, UPLOADS, CONFIG]);
    }
}

/** Keeps the record on the model (s3rver's constructor filters the metadata it is given). */
const RECORDS = new WeakMap<S3rverObject, ObjectRecord>();

/** s3rver's model of a stored object, which its GET controller turns into headers. */
export function objectModel(bucket: string, key: string, content: Readable | null, record: ObjectRecord): S3rverObject {
    const object = new S3rverObjectModel(bucket, key, content, recordMetadata(record));
    // S3Object keeps only the headers it knows; encryption headers go back in so s3rver's GET sends them.
    Object.assign(object.metadata, encryptionHeaders(record.encryption));
    RECORDS.set(object, record);
    return object;
}

/** The stored record behind an object this store returned. */
export function recordOf(object: S3rverObject): ObjectRecord | undefined {
    return RECORDS.get(object);
}

function partNumberOf(value: unknown): number {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1 || number > MAX_PART_NUMBER || !/^\d+$/.test(String(value))) {
        throw storeError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400, {
            ArgumentName: "partNumber",
            ArgumentValue: String(value),
        });
    }
    return number;
}

export function noSuchKey(key: string): S3rverErrorInstance {
    return storeError("NoSuchKey", "The specified key does not exist.", 404, { Key: key });
}

function noSuchBucket(bucket: string): S3rverErrorInstance {
    return storeError("NoSuchBucket", "The specified bucket does not exist", 404, { BucketName: bucket });
}

function splitFirstLine(text: string): [string, string] {
    const at = text.indexOf("\n");
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

/** Removes empty folders below `root` (not root itself, nor the named top-level ones). */
async function removeEmptyDirs(root: string, keep: string[]): Promise<void> {
    const visit = async (dir: string, top: boolean): Promise<boolean> => {
        let empty = true;
        for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
            if (top && keep.includes(entry.name)) {
                empty = false;
                continue;
            }
            if (entry.isDirectory() && (await visit(path.join(dir, entry.name), false))) await fsp.rmdir(path.join(dir, entry.name));
            else empty = false;
        }
        return empty;
    };
    await visit(root, true);
}
