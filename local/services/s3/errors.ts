/** Errors in S3's XML shape: the `<Error>` document with S3's extra elements. */
import * as crypto from "crypto";
import type * as http from "http";
import { AwsError } from "../../core/awsError";
import { escapeXml } from "./encryption";
import { isStoreError } from "./store";

/** An AwsError that also carries the extra elements S3 puts in its `<Error>` document. */
export class S3Error extends AwsError {
    constructor(code: string, message: string, statusCode: number, readonly details: Record<string, string> = {}) {
        super(code, message, statusCode);
    }
}

export function sendError(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
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

