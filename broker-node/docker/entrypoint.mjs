/**
 * The broker container's entrypoint (broker-node/Dockerfile runs `node entrypoint.mjs`).
 *
 * A broker advertises "host:port" to the NameServer, and producers dial that address. On ECS
 * the host is the task's private IP, known only once the task runs: when CIRRUSMQ_BROKER_HOST
 * is not set, this reads it from the ECS task metadata endpoint (v4), then loads the broker
 * (broker.mjs, beside this file) in this same process, so signals reach it directly.
 * Outside ECS (no metadata endpoint) the broker's own default applies.
 */
const metadataUri = process.env.ECS_CONTAINER_METADATA_URI_V4;

function log(level, msg, fields = {}) {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, msg, service: 'broker-entrypoint', ...fields }) + '\n');
}

if (!process.env.CIRRUSMQ_BROKER_HOST && metadataUri) {
  let host;
  let lastError;
  // The endpoint answers at once in practice; retry briefly in case the task network is late.
  for (let attempt = 1; attempt <= 5 && !host; attempt++) {
    try {
      const res = await fetch(metadataUri, { signal: AbortSignal.timeout(2_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const meta = await res.json();
      host = meta?.Networks?.find((n) => n?.IPv4Addresses?.length)?.IPv4Addresses?.[0];
      if (!host) throw new Error('no IPv4 address in the container metadata');
    } catch (err) {
      lastError = err;
      if (attempt < 5) await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)));
    }
  }
  if (!host) {
    log('error', 'cannot find the task address in the ECS metadata', { metadataUri, detail: String(lastError) });
    process.exit(1);
  }
  process.env.CIRRUSMQ_BROKER_HOST = host;
  log('info', 'advertising the task address', { host });
}

await import(new URL('./broker.mjs', import.meta.url).href);
