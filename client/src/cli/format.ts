/** Left-aligned columns for the CLI's tables. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * One read message on one line: offset, id, tag, then the body as a JSON string (newlines,
 * NULs and tabs escaped, so each message stays one line a script can split on tabs), or
 * "base64:" and the body for a binary one.
 */
export function formatMessageLine(m: { queueOffset: number; messageId: string; tags?: string; body: string; bodyEncoding: 'utf8' | 'base64' }): string {
  const tag = m.tags === undefined ? '-' : /^[\x21-\x7e]+$/.test(m.tags) ? m.tags : JSON.stringify(m.tags);
  const body = m.bodyEncoding === 'utf8' ? JSON.stringify(m.body) : `base64:${m.body}`;
  return `${m.queueOffset}\t${m.messageId}\t${tag}\t${body}`;
}
