/**
 * A lean JetStream publisher: core-NATS publishes with a reply subject, and one wildcard
 * subscription that collects the stream's acks. No promise or request object per message:
 * nats.js's own `js.publish` manages only ~19k msg/s here and would flatter CirrusMQ.
 * Only a stream ack ({"stream":…,"seq":N}) counts as acknowledged; a refusal ({"error":…})
 * or a no-responders status counts as a failure.
 */
import { connect, createInbox, type NatsConnection } from 'nats';
import type { LeanPublisher } from './lean-publisher';

export class JetStreamLean implements LeanPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<number, (ok: boolean) => void>();
  private next = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly body: Uint8Array,
  ) {
    const prefix = this.inbox.length + 1;
    nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        const token = Number(msg.subject.slice(prefix));
        const done = this.pending.get(token);
        if (!done) return;
        this.pending.delete(token);
        done(!err && msg.data.length > 2 && msg.data[2] === 0x73 /* {"s… */);
      },
    });
  }

  static async connect(address: string, subject: string, body: Uint8Array): Promise<JetStreamLean> {
    return new JetStreamLean(await connect({ servers: address }), subject, body);
  }

  publish(count: number, done: (ok: boolean) => void): void {
    for (let i = 0; i < count; i++) {
      const token = this.next++;
      this.pending.set(token, done);
      this.nc.publish(this.subject, this.body, { reply: `${this.inbox}.${token}` });
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
