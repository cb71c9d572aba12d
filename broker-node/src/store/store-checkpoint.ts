/**
 * The store checkpoint (RocketMQ's StoreCheckpoint): how far the CommitLog is on disk and
 * how far the indexes built from it are, so recovery after a crash verifies only the tail
 * written since, and replays only what the indexes may have lost.
 *
 * {storeDir}/checkpoint is 1 KiB: two slots, one per 512-byte sector, written alternately.
 * Slot layout (big-endian):
 *
 *  offset size field
 *   0     4   MAGIC               CHECKPOINT_MAGIC
 *   4     4   VERSION             1
 *   8     8   SEQUENCE            +1 per write; the valid slot with the highest one wins
 *  16     8   PHYSIC_MSG_TIMESTAMP  store time of the last record under PHYSIC_OFFSET
 *  24     8   PHYSIC_OFFSET       CommitLog offset fdatasync'd: everything before it is on disk
 *  32     8   LOGICS_OFFSET       ConsumeQueue progress: units of every record before it are on disk
 *  40     8   INDEX_OFFSET        index progress: the same for the key/id index
 *  48     8   WRITTEN_AT          wall clock ms, for operators
 *  56     4   CRC                 zlib.crc32 of bytes [0, 56)
 *
 * Why a fixed record with its own CRC in two slots, not write-temp + fdatasync + rename:
 * a checkpoint is written after every flush round (every flushIntervalMs). Overwriting an
 * already-allocated sector then one fdatasync touches no metadata; a rename makes a new
 * inode and needs a directory fsync as well, a journal commit each time. A write torn by a
 * crash breaks at most the slot being written: its CRC fails and the other slot, one round
 * older, is used (older is safe: recovery only verifies and replays a little more).
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { readInt64, writeInt64 } from '@cirrusmq/client/protocol';
import { fsDataSync, syncDirectory, type DataSync } from './mapped-file';

export const CHECKPOINT_FILE = 'checkpoint';
export const CHECKPOINT_MAGIC = 0x434d5143 | 0; // "CMQC"
const VERSION = 1;
const SLOT_SIZE = 512;
const SLOTS = 2;

export const CheckpointField = {
  MAGIC: 0,
  VERSION: 4,
  SEQUENCE: 8,
  PHYSIC_MSG_TIMESTAMP: 16,
  PHYSIC_OFFSET: 24,
  LOGICS_OFFSET: 32,
  INDEX_OFFSET: 40,
  WRITTEN_AT: 48,
  CRC: 56,
} as const;
const RECORD_SIZE = CheckpointField.CRC + 4;

export interface CheckpointData {
  physicMsgTimestamp: number;
  physicOffset: number;
  logicsOffset: number;
  indexOffset: number;
}

export interface StoredCheckpoint extends CheckpointData {
  sequence: number;
  writtenAt: number;
}

export function encodeCheckpoint(buf: Buffer, pos: number, sequence: number, data: CheckpointData, writtenAt: number): void {
  buf.writeInt32BE(CHECKPOINT_MAGIC, pos + CheckpointField.MAGIC);
  buf.writeInt32BE(VERSION, pos + CheckpointField.VERSION);
  writeInt64(buf, sequence, pos + CheckpointField.SEQUENCE);
  writeInt64(buf, data.physicMsgTimestamp, pos + CheckpointField.PHYSIC_MSG_TIMESTAMP);
  writeInt64(buf, data.physicOffset, pos + CheckpointField.PHYSIC_OFFSET);
  writeInt64(buf, data.logicsOffset, pos + CheckpointField.LOGICS_OFFSET);
  writeInt64(buf, data.indexOffset, pos + CheckpointField.INDEX_OFFSET);
  writeInt64(buf, writtenAt, pos + CheckpointField.WRITTEN_AT);
  buf.writeUInt32BE(crc32(buf.subarray(pos, pos + CheckpointField.CRC)), pos + CheckpointField.CRC);
}

/** The slot at `pos`, or undefined when it was never written, is torn, or is garbage. */
export function decodeCheckpoint(buf: Buffer, pos: number): StoredCheckpoint | undefined {
  if (buf.length < pos + RECORD_SIZE) return undefined;
  if (buf.readInt32BE(pos + CheckpointField.MAGIC) !== CHECKPOINT_MAGIC) return undefined;
  if (buf.readInt32BE(pos + CheckpointField.VERSION) !== VERSION) return undefined;
  if (buf.readUInt32BE(pos + CheckpointField.CRC) !== crc32(buf.subarray(pos, pos + CheckpointField.CRC))) return undefined;
  return {
    sequence: readInt64(buf, pos + CheckpointField.SEQUENCE),
    physicMsgTimestamp: readInt64(buf, pos + CheckpointField.PHYSIC_MSG_TIMESTAMP),
    physicOffset: readInt64(buf, pos + CheckpointField.PHYSIC_OFFSET),
    logicsOffset: readInt64(buf, pos + CheckpointField.LOGICS_OFFSET),
    indexOffset: readInt64(buf, pos + CheckpointField.INDEX_OFFSET),
    writtenAt: readInt64(buf, pos + CheckpointField.WRITTEN_AT),
  };
}

