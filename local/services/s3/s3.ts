/**
 * S3 for the offline runtime: s3rver (a Koa app) mounted behind our own endpoint, over a store of our own.
 *
 * s3rver routes and answers S3's REST API well but trusts every request: it never checks SigV4 signatures
 * (so presigned URLs never expire or fail), and it writes `aws-chunked` bodies (what SDK v3 sends for
 * streams, with trailing CRC32 checksums) to disk frame and all. So every request passes through
 * this file first: we verify its signature as S3 would, validate the bucket name and key it names, read its
 * encryption headers, read any body into a spool file while decoding chunk framing and checking the declared
 * digests, and only then hand s3rver a plain request. s3rver's FilesystemStore (which turned keys into paths) is
 * replaced by ObjectStore (./s3Store), and server-side encryption is emulated in ./s3Encryption.
 */
import { AsyncLocalStorage } from "async_hooks";
import * as crypto from "crypto";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as http from "http";
import { isIP } from "net";
import * as os from "os";
import * as path from "path";
import { Readable, Transform, TransformCallback } from "stream";
import { pipeline } from "stream/promises";
import * as zlib from "zlib";
import { AwsError } from "../../core/awsError";
import { onMemoryFs, scratchRoot } from "../../core/scratch";
import {
    BucketEncryptionConfiguration,
    CustomerKey,
    EncryptionSettings,
    RequestEncryption,
    bucketEncryptionOf,
    bucketEncryptionXml,
    checkCustomerKey,
    effectiveEncryption,
    escapeXml,
    readRequestEncryption,
} from "./encryption";
import { isListing, listObjects } from "./listing";
import {
    MAX_KEY_BYTES,
    ObjectRecord,
    ObjectStore,
    RangeOptions,
    S3rverBucket,
    S3rverConfig,
    S3rverObject,
    S3rverObjectModel,
    StoredEncryption,
    encryptionHeaders,
    invalidBucketName,
    isStoreError,
    isValidBucketName,
    keyTooLong,
    objectModel,
    recordMetadata,
    recordOf,
    storeError,
} from "./store";

export interface S3Emulator {
    /** Handles one HTTP request (path-style addressing: /bucket/key). Must not need the body to have been read. */
    handle(req: http.IncomingMessage, res: http.ServerResponse): void;
    /** Creates the bucket unless it exists (idempotent), and sets the default encryption it is given. */
    ensureBucket(name: string, options?: EnsureBucketOptions): Promise<void>;
    /** Releases everything; a temporary data directory is removed, a given `dataDir` is kept. */
    close(): Promise<void>;
}

export interface EnsureBucketOptions {
    /**
     * The bucket's default encryption, as the stack declares it (the inputs of an
     * aws.s3.BucketServerSideEncryptionConfiguration). Absent: the bucket keeps what it has, SSE-S3 unless set.
     */
    serverSideEncryption?: BucketEncryptionConfiguration;
}

