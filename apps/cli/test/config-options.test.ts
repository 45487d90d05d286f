import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import {
  addQueryEncodingOptions,
  commandConfig,
  commandEnv,
  configOption,
  givenOnCommandLine,
} from '../src/lib/config-options.js';

const VARIABLES = ['DOTRANK_BATCH_SIZE', 'ELASTICSEARCH_INDEX', 'DOTRANK_LOG_LEVEL'] as const;
const saved = Object.fromEntries(VARIABLES.map((v) => [v, process.env[v]]));

afterEach(() => {
  for (const v of VARIABLES) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
});

/** A command with three configuration flags; parses `args` with `env` as the environment and returns what it saw. */
function parse(
  args: string[],
  env: Partial<Record<(typeof VARIABLES)[number], string>> = {},
): { command: Command; config: DotrankConfig } {
  for (const v of VARIABLES) delete process.env[v];
  Object.assign(process.env, env);
  const command = new Command('try')
    .exitOverride()
    .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'texts per call'))
    .addOption(configOption('--index <name>', 'ELASTICSEARCH_INDEX', 'Elasticsearch index'))
    .addOption(configOption('--log-level <level>', 'DOTRANK_LOG_LEVEL', 'log level', 'warn'));
  let config: DotrankConfig | undefined;
  command.action(() => {
    config = commandConfig(command, process.env);
  });
  command.parse(args, { from: 'user' });
  return { command, config: config! };
}

describe('configuration flags: one mapping from flags and environment to the config schema', () => {
  it('--help shows each flag with its default and its variable', () => {
    const help = new Command('try')
      .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'texts per call'))
      .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model folder'))
      .addOption(configOption('--log-level <level>', 'DOTRANK_LOG_LEVEL', 'log level', 'warn'))
      .helpInformation();
    expect(help).toMatch(/--batch-size <n>\s+texts per call \(default: "32", env: DOTRANK_BATCH_SIZE\)/);
    expect(help).toMatch(/--model <dir>\s+model folder \(env: DOTRANK_MODEL\)/);
    expect(help).toMatch(/--log-level <level>\s+log level \(default: "warn", env: DOTRANK_LOG_LEVEL\)/);
  });

  it('takes the schema default, then the variable, then the flag', () => {
    expect(parse([]).config).toMatchObject({
      DOTRANK_BATCH_SIZE: 32,
      ELASTICSEARCH_INDEX: 'dotrank',
      DOTRANK_LOG_LEVEL: 'warn',
    });
    expect(parse([], { DOTRANK_BATCH_SIZE: '64', DOTRANK_LOG_LEVEL: 'error' }).config).toMatchObject({
      DOTRANK_BATCH_SIZE: 64,
      DOTRANK_LOG_LEVEL: 'error',
    });
    expect(parse(['--batch-size', '8'], { DOTRANK_BATCH_SIZE: '64' }).config.DOTRANK_BATCH_SIZE).toBe(8);
  });

  it('names the flag when a typed value is bad, the variable when the environment is', () => {
    expect(() => parse(['--batch-size', 'x'])).toThrow(ConfigError);
    expect(() => parse(['--batch-size', 'x'])).toThrow(/^--batch-size: .*\(got "x"\)$/);
    expect(() => parse([], { DOTRANK_BATCH_SIZE: '0' })).toThrow(/^DOTRANK_BATCH_SIZE: .*\(got "0"\)$/);
    expect(() => parse(['--log-level', 'loud'])).toThrow(/^--log-level: /);
  });

  it('tells a typed flag from one the environment set, and hands the merged environment on', () => {
    const fromEnv = parse([], { ELASTICSEARCH_INDEX: 'docs' });
    expect(givenOnCommandLine(fromEnv.command, 'index')).toBe(false);
    expect(fromEnv.config.ELASTICSEARCH_INDEX).toBe('docs');
    const typed = parse(['--index', 'passages'], { ELASTICSEARCH_INDEX: 'docs' });
    expect(givenOnCommandLine(typed.command, 'index')).toBe(true);
    expect(commandEnv(typed.command, { REDIS_URL: 'redis://x' })).toEqual({
      REDIS_URL: 'redis://x',
      ELASTICSEARCH_INDEX: 'passages',
      DOTRANK_BATCH_SIZE: '32',
      DOTRANK_LOG_LEVEL: 'warn',
    });
  });

  it('serve and worker take the query cache and batcher settings as flags, named in errors', () => {
    const names = [
      'DOTRANK_QUERY_CACHE_SIZE',
      'DOTRANK_QUERY_CACHE_TTL_SECONDS',
      'DOTRANK_QUERY_BATCH',
      'DOTRANK_BATCH_WAIT_MS',
    ];
    const before = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    for (const n of names) delete process.env[n];
    try {
      const run = (args: string[]) => {
        const command = addQueryEncodingOptions(new Command('try').exitOverride());
        let config: DotrankConfig | undefined;
        command.action(() => {
          config = commandConfig(command, process.env);
        });
        command.parse(args, { from: 'user' });
        return config!;
      };
      expect(run([])).toMatchObject({
        DOTRANK_QUERY_CACHE_SIZE: 10_000,
        DOTRANK_QUERY_BATCH: 16,
        DOTRANK_BATCH_WAIT_MS: 2,
      });
      const typed = [
        '--query-cache-size',
        '0',
        '--query-cache-ttl-seconds',
        '60',
        '--query-batch',
        '4',
        '--batch-wait-ms',
        '0',
      ];
      expect(run(typed)).toMatchObject({
        DOTRANK_QUERY_CACHE_SIZE: 0,
        DOTRANK_QUERY_CACHE_TTL_SECONDS: 60,
        DOTRANK_QUERY_BATCH: 4,
        DOTRANK_BATCH_WAIT_MS: 0,
      });
      expect(() => run(['--query-batch', '0'])).toThrow(/^--query-batch: /);
    } finally {
      for (const n of names)
        if (before[n] === undefined) delete process.env[n];
        else process.env[n] = before[n];
    }
  });
});
