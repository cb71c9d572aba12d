/** A half message due for a check-back, as a broker answers GET /v1/transaction/checks (JSON). */
export interface BrokerTransactionCheck {
  transactionId: string;
  messageId: string;
  topic: string;
  queueId: number;
  producerGroup: string;
  /** 1 at the first check-back. */
  checkTimes: number;
  bornTimestamp: number;
  storeTimestamp: number;
  body: string;
  bodyEncoding: 'base64';
  tags?: string;
  keys: string[];
  /** The user's properties only (the broker drops the system ones). */
  properties: Record<string, string>;
}