export interface S3EmulatorOptions {
    /** Objects persist there; absent: a temp dir removed on close. */
    dataDir?: string;
    /**
     * A folder the caller owns (and removes): the emulator keeps its spool there and, without `dataDir`, its
     * objects. Absent: a folder of its own on tmpfs (or in the OS's temporary directory).
     */
    scratchDir?: string;
    /**
     * The secret of an access key the runtime knows (its own, each function's): requests signed with it are
     * verified. Undefined: a key it does not know (the user's `test`/`test`, a real profile's), accepted unverified
     * as the user's, not IAM-checked. When given, it replaces `accessKeyId`, `secretAccessKey` and `roleKeys`.
     */
    secretOf?: (accessKeyId: string) => string | undefined;
    /**
     * With `secretOf`: the role a known key acts as (each function's execution role), whose requests
     * `authorizeRole` checks; undefined: the key is the user's, unchecked. Absent: no key is IAM-checked.
     */
    roleOf?: (accessKeyId: string) => string | undefined;
    /**
     * With `roleOf`: whether the role may perform an S3 action (`s3:GetObject`, ...) on a resource ARN; false answers
     * AccessDenied, as IAM does. For a presigned URL it is the signer's role.
     */
    authorizeRole?: (roleArn: string, action: string, resourceArn: string) => boolean;
    /** Without `secretOf`: the user's credentials (CLI, SDK, tests), verified and not checked by `authorize`. */
    accessKeyId?: string;
    secretAccessKey?: string;
    /** Without `secretOf`: further access key -> secret pairs (one per Lambda function's role), each checked by `authorize`. */
    roleKeys?: Record<string, string>;
    /**
     * Without `roleOf`: whether the identity behind a `roleKeys` access key may perform an S3 action on a resource
     * ARN; false answers AccessDenied. Any other key is not checked.
     */
    authorize?: (accessKeyId: string, action: string, resourceArn: string) => boolean;
    /** The region signatures must be scoped to, as S3 refuses a signature made for another region. */
    region: string;
    /** The account ARNs name (the AWS managed KMS key's); default the mocks' 000000000000. */
    accountId?: string;
    /** ARNs of the KMS keys the stack declares: the only ones `aws:kms` may name (KMS itself is not served). */
    kmsKeyArns?: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Typings for the parts of s3rver 3.7.1 we use (it ships none). Loaded with `require` because a `declare module`
// cannot describe an untyped package from inside a module file.

interface S3rverOptions {
    directory: string;
    silent: boolean;
    /** Only path-style addressing is routed here; s3rver's own vhost guessing would misread `127.0.0.1`. */
    vhostBuckets: boolean;
    configureBuckets: [];
}
interface S3rverApp {
    callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
    /** The store its controllers call (`ctx.app.store` and `ctx.store`). */
    store: unknown;
    context: { store: unknown };
    logger: { close(): void };
    /** Koa's middleware list, composed when `callback()` is called. */
    middleware: KoaMiddleware[];
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverApp;
interface S3rverAccount {
    accessKeys: Map<string, string>;
    createKeyPair(accessKeyId: string, secretAccessKey: string): void;
    revokeAccessKey(accessKeyId: string): void;
}
interface S3rverAccountModule {
    registry: Map<string, S3rverAccount>;
    DUMMY_ACCOUNT: S3rverAccount;
}
/** The part of Koa's context our middleware in front of s3rver's touches. */
interface KoaContext {
    req: http.IncomingMessage;
    state: { account?: S3rverAccount };
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

const S3rver = require("s3rver") as S3rverConstructor;
// s3rver looks the access key of every signed request up in this registry and refuses unknown ones; our front has
// decided on the key already (any key is accepted, the known ones verified), so every key is its one account. It
// also verifies SigV2 signatures, with the secrets registered here: we register a known key's just before
// forwarding its SigV2 request, and its built-in S3RVER/S3RVER pair is not one of them.
const s3rverAccounts = require("s3rver/lib/models/account") as S3rverAccountModule;
const s3rverAccount = s3rverAccounts.DUMMY_ACCOUNT;
s3rverAccount.revokeAccessKey("S3RVER");
s3rverAccounts.registry.get = () => s3rverAccount;
// An unknown key's SigV2 signature is computed with an empty secret and the mismatch ignored (see unverifiedV2).
const knownSecret = s3rverAccount.accessKeys.get.bind(s3rverAccount.accessKeys);
s3rverAccount.accessKeys.get = (accessKeyId: string) => knownSecret(accessKeyId) ?? "";
/** SigV2 requests signed with a key the runtime does not know: s3rver takes them as the account's, unverified. */
const unverifiedV2 = new WeakSet<http.IncomingMessage>();
const { capitalizeHeader } = require("s3rver/lib/utils") as { capitalizeHeader(name: string): string };

// ---------------------------------------------------------------------------------------------------------------
// The emulator

/** The data directory may hold secrets: everything the emulator creates is its owner's only. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;


/** What the store's wrappers need to know of the request being served through s3rver. */
interface RequestScope {
    encryption: RequestEncryption;
    /** The encryption an object this request writes is stored with. */
    write?: StoredEncryption;
}
const requestScope = new AsyncLocalStorage<RequestScope>();

export async function createS3Emulator(opts: S3EmulatorOptions): Promise<S3Emulator> {
    // Without a dataDir nothing outlives the emulator, so its files go to tmpfs where there is one.
    if (opts.scratchDir !== undefined) await fsp.mkdir(opts.scratchDir, { recursive: true, mode: DIR_MODE });
    const scratchParent = opts.scratchDir ?? (opts.dataDir === undefined ? scratchRoot() : os.tmpdir());
    const inMemory = opts.dataDir === undefined && onMemoryFs(scratchParent);
    const workDir = await fsp.mkdtemp(path.join(scratchParent, "choreography-s3-")); // mode 0700
    const spoolDir = path.join(workDir, "spool");
    await fsp.mkdir(spoolDir, { mode: DIR_MODE });
    const store = await ObjectStore.open(opts.dataDir ?? path.join(workDir, "objects"), { writeSmallObjectsSync: inMemory });
    const settings: EncryptionSettings = { region: opts.region, accountId: opts.accountId ?? "000000000000", kmsKeyArns: opts.kmsKeyArns ?? [] };

    const keys = keyPolicy(opts);
    const app = new S3rver({ directory: store.rootDirectory, silent: true, vhostBuckets: false, configureBuckets: [] });
    // First in line: s3rver's authentication then ignores the SigV2 mismatch of a key we accepted unverified.
    app.middleware.unshift(async (ctx, next) => {
        if (unverifiedV2.has(ctx.req)) ctx.state.account = s3rverAccount;
        await next();
    });
    app.store = app.context.store = store;
    const shortcut = cacheStore(store);
    const forward = app.callback();

    return {
        handle(req, res) {
            serve(req, res, opts, keys, settings, spoolDir, forward, shortcut).catch((err: unknown) => sendError(req, res, err));
        },
        async ensureBucket(name, options) {
            if (!isValidBucketName(name)) throw invalidBucketName(name);
            const encryption = options?.serverSideEncryption && bucketEncryptionOf(options.serverSideEncryption, settings);
            await store.putBucket(name);
            if (encryption) await store.putBucketEncryption(name, encryption);
        },
        async close() {
            app.logger.close();
            // The data stays when it lives in the caller's dataDir, which is outside workDir.
            await fsp.rm(workDir, { recursive: true, force: true });
        },
    };
}

/** The bucket and key a request names, validated as S3 does; its query. */
interface RequestTarget {
    bucket?: string;
    key?: string;
    query: [string, string][];
}

function uriError(rawPath: string) {
    return storeError("InvalidURI", "Couldn't parse the specified URI.", 400, { URI: rawPath });
}

function decodeStrictly(text: string, rawPath: string): string {
    try {
        return decodeURIComponent(text);
    } catch {
        throw uriError(rawPath); // not UTF-8, or a stray "%"
    }
}

/** Keys are opaque to the store, but S3 still refuses a bucket name it would not create and a key over 1,024 bytes. */
function requestTarget(req: http.IncomingMessage): RequestTarget {
    const url = req.url ?? "/";
    const at = url.indexOf("?");
    const rawPath = at < 0 ? url : url.slice(0, at);
    const query = at < 0 ? [] : parseQuery(url.slice(at + 1));
    const slash = rawPath.indexOf("/", 1);
    const rawBucket = slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash);
    if (rawBucket === "") return { query };
    const bucket = decodeStrictly(rawBucket, rawPath);
    if (!isValidBucketName(bucket)) throw invalidBucketName(bucket);
    const rawKey = slash < 0 ? "" : rawPath.slice(slash + 1);
    if (rawKey === "") return { bucket, query };
    const key = decodeStrictly(rawKey, rawPath);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw keyTooLong(key);
    checkCopySource(req);
    return { bucket, key, query };
}

/**
 * A key with an empty segment (`a//b`, `/x`, `x/`) is an ordinary S3 key, but s3rver's router matches no empty path
 * segment and answers a bare 404: its slashes are sent encoded (`a%2F%2Fb`), which the router decodes back into
 * the same key. The signature was checked on the path as it arrived.
 */
function routeEmptySegments(req: http.IncomingMessage): void {
    const url = req.url ?? "/";
    const at = url.indexOf("?");
    const rawPath = at < 0 ? url : url.slice(0, at);
    const slash = rawPath.indexOf("/", 1);
    if (slash < 0) return;
    const rawKey = rawPath.slice(slash + 1);
    if (!rawKey.includes("//") && !rawKey.startsWith("/")) return;
    req.url = `${rawPath.slice(0, slash + 1)}${rawKey.replace(/\//g, "%2F")}${at < 0 ? "" : url.slice(at)}`;
}

/**
 * `x-amz-copy-source: [/]bucket/key[?versionId=...]`, URL-encoded, which S3 decodes whole. s3rver decodes it with
 * `decodeURI`, which leaves `%2F`, `%3F`, `%23`... encoded (a key `a//b` sent as `a%2F%2Fb` was not found): the
 * header is handed on re-encoded so that its `decodeURI` gives the key S3 would read.
 */
function checkCopySource(req: http.IncomingMessage): void {
    const source = req.headers["x-amz-copy-source"];
    if (typeof source !== "string") return;
    let decoded: string;
    try {
        decoded = decodeURIComponent(source);
    } catch {
        throw storeError("InvalidArgument", "Invalid copy source encoding.", 400, { ArgumentName: "x-amz-copy-source", ArgumentValue: source });
    }
    const [bucket, ...key] = decoded.replace(/^\//, "").split("/");
    if (!isValidBucketName(bucket)) throw invalidBucketName(bucket);
    if (Buffer.byteLength(key.join("/")) > MAX_KEY_BYTES) throw keyTooLong(key.join("/"));
    req.headers["x-amz-copy-source"] = encodeURI(decoded);
}

/** Whether the request stores an object (PutObject, CopyObject, CreateMultipartUpload): its encryption applies. */
function writesObject(req: http.IncomingMessage, target: RequestTarget): boolean {
    if (target.key === undefined) return false;
    const has = (name: string) => target.query.some(([n]) => n === name);
    if (req.method === "PUT") return !has("tagging") && !has("acl") && !has("uploadId");
    return req.method === "POST" && has("uploads");
}

/** Adds headers to the answer if it is a success (s3rver writes it; S3 sends encryption headers only then). */
function addHeadersOnSuccess(res: http.ServerResponse, headers: Record<string, string>): void {
    if (Object.keys(headers).length === 0) return;
    const writeHead = res.writeHead.bind(res) as (statusCode: number, ...rest: unknown[]) => http.ServerResponse;
    res.writeHead = ((statusCode: number, ...rest: unknown[]) => {
        if (statusCode < 300) for (const [name, value] of Object.entries(headers)) if (!res.hasHeader(name)) res.setHeader(name, value);
        return writeHead(statusCode, ...rest);
    }) as typeof res.writeHead;
}

async function serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    opts: S3EmulatorOptions,
    keys: KeyPolicy,
    settings: EncryptionSettings,
    spoolDir: string,
    forward: (req: http.IncomingMessage, res: http.ServerResponse) => void,
    shortcut: Shortcut,
): Promise<void> {
    // A CORS preflight carries no signature by design; s3rver answers it from the bucket's CORS rules.
    if (req.method === "OPTIONS") return forward(req, res);
    const signed = verifySignature(req, opts, keys, new Date());
    const target = requestTarget(req);
    authorizeRequest(req, keys, signed.accessKeyId);
    if (target.bucket !== undefined && target.key === undefined && req.method === "GET" && target.query.some(([name]) => name === "encryption")) {
        return getBucketEncryption(res, target.bucket, shortcut);
    }
    if (target.bucket !== undefined && target.key === undefined && isListing(req.method, target.query)) {
        return listBucket(res, target.bucket, target.query, shortcut);
    }
    routeEmptySegments(req);
    const writes = writesObject(req, target);
    const encryption = target.key === undefined ? {} : readRequestEncryption(req.headers, writes, settings);
    const write = writes ? effectiveEncryption(encryption.requested, await shortcut.bucketEncryption(target.bucket!)) : undefined;
    const scope: RequestScope = { encryption, write };
    if (write) addHeadersOnSuccess(res, encryptionHeaders(write));

    const plain = signed.version === "v4" ? plainObjectRequest(req) : undefined;
    if (plain && !(await shortcut.bucketExists(plain.bucket))) plain.method = undefined;
    if (plain?.method === "GET" || plain?.method === "HEAD") {
        const cached = shortcut.cached(plain.bucket, plain.key);
        if (cached) {
            checkCustomerKey(cached.record.encryption, encryption.customerKey);
            res.writeHead(200, cached.headers);
            res.end(plain.method === "GET" ? cached.content : undefined);
            return;
        }
    }
    // Only a request that names its encryption (SSE headers, an SSE-C key) runs in an AsyncLocalStorage scope: on
    // Node 20 the first `run` turns on async hooks for every promise of the process, which cost the benchmark's
    // 1,000-name run several percent of its CPU. Without a scope, the store applies the bucket's default.
    const named = encryption.requested !== undefined || encryption.customerKey !== undefined || encryption.copySourceKey !== undefined;
    const forwardInScope = (request: http.IncomingMessage) => {
        if (signed.version === "v2") {
            const secret = keys.secretOf(signed.accessKeyId);
            if (secret === undefined) unverifiedV2.add(request);
            else s3rverAccount.createKeyPair(signed.accessKeyId, secret);
        }
        return named ? requestScope.run(scope, () => forward(request, res)) : forward(request, res);
    };
    if (!hasBody(req)) return forwardInScope(req);
    const spooled = await spoolBody(req, spoolDir);
    if (plain?.method === "PUT" && spooled.buffer !== undefined) {
        // What s3rver's putObject controller does, without its middleware: the store writes and caches the object.
        const { md5 } = await shortcut.put(new S3rverObjectModel(plain.bucket, plain.key, spooled.buffer, spooled.headers), write);
        res.writeHead(200, { ETag: JSON.stringify(md5), "Content-Type": "text/plain; charset=utf-8", "Content-Length": 0 });
        res.end();
        return;
    }
    const { file } = spooled;
    const replay = new ReplayedRequest(req, spooled.headers, file === undefined ? spooled.buffer : fs.createReadStream(file));
    res.on("close", () => {
        replay.destroy();
        if (file !== undefined) void fsp.rm(file, { force: true });
    });
    forwardInScope(replay);
}

/** ListObjects and ListObjectsV2 (./listing), on the object files: s3rver's own cannot page on Node 17+. */
async function listBucket(res: http.ServerResponse, bucket: string, query: [string, string][], shortcut: Shortcut): Promise<void> {
    if (!(await shortcut.bucketExists(bucket))) {
        throw storeError("NoSuchBucket", "The specified bucket does not exist", 404, { BucketName: bucket });
    }
    const body = await shortcut.list(bucket, query);
    res.writeHead(200, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
}

/** GetBucketEncryption: the bucket's default encryption (SSE-S3 when it has no configuration of its own). */
async function getBucketEncryption(res: http.ServerResponse, bucket: string, shortcut: Shortcut): Promise<void> {
    if (!(await shortcut.bucketExists(bucket))) {
        throw storeError("NoSuchBucket", "The specified bucket does not exist", 404, { BucketName: bucket });
    }
    const body = bucketEncryptionXml(await shortcut.bucketEncryption(bucket));
    res.writeHead(200, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
}

/**
 * Query parameters a plain object GET, HEAD or PUT may carry: the SDK's operation marker and SigV4 presigning.
 * Anything else (subresources, response-header overrides, presigned checksums) goes to s3rver.
 */
const PLAIN_QUERY = new Set([
    "x-id",
    "x-amz-checksum-mode",
    "X-Amz-Algorithm",
    "X-Amz-Content-Sha256",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
]);
/**
 * The x-amz-* headers of a plain PUT: signing, checksums, framing, user metadata and encryption (resolved by the
 * front); others (ACLs, tagging, storage class, copies, redirects) go to s3rver.
 */
const PLAIN_PUT_HEADER =
    /^x-amz-(date|content-sha256|decoded-content-length|trailer|sdk-checksum-algorithm|checksum-[a-z0-9]+|meta-.+|user-agent|security-token|server-side-encryption(-.+)?)$/;
/** GET and HEAD headers that need s3rver: ranges and conditions. */
const CONDITIONAL_HEADERS = ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];

interface PlainObjectRequest {
    /** Cleared when the request turns out to need s3rver after all. */
    method: "GET" | "HEAD" | "PUT" | undefined;
    bucket: string;
    key: string;
}

/**
 * A path-style GET, HEAD or PUT of one object that s3rver would answer with nothing but the object (or its ETag):
 * no subresource, range, condition, CORS origin or special header. These are nearly all the requests handlers make,
 * and they are answered here from the cache, without s3rver's middleware.
 */
function plainObjectRequest(req: http.IncomingMessage): PlainObjectRequest | undefined {
    const method = req.method;
    if (method !== "GET" && method !== "HEAD" && method !== "PUT") return undefined;
    if (req.headers.origin !== undefined) return undefined;
    const host = /^(\[[^\]]*\]|[^:]*)/.exec(req.headers.host ?? "")?.[1] ?? "";
    // s3rver reads other host names as virtual-hosted buckets (<bucket>.s3.amazonaws.com).
    if (host !== "localhost" && !isIP(host.replace(/^\[|\]$/g, ""))) return undefined;
    const url = req.url ?? "/";
    const at = url.indexOf("?");
    const rawPath = at < 0 ? url : url.slice(0, at);
    if (at >= 0 && parseQuery(url.slice(at + 1)).some(([name]) => !PLAIN_QUERY.has(name))) return undefined;
    const slash = rawPath.indexOf("/", 1);
    if (!rawPath.startsWith("/") || slash < 0 || rawPath.endsWith("/") || rawPath.includes("//")) return undefined;
    if (method === "PUT") {
        if (Object.keys(req.headers).some((name) => name.startsWith("x-amz-") && !PLAIN_PUT_HEADER.test(name))) return undefined;
    } else if (CONDITIONAL_HEADERS.some((name) => req.headers[name] !== undefined)) {
        return undefined;
    }
    return { method, bucket: uriDecode(rawPath.slice(1, slash)), key: uriDecode(rawPath.slice(slash + 1)) };
}

// ---------------------------------------------------------------------------------------------------------------
// A memory in front of the store
//
// s3rver reads the store for every request: the bucket (a stat), its CORS and website configurations (two reads that
// fail with ENOENT), then the object. Each is a round trip through libuv's thread pool. Buckets and configurations
// are cached here, and so are small objects as they are written, so a read right after a write (the common case: a
// handler hands the next one a presigned URL) touches no file. Every change goes through the store's own methods,
// which drop or refresh the cached copies; the files stay the truth for everything else (listings, copies,
// multipart uploads) and for the next start when a dataDir keeps them. The wrappers also check SSE-C keys for reads
// and hand the request's encryption to writes, since s3rver's controllers know nothing of either.

/** Objects up to this size are cached (and, in memory, written synchronously). */
const CACHED_OBJECT_BYTES = 256 * 1024;
const CACHE_BYTES = 32 * 1024 * 1024;
const CACHE_ENTRIES = 20_000;

interface CachedObject {
    record: ObjectRecord;
    content: Buffer;
    /** The headers of s3rver's answer to a GET or HEAD of the object. */
    headers: Record<string, string | number>;
}

/** What the request path needs of the cached store. */
interface Shortcut {
    cached(bucket: string, key: string): CachedObject | undefined;
    bucketExists(bucket: string): Promise<boolean>;
    bucketEncryption(bucket: string): ReturnType<ObjectStore["getBucketEncryption"]>;
    put(object: S3rverObject, encryption: StoredEncryption | undefined): Promise<{ size: number; md5: string }>;
    /** The XML answer of a listing request. */
    list(bucket: string, query: [string, string][]): Promise<string>;
}

/** Metadata an S3Object shows besides the stored headers and the user's x-amz-meta-* (models/object.js). */
const INTRINSIC_METADATA = ["last-modified", "etag", "content-length"];

/** The headers s3rver's getObject controller sets: Accept-Ranges, then the metadata an S3Object shows. */
function responseHeaders(record: ObjectRecord): Record<string, string | number> {
    const metadata = recordMetadata(record);
    const headers: Record<string, string | number> = { "Accept-Ranges": "bytes" };
    for (const name of [...S3rverObjectModel.ALLOWED_METADATA, ...INTRINSIC_METADATA]) {
        if (name === "content-type" && !metadata[name]) headers["Content-Type"] = "binary/octet-stream";
        else if (name in metadata) headers[capitalizeHeader(name)] = metadata[name];
    }
    for (const [name, value] of Object.entries(metadata)) if (name.startsWith("x-amz-meta-")) headers[name] = value;
    for (const [name, value] of Object.entries(encryptionHeaders(record.encryption))) headers[capitalizeHeader(name)] = value;
    return headers;
}

/** Least recently used objects go first once the cache holds too many bytes or entries. */
class ObjectCache {
    private readonly entries = new Map<string, CachedObject>();
    private bytes = 0;

