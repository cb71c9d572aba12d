/**
 * Subscription expressions by tag, as RocketMQ's FilterAPI.buildSubscriptionData parses
 * them: `*` (or nothing) reads every message, `TagA || TagB` reads messages whose TAGS is
 * one of the listed tags. Both sides need it: a client checks an expression before it
 * leaves, the broker parses it into the tag hash codes its ConsumeQueue units carry.
 *
 *   "TagA || TagB"  ->  tagsSet {"TagA", "TagB"}, codeSet {hash("TagA"), hash("TagB")}
 *
 * Hash codes only pre-select (two tags may share a code: "Aa" and "BB" do); the broker
 * confirms each record against tagsSet (ExpressionMessageFilter).
 */
import { tagsHashCode } from '../codec/tag-hash.js';
import { CirrusError } from '../errors.js';
import { Limits } from '../validation.js';

export const SUB_ALL = '*';
/** Tags are at most 255 characters; this leaves room for a few dozen of them. */
export const MAX_EXPRESSION_LENGTH = 4096;
const SEPARATORS = /[\u0001\u0002]/;

export interface SubscriptionData {
  /** The expression as given, trimmed; `*` for all. */
  readonly subString: string;
  readonly subAll: boolean;
  readonly tagsSet: ReadonlySet<string>;
  readonly codeSet: ReadonlySet<number>;
}

/**
 * Parses a tag expression. Stricter than RocketMQ, which drops empty parts silently: an
 * empty tag between `||` is refused, so a typo is not read as "match nothing".
 * Throws INVALID_PARAMETER.
 */
export function buildSubscriptionData(expression: string | undefined | null): SubscriptionData {
  const subString = (expression ?? '').trim();
  if (subString === '' || subString === SUB_ALL) {
    return { subString: SUB_ALL, subAll: true, tagsSet: new Set(), codeSet: new Set() };
  }
  if (subString.length > MAX_EXPRESSION_LENGTH) {
    throw new CirrusError('INVALID_PARAMETER', `tag expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const tagsSet = new Set<string>();
  const codeSet = new Set<number>();
  for (const part of subString.split('||')) {
    const tag = part.trim();
    if (tag.length === 0) throw new CirrusError('INVALID_PARAMETER', `tag expression "${subString}" has an empty tag: write "TagA || TagB", or "*" for all`);
    if (tag.length > Limits.TAG_MAX_LENGTH)
      throw new CirrusError('INVALID_PARAMETER', `a tag in the expression is longer than ${Limits.TAG_MAX_LENGTH} characters`);
    if (SEPARATORS.test(tag)) throw new CirrusError('INVALID_PARAMETER', 'a tag in the expression has a control separator');
    tagsSet.add(tag);
    codeSet.add(tagsHashCode(tag));
  }
  return { subString, subAll: false, tagsSet, codeSet };
}
