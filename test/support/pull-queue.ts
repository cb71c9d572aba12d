/** Every message of one queue of a broker, from offset 0, through BrokerClient.pull (the tests' read-back). */
import type { BrokerClient, MessageExt } from '@cirrusmq/client/protocol';

export async function pullWholeQueue(client: BrokerClient, topic: string, queueId: number, page = 256): Promise<MessageExt[]> {
  const out: MessageExt[] = [];
  for (let offset = 0; ; ) {
    const r = await client.pull(topic, queueId, offset, page);
    out.push(...r.messages);
    if (r.messages.length === 0 || r.nextOffset >= r.maxOffset || r.nextOffset === offset) return out;
    offset = r.nextOffset;
  }
}