    private static id(bucket: string, key: string): string {
        return `${bucket}/${key}`;
    }

    get(bucket: string, key: string): CachedObject | undefined {
        const id = ObjectCache.id(bucket, key);
        const entry = this.entries.get(id);
        if (entry) {
            this.entries.delete(id);
            this.entries.set(id, entry);
        }
        return entry;
    }

    set(bucket: string, key: string, entry: CachedObject): void {
        this.delete(bucket, key);
        this.entries.set(ObjectCache.id(bucket, key), entry);
        this.bytes += entry.content.length;
        for (const [id, oldest] of this.entries) {
            if (this.bytes <= CACHE_BYTES && this.entries.size <= CACHE_ENTRIES) break;
            this.entries.delete(id);
            this.bytes -= oldest.content.length;
        }
    }

    delete(bucket: string, key: string): void {
        const id = ObjectCache.id(bucket, key);
        const entry = this.entries.get(id);
        if (!entry) return;
        this.entries.delete(id);
        this.bytes -= entry.content.length;
    }

    clear(): void {
        this.entries.clear();
        this.bytes = 0;
    }
}

/** Wraps the store's methods in place (s3rver and its controllers hold this very object). */
function cacheStore(store: ObjectStore): Shortcut {
    const original = {
        getBucket: store.getBucket.bind(store),
        putBucket: store.putBucket.bind(store),
        deleteBucket: store.deleteBucket.bind(store),
        existsObject: store.existsObject.bind(store),
        getObject: store.getObject.bind(store),
        putObject: store.putObject.bind(store),
        copyObject: store.copyObject.bind(store),
        deleteObject: store.deleteObject.bind(store),
        initiateUpload: store.initiateUpload.bind(store),
        putPart: store.putPart.bind(store),
        putObjectMultipart: store.putObjectMultipart.bind(store),
        getSubresource: store.getSubresource.bind(store),
        putSubresource: store.putSubresource.bind(store),
        deleteSubresource: store.deleteSubresource.bind(store),
        reset: store.reset.bind(store),
    };
    const buckets = new Map<string, Promise<S3rverBucket | null>>();
    const subresources = new Map<string, Promise<S3rverConfig | null>>();
    const objects = new ObjectCache();
    /**
     * The latest change to each object still being written. A write caches its object only if no other change to
     * it (or to its bucket) started meanwhile, so the cache cannot end up holding what the files were overwritten with.
     */
    const changes = new Map<string, symbol>();
    const subresourceId = (bucket: string, key: string | undefined, type: string) => `${bucket}\n${key ?? ""}\n${type}`;
    const forgetBucket = (bucket: string) => {
        buckets.delete(bucket);
        subresources.clear();
        objects.clear();
        changes.clear();
    };
    const scope = () => requestScope.getStore();
    /** The encryption an object written through s3rver gets: the request's, else the bucket's default. */
    const writeEncryption = async (bucket: string) => scope()?.write ?? effectiveEncryption(undefined, await store.getBucketEncryption(bucket));

    store.getBucket = (bucket) => {
        let found = buckets.get(bucket);
        if (!found) {
            found = original.getBucket(bucket);
            buckets.set(bucket, found);
            // A name that is no bucket is not remembered: names from requests must not grow the map.
            found.then(
                (existing) => existing || buckets.delete(bucket),
                () => buckets.delete(bucket),
            );
        }
        return found;
    };
    store.putBucket = async (bucket) => {
        buckets.delete(bucket);
        try {
            return await original.putBucket(bucket);
        } finally {
            buckets.delete(bucket);
        }
    };
    store.deleteBucket = async (bucket) => {
        forgetBucket(bucket);
        try {
            await original.deleteBucket(bucket);
        } finally {
            forgetBucket(bucket);
        }
    };
    store.reset = () => {
        buckets.clear();
        subresources.clear();
        objects.clear();
        changes.clear();
        original.reset();
    };

    store.getSubresource = (bucket, key, type) => {
        const id = subresourceId(bucket, key, type);
        let found = subresources.get(id);
        if (!found) {
            found = original.getSubresource(bucket, key, type);
            subresources.set(id, found);
            found.catch(() => subresources.delete(id));
        }
        return found;
    };
    store.putSubresource = async (bucket, key, resource) => {
        const id = subresourceId(bucket, key, resource.type);
        subresources.delete(id);
        try {
            await original.putSubresource(bucket, key, resource);
        } finally {
            subresources.delete(id);
        }
    };
    store.deleteSubresource = async (bucket, key, type) => {
        const id = subresourceId(bucket, key, type);
        subresources.delete(id);
        try {
            await original.deleteSubresource(bucket, key, type);
        } finally {
            subresources.delete(id);
        }
    };

    store.existsObject = async (bucket, key) => (objects.get(bucket, key) ? true : original.existsObject(bucket, key));
    store.getObject = async (bucket, key, range) => {
        const cached = objects.get(bucket, key);
        const object = cached ? cachedObject(bucket, key, cached, range) : await original.getObject(bucket, key, range);
        if (object) {
            try {
                checkCustomerKey(cached ? cached.record.encryption : recordOf(object)?.encryption, scope()?.encryption.customerKey);
            } catch (err) {
                if (object.content instanceof Readable) object.content.destroy();
                throw err;
            }
        }
        return object;
    };
    const startChange = (bucket: string, key: string): symbol => {
        const change = Symbol(key);
        changes.set(`${bucket}/${key}`, change);
        objects.delete(bucket, key);
        // An object's tagging belongs to the version it was set on.
        subresources.delete(subresourceId(bucket, key, "tagging"));
        return change;
    };
    /** True when `change` is still the object's latest change. */
    const endChange = (bucket: string, key: string, change: symbol): boolean => {
        const id = `${bucket}/${key}`;
        if (changes.get(id) !== change) return false;
        changes.delete(id);
        return true;
    };
    /** An uncached change: the object is read from its file until it is written through putObject again. */
    const uncached = async <T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> => {
        const change = startChange(bucket, key);
        try {
            return await work();
        } finally {
            endChange(bucket, key, change);
            objects.delete(bucket, key);
        }
    };

    store.putObject = async (object, given) => {
        const { bucket, key } = object;
        const encryption = given ?? (await writeEncryption(bucket));
        const content = object.content instanceof ReplayedRequest ? object.content.buffered : object.content;
        if (!Buffer.isBuffer(content) || content.length > CACHED_OBJECT_BYTES) return uncached(bucket, key, () => original.putObject(object, encryption));
        const change = startChange(bucket, key);
        let record: ObjectRecord;
        try {
            record = await store.writeObject(bucket, key, content, object.metadata, encryption);
        } catch (err) {
            endChange(bucket, key, change);
            throw err;
        }
        if (endChange(bucket, key, change)) objects.set(bucket, key, { record, content, headers: responseHeaders(record) });
        return { size: record.size, md5: record.md5 };
    };
    store.copyObject = async (srcBucket, srcKey, destBucket, destKey, replacementMetadata) => {
        const request = scope();
        const source = await store.headObject(srcBucket, srcKey);
        checkCustomerKey(source?.encryption, request?.encryption.copySourceKey);
        const encryption = await writeEncryption(destBucket);
        return uncached(destBucket, destKey, () => original.copyObject(srcBucket, srcKey, destBucket, destKey, replacementMetadata, encryption));
    };
    store.deleteObject = (bucket, key) => uncached(bucket, key, () => original.deleteObject(bucket, key));
    store.initiateUpload = async (bucket, key, uploadId, metadata) => original.initiateUpload(bucket, key, uploadId, metadata, await writeEncryption(bucket));
    store.putPart = async (bucket, uploadId, partNumber, content) => {
        // An SSE-C upload needs its key with every part, as S3 does.
        const { encryption } = await store.uploadOf(bucket, uploadId);
        checkUploadKey(encryption, scope()?.encryption.customerKey);
        return original.putPart(bucket, uploadId, partNumber, content);
    };
    store.putObjectMultipart = async (bucket, uploadId, parts) => {
        const { key } = await store.uploadOf(bucket, uploadId);
        return uncached(bucket, key, () => original.putObjectMultipart(bucket, uploadId, parts));
    };

    return {
        cached: (bucket, key) => objects.get(bucket, key),
        bucketExists: async (bucket) => (await store.getBucket(bucket)) !== null,
        bucketEncryption: (bucket) => store.getBucketEncryption(bucket),
        put: (object, encryption) => store.putObject(object, encryption),
        list: (bucket, query) => listObjects(store, bucket, query),
    };
}

function checkUploadKey(stored: StoredEncryption | undefined, presented: CustomerKey | undefined): void {
    if (stored?.customerKeyMd5 !== undefined && presented === undefined) {
        throw storeError(
            "InvalidRequest",
            "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.",
            400,
        );
    }
    checkCustomerKey(stored, presented);
}

/** The store's getObject answer, range handling included, from a cached copy. */
function cachedObject(bucket: string, key: string, cached: CachedObject, options: RangeOptions): S3rverObject {
    const lastByte = Math.max(0, cached.content.length - 1);
    const range = { start: options?.start || 0, end: Math.min(options?.end || Infinity, lastByte) };
    const ranged = options !== undefined && (options.start !== undefined || Boolean(options.end));
    const satisfiable = range.start >= 0 && Math.min(range.end, lastByte) >= range.start;
    const content = satisfiable ? Readable.from([cached.content.subarray(range.start, range.end + 1)], { objectMode: false }) : null;
    const object = objectModel(bucket, key, content, cached.record);
    if (ranged) object.range = range;
    return object;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors in S3's XML shape

/** An AwsError that also carries the extra elements S3 puts in its `<Error>` document. */
class S3Error extends AwsError {
    constructor(code: string, message: string, statusCode: number, readonly details: Record<string, string> = {}) {
        super(code, message, statusCode);
    }
}

function sendError(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
    }
    const error =
        err instanceof AwsError
            ? err
            : isStoreError(err)
              ? new S3Error(err.code, err.message, err.status, Object.fromEntries(Object.entries(err.detail).map(([name, value]) => [name, String(value)])))
              : new S3Error("InternalError", "We encountered an internal error.", 500);
    const details = error instanceof S3Error ? error.details : {};
    const requestId = crypto.randomBytes(8).toString("hex").toUpperCase();
    const elements = { Code: error.code, Message: error.message, ...details, RequestId: requestId };
    const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
        Object.entries(elements).map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join("") +
        "</Error>";
    res.statusCode = error.statusCode;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("x-amz-request-id", requestId);
    // HEAD answers carry no body, so SDKs read the code from the status alone, as with real S3.
    res.end(req.method === "HEAD" ? undefined : body);
}

// ---------------------------------------------------------------------------------------------------------------
// SigV4 verification (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html)

const ALGORITHM = "AWS4-HMAC-SHA256";
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;

/** What a signed request claims about its signature, from the Authorization header or the query string. */
interface SignatureClaim {
    kind: "header" | "query";
    accessKeyId: string;
    scope: string[]; // date, region, service, "aws4_request"
    signedHeaders: string[];
    signature: string;
    amzDate: string;
    payloadHash: string;
    expiresSeconds?: number;
}

/** Throws S3's error for a request that is not signed right; says which signature version it carries. */
function verifySignature(req: http.IncomingMessage, opts: S3EmulatorOptions, keys: KeyPolicy, now: Date): { version: "v2" | "v4"; accessKeyId: string } {
    const [rawPath, rawQuery = ""] = (req.url ?? "/").split(/\?(.*)/s, 2);
    const query = parseQuery(rawQuery);
    const claim = readClaim(req, query);
    // SigV2 (AWS CLI v1's presign) is verified by s3rver, with the secret of a key we know (see forwardInScope).
    if (claim.kind === "v2") return { version: "v2", accessKeyId: claim.accessKeyId };
    checkCredential(claim, opts);
    checkTime(claim, now);
    const secret = keys.secretOf(claim.accessKeyId);
    // A key the runtime does not know is the user's, signed with whatever secret they chose: nothing to check it by.
    if (secret === undefined) return { version: "v4", accessKeyId: claim.accessKeyId };
    const canonicalRequest = canonicalRequestOf(req, claim, rawPath, query);
    const stringToSign = [ALGORITHM, claim.amzDate, claim.scope.join("/"), sha256Hex(canonicalRequest)].join("\n");
    const expected = signingKeyHmac(secret, claim.scope, stringToSign).toString("hex");
    if (!sameText(expected, claim.signature)) {
        throw new S3Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            403,
            { AWSAccessKeyId: claim.accessKeyId, StringToSign: stringToSign, CanonicalRequest: canonicalRequest },
        );
    }
    return { version: "v4", accessKeyId: claim.accessKeyId };
}

/**
 * The IAM action and resource of an S3 request, as AWS authorizes it: objects by `arn:aws:s3:::bucket/key`,
 * bucket-level requests by the bucket's ARN. Subresource requests (`?acl`, `?tagging` ...) count as the base
 * action here, which is looser than IAM's own list.
 */
export function s3ActionOf(method: string, rawPath: string): { action: string; resource: string } {
    const [bucket = "", ...keyParts] = rawPath.replace(/^\//, "").split("/");
    const key = keyParts.map((part) => decodeURIComponent(part)).join("/");
    if (!key) {
        const action = method === "PUT" ? "s3:CreateBucket" : method === "DELETE" ? "s3:DeleteBucket" : "s3:ListBucket";
        return { action, resource: `arn:aws:s3:::${bucket}` };
    }
    const action = method === "GET" || method === "HEAD" ? "s3:GetObject" : method === "DELETE" ? "s3:DeleteObject" : "s3:PutObject";
    return { action, resource: `arn:aws:s3:::${bucket}/${key}` };
}

/**
 * Which keys are verified and which are IAM-checked: from `secretOf`/`roleOf`/`authorizeRole`, or from the fixed
 * `accessKeyId`/`roleKeys`/`authorize` of the options that came before them.
 */
interface KeyPolicy {
    /** A known key's secret; undefined for a key the runtime does not know (accepted unverified, as the user's). */
    secretOf(accessKeyId: string): string | undefined;
    /** How IAM answers for the key's identity; undefined when the key is not IAM-checked (the user's). */
    authorizerOf(accessKeyId: string): ((action: string, resourceArn: string) => boolean) | undefined;
}

function keyPolicy(opts: S3EmulatorOptions): KeyPolicy {
    const { secretOf, roleOf, authorizeRole, authorize } = opts;
    if (secretOf) {
        return {
            secretOf,
            authorizerOf(accessKeyId) {
                const role = roleOf?.(accessKeyId);
                if (role === undefined) return undefined;
                if (authorizeRole) return (action, resource) => authorizeRole(role, action, resource);
                return authorize && ((action, resource) => authorize(accessKeyId, action, resource));
            },
        };
    }
    if (opts.accessKeyId === undefined || opts.secretAccessKey === undefined) {
        throw new Error("S3EmulatorOptions needs secretOf, or accessKeyId and secretAccessKey");
    }
    const user = { id: opts.accessKeyId, secret: opts.secretAccessKey };
    const roleKeys = opts.roleKeys ?? {};
    return {
        secretOf: (accessKeyId) => (accessKeyId === user.id ? user.secret : Object.hasOwn(roleKeys, accessKeyId) ? roleKeys[accessKeyId] : undefined),
        authorizerOf: (accessKeyId) =>
            authorize && accessKeyId !== user.id && Object.hasOwn(roleKeys, accessKeyId) ? (action, resource) => authorize(accessKeyId, action, resource) : undefined,
    };
}

/** A request signed with a role's key must be allowed by that role's policies. */
function authorizeRequest(req: http.IncomingMessage, keys: KeyPolicy, accessKeyId: string): void {
    const authorize = keys.authorizerOf(accessKeyId);
    if (!authorize) return;
    const require = ({ action, resource }: { action: string; resource: string }) => {
        if (!authorize(action, resource)) {
            throw new S3Error("AccessDenied", `User ${accessKeyId} is not authorized to perform: ${action} on resource: "${resource}"`, 403);
        }
    };
    require(s3ActionOf(req.method ?? "GET", (req.url ?? "/").split("?")[0]));
    // A copy reads its source as well: IAM requires s3:GetObject on it (checkCopySource left the header decodable).
    const source = req.headers["x-amz-copy-source"];
    if (typeof source === "string") {
        const [bucket, ...key] = decodeURI(source).replace(/^\//, "").split("?")[0].split("/");
        require({ action: "s3:GetObject", resource: `arn:aws:s3:::${bucket}/${key.join("/")}` });
    }
}

function canonicalRequestOf(req: http.IncomingMessage, claim: SignatureClaim, rawPath: string, query: [string, string][]): string {
    return [
        req.method ?? "GET",
        canonicalUri(rawPath),
        canonicalQuery(claim.kind === "query" ? query.filter(([name]) => name !== "X-Amz-Signature") : query),
        claim.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req, name)}\n`).join(""),
        claim.signedHeaders.join(";"),
        claim.payloadHash,
    ].join("\n");
}

/**
 * A legacy SigV2 signature: what AWS CLI v1's `aws s3 presign` produces for us-east-1. s3rver implements SigV2
 * verification (signature and Expires) itself, so only the access key is ours to check.
 */
interface V2Claim {
    kind: "v2";
    accessKeyId: string;
}

function readClaim(req: http.IncomingMessage, query: [string, string][]): SignatureClaim | V2Claim {
    const authorization = req.headers.authorization;
    const presigned = query.some(([name]) => name === "X-Amz-Algorithm");
    const presignedV2 = query.find(([name]) => name === "AWSAccessKeyId")?.[1];
    if ([authorization !== undefined, presigned, presignedV2 !== undefined].filter(Boolean).length > 1) {
        throw new S3Error("InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", 400);
    }
    if (authorization?.startsWith("AWS ")) return { kind: "v2", accessKeyId: authorization.slice(4).split(":")[0].trim() };
    if (authorization !== undefined) return readHeaderClaim(req, authorization);
    if (presigned) return readQueryClaim(query);
    if (presignedV2 !== undefined) return { kind: "v2", accessKeyId: presignedV2 };
    // Real buckets are private unless a policy opens them; this stack declares none.
    throw new S3Error("AccessDenied", "Access Denied", 403);
}

function readHeaderClaim(req: http.IncomingMessage, authorization: string): SignatureClaim {
    const malformed = (why: string) => new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; ${why}`, 400);
    const [algorithm, rest = ""] = authorization.trim().split(/\s+(.*)/s, 2);
    if (algorithm !== ALGORITHM) {
        throw new S3Error("InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", 400);
    }
    const parts = new Map(rest.split(",").map((part) => splitOnce(part.trim(), "=")));
    const credential = parts.get("Credential");
    const signedHeaders = parts.get("SignedHeaders");
    const signature = parts.get("Signature");
    if (!credential || !signedHeaders || !signature) throw malformed("it requires Credential, SignedHeaders and Signature.");
    const payloadHash = req.headers["x-amz-content-sha256"];
    if (typeof payloadHash !== "string") {
        throw new S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400);
    }
    const claim: SignatureClaim = {
        kind: "header",
        ...splitCredential(credential, malformed),
        signedHeaders: signedHeaders.split(";"),
        signature,
        amzDate: headerDate(req, malformed),
        payloadHash,
    };
    checkAllAmzHeadersSigned(req, claim.signedHeaders);
    return claim;
}

