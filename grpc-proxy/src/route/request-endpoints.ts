/**
 * The endpoints to hand back in routes: the ones the client put in its request (the address
 * it reached this proxy by, maybe a load balancer's), else this proxy's own listen address.
 */
import type { ProxyConfig } from '../config.js';
import type { Endpoints } from './message-queues.js';

export function requestEndpoints(requested: Endpoints | null | undefined, config: Pick<ProxyConfig, 'host' | 'port'>): Endpoints {
  if (requested && requested.addresses?.length > 0) {
    return { scheme: requested.scheme || 'IPv4', addresses: requested.addresses.map((a) => ({ host: a.host, port: a.port })) };
  }
  return { scheme: 'IPv4', addresses: [{ host: config.host, port: config.port }] };
}
