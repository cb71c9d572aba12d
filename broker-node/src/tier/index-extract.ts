/**
 * The key index entries of one CommitLog segment, uploaded beside it (`index/{offset}`) so a
 * broker restored on an empty disk finds tiered messages by key and by id without reading
 * the tiered log: 20 bytes per key (UNIQ_KEY included) instead of the message.
 *
 *   HEADER:  MAGIC (4) | ENTRYCOUNT (4) | BLOCKENTRIES (4) | CRC (4, of the 12 bytes before)
 *   blocks:  BLOCKENTRIES entries (fewer in the last) | CRC (4, of the block's entries)
 *   entry:   KEYHASH (4, indexKeyHash as IndexService stores it) | PHYOFFSET (8) | STORETIMESTAMP (8)
 *
 * A record's entries are consecutive, records in log order. Blocks bound memory on both
 * sides for a 1 GiB segment of small messages (~7M records, ~140 MB of entries): the
 * uploader writes a block at a time to a spill file and uploads the file; the restore reads
 * a few blocks per ranged GET and checks each block's CRC before it inserts any entry of it,
 * so a damaged object stops at a block boundary and the rest is rebuilt from the segment.
 */
import type { FileHandle } from 'node:fs/promises';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { CirrusError, Field, readInt64, type RecordShape, writeInt64 } from '@cirrusmq/client/protocol';
import { continueJavaHashBytes, RecordDispatchRequest } from '../store/dispatch-request';
import type { IndexService } from '../store/index/index-service';
import { recordIndexHashes } from '../store/index/index-service';
import { continueJavaHash } from '../store/index/index-file';
import type { ObjectStore } from './object-store';

const INDEX_EXTRACT_MAGIC = 0x49445831; // "IDX1"
const INDEX_EXTRACT_HEADER_SIZE = 16;
const INDEX_EXTRACT_ENTRY_SIZE = 20;
/** 1.25 MiB of entries per block. */
const INDEX_EXTRACT_BLOCK_ENTRIES = 65_536;
/** A header asking for more is damaged. */
const MAX_BLOCK_ENTRIES = 1 << 20;
/** Blocks fetched per ranged GET at restore (~5 MiB). */
const BLOCKS_PER_GET = 4;

/** The key hashes of one stored record, from its bytes (no strings for ASCII keys). */
export class RecordKeyHasher {
  private readonly request = new RecordDispatchRequest();
  readonly hashes: number[] = [];

  /** Fills `hashes` for the record at `pos`; returns how many. */
  hash(buf: Buffer, shape: RecordShape): number {
    // "{topic}#" hashed from the topic's bytes (topic names are ASCII).
    const prefix = continueJavaHash(continueJavaHashBytes(0, buf, shape.topicStart, shape.topicStart + shape.topicLength), '#');
    this.request.readProperties(buf, shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
    recordIndexHashes(this.request, prefix, this.hashes);
    return this.hashes.length;
  }
}

/** Builds a segment's index extract in a spill file, one block in memory (a SegmentRecordVisitor). */
export class IndexExtractWriter {
  private readonly hasher = new RecordKeyHasher();
  private readonly block: Buffer;
  private inBlock = 0;
  private fileBytes = INDEX_EXTRACT_HEADER_SIZE;
  entries = 0;

  private constructor(
    readonly filePath: string,
    private readonly fh: FileHandle,
    private readonly blockEntries: number,
  ) {
    this.block = Buffer.allocUnsafe(blockEntries * INDEX_EXTRACT_ENTRY_SIZE + 4);
  }

  /** `blockEntries` other than the default: tests of extracts of many blocks. */
  static async create(filePath: string, blockEntries = INDEX_EXTRACT_BLOCK_ENTRIES): Promise<IndexExtractWriter> {
    await fsp.mkdir(path.dirname(filePath), { recursive: true });
    return new IndexExtractWriter(filePath, await fsp.open(filePath, 'w'), blockEntries);
  }

  /** Adds the entries of one verified record; a promise when a full block has to be written first. */
  add(buf: Buffer, pos: number, shape: RecordShape, physicalOffset: number): Promise<void> | undefined {
    const n = this.hasher.hash(buf, shape);
    if (n === 0) return undefined;
    const storeTimestamp = readInt64(buf, pos + Field.STORETIMESTAMP);
    if (this.inBlock + n <= this.blockEntries) {
      for (let i = 0; i < n; i++) this.put(this.hasher.hashes[i]!, physicalOffset, storeTimestamp);
      return undefined;
    }
    // Rare: the record's entries cross a block boundary. The hashes are copied: the next record reuses the array.
    const hashes = this.hasher.hashes.slice(0, n);
    return (async () => {
      for (const h of hashes) {
        if (this.inBlock === this.blockEntries) await this.writeBlock();
        this.put(h, physicalOffset, storeTimestamp);
      }
    })();
  }

  private put(keyHash: number, physicalOffset: number, storeTimestamp: number): void {
    const at = this.inBlock * INDEX_EXTRACT_ENTRY_SIZE;
    this.block.writeInt32BE(keyHash, at);
    writeInt64(this.block, physicalOffset, at + 4);
    writeInt64(this.block, storeTimestamp, at + 12);
    this.inBlock++;
    this.entries++;
  }

  private async writeBlock(): Promise<void> {
    if (this.inBlock === 0) return;
    const bytes = this.inBlock * INDEX_EXTRACT_ENTRY_SIZE;
    this.block.writeUInt32BE(crc32(this.block.subarray(0, bytes)), bytes);
    await writeAll(this.fh, this.block, bytes + 4, this.fileBytes);
    this.fileBytes += bytes + 4;
    this.inBlock = 0;
  }