function readQueryClaim(query: [string, string][]): SignatureClaim {
    const malformed = (why: string) => new S3Error("AuthorizationQueryParametersError", why, 400);
    const param = (name: string) => query.find(([key]) => key === name)?.[1];
    const [algorithm, credential, amzDate, expires, signedHeaders, signature] = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
    ].map(param);
    if (algorithm !== ALGORITHM) throw malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    if (!credential || !amzDate || !expires || !signedHeaders || !signature) {
        throw malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
    }
    const expiresSeconds = Number(expires);
    if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_PRESIGN_SECONDS) {
        throw malformed("X-Amz-Expires must be between 1 and 604800 seconds");
    }
    if (parseAmzDate(amzDate) === undefined) throw malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    return {
        kind: "query",
        ...splitCredential(credential, (why) => malformed(`Error parsing the X-Amz-Credential parameter; ${why}`)),
        signedHeaders: signedHeaders.split(";"),
        signature,
        amzDate,
        // Presigned URLs never sign the payload: whoever holds the URL chooses the body.
        payloadHash: param("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD",
        expiresSeconds,
    };
}

function splitCredential(credential: string, malformed: (why: string) => S3Error): { accessKeyId: string; scope: string[] } {
    const [accessKeyId, ...scope] = credential.split("/");
    if (scope.length !== 4 || scope[3] !== "aws4_request") {
        throw malformed("the Credential must be <key>/<yyyyMMdd>/<region>/<service>/aws4_request.");
    }
    return { accessKeyId, scope };
}

