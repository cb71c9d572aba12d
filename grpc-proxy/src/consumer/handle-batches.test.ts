import { describe, expect, it } from 'vitest';
import { type AckResponse, RouteCache, type TopicRouteData } from '@cirrusmq/client/protocol';
import { entryStatus, overallStatus, settleByBroker } from './handle-batches.js';

const handleOf = (broker: string, n: number) => `v2.${broker}.h${n}`;

/** A route cache over a NameServer stub that knows one topic on broker-a and broker-b. */
function routes(): RouteCache {
  const route = {
    brokerDatas: ['broker-a', 'broker-b'].map((b) => ({ cluster: 'c', brokerName: b, brokerAddrs: { '0': `${b}:1` } })),
    queueDatas: ['broker-a', 'broker-b'].map((b) => ({ brokerName: b, readQueueNums: 4, writeQueueNums: 4, perm: 6 })),
  } as unknown as TopicRouteData;
  return new RouteCache({ getRouteInfoByTopic: async () => route } as never);
}

describe('settleByBroker', () => {
  it('makes one call per broker and 100 handles, and puts each outcome back in its place', async () => {
    const calls: { addr: string; n: number }[] = [];
    const handles = [
      handleOf('broker-a', 0),
      'garbage',
      handleOf('broker-b', 1),
      handleOf('broker-c', 2),
      ...Array.from({ length: 150 }, (_, i) => handleOf('broker-a', i + 3)),
    ];
    const out = await settleByBroker(routes(), 'Orders', handles, async (addr, chunk): Promise<AckResponse> => {
      calls.push({ addr, n: chunk.length });
      return {
        results: chunk.map((h) =>
          h === handleOf('broker-b', 1) ? { status: 'FAILED', error: { code: 'RECEIPT_HANDLE_EXPIRED', message: 'ended' } } : { status: 'OK' },
        ),
      };
    });
    expect(calls.sort((x, y) => x.addr.localeCompare(y.addr) || y.n - x.n)).toEqual([
      { addr: 'broker-a:1', n: 100 },
      { addr: 'broker-a:1', n: 51 },
      { addr: 'broker-b:1', n: 1 },
    ]);
    expect(out[0]!.code).toBe('OK');
    expect(out[1]!.code).toBe('INVALID_RECEIPT_HANDLE');
    expect(out[2]).toEqual({ code: 'INVALID_RECEIPT_HANDLE', message: 'ended' });
    expect(out[3]!.code).toBe('INVALID_RECEIPT_HANDLE');
    expect(out.slice(4).every((s) => s.code === 'OK')).toBe(true);
  });

  it('a broker call that fails fails its entries with the mapped code', async () => {
    const out = await settleByBroker(routes(), 'Orders', [handleOf('broker-a', 0)], async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    expect(out[0]!.code).toBe('INTERNAL_SERVER_ERROR');
  });
});

describe('overallStatus', () => {
  it('is OK when all are, the shared failure when all failed alike, MULTIPLE_RESULTS otherwise', () => {
    const ok = { code: 'OK' as const, message: 'OK' };
    const bad = { code: 'INVALID_RECEIPT_HANDLE' as const, message: 'x' };
    expect(overallStatus([ok, ok]).code).toBe('OK');
    expect(overallStatus([bad, bad]).code).toBe('INVALID_RECEIPT_HANDLE');
    expect(overallStatus([ok, bad]).code).toBe('MULTIPLE_RESULTS');
  });

  it('an unknown broker error code is an internal error naming it', () => {
    expect(entryStatus({ code: 'WHAT', message: 'm' })).toEqual({ code: 'INTERNAL_ERROR', message: 'WHAT: m' });
  });
});
