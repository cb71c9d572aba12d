/**
 * Versioned objects in the tier: objects are never replaced (object-store.ts), so a value that
 * changes is kept as `{prefix}{20-digit version}` keys, the newest winning. Shared by the
 * deleted topics (tier-tombstones.ts) and the POP snapshot copies (consumer/pop-snapshot-tier.ts).
 * Twenty digits sort as text in number order and hold any safe integer.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { ObjectStore } from './object-store';

const DIGITS = 20;

export const versionedKey = (prefix: string, version: number): string => `${prefix}${String(version).padStart(DIGITS, '0')}`;

/** Stored versions under `prefix`, oldest first; keys of another shape are not ours and are left alone. */
export async function listVersions(store: Pick<ObjectStore, 'list'>, prefix: string): Promise<{ key: string; version: number }[]> {
  const out: { key: string; version: number }[] = [];
  for (const key of await store.list(prefix)) {
    const rest = key.slice(prefix.length);
    if (key.startsWith(prefix) && /^\d{20}$/.test(rest)) out.push({ key, version: Number(rest) });
  }
  return out.sort((a, b) => a.version - b.version);
}

/**
 * Older versions waiting to be deleted. Best effort: a failed delete keeps the keys for the
 * next round (a leftover costs bytes; the newest version still wins).
 */
export class StaleVersions {
  private readonly keys: string[] = [];

  constructor(
    private readonly store: Pick<ObjectStore, 'deleteObjects'>,
    private readonly logger: Logger,
    /** Names the objects in the warning, e.g. 'older pop snapshots'. */
    private readonly what: string,
  ) {}

  add(...keys: string[]): void {
    this.keys.push(...keys);
  }

  async delete(): Promise<void> {
    if (this.keys.length === 0) return;
    const keys = this.keys.splice(0);
    try {
      await this.store.deleteObjects(keys);
    } catch (err) {
      this.keys.push(...keys);
      this.logger.warn(`tier: could not delete ${this.what}; retried after the next copy`, { keys, err });
    }
  }
}
