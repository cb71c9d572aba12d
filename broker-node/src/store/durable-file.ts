/**
 * A small file replaced whole so that a crash or a power loss leaves the old bytes or the
 * new ones, never an empty or torn file: written to a temp file, fsynced, renamed over the
 * old one, then the folder fsynced so the rename itself is durable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syncDirectory } from './mapped-file';

export function writeFileDurably(file: string, bytes: string | Buffer, mode?: number): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp`;
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    for (let done = 0; done < buf.length; ) done += fs.writeSync(fd, buf, done, buf.length - done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDirectory(dir);
}
