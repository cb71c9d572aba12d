import { describe, expect, it } from 'vitest';
import { formatMessageLine } from './format.js';

describe('cirrusmq read lines', () => {
  it('keeps each message on one tab-separated line, whatever its body holds', () => {
    const m = { queueOffset: 7, messageId: 'ID', tags: 'TagA', body: 'two\nlines\u0000\tand "quotes"', bodyEncoding: 'utf8' as const };
    const line = formatMessageLine(m);
    expect(line).toBe('7\tID\tTagA\t"two\\nlines\\u0000\\tand \\"quotes\\""');
    expect(line.split('\n')).toHaveLength(1);
    expect(JSON.parse(line.split('\t')[3]!)).toBe(m.body);
    expect(formatMessageLine({ ...m, tags: 'a b\nc' }).split('\t')[2]).toBe('"a b\\nc"');
    expect(formatMessageLine({ ...m, tags: undefined, body: '//8=', bodyEncoding: 'base64' })).toBe('7\tID\t-\tbase64://8=');
  });
});
