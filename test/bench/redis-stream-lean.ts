/**
 * A lean Redis Streams publisher: XADD pipelined, pre-encoded, over several connections in
 * turn; the publishes of one turn of the event loop leave in one write per connection. A reply
 * with an entry id counts as acknowledged (with `appendfsync always` Redis sends it after the
 * AOF fsync); an error reply as a failure.
 *
 * Several connections, not one: Redis reads at most 16 KB from a client per turn of its event
 * loop, and with `appendfsync always` it fsyncs once per turn, so one connection would cap a
 * group commit at ~14 messages of 1 KB. The SDK spreads its sends over sockets the same way.
 */
import type { LeanPublisher } from './lean-publisher';
import { encodeCommand, RespConnection, type RespReply } from './resp-lean';

const PREBUILT = 1024;
/** Messages given to one connection before the next one's turn: refills of one turn travel together. */
const PER_LANE = 32;

interface Lane {
  conn: RespConnection;
  queued: { done: (ok: boolean) => void; count: number }[];
}

export class RedisStreamLean implements LeanPublisher {
  private readonly command: Buffer;
  private readonly prebuilt: Buffer;
  private lane = 0;
  private inLane = 0;
  private scheduled = false;

  private constructor(
    private readonly lanes: Lane[],
    key: string,
    body: Buffer,
  ) {
    this.command = encodeCommand(['XADD', key, '*', 'd', body]);
    this.prebuilt = Buffer.concat(Array.from({ length: PREBUILT }, () => this.command));
  }

  static async connect(address: string, key: string, body: Buffer, connections = 16): Promise<RedisStreamLean> {
    const conns = await Promise.all(Array.from({ length: connections }, () => RespConnection.connect(address)));
    return new RedisStreamLean(
      conns.map((conn) => ({ conn, queued: [] })),
      key,
      body,
    );
  }

  publish(count: number, done: (ok: boolean) => void): void {
    if (this.inLane >= PER_LANE) {
      this.lane = (this.lane + 1) % this.lanes.length;
      this.inLane = 0;
    }
    this.inLane += count;
    this.lanes[this.lane]!.queued.push({ done, count });
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    for (const lane of this.lanes) {
      if (lane.queued.length === 0) continue;
      lane.conn.corked(() => {
        for (const { done, count } of lane.queued.splice(0)) {
          const onReply = (r: RespReply) => done(typeof r === 'string');
          for (let left = count; left > 0; ) {
            const n = Math.min(left, PREBUILT);
            lane.conn.sendRaw(this.prebuilt.subarray(0, n * this.command.length), n, onReply);
            left -= n;
          }
        }
      });
    }
  }

  async close(): Promise<void> {
    for (const lane of this.lanes) lane.conn.close();
  }
}
