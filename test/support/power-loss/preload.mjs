/**
 * Loaded with `node --import` before tsx in a broker process under a power-loss test
 * (power-loss.ts): wraps node:fs with the file layer for the folders in
 * CIRRUSMQ_POWER_LOSS (JSON: {"roots":[{"dir": "...", "image": "..."}]}) and seeds their
 * durable images from what is on disk. Test support, so it reads its own variable.
 */
import fs from 'node:fs';
import { createFileLayer } from './file-layer.mjs';

const raw = process.env.CIRRUSMQ_POWER_LOSS;
if (raw) {
  const layer = createFileLayer(fs, JSON.parse(raw));
  // A process this one starts (a broker's tier uploader) inherits the variable below and
  // shares the images: seeding them again would copy this process's unsynced bytes into them.
  if (process.env.CIRRUSMQ_POWER_LOSS_SEEDED !== '1') {
    layer.seed();
    process.env.CIRRUSMQ_POWER_LOSS_SEEDED = '1';
  }
  layer.install();
}
