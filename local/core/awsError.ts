/**
 * An error in the shape AWS services answer with: a code (`__type` on the JSON protocols, `<Code>` on S3),
 * a message and an HTTP status. Every local service throws these so the endpoint can answer as AWS does.
 */
export class AwsError extends Error {
    constructor(
        /** AWS's error code, for example `TaskDoesNotExist` or `ValidationException`. */
        public readonly code: string,
        message: string,
        /** The HTTP status AWS answers this error with. */
        public readonly statusCode = 400,
    ) {
        super(message);
        this.name = code;
    }
}
