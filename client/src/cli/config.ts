/** The CLI's settings: its only reader of process.env (a --gateway flag still wins over the environment). */
import { type Env, EnvReader, envVar, formatEnvHelp } from '../config/env.js';

/** Every variable the CLI reads: loadCliConfig and the Environment part of `cirrusmq --help` both use this table. */
export const CLI_ENV = {
  gatewayUrl: envVar.str('CIRRUSMQ_GATEWAY_URL', 'http://127.0.0.1:8080', {
    description: 'gateway URL when --gateway is not given',
    pattern: /^https?:\/\/\S+$/,
    expected: 'an http(s) URL',
  }),
};

export interface CliConfig {
  readonly gatewayUrl: string;
}

export function loadCliConfig(env: Env = process.env): CliConfig {
  const r = new EnvReader(env);
  const gatewayUrl = r.str(CLI_ENV.gatewayUrl);
  r.done('cirrusmq');
  return { gatewayUrl };
}

export function cliEnvHelp(): string {
  return formatEnvHelp(Object.values(CLI_ENV));
}
