/**
 * Acks of many clients merged into few broker requests. The official clients ack one message
 * per AckMessage (the SDK acks a whole receive in one request), so a busy proxy would make a
 * broker request per message. Per broker, topic and group, at most MAX_INFLIGHT requests run;
 * handles that arrive meanwhile wait and go together in the next (up to MAX_ACK_ENTRIES). An
 * idle proxy sends each ack at once: merging costs latency only when the broker is the queue.
 */
import { type AckResponse, ConsumeLimits } from '@cirrusmq/client/protocol';

type AckResult = AckResponse['results'][number];

/** The broker request: `handles` (at most MAX_ACK_ENTRIES) of one topic and group on the broker at `addr`. */
export type AckCall = (addr: string, topic: string, group: string, handles: string[]) => Promise<AckResponse>;

interface Waiting {
  handle: string;
  resolve(r: AckResult): void;
  reject(e: unknown): void;
}

interface Lane {
  waiting: Waiting[];
  inflight: number;
}

export const MAX_INFLIGHT = 2;

export class AckMerger {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly call: AckCall) {}

  /** One result per handle, in order, as one broker answer would give them. */
  async ack(addr: string, topic: string, group: string, handles: readonly string[]): Promise<AckResponse> {
    const key = `${addr}\u0000${topic}\u0000${group}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { waiting: [], inflight: 0 };
      this.lanes.set(key, lane);
    }
    const results = handles.map((handle) => new Promise<AckResult>((resolve, reject) => lane.waiting.push({ handle, resolve, reject })));
    this.drain(key, lane, addr, topic, group);
    return { results: await Promise.all(results) };
  }

  private drain(key: string, lane: Lane, addr: string, topic: string, group: string): void {
    while (lane.inflight < MAX_INFLIGHT && lane.waiting.length > 0) {
      const batch = lane.waiting.splice(0, ConsumeLimits.MAX_ACK_ENTRIES);
      lane.inflight++;
      this.call(
        addr,
        topic,
        group,
        batch.map((w) => w.handle),
      )
        .then(
          (res) =>
            batch.forEach((w, i) =>
              w.resolve(res.results[i] ?? { status: 'FAILED', error: { code: 'INTERNAL', message: 'the broker answered fewer results than handles' } }),
            ),
          (e) => {
            for (const w of batch) w.reject(e);
          },
        )
        .finally(() => {
          lane.inflight--;
          if (lane.inflight === 0 && lane.waiting.length === 0) this.lanes.delete(key);
          else this.drain(key, lane, addr, topic, group);
        });
    }
  }
}
