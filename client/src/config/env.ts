/**
 * The one environment parser of every runtime (broker, NameServer, gateway, launcher, CLI).
 * A runtime declares its variables once, as a table of `EnvVar`s (name, default, bounds,
 * description); its config.ts reads them through an `EnvReader`, and its `--help` is
 * `formatEnvHelp(table)`: the parser and the help share one definition, so they cannot
 * disagree. The reader collects every problem and `done()` throws one `ConfigError`
 * naming every bad variable, so a bad start is fixed in one round, not one variable a time.
 */
import { CirrusError } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

interface EnvVarBase {
  readonly name: string;
  readonly description: string;
  /** How help shows the default when it is not a plain value (derived from another variable...). */
  readonly defaultText?: string;
}
export interface StrVar extends EnvVarBase {
  readonly kind: 'str';
  /** undefined: optional (unset reads as undefined). */
  readonly default: string | undefined;
  readonly pattern?: RegExp;
  /** What a value must be, in words, for the error (default: "a match of <pattern>"). */
  readonly expected?: string;
}
export interface IntVar extends EnvVarBase {
  readonly kind: 'int';
  readonly default: number;
  readonly min: number;
  readonly max: number;
}
export interface BoolVar extends EnvVarBase {
  readonly kind: 'bool';
  readonly default: boolean;
}
export interface EnumVar<T extends string = string> extends EnvVarBase {
  readonly kind: 'enum';
  readonly values: readonly T[];
  readonly default: T;
}
export type EnvVar = StrVar | IntVar | BoolVar | EnumVar;

type Doc = { description: string; defaultText?: string };

/** Builders for a runtime's variable table. */
export const envVar = {
  str: <D extends string | undefined>(name: string, def: D, doc: Doc & { pattern?: RegExp; expected?: string }): StrVar & { readonly default: D } => ({
    kind: 'str',
    name,
    default: def,
    ...doc,
  }),
  int: (name: string, def: number, min: number, max: number, doc: Doc): IntVar => ({ kind: 'int', name, default: def, min, max, ...doc }),
  /** A TCP port; 0 (the OS picks) only where `allowZero`: tests ask for free ports that way. */
  port: (name: string, def: number, doc: Doc & { allowZero?: boolean }): IntVar => ({
    kind: 'int',
    name,
    default: def,
    min: doc.allowZero ? 0 : 1,
    max: 65_535,
    ...doc,
  }),
  bool: (name: string, def: boolean, doc: Doc): BoolVar => ({ kind: 'bool', name, default: def, ...doc }),
  oneOf: <T extends string>(name: string, values: readonly T[], def: T, doc: Doc): EnumVar<T> => ({ kind: 'enum', name, values, default: def, ...doc }),
};

/** A bad configuration: `problems` has one line per bad variable (or bad combination), `variables` their names. */
export class ConfigError extends CirrusError {
  constructor(
    readonly runtime: string,
    readonly problems: readonly string[],
    readonly variables: readonly string[],
  ) {
    super('INVALID_PARAMETER', `invalid ${runtime} configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const TRUE = ['1', 'true', 'on', 'yes'];
const FALSE = ['0', 'false', 'off', 'no'];

export class EnvReader {
  private readonly problems: string[] = [];
  private readonly badNames = new Set<string>();

  constructor(private readonly env: Env) {}

  /** Trimmed; an empty variable counts as unset, as shells and CDK often export empty strings. */
  raw(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v ? v : undefined;
  }

  isSet(v: EnvVar | string): boolean {
    return this.raw(typeof v === 'string' ? v : v.name) !== undefined;
  }

  /** `fallback` replaces the table's default where it depends on other variables. */
  str(v: StrVar & { readonly default: string }, fallback?: string): string;
  str(v: StrVar, fallback: string): string;
  str(v: StrVar): string | undefined;
  str(v: StrVar, fallback: string | undefined = v.default): string | undefined {
    const raw = this.raw(v.name);
    if (raw === undefined) return fallback;
    if (v.pattern && !v.pattern.test(raw)) return this.bad(v.name, raw, v.expected ?? `a match of ${v.pattern.source}`, fallback);
    return raw;
  }

  int(v: IntVar, fallback: number = v.default): number {
    const raw = this.raw(v.name);
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < v.min || n > v.max) {
      return this.bad(v.name, raw, v.min === 0 && v.max === 65_535 ? 'a port from 0 to 65535' : `an integer from ${v.min} to ${v.max}`, fallback);
    }
    return n;
  }

  bool(v: BoolVar): boolean {
    const raw = this.raw(v.name)?.toLowerCase();
    if (raw === undefined) return v.default;
    if (TRUE.includes(raw)) return true;
    if (FALSE.includes(raw)) return false;
    return this.bad(v.name, raw, 'true or false (1 or 0)', v.default);
  }

  oneOf<T extends string>(v: EnumVar<T>, fallback: T = v.default): T {
    const raw = this.raw(v.name);
    if (raw === undefined) return fallback;
    if (!(v.values as readonly string[]).includes(raw)) return this.bad(v.name, raw, listWords(v.values), fallback);
    return raw as T;
  }

  /** A problem no single reader sees (two variables that contradict each other...). */
  problem(message: string, ...names: string[]): void {
    this.problems.push(message);
    for (const n of names) this.badNames.add(n);
  }

  /** Throws one ConfigError naming every problem found so far. */
  done(runtime: string): void {
    if (this.problems.length > 0) throw new ConfigError(runtime, this.problems, [...this.badNames]);
  }

  private bad<T>(name: string, raw: string, expected: string, fallback: T): T {
    this.problem(`invalid ${name}=${JSON.stringify(raw)}: expected ${expected}`, name);
    return fallback;
  }
}

function listWords(values: readonly string[]): string {
  return values.length <= 2 ? values.join(' or ') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

/** The variables' lines of a `--help`: name, description, and the default in parentheses. */
export function formatEnvHelp(vars: readonly EnvVar[]): string {
  const width = Math.min(Math.max(...vars.map((v) => v.name.length)) + 2, 40);
  return vars.map((v) => `  ${v.name.padEnd(width)} ${v.description}${v.kind === 'enum' ? `: ${v.values.join(' | ')}` : ''}${defaultOf(v)}`).join('\n');
}

function defaultOf(v: EnvVar): string {
  if (v.defaultText !== undefined) return v.defaultText ? ` (${v.defaultText})` : '';
  if (v.default === undefined || v.default === '') return '';
  if (v.kind === 'bool') return ` (${v.default ? 'true' : 'false'})`;
  return ` (${v.default})`;
}
