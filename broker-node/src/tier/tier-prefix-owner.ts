/**
 * One broker per tier prefix. The first start writes an `owner` object at the prefix naming
 * {cluster, brokerName}, with the object store's no-replace put; later starts put the same
 * bytes again, which succeeds only while the marker names this broker. Two brokers given one
 * prefix (a hand-set or copied CIRRUSMQ_TIER_PREFIX, an old shared prefix) meet a marker
 * naming the other one, and the second refuses to start instead of writing segments over
 * the first one's. The marker holds no instance id on purpose: a broker restored under the
 * same name onto an empty disk must take its own prefix again.
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import type { ObjectStore } from './object-store';

export const OWNER_KEY = 'owner';

export interface PrefixOwner {
  clusterName: string;
  brokerName: string;
}

/** Deterministic bytes: a retried or repeated claim by the same broker is the same object. */
function ownerMarker(owner: PrefixOwner): Buffer {
  return Buffer.from(JSON.stringify({ cluster: owner.clusterName, brokerName: owner.brokerName }) + '\n');
}

/** Resolves when the prefix is this broker's; TIER_PREFIX_OWNED when its marker names another; TIER_UNAVAILABLE when the tier does not answer. */
export async function claimTierPrefix(store: ObjectStore, owner: PrefixOwner): Promise<void> {
  try {
    await store.putObject(OWNER_KEY, ownerMarker(owner));
  } catch (e) {
    if (!(e instanceof CirrusError && e.code === 'TIER_OBJECT_CONFLICT')) throw e;
    const holder = await store.getObject(OWNER_KEY).then(
      (b) => b.toString('utf8').trim().slice(0, 300),
      () => 'unreadable marker',
    );
    throw new CirrusError(
      'TIER_PREFIX_OWNED',
      `tier prefix ${store.location} belongs to ${holder}, not to {"cluster":"${owner.clusterName}","brokerName":"${owner.brokerName}"}: two brokers must never share a tier prefix (check CIRRUSMQ_TIER_PREFIX, CIRRUSMQ_CLUSTER, CIRRUSMQ_BROKER_NAME); not starting`,
      { cause: e, details: { location: store.location, owner: holder } },
    );
  }
}
