/**
 * The embedded store's durable half: topic config in one JSON file. Written whole to a
 * temp file, fsynced, then renamed over the old one, so a crash leaves either the old or
 * the new file, never a torn one.
 */
import path from 'node:path';
import { readVersionedList, writeFileAtomic } from './atomic-file';
import type { TopicBrokerRecord, TopicConfigRecord } from './route-records';

export interface StoredTopic {
  config: TopicConfigRecord;
  onBrokers: TopicBrokerRecord[];
}

interface FileShape {
  version: 1;
  topics: Array<TopicConfigRecord & { brokers: Array<Omit<TopicBrokerRecord, 'topic'>> }>;
}

export function topicFilePath(dataDir: string): string {
  return path.join(dataDir, 'nameserver', 'topics.json');
}

export async function loadTopicFile(file: string): Promise<StoredTopic[]> {
  const topics = await readVersionedList<FileShape['topics'][number]>(file, 'topic config', 'topics');
  return topics.map(({ brokers, ...config }) => ({
    config,
    onBrokers: brokers.map((b) => ({ ...b, topic: config.topic })),
  }));
}

export async function saveTopicFile(file: string, topics: readonly StoredTopic[]): Promise<void> {
  const shape: FileShape = {
    version: 1,
    topics: topics.map(({ config, onBrokers }) => ({
      ...config,
      brokers: onBrokers.map(({ topic: _topic, ...rest }) => rest),
    })),
  };
  await writeFileAtomic(file, JSON.stringify(shape, null, 2) + '\n');
}
