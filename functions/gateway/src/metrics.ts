/** The gateway's counters, served at GET /metrics in Prometheus text format. */
export class GatewayMetrics {
  messagesSent = 0;
  messagesFailed = 0;
  sendRequests = 0;
  /** Oneway requests (also in sendRequests): answered 202 once the route was found, sent after. */
  onewayRequests = 0;
  onewayMessagesAccepted = 0;
  /** Oneway messages that failed after their 202 (also in messagesFailed; each failure is logged). */
  onewayMessagesFailed = 0;

  render(nameServerCalls: number): string {
    const rss = process.memoryUsage.rss();
    return [
      metric('cirrusmq_gateway_send_requests_total', 'counter', 'Send requests answered (sync and oneway)', this.sendRequests),
      metric('cirrusmq_gateway_messages_sent_total', 'counter', 'Messages acknowledged by a broker', this.messagesSent),
      metric('cirrusmq_gateway_messages_failed_total', 'counter', 'Messages that could not be sent', this.messagesFailed),
      metric('cirrusmq_gateway_oneway_requests_total', 'counter', 'Oneway send requests accepted (202)', this.onewayRequests),
      metric('cirrusmq_gateway_oneway_messages_accepted_total', 'counter', 'Messages accepted by oneway requests', this.onewayMessagesAccepted),
      metric('cirrusmq_gateway_oneway_messages_failed_total', 'counter', 'Oneway messages that failed after their 202', this.onewayMessagesFailed),
      metric('cirrusmq_gateway_nameserver_calls_total', 'counter', 'Calls to the NameServer (route lookups and admin)', nameServerCalls),
      metric('process_resident_memory_bytes', 'gauge', 'Resident set size', rss),
    ].join('');
  }
}

function metric(name: string, type: 'counter' | 'gauge', help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
}
