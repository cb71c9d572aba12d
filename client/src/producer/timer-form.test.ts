import { describe, expect, it } from 'vitest';
import { decodeProperties } from '../codec/properties.js';
import { decodeSendBatch, TIMER_TOPIC } from '../codec/send-batch.js';
import { MessageConst } from '../message.js';
import { prepareMessage } from './prepare-message.js';
import { sendBatchBody } from './timer-form.js';

const later = Date.now() + 60_000;

function propsOf(body: Buffer, i: number): Record<string, string> {
  const { shape } = decodeSendBatch(body, 100).records[i]!;
  return decodeProperties(body.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength));
}

describe('sendBatchBody', () => {
  it('sends a batch all scheduled for later in the timer form, encoded again for another queue', () => {
    const prepared = [
      prepareMessage({ topic: 'T', body: 'a', deliverAt: later }),
      prepareMessage({ topic: 'T', body: 'b', delaySeconds: 30 }),
      prepareMessage({ topic: 'T', body: 'c', delayTimeLevel: 2 }),
    ];
    const body = sendBatchBody('T', prepared);
    const q3 = body(3);
    const batch = decodeSendBatch(q3, 100);
    expect(batch.timerForm).toBe(true);
    expect([batch.topic, batch.queueId]).toEqual(['T', 3]);
    for (let i = 0; i < 3; i++) {
      const { shape } = batch.records[i]!;
      expect(q3.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength)).toBe(TIMER_TOPIC);
      expect(propsOf(q3, i)).toMatchObject({ [MessageConst.REAL_TOPIC]: 'T', [MessageConst.REAL_QID]: '3', [MessageConst.UNIQ_KEY]: prepared[i]!.messageId });
    }
    expect(propsOf(q3, 0)[MessageConst.TIMER_OUT_MS]).toBe(String(later));
    expect(body(3)).toBe(q3);
    // A retry on another queue: each record names it.
    expect(propsOf(body(1), 2)[MessageConst.REAL_QID]).toBe('1');
  });

  it('sends any other batch in the plain form, pointed at the queue in its header', () => {
    for (const messages of [
      [{ topic: 'T', body: 'plain', properties: { note: 'DELAY DELIVER_MS' } }],
      [
        { topic: 'T', body: 'later', deliverAt: later },
        { topic: 'T', body: 'now' },
      ],
      [{ topic: 'T', body: 'past', deliverAt: Date.now() - 1_000 }],
    ]) {
      const body = sendBatchBody(
        'T',
        messages.map((m) => prepareMessage(m)),
      );
      const batch = decodeSendBatch(body(2), 100);
      expect(batch.timerForm).toBeUndefined();
      expect(batch.queueId).toBe(2);
      expect(decodeSendBatch(body(5), 100).queueId).toBe(5);
    }
  });
});
