/**
 * ListObjectsV2 and ListObjects (v1), answered here rather than by s3rver: s3rver encrypts its continuation tokens
 * with DES, which Node 17+ (OpenSSL 3) refuses, so any listing longer than one page failed with InternalError. It
 * also left common prefixes out of MaxKeys and could repeat them on the next page. Here every page holds at most
 * MaxKeys entries (keys and common prefixes together, as S3 counts them) and resumes after the last entry it showed.
 */
import { compareKeys, ObjectRecord, ObjectStore, storeError } from "./store";
import { escapeXml } from "./encryption";

/** The query parameters a listing may carry (besides SigV4's presigning and the SDK's operation marker). */
const LISTING_QUERY = new Set(["list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type", "marker", "x-id"]);
const PRESIGN_QUERY = /^X-Amz-/;

/** S3 never returns more than this many entries in one page, whatever MaxKeys asks for. */
const PAGE_LIMIT = 1000;
const MAX_KEYS_LIMIT = 2147483647;

/** The owner s3rver shows for every object (its dummy account), so listings agree with its other answers. */
const OWNER = { id: "123456789000", displayName: "S3rver" };

/** Whether a bucket-level GET is a listing (no subresource such as `?location`, `?cors`, `?uploads`, `?versions`). */
export function isListing(method: string | undefined, query: [string, string][]): boolean {
    return method === "GET" && query.every(([name]) => LISTING_QUERY.has(name) || PRESIGN_QUERY.test(name));
}

const TOKEN_VERSION = "1";

/**
 * The token is opaque to clients but not secret: it names the last entry of the page (a key or a common prefix),
 * which whoever holds it could list anyway. It is bound to its bucket, and survives a restart on the same data.
 */
export function continuationToken(bucket: string, lastEntry: string): string {
    return Buffer.from(`${TOKEN_VERSION}\0${bucket}\0${lastEntry}`, "utf8").toString("base64url");
}

/** The last entry a token of this bucket names; InvalidArgument, as S3 answers, for anything else. */
export function readContinuationToken(bucket: string, token: string): string {
    const incorrect = () => storeError("InvalidArgument", "The continuation token provided is incorrect", 400, { ArgumentName: "continuation-token" });
    const bytes = Buffer.from(token, "base64url");
    // base64url decoding skips characters it does not know: only a token that encodes back to itself is ours.
    if (bytes.toString("base64url") !== token.replace(/=+$/, "")) throw incorrect();
    const text = bytes.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(bytes)) throw incorrect();
    const header = `${TOKEN_VERSION}\0${bucket}\0`;
    if (!text.startsWith(header)) throw incorrect();
    return text.slice(header.length);
}

interface ListingRequest {
    version: 1 | 2;
    prefix: string;
    delimiter: string;
    /** As the client sent it (S3 echoes it); the page holds at most `min(maxKeys, 1000)` entries. */
    maxKeysText: string;
    maxKeys: number;
    /** Entries up to and including this one are skipped: the v1 marker, v2's start-after, or the token's entry. */
    after: string;
    marker?: string;
    startAfter?: string;
    continuationToken?: string;
    fetchOwner: boolean;
    encodeUrl: boolean;
}

function invalidArgument(message: string, name: string, value?: string) {
    return storeError("InvalidArgument", message, 400, value === undefined ? { ArgumentName: name } : { ArgumentName: name, ArgumentValue: value });
}

function readListingRequest(bucket: string, query: [string, string][]): ListingRequest {
    const params = new Map(query);
    const listType = params.get("list-type");
    if (listType !== undefined && listType !== "2") throw invalidArgument("Invalid List Type specified in Request", "list-type", listType);
    const version = listType === "2" ? 2 : 1;
    const encodingType = params.get("encoding-type");
    if (encodingType !== undefined && encodingType !== "url") throw invalidArgument("Invalid Encoding Method specified in Request", "encoding-type", encodingType);
    const maxKeysText = params.get("max-keys") ?? String(PAGE_LIMIT);
    if (!/^-?\d+$/.test(maxKeysText)) throw invalidArgument("Provided max-keys not an integer or within integer range", "max-keys", maxKeysText);
    const maxKeys = Number(maxKeysText);
    if (maxKeys < 0 || maxKeys > MAX_KEYS_LIMIT) throw invalidArgument("Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys", maxKeysText);
    const request: ListingRequest = {
        version,
        prefix: params.get("prefix") ?? "",
        delimiter: params.get("delimiter") ?? "",
        maxKeysText,
        maxKeys: Math.min(maxKeys, PAGE_LIMIT),
        after: "",
        fetchOwner: version === 1 || params.get("fetch-owner") === "true",
        encodeUrl: encodingType === "url",
    };
    if (version === 2) {
        if (params.has("marker")) throw invalidArgument("Marker unsupported with REST.GET.BUCKET in list-type=2", "marker");
        request.startAfter = params.get("start-after");
        const token = params.get("continuation-token");
        if (token !== undefined && token !== "") {
            request.continuationToken = token;
            request.after = readContinuationToken(bucket, token);
        } else if (request.startAfter !== undefined) {
            request.after = request.startAfter;
        }
    } else {
        if (params.has("continuation-token")) throw invalidArgument("continuation-token only supported in REST.GET.BUCKET with list-type=2", "continuation-token");
        if (params.has("start-after")) throw invalidArgument("startAfter only supported in REST.GET.BUCKET with list-type=2", "start-after");
        request.marker = params.get("marker");
        request.after = request.marker ?? "";
    }
    return request;
}

