/** The embedded store's consumer groups: one JSON file beside topics.json, written atomically. */
import path from 'node:path';
import type { SubscriptionGroupConfig } from '@cirrusmq/client/protocol';
import { readVersionedList, writeFileAtomic } from './atomic-file';

interface FileShape {
  version: 1;
  groups: SubscriptionGroupConfig[];
}

export function groupFilePath(dataDir: string): string {
  return path.join(dataDir, 'nameserver', 'groups.json');
}

export function loadGroupFile(file: string): Promise<SubscriptionGroupConfig[]> {
  return readVersionedList<SubscriptionGroupConfig>(file, 'group config', 'groups');
}

export async function saveGroupFile(file: string, groups: readonly SubscriptionGroupConfig[]): Promise<void> {
  const shape: FileShape = { version: 1, groups: [...groups] };
  await writeFileAtomic(file, JSON.stringify(shape, null, 2) + '\n');
}
