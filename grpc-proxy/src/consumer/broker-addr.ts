/** The master address of a topic's broker by name, from the route cache (refreshed once when the name is not in it: a broker that just joined). */
import type { RouteCache } from '@cirrusmq/client/protocol';

export async function brokerAddr(routes: RouteCache, topic: string, brokerName: string): Promise<string | undefined> {
  return (await routes.get(topic)).brokerAddrs.get(brokerName) ?? (await routes.refresh(topic)).brokerAddrs.get(brokerName);
}