export class StoreCheckpoint {
  readonly fileName: string;
  private fd = -1;
  private sequence = 0;
  private readonly slot = Buffer.alloc(RECORD_SIZE);
  private writing: Promise<void> | undefined;
  private atOpen: { checkpoint: StoredCheckpoint | undefined } | undefined;

  /** Reads nothing: the broker constructs its store before it holds the store folder's lock. */
  constructor(
    storeDir: string,
    private readonly dataSync: DataSync = fsDataSync,
  ) {
    this.fileName = path.join(storeDir, CHECKPOINT_FILE);
  }

  /** What recovery found at open (undefined: missing, or both slots bad); read on first use. */
  get loaded(): StoredCheckpoint | undefined {
    if (!this.atOpen) {
      this.atOpen = { checkpoint: readCheckpointFile(this.fileName) };
      this.sequence = Math.max(this.sequence, this.atOpen.checkpoint?.sequence ?? 0);
    }
    return this.atOpen.checkpoint;
  }

  private open(): number {
    if (this.fd < 0) {
      const created = !fs.existsSync(this.fileName);
      this.fd = fs.openSync(this.fileName, created ? 'w+' : 'r+');
      if (created) {
        fs.ftruncateSync(this.fd, SLOT_SIZE * SLOTS);
        fs.fsyncSync(this.fd);
        syncDirectory(path.dirname(this.fileName));
      }
    }
    return this.fd;
  }

  /** Writes the next slot and fdatasyncs it; one write at a time (a caller during one waits for it, then writes). */
  async write(data: CheckpointData): Promise<void> {
    while (this.writing) await this.writing;
    void this.loaded; // the sequence continues the file's
    const seq = ++this.sequence;
    encodeCheckpoint(this.slot, 0, seq, data, Date.now());
    const fd = this.open();
    fs.writeSync(fd, this.slot, 0, RECORD_SIZE, (seq % SLOTS) * SLOT_SIZE);
    this.writing = this.dataSync(fd).finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  /** The same, synchronously (shutdown). */
  writeSync(data: CheckpointData): void {
    void this.loaded;
    const seq = ++this.sequence;
    encodeCheckpoint(this.slot, 0, seq, data, Date.now());
    const fd = this.open();
    fs.writeSync(fd, this.slot, 0, RECORD_SIZE, (seq % SLOTS) * SLOT_SIZE);
    fs.fdatasyncSync(fd);
  }

  /** The newest valid checkpoint on disk now. */
  read(): StoredCheckpoint | undefined {
    return readCheckpointFile(this.fileName);
  }

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** The valid slot with the highest sequence, or undefined. */
export function readCheckpointFile(fileName: string): StoredCheckpoint | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(fileName);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let best: StoredCheckpoint | undefined;
  for (let i = 0; i < SLOTS; i++) {
    const c = decodeCheckpoint(buf, i * SLOT_SIZE);
    if (c && (!best || c.sequence > best.sequence)) best = c;
  }
  return best;
}
