/**
 * S3 for the offline runtime: s3rver (a Koa app) mounted behind our own endpoint, over a store of our own.
 *
 * s3rver routes and answers S3's REST API well but trusts every request: it never checks SigV4 signatures
 * (so presigned URLs never expire or fail), and it writes `aws-chunked` bodies (what SDK v3 sends for
 * streams, with trailing CRC32 checksums) to disk frame and all. So every request passes through
 * this file first: we verify its signature as S3 would (./signature), validate the bucket name and key it names,
 * read its encryption headers, read any body into a spool file while decoding chunk framing and checking the
 * declared digests (./body), and only then hand s3rver a plain request. Listings are answered here (./listing).
 * s3rver's FilesystemStore (which turned keys into paths) is replaced by ObjectStore (./store), and server-side
 * encryption is emulated in ./encryption.
 */
import { AsyncLocalStorage } from "async_hooks";
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as http from "http";
import { isIP } from "net";
import * as os from "os";
import * as path from "path";
import { Readable } from "stream";
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
    readRequestEncryption,
} from "./encryption";
import { ReplayedRequest, hasBody, spoolBody } from "./body";
import { sendError } from "./errors";
import { isListing, listObjects } from "./listing";
import { authorizeRequest, keyPolicy, KeyPolicy, parseQuery, uriDecode, verifySignature } from "./signature";
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
    /**
     * The requests received so far, per bucket and first key segment (`bucket/segment`; `bucket/` for the bucket
     * itself), by kind: the HTTP method, `LIST` for a GET of the bucket. What S3's server access log would show,
     * counted; a run's objects share a first segment (its execution's name), so its bill can be checked against it.
     */
    requestCounts(): Record<string, Record<string, number>>;
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

    const received = new RequestCounter();
    return {
        handle(req, res) {
            received.count(req);
            serve(req, res, opts, keys, settings, spoolDir, forward, shortcut).catch((err: unknown) => sendError(req, res, err));
        },
        requestCounts: () => received.snapshot(),
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
/** Requests per bucket and first key segment, by kind; the oldest prefix is dropped past `MAX_COUNTED_PREFIXES`. */
class RequestCounter {
    private readonly byPrefix = new Map<string, Record<string, number>>();

    count(req: http.IncomingMessage): void {
        if (req.method === "OPTIONS") return;
        const url = req.url ?? "/";
        const at = url.indexOf("?");
        const segments = (at < 0 ? url : url.slice(0, at)).split("/");
        const bucket = segments[1] ?? "";
        const first = segments[2] ?? "";
        const kind = req.method === "GET" && first === "" ? "LIST" : (req.method ?? "GET");
        let prefix: string;
        try {
            prefix = `${decodeURIComponent(bucket)}/${decodeURIComponent(first)}`;
        } catch {
            prefix = `${bucket}/${first}`;
        }
        let kinds = this.byPrefix.get(prefix);
        if (!kinds) {
            if (this.byPrefix.size >= MAX_COUNTED_PREFIXES) this.byPrefix.delete(this.byPrefix.keys().next().value as string);
            kinds = {};
            this.byPrefix.set(prefix, kinds);
        }
        kinds[kind] = (kinds[kind] ?? 0) + 1;
    }

    snapshot(): Record<string, Record<string, number>> {
        return Object.fromEntries([...this.byPrefix].map(([prefix, kinds]) => [prefix, { ...kinds }]));
    }
}

/** Enough for every run a process keeps (executions are bounded far below this). */
const MAX_COUNTED_PREFIXES = 10_000;

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
    // HeadBucket ignores a listing's parameters; s3rver would read them (its DES continuation tokens fail on Node 17+).
    if (target.bucket !== undefined && target.key === undefined && req.method === "HEAD" && isListing("GET", target.query)) {
        const exists = await shortcut.bucketExists(target.bucket);
        res.writeHead(exists ? 200 : 404, { "Content-Length": 0 });
        res.end();
        return;
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

export { s3ActionOf } from "./signature";
