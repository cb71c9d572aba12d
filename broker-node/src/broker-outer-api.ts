/**
 * The broker's calls to the NameServer (RocketMQ's BrokerOuterAPI + the registration timer
 * of BrokerController): register at start, retrying until the NameServer answers; the same
 * call as a heartbeat every heartbeatIntervalMs; unregister on shutdown. Each answer carries
 * the broker's topic configs, handed to `onRegistered`.
 */
import type { BrokerRegistration, Logger, NameServerApi, RegisterBrokerResult } from '@cirrusmq/client/protocol';
import { PeriodicService } from './periodic-service';
import { retryWithBackoff } from './retry';

export interface BrokerOuterAPIOptions {
  heartbeatIntervalMs: number;
  /** Bounds the unregister call at shutdown: a dead NameServer must not stall the exit. */
  unregisterTimeoutMs?: number;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
}

export class BrokerOuterAPI {
  /** Registers again every heartbeatIntervalMs once the first registration worked. */
  private readonly heartbeat: PeriodicService;
  private readonly abort = new AbortController();
  private registered = false;
  /** The register call in flight: shutdown waits for it, so no heartbeat lands after unregister. */
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly nameServer: Pick<NameServerApi, 'registerBroker' | 'unregisterBroker'>,
    private readonly registration: () => BrokerRegistration,
    private readonly onRegistered: (result: RegisterBrokerResult) => void,
    private readonly options: BrokerOuterAPIOptions,
    private readonly logger: Logger,
  ) {
    this.heartbeat = new PeriodicService('BrokerHeartbeat', options.heartbeatIntervalMs, () => this.sendHeartbeat(), logger);
  }

  private registerOnce(): Promise<void> {
    const call = this.nameServer.registerBroker(this.registration()).then((result) => {
      this.registered = true;
      this.onRegistered(result);
    });
    this.inflight = call.then(
      () => undefined,
      () => undefined,
    );
    return call;
  }

  /** Registers (retrying with backoff and jitter until it works), then heartbeats on a timer. */
  async start(): Promise<void> {
    await retryWithBackoff(() => this.registerOnce(), {
      initialDelayMs: this.options.retryInitialDelayMs ?? 200,
      maxDelayMs: this.options.retryMaxDelayMs ?? 10_000,
      signal: this.abort.signal,
      onRetry: (err, attempt, delayMs) => this.logger.warn('register with the NameServer failed, retrying', { err, attempt, delayMs }),
    });
    this.logger.info('registered with the NameServer');
    // A shutdown during the first registration: no heartbeat may start after it.
    if (!this.abort.signal.aborted) this.heartbeat.start();
  }

  private sendHeartbeat(): Promise<void> {
    return (
      this.registerOnce()
        // The cloud's "heartbeat missing" alarm counts these lines (infra/lib/constructs/broker-metrics.ts).
        .then(() => this.logger.info('heartbeat sent'))
        .catch((err: unknown) => this.logger.warn('heartbeat to the NameServer failed', { err }))
    );
  }

  /** Stops registering, then unregisters (best effort, bounded in time) if registered. */
  async shutdown(): Promise<void> {
    this.abort.abort(new Error('broker shutting down'));
    // Waits for a heartbeat in flight, so none lands after the unregister.
    await this.heartbeat.shutdown();
    await this.inflight;
    if (!this.registered) return;
    const reg = this.registration();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('unregister timed out')), this.options.unregisterTimeoutMs ?? 3_000);
    });
    try {
      await Promise.race([this.nameServer.unregisterBroker(reg.clusterName, reg.brokerName, reg.brokerId), timeout]);
      this.logger.info('unregistered from the NameServer');
    } catch (err) {
      this.logger.warn('unregister from the NameServer failed', { err });
    } finally {
      clearTimeout(timer);
    }
  }
}
