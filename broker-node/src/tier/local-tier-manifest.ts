/**
 * The TierManifest as JSON files in a folder, for `npm start`: one file per tiered segment,
 * `{dir}/{20-digit startOffset}.json`.
 *
 * The folder must lie OUTSIDE the broker's store folder (the caller passes the tier folder):
 * restoring a broker whose store folder was wiped is exactly what the manifest is for.
 *
 * A commit is atomic and durable once it resolves: temp file, fsync, link() to the entry's
 * name (which, unlike rename(), never replaces an entry), fsync of the folder. A crash
 * leaves no entry or the whole one; a leftover temp file (a dot file) is ignored by list().
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CirrusError } from '@cirrusmq/client/protocol';
import { syncDirectory } from '../store/mapped-file';
import { sameSegment, type TierManifest, type TieredSegment } from './tier-manifest';
import { checkSegment, fromRecord, segmentName, toRecord } from './tiered-segment-record';

const ENTRY = /^(\d{20})\.json$/;

export class LocalTierManifest implements TierManifest {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  async list(): Promise<TieredSegment[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      // No folder yet: nothing was ever committed here.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw unavailable(this.dir, e);
    }
    const entries = await Promise.all(
      names
        .filter((n) => ENTRY.test(n))
        .map(async (n) => {
          const file = path.join(this.dir, n);
          let text: string;
          try {
            text = await fs.readFile(file, 'utf8');
          } catch (e) {
            // Removed between readdir and read: it is simply no longer there.
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
            throw unavailable(file, e);
          }
          let raw: unknown;
          try {
            raw = JSON.parse(text);
          } catch (e) {
            throw new CirrusError('INTERNAL', `tier manifest entry ${file} is not JSON`, { cause: e });
          }
          const seg = fromRecord(raw, file);
          if (segmentName(seg.startOffset) !== ENTRY.exec(n)![1]) throw new CirrusError('INTERNAL', `tier manifest entry ${file} names another startOffset`);
          return seg;
        }),
    );
    return entries.filter((s): s is TieredSegment => s !== undefined).sort((a, b) => a.startOffset - b.startOffset);
  }

  async commit(segment: TieredSegment): Promise<void> {
    checkSegment(segment);
    const file = this.fileOf(segment.startOffset);
    const tmp = path.join(this.dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.mkdir(this.dir, { recursive: true });
      const fh = await fs.open(tmp, 'wx');
      try {
        await fh.writeFile(JSON.stringify(toRecord(segment), null, 2) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await fs.link(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const existing = fromRecord(JSON.parse(await fs.readFile(file, 'utf8')), file);
        if (!sameSegment(existing, segment)) throw entryConflict(file, existing, segment);
      }
      await fs.rm(tmp, { force: true });
      syncDirectory(this.dir);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => {});
      if (e instanceof CirrusError) throw e;
      throw unavailable(file, e);
    }
  }

  async remove(startOffset: number): Promise<void> {
    const file = this.fileOf(startOffset);
    try {
      await fs.rm(file, { force: true });
      // The removal must outlive a crash too, or a deleted segment comes back at restore.
      syncDirectory(this.dir);
    } catch (e) {
      throw unavailable(file, e);
    }
  }

  private fileOf(startOffset: number): string {
    return path.join(this.dir, `${segmentName(startOffset)}.json`);
  }
}

function entryConflict(where: string, existing: TieredSegment, wanted: TieredSegment): CirrusError {
  return new CirrusError(
    'TIER_OBJECT_CONFLICT',
    `tier manifest entry ${where} already names another segment (${existing.commitLogKey}, ${existing.objectSize} bytes, crc32 ${existing.crc32}; this commit: ${wanted.commitLogKey}, ${wanted.objectSize} bytes, crc32 ${wanted.crc32}); not replaced`,
  );
}

function unavailable(where: string, e: unknown): CirrusError {
  return new CirrusError('TIER_UNAVAILABLE', `local tier manifest ${where}: ${(e as Error).message}`, { cause: e });
}
