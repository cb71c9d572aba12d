import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ClientSessions } from './client-sessions';

const stream = () => ({}) as grpc.ServerDuplexStream<any, any>;

describe('ClientSessions', () => {
  it('keeps a client from its settings until its Telemetry stream ends or it says it terminates', () => {
    const sessions = new ClientSessions();
    const s1 = stream();
    sessions.upsert('c1', { kind: 'PRODUCER', settings: {}, topics: ['t'] }, s1);
    sessions.upsert('c2', { kind: 'SIMPLE_CONSUMER', settings: {}, group: 'g', topics: [] }, stream());
    expect(sessions.size).toBe(2);
    // Settings re-sent on the same stream keep it; another client's stream ending does not touch this one.
    sessions.upsert('c1', { kind: 'PRODUCER', settings: { again: true }, topics: ['t', 'u'] });
    expect(sessions.get('c1')!.stream).toBe(s1);
    sessions.detachStream('c1', stream());
    expect(sessions.get('c1')!.topics).toEqual(['t', 'u']);
    sessions.detachStream('c1', s1);
    expect(sessions.get('c1')).toBeUndefined();
    sessions.remove('c2');
    expect(sessions.size).toBe(0);
  });

  it('does not drop a client that reconnected when its old stream ends late', () => {
    const sessions = new ClientSessions();
    const old = stream();
    const renewed = stream();
    sessions.upsert('c', { kind: 'PRODUCER', settings: {}, topics: [] }, old);
    sessions.upsert('c', { kind: 'PRODUCER', settings: {}, topics: [] }, renewed);
    sessions.detachStream('c', old);
    expect(sessions.get('c')!.stream).toBe(renewed);
  });
});
