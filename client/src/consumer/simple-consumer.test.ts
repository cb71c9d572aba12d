/** SimpleConsumer refuses bad settings before any call, with the codes the HTTP API answers. */
import { describe, expect, it } from 'vitest';
import type { ConsumeBackend } from './consume-backend.js';
import { SimpleConsumer } from './simple-consumer.js';

const noBackend: ConsumeBackend = {
  receive: async () => [],
  ack: async () => [],
  release: async () => {},
  changeInvisibility: async () => 'h',
  groupConfig: async () => undefined,
  close: () => {},
};

const make = (o: Record<string, unknown>) => new SimpleConsumer({ backend: noBackend, group: 'g', topics: ['t'], ...o });

describe('SimpleConsumer settings', () => {
  it.each([
    ['an empty group', { group: '' }, 'INVALID_GROUP'],
    ['a reserved group prefix', { group: 'rmq_sys_x' }, 'INVALID_GROUP'],
    ['a group with a space', { group: 'a b' }, 'INVALID_GROUP'],
    ['no topic', { topics: [] }, 'INVALID_PARAMETER'],
    ['a bad topic', { topics: ['bad topic'] }, 'INVALID_TOPIC'],
    ['an await past 20 s', { awaitDuration: 20_001 }, 'INVALID_PARAMETER'],
    ['an invisibility under 1 s', { invisibleDuration: 999 }, 'INVALID_PARAMETER'],
    ['both a backend and a gateway', { gateway: 'http://127.0.0.1:1' }, 'INVALID_PARAMETER'],
  ])('refuses %s', (_, o, code) => {
    expect(() => make(o)).toThrow(expect.objectContaining({ code }));
  });

  it('refuses a receive of 0 or 33 messages, and any call after close', async () => {
    const c = make({});
    await expect(c.receive(0)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(c.receive(33)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(c.receive(1, 43_200_001)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    expect(await c.receive(32)).toEqual([]);
    c.close();
    await expect(c.receive(1)).rejects.toMatchObject({ code: 'SERVICE_NOT_AVAILABLE' });
  });

  it('asks each subscribed topic in turn and long-polls only the last one asked', async () => {
    const asked: [string, number, string | undefined][] = [];
    const c = new SimpleConsumer({
      backend: { ...noBackend, receive: async (p) => (asked.push([p.topic, p.waitMs, p.filter]), []) },
      group: 'g',
      subscriptions: { a: 'TagA || TagB', b: '*' },
      awaitDuration: 700,
    });
    await c.receive();
    await c.receive();
    expect(asked).toEqual([
      ['a', 0, 'TagA || TagB'],
      ['b', 700, undefined],
      ['b', 0, undefined],
      ['a', 700, 'TagA || TagB'],
    ]);
  });
});
