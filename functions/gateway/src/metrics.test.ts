import type { PreparedBatch, SendOutcome } from '@cirrusmq/client';
import { CirrusError } from '@cirrusmq/client/protocol';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { MAX_TOPIC_SERIES, OTHER_TOPICS } from '@cirrusmq/client/server';
import { sample } from '../../../test/support/prometheus-text';
import { GatewayMetrics, SEND_BUCKETS } from './metrics';

const batch = (topic: string, bodies: (string | Uint8Array)[]): PreparedBatch => ({
  topic,
  prepared: bodies.map((body, i) => ({ messageId: `m${i}`, body, sysFlag: 0, bornTimestamp: 0, properties: '', propertiesLength: 0 })),
  groups: [],
});
const ok = { status: 'SEND_OK' } as unknown as SendOutcome;
const failed = { status: 'FAILED', error: new CirrusError('BROKER_UNAVAILABLE', 'down') } as unknown as SendOutcome;

describe('GatewayMetrics', () => {
  it('counts sent and failed messages, and messages and body bytes sent per topic', async () => {
    const m = new GatewayMetrics();
    expect(m.recordOutcomes(batch('TopicA', ['abc', 'héllo', new Uint8Array(10)]), [ok, failed, ok])).toBe(1);
    expect(m.recordOutcomes(batch('TopicB', ['x']), [ok])).toBe(0);
    expect(m.recordOutcomes(batch('TopicC', ['y']), [failed])).toBe(1);
    const text = await m.render(7);
    // The unlabelled counters that came before, unchanged.
    expect(sample(text, 'cirrusmq_gateway_messages_sent_total')).toBe(3);
    expect(sample(text, 'cirrusmq_gateway_messages_failed_total')).toBe(2);
    expect(sample(text, 'cirrusmq_gateway_nameserver_calls_total')).toBe(7);
    expect(text).toContain('# TYPE cirrusmq_gateway_topic_messages_sent_total counter');
    expect(sample(text, 'cirrusmq_gateway_topic_messages_sent_total', { topic: 'TopicA' })).toBe(2);
    expect(sample(text, 'cirrusmq_gateway_topic_bytes_sent_total', { topic: 'TopicA' })).toBe(3 + 10); // the failed 'héllo' not counted
    expect(sample(text, 'cirrusmq_gateway_topic_messages_sent_total', { topic: 'TopicB' })).toBe(1);
    expect(sample(text, 'cirrusmq_gateway_topic_messages_sent_total', { topic: 'TopicC' })).toBeUndefined();
  });

  it('puts topics past MAX_TOPIC_SERIES under topic="_other"', async () => {
    const m = new GatewayMetrics();
    for (let i = 0; i < MAX_TOPIC_SERIES + 3; i++) m.recordOutcomes(batch(`T${i}`, ['ab']), [ok]);
    const text = await m.render(0);
    expect(text.split('\n').filter((l) => l.startsWith('cirrusmq_gateway_topic_messages_sent_total{'))).toHaveLength(MAX_TOPIC_SERIES + 1);
    expect(sample(text, 'cirrusmq_gateway_topic_messages_sent_total', { topic: `T${MAX_TOPIC_SERIES - 1}` })).toBe(1);
    expect(sample(text, 'cirrusmq_gateway_topic_messages_sent_total', { topic: OTHER_TOPICS })).toBe(3);
    expect(sample(text, 'cirrusmq_gateway_topic_bytes_sent_total', { topic: OTHER_TOPICS })).toBe(6);
  });

  it('times each POST of messages by mode and HTTP status, errors included, and not the reads', async () => {
    const m = new GatewayMetrics();
    const app = new Hono();
    app.onError((_e, c) => c.json({ error: 'x' }, 503));
    app.use('/v1/topics/:topic/messages', m.sendTimer());
    app.post('/v1/topics/:topic/messages', (c) => {
      if (c.req.param('topic') === 'Down') throw new Error('no broker');
      return c.json({}, c.req.query('mode') === 'oneway' ? 202 : 200);
    });
    app.get('/v1/topics/:topic/messages', (c) => c.json({}));
    const post = (path: string) => app.request(path, { method: 'POST' });
    expect((await post('/v1/topics/A/messages')).status).toBe(200);
    expect((await post('/v1/topics/A/messages?mode=sync')).status).toBe(200);
    expect((await post('/v1/topics/A/messages?mode=oneway')).status).toBe(202);
    expect((await post('/v1/topics/Down/messages')).status).toBe(503);
    expect((await post('/v1/topics/A/messages?mode=whatever')).status).toBe(200);
    expect((await app.request('/v1/topics/A/messages')).status).toBe(200);
    const text = await m.render(0);
    expect(text).toContain('# TYPE cirrusmq_gateway_send_duration_seconds histogram');
    const les = text.split('\n').filter((l) => l.startsWith('cirrusmq_gateway_send_duration_seconds_bucket{') && l.includes('mode="sync",status="200"'));
    expect(les.map((l) => /le="([^"]+)"/.exec(l)![1])).toEqual([...SEND_BUCKETS.map(String), '+Inf']);
    expect(sample(text, 'cirrusmq_gateway_send_duration_seconds_count', { mode: 'sync', status: '200' })).toBe(2);
    expect(sample(text, 'cirrusmq_gateway_send_duration_seconds_count', { mode: 'oneway', status: '202' })).toBe(1);
    expect(sample(text, 'cirrusmq_gateway_send_duration_seconds_count', { mode: 'sync', status: '503' })).toBe(1);
    expect(sample(text, 'cirrusmq_gateway_send_duration_seconds_count', { mode: 'invalid', status: '200' })).toBe(1);
    const all = text.split('\n').filter((l) => l.startsWith('cirrusmq_gateway_send_duration_seconds_count'));
    expect(all).toHaveLength(4); // the GET is not a send
  });
});
