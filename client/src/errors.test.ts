import { describe, expect, it } from 'vitest';
import { CirrusError, ErrorCodes, errorFromBody } from './errors.js';

describe('CirrusError details', () => {
  it('answers details only when an error carries them', () => {
    expect(new CirrusError('TOPIC_NOT_FOUND', 'no').toJSON()).toEqual({ error: { code: 'TOPIC_NOT_FOUND', message: 'no' } });
    const e = new CirrusError('OFFSET_BELOW_MINIMUM', 'offset 3 is below the minimum 10', { details: { minOffset: 10 } });
    expect(e.status).toBe(404);
    expect(e.toJSON()).toEqual({ error: { code: 'OFFSET_BELOW_MINIMUM', message: 'offset 3 is below the minimum 10', details: { minOffset: 10 } } });
    expect(ErrorCodes.MESSAGE_NOT_FOUND.status).toBe(404);
  });

  it('survives a trip through JSON between processes', () => {
    const sent = new CirrusError('OFFSET_BELOW_MINIMUM', 'below', { details: { minOffset: 7 } });
    const back = errorFromBody(sent.status, JSON.parse(JSON.stringify(sent.toJSON())));
    expect(back).toMatchObject({ code: 'OFFSET_BELOW_MINIMUM', status: 404, details: { minOffset: 7 } });
    expect(errorFromBody(404, { error: { code: 'TOPIC_NOT_FOUND', message: 'x', details: 'junk' } }).details).toBeUndefined();
  });
});
