import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/free-port';
import { LauncherError } from './launcher-error';
import { assertPortsFree } from './port-check';

function listen(port: number, host?: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port, host }, () => resolve(srv));
  });
}

describe('assertPortsFree', () => {
  it('passes free ports and leaves them free', async () => {
    const ports = [await freePort(), await freePort()];
    await assertPortsFree('127.0.0.1', [
      { name: 'nameserver', port: ports[0]! },
      { name: 'gateway', port: ports[1]! },
    ]);
    const srv = await listen(ports[0]!, '127.0.0.1');
    srv.close();
  });

  it('names the taken port and its process, on 127.0.0.1 and on all interfaces', async () => {
    for (const host of ['127.0.0.1', undefined]) {
      const port = await freePort();
      const srv = await listen(port, host);
      try {
        const err = await assertPortsFree('127.0.0.1', [{ name: 'gateway', port }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LauncherError);
        expect(err).toMatchObject({ code: 'PORT_IN_USE', message: `port ${port} (gateway) is in use: is a cluster already running?` });
      } finally {
        srv.close();
      }
    }
  });

  it('refuses one port given to two processes', async () => {
    const port = await freePort();
    await expect(
      assertPortsFree('127.0.0.1', [
        { name: 'broker-a', port },
        { name: 'broker-b', port },
      ]),
    ).rejects.toMatchObject({ code: 'PORT_CONFLICT', message: `port ${port} is given to both broker-a and broker-b` });
  });
});
