/**
 * The gateway's size limits, set by what AWS passes through, not by the broker:
 *
 *   API Gateway HTTP API   10 MB request payload
 *   Lambda (synchronous)   6 MB = 6,291,456 bytes of invocation payload, each way; the
 *                          HTTP body travels inside a JSON event / result, as a JSON string
 *
 * A message body may be 4 MiB DECODED (Limits.MAX_BODY_BYTES); sent as base64 that is
 * 5,592,408 characters, so the request limit is 5.5 MiB: base64 of a 4 MiB body plus
 * 174 KiB of JSON (properties, keys, tags), and 512 KiB under Lambda's limit for the event
 * around it (headers, request context).
 */
import { Limits } from '@cirrusmq/client/protocol';

export const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** The largest send request body (JSON) the gateway reads: 5,767,168 bytes. */
export const MAX_SEND_REQUEST_BYTES = 5.5 * 1024 * 1024;

/**
 * What a read or lookup answer may weigh as a Lambda result (6,200,000 bytes): its JSON
 * bytes plus one escape per '"' and '\' it gains inside the result's body string. The other
 * 91 KiB of Lambda's 6,291,456 hold the result's status and headers (about 100 bytes).
 * Fewer messages are answered to stay under it; one message always fits: a 4 MiB body as
 * base64 (5,592,408) and the record's at most 65,535 bytes of properties, even if each were
 * a control character (7 bytes once escaped twice), weigh under 6.06 MB.
 */
export const MAX_READ_ANSWER_BYTES = 6_200_000;

/** base64 of the largest body: the size the request limit leaves room for. */
export const MAX_BODY_BASE64_CHARS = Math.ceil(Limits.MAX_BODY_BYTES / 3) * 4;
