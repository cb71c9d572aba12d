/** The embedded store's consumer groups: one JSON file beside topics.json, written atomically. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SubscriptionGroupConfig } from '@cirrusmq/client/protocol';
import { writeFileAtomic } from './atomic-file';

interface FileShape {
  version: 1;
  groups: SubscriptionGroupConfig[];
}

export function groupFilePath(dataDir: string): string {
  return path.join(dataDir, 'nameserver', 'groups.json');
}

export async function loadGroupFile(file: string): Promise<SubscriptionGroupConfig[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let parsed: FileShape;
  try {
    parsed = JSON.parse(text) as FileShape;
  } catch (e) {
    throw new Error(`group config file ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.groups)) {
    throw new Error(`group config file ${file} has an unknown layout (expected version 1)`);
  }
  return parsed.groups;
}

export async function saveGroupFile(file: string, groups: readonly SubscriptionGroupConfig[]): Promise<void> {
  const shape: FileShape = { version: 1, groups: [...groups] };
  await writeFileAtomic(file, JSON.stringify(shape, null, 2) + '\n');
}
