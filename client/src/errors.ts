/**
 * Every error CirrusMQ raises or answers with. One code per failure kind; the HTTP status
 * says whether the caller (4xx) or the service (5xx) is at fault, and `retriable` says
 * whether the same call may succeed later (RocketMQ's producer retries only those).
 */
export const ErrorCodes = {
  // caller at fault
  BAD_REQUEST: { status: 400, retriable: false },
  INVALID_JSON: { status: 400, retriable: false },
  INVALID_TOPIC: { status: 400, retriable: false },
  RESERVED_TOPIC: { status: 400, retriable: false },
  INVALID_MESSAGE: { status: 400, retriable: false },
  /** Text that is not valid Unicode (a lone surrogate, bytes that are not UTF-8): refused, never stored as U+FFFD. */
  INVALID_TEXT: { status: 400, retriable: false },
  EMPTY_BATCH: { status: 400, retriable: false },
  TOO_MANY_MESSAGES: { status: 400, retriable: false },
  INVALID_PARAMETER: { status: 400, retriable: false },
  INVALID_QUEUE: { status: 400, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  TOPIC_NOT_FOUND: { status: 404, retriable: false },
  BROKER_NOT_FOUND: { status: 404, retriable: false },
  QUEUE_NOT_FOUND: { status: 404, retriable: false },
  MESSAGE_NOT_FOUND: { status: 404, retriable: false },
  /** The read offset was deleted by retention; `details.minOffset` says where the queue starts now. */
  OFFSET_BELOW_MINIMUM: { status: 404, retriable: false },
  TOPIC_EXISTS: { status: 409, retriable: false },
  INVALID_GROUP: { status: 400, retriable: false },
  /** A timer message's delivery time that is not a number, negative, past the broker's horizon, or a delay level outside 1..18. */
  INVALID_DELAY: { status: 400, retriable: false },
  /** Cancel of a scheduled message no broker holds pending (never scheduled, or cancelled already). */
  TIMER_NOT_FOUND: { status: 404, retriable: false },
  /** Cancel of a scheduled message that has fired (it is in its queue). */
  TIMER_ALREADY_FIRED: { status: 409, retriable: false },
  /** A commit or rollback of a transaction id no broker holds (never sent, or ended long ago). */
  TRANSACTION_NOT_FOUND: { status: 404, retriable: false },
  /** A commit or rollback of a transaction already committed or rolled back (a commit after a rollback too). */
  TRANSACTION_ALREADY_ENDED: { status: 409, retriable: false },
  GROUP_NOT_FOUND: { status: 404, retriable: false },
  /** A receipt handle that was edited, forged, or is not this broker's. */
  INVALID_RECEIPT_HANDLE: { status: 400, retriable: false },
  /** A genuine receipt handle whose lease ended (acked, expired, or replaced by change-invisibility). */
  RECEIPT_HANDLE_EXPIRED: { status: 400, retriable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retriable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retriable: false },
  // service at fault, or not ready
  NO_ROUTE: { status: 503, retriable: true },
  NO_LIVE_BROKER: { status: 503, retriable: true },
  BROKER_UNAVAILABLE: { status: 503, retriable: true },
  SERVICE_NOT_AVAILABLE: { status: 503, retriable: true },
  NAMESERVER_UNAVAILABLE: { status: 503, retriable: true },
  TIMEOUT: { status: 504, retriable: true },
  /** The tier (S3 or its local folder) failed or is unreachable; the read or the s3-durable send may succeed later. */
  TIER_UNAVAILABLE: { status: 503, retriable: true },
  /** An object the tier manifest names is missing or does not match its checksum. */
  TIER_OBJECT_NOT_FOUND: { status: 500, retriable: false },
  /** A tier key already holds an object with other bytes: never overwritten (another writer owns it); uploads stop. */
  TIER_OBJECT_CONFLICT: { status: 500, retriable: false },
  /** The tier prefix's owner marker names another broker: two brokers were given one prefix. */
  TIER_PREFIX_OWNED: { status: 500, retriable: false },
  /** Another live process holds the store (or data) folder's lock; `details` name the folder and the holder. */
  STORE_LOCKED: { status: 503, retriable: false },
  INTERNAL: { status: 500, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class CirrusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  /** Machine-readable facts about the failure (e.g. minOffset), answered as error.details. */
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number; details?: ErrorDetails }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CirrusError';
    this.code = code;
    this.status = options?.status ?? ErrorCodes[code].status;
    this.retriable = ErrorCodes[code].retriable;
    this.details = options?.details;
  }

  toJSON(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.details) error.details = this.details;
    return { error };
  }
}

export type ErrorDetails = Record<string, string | number | boolean>;

/** `details` is optional and only added by errors that carry facts, so older readers keep working. */
export interface ErrorBody {
  error: { code: string; message: string; details?: ErrorDetails };
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** Rebuilds a CirrusError from a JSON error answer of another CirrusMQ process. */
export function errorFromBody(status: number, body: unknown): CirrusError {
  const err = (body as Partial<ErrorBody> | undefined)?.error;
  if (err && isErrorCode(err.code)) {
    const details = typeof err.details === 'object' && err.details !== null && !Array.isArray(err.details) ? err.details : undefined;
    return new CirrusError(err.code, err.message, { status, details });
  }
  if (status >= 500) return new CirrusError('SERVICE_NOT_AVAILABLE', `HTTP ${status}`, { status });
  return new CirrusError('BAD_REQUEST', `HTTP ${status}`, { status });
}

/** Any thrown value as a CirrusError: network errors are retriable, the rest internal. */
export function toCirrusError(e: unknown): CirrusError {
  if (e instanceof CirrusError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'EHOSTUNREACH' || code === 'UND_ERR_SOCKET') {
    return new CirrusError('BROKER_UNAVAILABLE', `connection failed: ${code}`, { cause: e });
  }
  return new CirrusError('INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
}