interface ListingPage {
    contents: ObjectRecord[];
    commonPrefixes: string[];
    isTruncated: boolean;
    /** The last entry shown (key or common prefix): where the next page starts after. */
    lastEntry?: string;
}

/**
 * One page of the listing: keys after `after` under `prefix`, those with `delimiter` past the prefix rolled up into
 * one common prefix each. A common prefix equal to `after` is the one the previous page ended with: its keys are
 * skipped, as S3 does when a client resumes from a NextMarker that is a common prefix.
 */
export function listPage(records: ObjectRecord[], request: Pick<ListingRequest, "prefix" | "delimiter" | "after" | "maxKeys">): ListingPage {
    const { prefix, delimiter, after, maxKeys } = request;
    const page: ListingPage = { contents: [], commonPrefixes: [], isTruncated: false };
    if (maxKeys === 0) return page;
    let count = 0;
    for (const record of records) {
        const { key } = record;
        if (!key.startsWith(prefix)) continue;
        const at = delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length);
        const entry = at < 0 ? key : key.slice(0, at + delimiter.length);
        if (entry === page.lastEntry) continue; // another key of the common prefix just shown
        if (at < 0 ? compareKeys(key, after) <= 0 : entry === after || compareKeys(key, after) <= 0) continue;
        if (count === maxKeys) {
            page.isTruncated = true;
            break;
        }
        if (at < 0) page.contents.push(record);
        else page.commonPrefixes.push(entry);
        page.lastEntry = entry;
        count++;
    }
    return page;
}

/** The XML of a ListObjects / ListObjectsV2 answer for one page of `bucket`. */
export async function listObjects(store: ObjectStore, bucket: string, query: [string, string][]): Promise<string> {
    const request = readListingRequest(bucket, query);
    const records = request.maxKeys === 0 ? [] : await store.listRecords(bucket, request.prefix);
    const page = listPage(records, request);
    // With encoding-type=url S3 URL-encodes every key-like element, so clients can receive keys XML cannot carry.
    const text = (value: string) => escapeXml(request.encodeUrl ? encodeURIComponent(value).replace(/%2F/g, "/") : value);
    const element = (name: string, value: string | number | undefined) => (value === undefined ? "" : `<${name}>${typeof value === "number" ? value : text(value)}</${name}>`);
    const plain = (name: string, value: string | undefined) => (value === undefined ? "" : `<${name}>${escapeXml(value)}</${name}>`);
    const owner = request.fetchOwner ? `<Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.displayName}</DisplayName></Owner>` : "";
    const parts = [`<Name>${escapeXml(bucket)}</Name>`, element("Prefix", request.prefix)];
    if (request.version === 2) {
        parts.push(
            // Echoed whenever it was sent, though a continuation token takes precedence over it.
            element("StartAfter", request.startAfter),
            plain("ContinuationToken", request.continuationToken),
            plain("NextContinuationToken", page.isTruncated && page.lastEntry !== undefined ? continuationToken(bucket, page.lastEntry) : undefined),
            element("KeyCount", page.contents.length + page.commonPrefixes.length),
        );
    } else {
        parts.push(
            element("Marker", request.marker ?? ""),
            // S3 gives NextMarker only with a delimiter; without one, clients resume after the last key.
            request.delimiter !== "" && page.isTruncated ? element("NextMarker", page.lastEntry) : "",
        );
    }
    parts.push(
        `<MaxKeys>${escapeXml(request.maxKeysText)}</MaxKeys>`,
        request.delimiter === "" ? "" : element("Delimiter", request.delimiter),
        request.encodeUrl ? "<EncodingType>url</EncodingType>" : "",
        `<IsTruncated>${page.isTruncated}</IsTruncated>`,
    );
    for (const record of page.contents) {
        parts.push(
            `<Contents>${element("Key", record.key)}<LastModified>${new Date(record.modified).toISOString()}</LastModified>` +
                `<ETag>${escapeXml(JSON.stringify(record.md5))}</ETag><Size>${record.size}</Size>${owner}<StorageClass>STANDARD</StorageClass></Contents>`,
        );
    }
    for (const commonPrefix of page.commonPrefixes) parts.push(`<CommonPrefixes>${element("Prefix", commonPrefix)}</CommonPrefixes>`);
    return `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join("")}</ListBucketResult>`;
}
