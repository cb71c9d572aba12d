/**
 * The broker's side of the uploader process (segment-upload-process.ts): started at the first
 * upload, started again after it died (the upload in flight then fails and is retried by
 * TierUploadService), stopped by close(). The process's ObjectStore request counts are added
 * to the broker's store's, so /metrics counts the uploads' requests as before.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CirrusError, type ErrorCode, ErrorCodes, type Logger } from '@cirrusmq/client/protocol';
import type { ObjectStore, ObjectStoreRequestCounts } from './object-store';
import type { ObjectStoreSpec } from './object-store-spec';
import type { SealedSegment, SegmentUploadResult } from './segment-upload';
import type { UploaderReply, UploaderRequest } from './segment-upload-process';
import type { SegmentUploader } from './segment-uploader';

/** From TypeScript source (tests, `npm start`) through tsx; in the broker's bundle, its sibling file (broker-node/docker/build.mjs). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? './segment-upload-process.ts' : './segment-upload-process.mjs', import.meta.url));
const EXEC_ARGV = FROM_SOURCE ? ['--conditions=cirrusmq-source', '--import', 'tsx'] : [];

interface InFlight {
  id: number;
  resolve(result: SegmentUploadResult): void;
  reject(e: Error): void;
}

export class ProcessSegmentUploader implements SegmentUploader {
  private child: ChildProcess | undefined;
  private inFlight: InFlight | undefined;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly spec: ObjectStoreSpec,
    /** 0 (the broker's own priority) to 19 (the lowest). */
    private readonly nice: number,
    /** The broker's store: the process's request counts are added to it. */
    private readonly objectStore: ObjectStore,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.closed && !this.child) this.spawn();
  }

  /** The uploader process's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  upload(segment: SealedSegment, spillDir: string, bytesPerSec: number): Promise<SegmentUploadResult> {
    if (this.closed) return Promise.reject(new CirrusError('TIER_UNAVAILABLE', 'the uploader is closed'));
    if (this.inFlight) return Promise.reject(new CirrusError('INTERNAL', 'an upload is already in flight'));
    const child = this.child ?? this.spawn();
    const id = this.nextId++;
    return new Promise<SegmentUploadResult>((resolve, reject) => {
      this.inFlight = { id, resolve, reject };
      this.post(child, { type: 'upload', id, segment, spillDir, bytesPerSec });
    });
  }

  setRate(bytesPerSec: number): void {
    if (this.child && this.inFlight) this.post(this.child, { type: 'rate', bytesPerSec });
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // The channel's close is the process's signal to exit (it exits the same way when the broker is killed).
    if (child.connected) child.disconnect();
    else child.kill('SIGKILL');
    await exited;
  }

  private spawn(): ChildProcess {
    const child = fork(ENTRY, [], { execArgv: EXEC_ARGV, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    // Its start (loading its modules) runs at the broker's priority, and only then does it lower
    // every thread of its own (segment-upload-process.ts, at init): at nice 10 beside two busy
    // processes, the start alone took 6–8 s instead of 1.2–1.5 (from source), and a broker's
    // first seal could wait that long. The process starts with the broker, before its traffic.
    child.on('message', (m: UploaderReply) => this.onReply(m));
    child.on('error', (err) => this.logger.warn('tier: uploader process error', { err }));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const lost = this.inFlight;
      this.inFlight = undefined;
      if (!this.closed) this.logger.warn('tier: the uploader process exited', { code, signal, uploading: lost !== undefined });
      lost?.reject(new CirrusError('TIER_UNAVAILABLE', `the uploader process exited (${signal ?? `code ${code}`}) during an upload`));
    });
    this.post(child, { type: 'init', spec: this.spec, nice: this.nice });
    return child;
  }

  private post(child: ChildProcess, m: UploaderRequest): void {
    // A failed send means the process is gone: its exit event fails the upload in flight.
    child.send(m, (err) => {
      if (err) this.logger.warn('tier: message to the uploader process failed', { err });
    });
  }

  private onReply(m: UploaderReply): void {
    addCounts(this.objectStore.requestCounts, m.counts);
    const f = this.inFlight;
    if (!f || f.id !== m.id) return;
    this.inFlight = undefined;
    if (m.type === 'done') f.resolve(m.result);
    else f.reject(toError(m.error));
  }
}

function addCounts(into: ObjectStoreRequestCounts, add: ObjectStoreRequestCounts): void {
  into.put += add.put;
  into.uploadPart += add.uploadPart;
  into.get += add.get;
  into.list += add.list;
  into.delete += add.delete;
  into.errors += add.errors;
}

/** The process's error as the inline upload would have thrown it: a CirrusError keeps its code (TIER_OBJECT_CONFLICT halts uploads). */
function toError(e: { code?: string; message: string }): Error {
  if (e.code && e.code in ErrorCodes) return new CirrusError(e.code as ErrorCode, e.message);
  return new Error(e.message);
}
