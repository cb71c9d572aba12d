/**
 * Props validation for the CDK constructs and stacks. Every prop is checked before any
 * resource is made, and a bad one fails the synth with an error that names the construct,
 * the prop, the allowed values and what was given, e.g.
 *   CirrusMqBrokerStack: props.cpu must be one of 256, 512, 1024, 2048, 4096; got 300
 * CloudFormation would otherwise reject it minutes into a deploy, with a vaguer message.
 */
import { Token } from 'aws-cdk-lib';

export class PropsError extends Error {
  override readonly name = 'PropsError';
}

export class PropsValidator {
  constructor(private readonly owner: string) {}

  fail(prop: string, expected: string, got: unknown): never {
    throw new PropsError(`${this.owner}: props.${prop} must be ${expected}; got ${show(got)}`);
  }

  /** An integer in [min, max]; undefined gives the fallback. */
  integer(prop: string, value: number | undefined, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min || value > max) this.fail(prop, `an integer from ${min} to ${max}`, value);
    return value;
  }

  oneOf<T extends string | number>(prop: string, value: T | undefined, fallback: T, allowed: readonly T[]): T {
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) this.fail(prop, `one of ${allowed.join(', ')}`, value);
    return value;
  }

  /** A string matching `pattern`; `what` says it in words for the error. Tokens pass through. */
  pattern(prop: string, value: string | undefined, fallback: string, pattern: RegExp, what: string): string {
    if (value === undefined) return fallback;
    if (Token.isUnresolved(value)) return value;
    if (typeof value !== 'string' || !pattern.test(value)) this.fail(prop, what, value);
    return value;
  }

  optionalPattern(prop: string, value: string | undefined, pattern: RegExp, what: string): string | undefined {
    return value === undefined ? undefined : this.pattern(prop, value, value, pattern, what);
  }

  check(prop: string, ok: boolean, expected: string, got: unknown): void {
    if (!ok) this.fail(prop, expected, got);
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v) || (typeof v === 'object' && v !== null)) return JSON.stringify(v);
  return String(v);
}

/** Names as the broker's own config accepts them (broker-node/src/config.ts). */
export const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
export const NAME_RULE = '1 to 64 letters, digits, "_" or "-"';
