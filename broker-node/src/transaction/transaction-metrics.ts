/** The transaction counters and their Prometheus text for the broker's /metrics. */
import type { CheckUnknownReason } from './check-url-caller';

export interface TransactionCounters {
  halfPut: number;
  committed: number;
  rolledBack: number;
  checks: number;
  discarded: number;
  checkUnknown: Record<CheckUnknownReason, number>;
}

export function newTransactionCounters(): TransactionCounters {
  return { halfPut: 0, committed: 0, rolledBack: 0, checks: 0, discarded: 0, checkUnknown: { unknown: 0, timeout: 0, garbage: 0, error: 0 } };
}

export function transactionMetricsText(brokerName: string, c: TransactionCounters, pending: number): string {
  const l = `broker="${brokerName}"`;
  const lines = [
    '# HELP cirrusmq_transaction_pending Half messages neither committed nor rolled back.',
    '# TYPE cirrusmq_transaction_pending gauge',
    `cirrusmq_transaction_pending{${l}} ${pending}`,
    '# HELP cirrusmq_transaction_half_messages_total Half messages stored.',
    '# TYPE cirrusmq_transaction_half_messages_total counter',
    `cirrusmq_transaction_half_messages_total{${l}} ${c.halfPut}`,
    '# HELP cirrusmq_transaction_ended_total Transactions ended, by resolution (rollbacks after the last check included).',
    '# TYPE cirrusmq_transaction_ended_total counter',
    `cirrusmq_transaction_ended_total{${l},resolution="commit"} ${c.committed}`,
    `cirrusmq_transaction_ended_total{${l},resolution="rollback"} ${c.rolledBack}`,
    '# HELP cirrusmq_transaction_checks_total Check-backs made (to a check URL or offered to a long poll).',
    '# TYPE cirrusmq_transaction_checks_total counter',
    `cirrusmq_transaction_checks_total{${l}} ${c.checks}`,
    '# HELP cirrusmq_transaction_discarded_total Transactions rolled back after their last check (checkMax).',
    '# TYPE cirrusmq_transaction_discarded_total counter',
    `cirrusmq_transaction_discarded_total{${l}} ${c.discarded}`,
    '# HELP cirrusmq_transaction_check_unknown_total Check URL answers taken as UNKNOWN, by reason (unknown: said so; timeout; garbage: not COMMIT/ROLLBACK/UNKNOWN; error: refused or an error status).',
    '# TYPE cirrusmq_transaction_check_unknown_total counter',
  ];
  for (const [reason, n] of Object.entries(c.checkUnknown)) lines.push(`cirrusmq_transaction_check_unknown_total{${l},reason="${reason}"} ${n}`);
  return lines.join('\n');
}
