/** What a bench worker drives for a peer with a lean client (JetStream, Redis Streams). */
export interface LeanPublisher {
  /** Publishes `count` messages; `done` is called once per message, when its ack (or refusal) arrives. */
  publish(count: number, done: (ok: boolean) => void): void;
  close(): Promise<void>;
}