function checkCredential(claim: SignatureClaim, opts: S3EmulatorOptions): void {
    const [date, region, service] = claim.scope;
    const malformed = (why: string) =>
        claim.kind === "header"
            ? new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; ${why}`, 400, { Region: opts.region })
            : new S3Error("AuthorizationQueryParametersError", `Error parsing the X-Amz-Credential parameter; ${why}`, 400, { Region: opts.region });
    if (region !== opts.region) throw malformed(`the region '${region}' is wrong; expecting '${opts.region}'`);
    if (service !== "s3") throw malformed(`incorrect service '${service}'. This endpoint belongs to 's3'.`);
    if (date !== claim.amzDate.slice(0, 8)) throw malformed(`incorrect date '${date}'. This date is not the date of the request.`);
    if (!claim.signedHeaders.includes("host")) throw malformed("'Host' must be a 'SignedHeader' in the AWS Authorization.");
}

function checkTime(claim: SignatureClaim, now: Date): void {
    const signedAt = parseAmzDate(claim.amzDate);
    if (signedAt === undefined) throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403);
    if (claim.expiresSeconds === undefined) {
        if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
            throw new S3Error("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", 403, {
                RequestTime: claim.amzDate,
                ServerTime: now.toISOString(),
            });
        }
        return;
    }
    const expiresAt = new Date(signedAt.getTime() + claim.expiresSeconds * 1000);
    if (now > expiresAt) {
        throw new S3Error("AccessDenied", "Request has expired", 403, {
            "X-Amz-Expires": String(claim.expiresSeconds),
            Expires: expiresAt.toISOString(),
            ServerTime: now.toISOString(),
        });
    }
}

/** S3 refuses x-amz-* headers that ride along unsigned, since they change what the request does. */
function checkAllAmzHeadersSigned(req: http.IncomingMessage, signedHeaders: string[]): void {
    const unsigned = Object.keys(req.headers).filter((name) => name.startsWith("x-amz-") && !signedHeaders.includes(name));
    if (unsigned.length > 0) {
        throw new S3Error("AccessDenied", "There were headers present in the request which were not signed", 403, {
            HeadersNotSigned: unsigned.join(", "),
        });
    }
}

function headerDate(req: http.IncomingMessage, malformed: (why: string) => S3Error): string {
    const amzDate = req.headers["x-amz-date"];
    if (typeof amzDate === "string") return amzDate;
    const date = req.headers.date ? new Date(req.headers.date) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw malformed("it requires an X-Amz-Date or Date header.");
    return toAmzDate(date);
}

function canonicalUri(rawPath: string): string {
    // S3 signs the path encoded once, segment by segment, with RFC 3986's unreserved set left alone.
    return rawPath.split("/").map((segment) => uriEncode(uriDecode(segment))).join("/");
}

function canonicalQuery(pairs: [string, string][]): string {
    return pairs
        .map(([name, value]) => [uriEncode(name), uriEncode(value)])
        .sort(([n1, v1], [n2, v2]) => (n1 === n2 ? compareText(v1, v2) : compareText(n1, n2)))
        .map(([name, value]) => `${name}=${value}`)
        .join("&");
}

function canonicalHeaderValue(req: http.IncomingMessage, name: string): string {
    const values = req.headersDistinct[name] ?? [];
    return values.map((value) => value.trim().replace(/\s+/g, " ")).join(",");
}

function parseQuery(rawQuery: string): [string, string][] {
    return rawQuery
        .split("&")
        .filter((pair) => pair !== "")
        .map((pair) => {
            const [name, value] = splitOnce(pair, "=");
            return [uriDecode(name), uriDecode(value)];
        });
}

function uriEncode(text: string): string {
    return encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

function uriDecode(text: string): string {
    try {
        return decodeURIComponent(text);
    } catch {
        return text; // a stray "%" is signed as sent
    }
}

/** Derived signing keys by secret and scope: a key serves every request of its day, as SigV4 intends. */
const signingKeys = new Map<string, Buffer>();

function signingKeyHmac(secret: string, scope: string[], stringToSign: string): Buffer {
    const id = `${secret}\n${scope.join("/")}`;
    let key = signingKeys.get(id);
    if (!key) {
        key = scope.reduce<Buffer | string>((k, part) => hmac(k, part), `AWS4${secret}`) as Buffer;
        if (signingKeys.size >= 64) signingKeys.clear();
        signingKeys.set(id, key);
    }
    return hmac(key, stringToSign);
}

function hmac(key: Buffer | string, data: string): Buffer {
    return crypto.createHmac("sha256", key).update(data, "utf8").digest();
}

function sha256Hex(text: string): string {
    return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

/** Constant-time comparison, so the signature can't be guessed byte by byte from response times. */
function sameText(a: string, b: string): boolean {
    const [x, y] = [Buffer.from(a), Buffer.from(b)];
    return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function compareText(a: string, b: string): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

function splitOnce(text: string, separator: string): [string, string] {
    const at = text.indexOf(separator);
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + separator.length)];
}

function toAmzDate(date: Date): string {
    return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

function parseAmzDate(text: string): Date | undefined {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Request bodies: decode aws-chunked framing and check declared digests before s3rver stores anything.

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

type SpooledBody = ({ file: string; buffer?: undefined } | { file?: undefined; buffer: Buffer }) & {
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

function hasBody(req: http.IncomingMessage): boolean {
    return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/** Only STREAMING-* payloads are framed; a bare `Content-Encoding: aws-chunked` on a plain body is not (S3 agrees). */
function isFramed(req: http.IncomingMessage): boolean {
    return String(req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
}

async function spoolBody(req: http.IncomingMessage, spoolDir: string): Promise<SpooledBody> {
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
class ReplayedRequest extends http.IncomingMessage {
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
