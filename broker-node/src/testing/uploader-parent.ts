/**
 * A stand-in broker for process-segment-uploader.test.ts: starts a ProcessSegmentUploader
 * over the local tier folder given as argv[2], prints the uploader process's pid, and waits
 * to be killed.
 */
import { silentLogger } from '@cirrusmq/client/protocol';
import { LocalObjectStore } from '../tier/local-object-store';
import { ProcessSegmentUploader } from '../tier/process-segment-uploader';

const dir = process.argv[2]!;
const uploader = new ProcessSegmentUploader({ kind: 'local', dir, prefix: 'C/b/' }, 10, new LocalObjectStore(dir, 'C/b/'), silentLogger);
uploader.start();
process.stdout.write(`${uploader.pid}\n`);
setInterval(() => {}, 60_000);
