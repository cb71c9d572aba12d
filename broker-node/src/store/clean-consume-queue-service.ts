/**
 * After retention moved the CommitLog's minimum (RocketMQ's CleanConsumeQueueService):
 * ConsumeQueue files whose units all point below it are deleted and each queue's minimum
 * offset moves to its first unit still in the log; index files whose records all lie
 * below it are deleted. Never the last file of either: it keeps where the queue, or the
 * index, ends.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { ConsumeQueue } from './consume-queue';
import type { IndexService } from './index/index-service';

export class CleanConsumeQueueService {
  constructor(
    private readonly consumeQueues: () => Iterable<ConsumeQueue>,
    private readonly indexService: IndexService,
    private readonly logger: Logger,
  ) {}

  run(commitLogMinOffset: number): { consumeQueueFiles: number; indexFiles: number } {
    let consumeQueueFiles = 0;
    for (const cq of this.consumeQueues()) consumeQueueFiles += cq.deleteExpiredFile(commitLogMinOffset);
    const indexFiles = this.indexService.deleteExpiredFiles(commitLogMinOffset);
    if (consumeQueueFiles + indexFiles > 0) {
      this.logger.info('retention: deleted index files below the commitlog minimum', { commitLogMinOffset, consumeQueueFiles, indexFiles });
    }
    return { consumeQueueFiles, indexFiles };
  }
}
