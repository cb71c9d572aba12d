/**
 * The inputs of the two consume calls a consumer makes per batch (receive, ack), checked
 * without zod when they are plainly valid. A consumer sends the same topic, group and receive
 * body over and over; zod's generic walk of them cost the gateway more per request than the
 * rest of the route's own work. Input that is not plainly valid goes to the zod schema, so a
 * refusal keeps its code and message, and the schemas stay what the OpenAPI document says.
 */
import { ConsumeLimits } from '@cirrusmq/client/protocol';
import { parseWith } from './api/check';
import { AckRequestSchema, ReceiveRequestSchema, TopicGroupParams } from './api/consume-schemas';

export type ReceiveInput = ReturnType<typeof ReceiveRequestSchema.parse>;

/** The schema's defaults: what an absent field becomes. */
const DEFAULTS = ReceiveRequestSchema.parse({});
const MAX_INVISIBLE_SECONDS = ConsumeLimits.MAX_INVISIBLE_MS / 1000;
const MIN_INVISIBLE_SECONDS = ConsumeLimits.MIN_INVISIBLE_MS / 1000;
const MAX_WAIT_SECONDS = ConsumeLimits.MAX_WAIT_MS / 1000;

/** Checked (topic, group) pairs; bounded, since the pairs come from callers. */
const checkedParams = new Map<string, { topic: string; group: string }>();
const MAX_CHECKED_PARAMS = 4096;

/** The route's topic and group, checked by TopicGroupParams once per distinct pair. */
export function topicGroup(raw: { topic: string; group: string }): { topic: string; group: string } {
  const key = `${raw.topic}\u0000${raw.group}`;
  let params = checkedParams.get(key);
  if (params) return params;
  params = parseWith(TopicGroupParams, raw);
  if (checkedParams.size >= MAX_CHECKED_PARAMS) checkedParams.clear();
  checkedParams.set(key, params);
  return params;
}

const intIn = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** ReceiveRequestSchema's result; without zod for a body of in-range integers, no filter and plain ack handles (or none). */
export function receiveInput(body: Record<string, unknown>): ReceiveInput {
  const { max = DEFAULTS.max, invisibleSeconds = DEFAULTS.invisibleSeconds, waitSeconds = DEFAULTS.waitSeconds, filter, ack } = body;
  if (
    filter === undefined &&
    (ack === undefined || isHandleList(ack)) &&
    intIn(max, 1, ConsumeLimits.MAX_RECEIVE) &&
    intIn(invisibleSeconds, MIN_INVISIBLE_SECONDS, MAX_INVISIBLE_SECONDS) &&
    intIn(waitSeconds, 0, MAX_WAIT_SECONDS)
  ) {
    return { max: max as number, invisibleSeconds: invisibleSeconds as number, waitSeconds: waitSeconds as number, filter: undefined, ack };
  }
  return parseWith(ReceiveRequestSchema, body);
}

/** AckRequestSchema's result; without zod for 1 to MAX_ACK_ENTRIES strings of 1 to 1024 characters. */
export function ackInput(body: Record<string, unknown>): { receiptHandles: string[] } {
  const handles = body.receiptHandles;
  if (isHandleList(handles)) return { receiptHandles: handles };
  return parseWith(AckRequestSchema, body);
}

const isHandleList = (v: unknown): v is string[] => Array.isArray(v) && v.length >= 1 && v.length <= ConsumeLimits.MAX_ACK_ENTRIES && v.every(isHandleText);

const isHandleText = (h: unknown) => typeof h === 'string' && h.length >= 1 && h.length <= ConsumeLimits.MAX_RECEIPT_HANDLE_CHARS;