  /** Writes the last block and the header; the file is then the object to upload. Returns its size. */
  async finish(): Promise<number> {
    await this.writeBlock();
    const header = Buffer.alloc(INDEX_EXTRACT_HEADER_SIZE);
    header.writeUInt32BE(INDEX_EXTRACT_MAGIC, 0);
    header.writeUInt32BE(this.entries, 4);
    header.writeUInt32BE(this.blockEntries, 8);
    header.writeUInt32BE(crc32(header.subarray(0, 12)), 12);
    await writeAll(this.fh, header, header.length, 0);
    await this.fh.close();
    return this.fileBytes;
  }

  /** Closes and removes the spill file (after the upload, or after a failure). */
  async discard(): Promise<void> {
    await this.fh.close().catch(() => {});
    await fsp.rm(this.filePath, { force: true });
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await fh.write(buf, done, length - done, position + done);
    done += bytesWritten;
  }
}

export interface IndexExtractReplay {
  entries: number;
  records: number;
}

/** An index extract that does not check out (magic, CRC, an entry outside its segment). */
export class IndexExtractDamagedError extends CirrusError {
  constructor(key: string, why: string) {
    super('INTERNAL', `index extract ${key} is damaged: ${why}`);
  }
}

const damaged = (key: string, why: string) => new IndexExtractDamagedError(key, why);

/** Whether an error from replayIndexExtract means the segment has no index extract (uploaded before they existed). */
export function isMissingExtract(err: unknown): boolean {
  return err instanceof CirrusError && err.code === 'TIER_OBJECT_NOT_FOUND';
}

/**
 * Inserts the entries of the segment [startOffset, endOffset)'s index extract into `index`,
 * block by block, each block checked before any of its entries goes in. Throws
 * TIER_OBJECT_NOT_FOUND when there is none (a segment uploaded before index extracts
 * existed), IndexExtractDamagedError when it is damaged: the entries of the good blocks
 * before stay, and the caller rebuilds the rest from the segment.
 */
export async function replayIndexExtract(
  store: ObjectStore,
  key: string,
  startOffset: number,
  endOffset: number,
  index: IndexService,
): Promise<IndexExtractReplay> {
  // The first GET takes the header and, with the usual block size, the first blocks too.
  const first = await store.getRange(key, 0, INDEX_EXTRACT_HEADER_SIZE + BLOCKS_PER_GET * (INDEX_EXTRACT_BLOCK_ENTRIES * INDEX_EXTRACT_ENTRY_SIZE + 4));
  if (first.length < INDEX_EXTRACT_HEADER_SIZE || first.readUInt32BE(0) !== INDEX_EXTRACT_MAGIC) throw damaged(key, 'bad magic');
  if (first.readUInt32BE(12) !== crc32(first.subarray(0, 12))) throw damaged(key, 'header CRC mismatch');
  const total = first.readUInt32BE(4);
  const blockEntries = first.readUInt32BE(8);
  if (blockEntries < 1 || blockEntries > MAX_BLOCK_ENTRIES) throw damaged(key, `block of ${blockEntries} entries`);
  const blocks = Math.ceil(total / blockEntries);
  const blockAt = (i: number) => INDEX_EXTRACT_HEADER_SIZE + i * (blockEntries * INDEX_EXTRACT_ENTRY_SIZE + 4);
  const blockSize = (i: number) => Math.min(blockEntries, total - i * blockEntries) * INDEX_EXTRACT_ENTRY_SIZE + 4;
  const objectEnd = blocks === 0 ? INDEX_EXTRACT_HEADER_SIZE : blockAt(blocks - 1) + blockSize(blocks - 1);
  /** Blocks i.. up to BLOCKS_PER_GET of them, in one ranged GET. */
  const fetchFrom = (i: number) => store.getRange(key, blockAt(i), Math.min(objectEnd, blockAt(i + BLOCKS_PER_GET)));

  const hashes: number[] = [];
  let record = -1;
  let recordTimestamp = 0;
  const result: IndexExtractReplay = { entries: 0, records: 0 };
  const endRecord = () => {
    if (record < 0) return;
    index.restoreRecord(hashes, record, recordTimestamp);
    result.records++;
    hashes.length = 0;
  };

  let buf = first;
  let bufPos = 0; // object position of buf[0]
  let next: { block: number; bytes: Promise<Buffer> } | undefined;
  const holds = (i: number) => blockAt(i) >= bufPos && blockAt(i) + blockSize(i) <= bufPos + buf.length;
  for (let b = 0; b < blocks; b++) {
    if (!holds(b)) {
      buf = next?.block === b ? await next.bytes : await fetchFrom(b);
      bufPos = blockAt(b);
      next = undefined;
      if (!holds(b)) throw damaged(key, 'shorter than its entry count');
    }
    // The next run is fetched while this block is applied.
    if (b + 1 < blocks && !holds(b + 1) && !next) {
      next = { block: b + 1, bytes: fetchFrom(b + 1) };
      next.bytes.catch(() => {}); // awaited when needed; an early failure must not be unhandled
    }
    const at0 = blockAt(b) - bufPos;
    const size = blockSize(b) - 4;
    if (buf.readUInt32BE(at0 + size) !== crc32(buf.subarray(at0, at0 + size))) throw damaged(key, `block ${b} CRC mismatch`);
    for (let at = at0; at < at0 + size; at += INDEX_EXTRACT_ENTRY_SIZE) {
      const phy = readInt64(buf, at + 4);
      if (phy < startOffset || phy >= endOffset || phy < record) throw damaged(key, `an entry of block ${b} points at ${phy}`);
      if (phy !== record) {
        endRecord();
        record = phy;
        recordTimestamp = readInt64(buf, at + 12);
      }
      hashes.push(buf.readInt32BE(at));
      result.entries++;
    }
    index.flush();
  }
  endRecord();
  return result;
}
