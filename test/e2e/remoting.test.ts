/**
 * Remoting against a broker process: long polls and calls in flight on one connection when the
 * broker is SIGKILLed all fail BROKER_UNAVAILABLE (retriable) at once rather than at their
 * timeouts; once the broker is back the next call reconnects over remoting. A broker's graceful
 * stop (SIGTERM) answers a parked long poll before its connection closes.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { BrokerClient, CirrusError, NameServerClient, type PopRequest } from '@cirrusmq/client/protocol';
import { waitFor } from '../../infra/local/wait-for';
import { sample } from '../support/prometheus-text';
import { type SingleBroker, singleBrokerProcs } from '../support/single-broker';

let env: SingleBroker | undefined;

afterAll(async () => {
  await env?.broker.stop('SIGKILL');
  await env?.nameServer.stop('SIGTERM');
  if (env) fs.rmSync(env.dataDir, { recursive: true, force: true });
});

const parked = async (brokerAddr: string) =>
  sample(await (await fetch(`http://${brokerAddr}/metrics`)).text(), 'cirrusmq_broker_pop_parked_receives', { broker: 'broker-a' }) ?? 0;

const poll: PopRequest = { topic: 'Remote', group: 'g', max: 32, invisibleMs: 30_000, waitMs: 15_000 };

describe('remoting to a broker process', () => {
  it('SIGKILL fails every call in flight at once (BROKER_UNAVAILABLE); the next call after the restart reconnects; SIGTERM answers a parked poll', async () => {
    env = await singleBrokerProcs('cirrusmq-remoting-', {});
    await env.nameServer.start();
    await env.broker.start();
    const ns = new NameServerClient(env.nsAddr);
    const client = new BrokerClient(env.brokerAddr);
    try {
      await waitFor('broker registered', 30_000, async () => (await ns.getCluster()).some((b) => b.alive));
      await ns.createTopic({ topic: 'Remote', queues: 2 });
      await waitFor('topic on the broker', 30_000, async () =>
        client.progress('Remote', 'g').then(
          () => true,
          () => false,
        ),
      );
      expect(client.transport()).toBe('remoting');

      const polls = Array.from({ length: 3 }, () => client.pop(poll, 'broker-a').catch((e: unknown) => e));
      await waitFor('three parked polls', 10_000, async () => (await parked(env!.brokerAddr)) === 3);
      const t0 = Date.now();
      await env.broker.stop('SIGKILL');
      const errors = await Promise.all(polls);
      // Far below the polls' 15 s wait: the closed connection fails them, no timeout does.
      expect(Date.now() - t0).toBeLessThan(5_000);
      for (const e of errors) {
        expect(e).toBeInstanceOf(CirrusError);
        expect((e as CirrusError).code).toBe('BROKER_UNAVAILABLE');
        expect((e as CirrusError).retriable).toBe(true);
      }
      const down = await client.progress('Remote', 'g').catch((e: unknown) => e);
      expect((down as CirrusError).code).toBe('BROKER_UNAVAILABLE');

      await env.broker.start();
      await waitFor('the broker answers again', 30_000, async () =>
        client.progress('Remote', 'g').then(
          () => true,
          () => false,
        ),
      );
      expect(client.transport()).toBe('remoting');

      // A graceful stop: the parked poll is answered (empty), not cut.
      const last = client.pop(poll, 'broker-a').catch((e: unknown) => e);
      await waitFor('parked again', 10_000, async () => (await parked(env!.brokerAddr)) === 1);
      await env.broker.stop('SIGTERM');
      expect(await last).toEqual([]);
    } finally {
      client.close();
      ns.close();
    }
  });
});
