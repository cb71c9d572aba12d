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
}

export const JSON_HEADERS = { 'Content-Type': 'application/json' } as const;

/** The request body as a JSON object, read with the API's checks (415, 413, 400), by whichever server got it. */
export type BodyReader = (maxBytes?: number) => Promise<Record<string, unknown>>;
