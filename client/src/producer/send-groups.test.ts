import { describe, expect, it } from 'vitest';
import { sendGroupsOf } from './send-groups.js';

describe('sendGroupsOf', () => {
  it('keeps a plain batch whole', () => {
    expect(sendGroupsOf([{}, {}, {}])).toEqual([{ shardingKey: undefined, indexes: [0, 1, 2] }]);
  });

  it("groups by sharding key in order, and scheduled messages apart from plain ones (their offsets are another queue's)", () => {
    const groups = sendGroupsOf([
      {},
      { delaySeconds: 5 },
      { shardingKey: 'a' },
      {},
      { shardingKey: 'a', deliverAt: 1 },
      { delayTimeLevel: 2 },
      { shardingKey: 'a' },
    ]);
    expect(groups).toEqual([
      { shardingKey: undefined, indexes: [0, 3] },
      { shardingKey: undefined, indexes: [1, 5] },
      { shardingKey: 'a', indexes: [2, 6] },
      { shardingKey: 'a', indexes: [4] },
    ]);
  });
});
