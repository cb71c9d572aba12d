/**
 * Wraps each RPC handler to feed ProxyMetrics, whoever wrote the handler: a unary call is
 * timed to its answer and labelled with the Code in the answer's `status`; a stream is
 * counted while open.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ProxyMetrics } from './metrics.js';
import type { MessagingRpcs } from './rpc-types.js';

const STREAMING = new Set<keyof MessagingRpcs>(['ReceiveMessage', 'Telemetry']);

export function instrument(rpcs: Partial<MessagingRpcs>, metrics: ProxyMetrics): Partial<MessagingRpcs> {
  const out: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(rpcs) as [keyof MessagingRpcs, any][]) {
    if (!handler) continue;
    out[name] = STREAMING.has(name) ? streaming(name, handler, metrics) : unary(name, handler, metrics);
  }
  return out as Partial<MessagingRpcs>;
}

function unary(method: string, handler: grpc.handleUnaryCall<any, any>, metrics: ProxyMetrics): grpc.handleUnaryCall<any, any> {
  // One histogram child per answered code, looked up once: prom-client's startTimer and
  // labels() hash the label set on every call, a cost paid per message by one-message RPCs.
  const byCode = new Map<string, { observe(seconds: number): void }>();
  const observe = (code: string, seconds: number) => {
    let child = byCode.get(code);
    if (!child) {
      child = metrics.rpcSeconds.labels({ method, code });
      byCode.set(code, child);
    }
    child.observe(seconds);
  };
  return (call, callback) => {
    const started = performance.now();
    handler(call, (err: Partial<grpc.StatusObject> | null, res?: any, ...rest: any[]) => {
      observe(err ? `GRPC_${err.code ?? 'UNKNOWN'}` : (res?.status?.code ?? 'OK'), (performance.now() - started) / 1000);
      (callback as (...args: unknown[]) => void)(err, res, ...rest);
    });
  };
}

function streaming(method: string, handler: (call: any) => void, metrics: ProxyMetrics): (call: any) => void {
  return (call: grpc.ServerWritableStream<any, any> | grpc.ServerDuplexStream<any, any>) => {
    metrics.streamsTotal.inc({ method });
    metrics.streamsOpen.inc({ method });
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      metrics.streamsOpen.dec({ method });
    };
    // 'close' fires once the call is over whichever way (finished, cancelled, errored).
    call.once('close', close);
    call.once('cancelled', close);
    call.once('finish', close);
    handler(call);
  };
}
