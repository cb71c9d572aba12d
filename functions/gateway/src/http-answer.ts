/**
 * What a hot route answers, as bytes: the Hono route (app.ts) and the process server's own
 * listener (hot-routes.ts) both write it, so their answers cannot differ.
 */
export interface HttpAnswer {
  status: 200 | 202;
  /** JSON text (content-type application/json), unless contentType says otherwise. */
  body: string | Buffer<ArrayBuffer>;
  /** Set only for a body that is not JSON (a receive answered as POP_PARTS). */
  contentType?: string;
  /**
   * The body as the pieces it is made of (a POP_PARTS answer: the brokers' answers as they
   * came), for a writer that sends them without joining them (the process server, in one
   * writev); `body` is then their join, made only when read.
   */
  parts?: readonly Buffer[];
}

/** An answer of these pieces: `body` joins them only when read. */
export function partsAnswer(parts: readonly Buffer[], contentType: string): HttpAnswer {
  return new PartsAnswer(parts, contentType);
}

/**
 * A class, not an object literal with `get body()`: a literal's getter is a new closure each
 * time, held by an AccessorPair that V8 allocates in old space. That pair, dead at once, kept
 * the closure and through it the brokers' answers alive through every scavenge until the next
 * mark-compact: ~90 MB/s of promoted buffers under bench:consume, a mark-compact every ~0.4 s.
 */
class PartsAnswer implements HttpAnswer {
  readonly status = 200;
  private joined: Buffer<ArrayBuffer> | undefined;

  constructor(
    readonly parts: readonly Buffer[],
    readonly contentType: string,
  ) {}

  get body(): Buffer<ArrayBuffer> {
    this.joined ??= Buffer.concat(this.parts) as Buffer<ArrayBuffer>;
    return this.joined;
  }
}

export const JSON_HEADERS = { 'Content-Type': 'application/json' } as const;

/** The request body as a JSON object, read with the API's checks (415, 413, 400), by whichever server got it. */
export type BodyReader = (maxBytes?: number) => Promise<Record<string, unknown>>;
