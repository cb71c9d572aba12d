import { describe, expect, it } from 'vitest';
import { MAX_TOPIC_SERIES, OTHER_TOPICS, TopicSeries } from './topic-series';

describe('TopicSeries', () => {
  it('keeps the first MAX_TOPIC_SERIES topics apart and counts the later ones under OTHER_TOPICS', () => {
    const s = new TopicSeries();
    for (let i = 0; i < MAX_TOPIC_SERIES + 2; i++) s.counts(`T${i}`).messages += 1;
    s.counts('T0').bytes += 5;
    s.counts(`T${MAX_TOPIC_SERIES + 1}`).bytes += 7;
    const all = new Map(s);
    expect(all.size).toBe(MAX_TOPIC_SERIES + 1);
    expect(all.get('T0')).toEqual({ messages: 1, bytes: 5 });
    expect(all.get(`T${MAX_TOPIC_SERIES - 1}`)).toEqual({ messages: 1, bytes: 0 });
    expect(all.get(OTHER_TOPICS)).toEqual({ messages: 2, bytes: 7 });
  });
});
