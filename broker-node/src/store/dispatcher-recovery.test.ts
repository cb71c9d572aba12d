import { describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useTempDir } from '../testing/store-fixture';
import { CommitLog } from './commit-log';
import { Dispatcher, type CommitLogDispatcher, type DispatchRequest } from './dispatcher';

const fx = useTempDir();

/** An index that records what it is given and skips what it holds, as each dispatcher must. */
class FakeIndex implements CommitLogDispatcher {
  readonly got: number[] = [];
  constructor(private progress: number | undefined) {}
  dispatch(req: DispatchRequest): void {
    if (this.progress !== undefined && req.commitLogOffset < this.progress) return;
    this.got.push(req.queueOffset);
    if (this.progress !== undefined) this.progress = req.commitLogOffset + req.size;
  }
  flush(): void {}
  maxPhysicalOffset?(): number;
}

describe('Dispatcher recovery', () => {
  it('reports the lowest progress of the indexes that have one, and replays to every registered dispatcher', () => {
    const log = new CommitLog(fx.dir, 1 << 20, silentLogger);
    log.load();
    log.recover();
    const offsets = Array.from({ length: 6 }, (_, i) => log.putMessages(makeBatch('T', 0, [`m${i}`]), i, 1).commitLogOffset);

    const cq = new FakeIndex(undefined); // a ConsumeQueue-like dispatcher: progress lives in the checkpoint
    const index = new FakeIndex(offsets[2]);
    index.maxPhysicalOffset = () => offsets[2]!;
    const dispatcher = new Dispatcher([cq], silentLogger);
    expect(dispatcher.minReportedOffset()).toBeUndefined();
    dispatcher.register(index);
    const late = new FakeIndex(offsets[4]);
    late.maxPhysicalOffset = () => offsets[4]!;
    dispatcher.register(late);
    expect(dispatcher.minReportedOffset()).toBe(offsets[2]);

    // The store replays from min(checkpoint, reported): here the index's offset.
    const reached = dispatcher.reput(log, dispatcher.minReportedOffset()!);
    expect(reached).toBe(log.getMaxOffset());
    expect(cq.got).toEqual([2, 3, 4, 5]);
    expect(index.got).toEqual([2, 3, 4, 5]);
    expect(late.got).toEqual([4, 5]); // skipped what it had
    log.shutdown();
  });
});
