import { describe, expect, it } from 'vitest';
import { CirrusError } from '../errors.js';
import { ConfigError, EnvReader, envVar, formatEnvHelp } from './env.js';

const V = {
  name: envVar.str('X_NAME', 'a', { description: 'a name', pattern: /^[a-z]+$/, expected: 'lower-case letters' }),
  optional: envVar.str('X_OPT', undefined, { description: 'optional' }),
  count: envVar.int('X_COUNT', 5, 1, 10, { description: 'a count' }),
  port: envVar.port('X_PORT', 80, { description: 'a port' }),
  on: envVar.bool('X_ON', true, { description: 'a switch' }),
  mode: envVar.oneOf('X_MODE', ['fast', 'safe'] as const, 'safe', { description: 'a mode' }),
};

function read(env: Record<string, string>) {
  const r = new EnvReader(env);
  const values = { name: r.str(V.name), optional: r.str(V.optional), count: r.int(V.count), port: r.int(V.port), on: r.bool(V.on), mode: r.oneOf(V.mode) };
  r.done('test');
  return values;
}

describe('EnvReader', () => {
  it('gives the defaults for unset and empty variables, and trims values', () => {
    expect(read({})).toEqual({ name: 'a', optional: undefined, count: 5, port: 80, on: true, mode: 'safe' });
    expect(read({ X_NAME: '', X_COUNT: '  ', X_ON: '' })).toMatchObject({ name: 'a', count: 5, on: true });
    expect(read({ X_NAME: ' bob ', X_OPT: 'o', X_COUNT: '10', X_PORT: '65535', X_ON: 'OFF', X_MODE: 'fast' })).toEqual({
      name: 'bob',
      optional: 'o',
      count: 10,
      port: 65535,
      on: false,
      mode: 'fast',
    });
    for (const v of ['1', 'true', 'on', 'yes']) expect(read({ X_ON: v }).on).toBe(true);
    for (const v of ['0', 'false', 'off', 'no']) expect(read({ X_ON: v }).on).toBe(false);
  });

  it('collects every bad variable into one ConfigError that names each', () => {
    let err: unknown;
    try {
      read({ X_NAME: 'B0B', X_COUNT: '11', X_PORT: '0', X_ON: 'maybe', X_MODE: 'slow' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(CirrusError);
    const e = err as ConfigError;
    expect(e.code).toBe('INVALID_PARAMETER');
    expect(e.variables).toEqual(['X_NAME', 'X_COUNT', 'X_PORT', 'X_ON', 'X_MODE']);
    expect(e.message).toBe(
      'invalid test configuration: invalid X_NAME="B0B": expected lower-case letters; invalid X_COUNT="11": expected an integer from 1 to 10; ' +
        'invalid X_PORT="0": expected an integer from 1 to 65535; invalid X_ON="maybe": expected true or false (1 or 0); invalid X_MODE="slow": expected fast or safe',
    );
  });

  it('refuses integers that are not plain digits', () => {
    for (const bad of ['-1', '1e1', '0x5', '5.0', 'five']) expect(() => read({ X_COUNT: bad })).toThrow(`invalid X_COUNT="${bad}"`);
  });

  it('takes a fallback that depends on other variables', () => {
    const r = new EnvReader({});
    expect(r.str(V.optional, 'derived')).toBe('derived');
    expect(r.oneOf(V.mode, 'fast')).toBe('fast');
  });
});

describe('formatEnvHelp', () => {
  it('lists each variable with its description, choices and default', () => {
    const help = formatEnvHelp(Object.values(V));
    expect(help.split('\n')).toHaveLength(6);
    expect(help).toMatch(/^ {2}X_NAME +a name \(a\)$/m);
    expect(help).toMatch(/^ {2}X_OPT +optional$/m);
    expect(help).toMatch(/^ {2}X_COUNT +a count \(5\)$/m);
    expect(help).toMatch(/^ {2}X_ON +a switch \(true\)$/m);
    expect(help).toMatch(/^ {2}X_MODE +a mode: fast \| safe \(safe\)$/m);
  });
});
