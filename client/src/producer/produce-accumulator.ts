/**
 * Adaptive batching for busy producers (RocketMQ 5's ProduceAccumulator, "autoBatch"): while
 * `maxInflight` requests of a topic are out, further batches wait and leave together, as one
 * request, when one comes back. The batches submitted in one turn of the event loop (a loop
 * of send() calls, the sends one incoming request causes) leave together too: the first
 * request goes at the end of the turn (process.nextTick), not at the first send. An idle
 * producer so adds no latency; a busy one pays the per-request costs (a syscall and a wakeup
 * each way, framing, the broker's write call) once per several batches. Each caller still
 * gets its own results, with its messages contiguous in one queue.
 */
import { preparedBodyLength, type PreparedMessage } from '../codec/send-batch.js';
import type { SendResult } from '../message.js';
import { Limits } from '../validation.js';

interface Waiting {
  prepared: PreparedMessage[];
  bytes: number;
  resolve: (results: SendResult[]) => void;
  reject: (e: unknown) => void;
}

interface TopicState {
  inflight: number;
  waiting: Waiting[];
  /** A drain at the end of this turn is scheduled. */
  scheduled: boolean;
}

export class ProduceAccumulator {
  private readonly topics = new Map<string, TopicState>();

  constructor(
    private readonly send: (topic: string, prepared: PreparedMessage[]) => Promise<SendResult[]>,
    private readonly maxInflight: number,
    private readonly maxMessages: number = Limits.MAX_BATCH_MESSAGES,
    private readonly maxBytes: number = Limits.MAX_BATCH_BYTES,
  ) {}

  submit(topic: string, prepared: PreparedMessage[]): Promise<SendResult[]> {
    const state = this.topics.get(topic) ?? this.newState(topic);
    return new Promise((resolve, reject) => {
      state.waiting.push({ prepared, bytes: batchBytes(prepared), resolve, reject });
      if (state.scheduled) return;
      state.scheduled = true;
      process.nextTick(() => {
        state.scheduled = false;
        this.drain(topic, state);
      });
    });
  }

  private newState(topic: string): TopicState {
    const state: TopicState = { inflight: 0, waiting: [], scheduled: false };
    this.topics.set(topic, state);
    return state;
  }

  private drain(topic: string, state: TopicState): void {
    while (state.inflight < this.maxInflight && state.waiting.length > 0) {
      const group = this.takeGroup(state);
      state.inflight++;
      const all = group.length === 1 ? group[0]!.prepared : group.flatMap((w) => w.prepared);
      this.send(topic, all)
        .then(
          (results) => {
            let start = 0;
            for (const w of group) {
              w.resolve(results.slice(start, start + w.prepared.length));
              start += w.prepared.length;
            }
          },
          (e) => {
            for (const w of group) w.reject(e);
          },
        )
        .finally(() => {
          state.inflight--;
          if (state.inflight === 0 && state.waiting.length === 0) this.topics.delete(topic);
          else this.drain(topic, state);
        });
    }
  }

  /** The oldest waiting batches that fit one request together (always at least one). */
  private takeGroup(state: TopicState): Waiting[] {
    const group = [state.waiting.shift()!];
    let messages = group[0]!.prepared.length;
    let bytes = group[0]!.bytes;
    while (state.waiting.length > 0) {
      const next = state.waiting[0]!;
      if (messages + next.prepared.length > this.maxMessages || bytes + next.bytes > this.maxBytes) break;
      group.push(state.waiting.shift()!);
      messages += next.prepared.length;
      bytes += next.bytes;
    }
    return group;
  }
}

function batchBytes(prepared: PreparedMessage[]): number {
  let bytes = 0;
  for (const p of prepared) bytes += preparedBodyLength(p) + p.propertiesLength;
  return bytes;
}
