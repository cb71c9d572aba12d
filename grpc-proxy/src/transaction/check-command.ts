/**
 * A broker's check-back (GET /v1/transaction/checks) as the Telemetry command the official
 * clients answer: RecoverOrphanedTransactionCommand { message, transaction_id }. The client
 * builds a MessageView from the message (so it needs a body digest, which it verifies), asks
 * its TransactionChecker, and answers with EndTransaction (source SERVER_CHECK) carrying the
 * same transaction id.
 */
import { type BrokerTransactionCheck, decodeTransactionId } from '@cirrusmq/client/protocol';
import { bodyDigest, type ProtoMessage } from '../consumer/message-convert.js';
import { timestampOf } from '../duration.js';

export interface RecoverOrphanedTransactionCommand {
  recover_orphaned_transaction_command: { message: ProtoMessage; transaction_id: string };
}

export function recoverCommandOf(check: BrokerTransactionCheck): RecoverOrphanedTransactionCommand {
  const body = Buffer.from(check.body, 'base64');
  const system: Record<string, unknown> = {
    keys: check.keys ?? [],
    message_id: check.messageId,
    body_digest: bodyDigest(body),
    body_encoding: 'IDENTITY',
    message_type: 'TRANSACTION',
    born_timestamp: timestampOf(check.bornTimestamp),
    born_host: '',
    store_timestamp: timestampOf(check.storeTimestamp),
    store_host: decodeTransactionId(check.transactionId).brokerName,
    queue_id: check.queueId,
  };
  if (check.tags !== undefined) system.tag = check.tags;
  return {
    recover_orphaned_transaction_command: {
      message: { topic: { name: check.topic, resource_namespace: '' }, user_properties: { ...check.properties }, system_properties: system, body },
      transaction_id: check.transactionId,
    },
  };
}
