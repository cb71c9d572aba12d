/**
 * RocketMQ's LatencyFaultTolerance, reduced to what a failover needs: a broker that refused
 * a send is avoided for a while, so new sends stop paying a failed attempt before the
 * NameServer notices (up to its 120 s expiry) that the broker is gone.
 */
export class BrokerFaultTolerance {
  private readonly notAvailableUntil = new Map<string, number>();

  constructor(
    private readonly isolationMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  markFailed(brokerName: string): void {
    this.notAvailableUntil.set(brokerName, this.now() + this.isolationMs);
  }

  markOk(brokerName: string): void {
    if (this.notAvailableUntil.size > 0) this.notAvailableUntil.delete(brokerName);
  }

  isAvailable = (brokerName: string): boolean => {
    const until = this.notAvailableUntil.get(brokerName);
    return until === undefined || until <= this.now();
  };
}
