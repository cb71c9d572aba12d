/**
 * The checks of one SendMessage entry that have their own RocketMQ Code (Apache's
 * GrpcValidator and SendMessageActivity): done before the SDK's validation (prepareMessage),
 * which stays the last guard and answers BAD_REQUEST for anything else.
 */
import { KEY_SEPARATOR, Limits, MessageConst } from '@cirrusmq/client/protocol';
import { RmqStatusError } from '../status.js';

const SEPARATORS = /[\u0001\u0002]/;
const RESERVED = new Set<string>(Object.values(MessageConst));

/** Message types CirrusMQ stores (PRIORITY and LITE are not). */
const SUPPORTED_TYPES = new Set(['NORMAL', 'FIFO', 'DELAY', 'TRANSACTION', 'MESSAGE_TYPE_UNSPECIFIED']);

export function checkEntry(m: any, maxBodySize: number): void {
  const sp = m.system_properties ?? {};
  const type: string = sp.message_type ?? 'MESSAGE_TYPE_UNSPECIFIED';
  if (!SUPPORTED_TYPES.has(type)) throw new RmqStatusError('UNSUPPORTED', `${type} messages are not supported yet`);
  // Apache's GrpcValidator: the type and the delivery time go together.
  if ((type === 'DELAY') !== Boolean(sp.delivery_timestamp))
    throw new RmqStatusError('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE', 'a DELAY message needs a delivery_timestamp, and only a DELAY message has one');
  if (type === 'FIFO' && !sp.message_group) throw new RmqStatusError('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE', 'a FIFO message needs a message_group');
  // As the official clients refuse it: a half message has no order to keep.
  if (type === 'TRANSACTION' && sp.message_group)
    throw new RmqStatusError('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE', 'a TRANSACTION message cannot have a message_group');
  const bodyLength = m.body?.length ?? 0;
  if (bodyLength === 0) throw new RmqStatusError('MESSAGE_BODY_EMPTY', 'message body is empty');
  if (bodyLength > maxBodySize) throw new RmqStatusError('MESSAGE_BODY_TOO_LARGE', `message body of ${bodyLength} bytes is larger than ${maxBodySize}`);
  const tag = sp.tag;
  if (tag !== undefined && tag !== null && (tag.length === 0 || tag.length > Limits.TAG_MAX_LENGTH || tag.includes('||') || SEPARATORS.test(tag))) {
    throw new RmqStatusError('ILLEGAL_MESSAGE_TAG', `tag must be 1 to ${Limits.TAG_MAX_LENGTH} characters without "||" or control separators`);
  }
  for (const key of sp.keys ?? []) {
    if (key.length === 0 || key.includes(KEY_SEPARATOR) || SEPARATORS.test(key))
      throw new RmqStatusError('ILLEGAL_MESSAGE_KEY', `key "${key}" is empty or holds a space`);
  }
  if (sp.message_group !== undefined && sp.message_group !== null && (sp.message_group.length === 0 || SEPARATORS.test(sp.message_group))) {
    throw new RmqStatusError('ILLEGAL_MESSAGE_GROUP', 'message_group must be non-empty, without control separators');
  }
  let propertyBytes = 0;
  for (const [name, value] of Object.entries<string>(m.user_properties ?? {})) {
    if (name.length === 0 || RESERVED.has(name) || SEPARATORS.test(name))
      throw new RmqStatusError('ILLEGAL_MESSAGE_PROPERTY_KEY', `property name "${name}" is empty or reserved`);
    propertyBytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
  }
  if (propertyBytes > Limits.MAX_PROPERTIES_BYTES) {
    throw new RmqStatusError('MESSAGE_PROPERTIES_TOO_LARGE', `properties are larger than ${Limits.MAX_PROPERTIES_BYTES} bytes`);
  }
}
