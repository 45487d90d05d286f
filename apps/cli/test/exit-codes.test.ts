import { readFile } from 'node:fs/promises';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { ConfigError, DotrankError, ModelError, NotFoundError, UnavailableError, ValidationError } from '@dotrank/core';
import { EXIT, exitCodeFor } from '../src/run.js';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';

describe('exitCodeFor: the one place that decides exit codes', () => {
  it('help and version asked for are 0; every commander usage error is 2', () => {
    expect(exitCodeFor(new CommanderError(0, 'commander.version', '0.1.0'))).toBe(EXIT.ok);
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toBe(EXIT.ok);
    expect(exitCodeFor(new CommanderError(0, 'commander.help', '(outputHelp)'))).toBe(EXIT.ok);
    expect(exitCodeFor(new CommanderError(1, 'commander.help', '(outputHelp)'))).toBe(EXIT.usage);
    for (const code of [
      'commander.unknownOption',
      'commander.unknownCommand',
      'commander.missingMandatoryOptionValue',
      'commander.invalidArgument',
      'commander.missingArgument',
      'commander.excessArguments',
    ]) {
      expect(exitCodeFor(new CommanderError(1, code, 'x')), code).toBe(EXIT.usage);
    }
  });

  it('bad input from our code is 2; anything else that goes wrong is 1', () => {
    expect(exitCodeFor(new ValidationError('--k', 'bad'))).toBe(2);
    expect(exitCodeFor(new ConfigError('REDIS_URL', 'bad'))).toBe(2);
    expect(exitCodeFor(new NotFoundError('--in', 'missing'))).toBe(2);
    expect(exitCodeFor(new ModelError('refusing to unpickle', { field: 'pytorch_model.bin' }))).toBe(2);
    expect(exitCodeFor(new UnavailableError('redis', 'down'))).toBe(1);
    expect(exitCodeFor(new DotrankError('timeout', 'too slow'))).toBe(1);
    expect(exitCodeFor(new Error('bug'))).toBe(1);
    expect(exitCodeFor('thrown string')).toBe(1);
  });
});

describe('dotrank exit codes and messages (child process)', () => {
  it(
    '--version prints the package version and exits 0',
    async () => {
      const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
        version: string;
      };
      const [long, short] = await Promise.all([dotrank(['--version']), dotrank(['-V'])]);
      expect(long).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
      expect(short.stdout).toBe(`${version}\n`);
    },
    SPAWN_TIMEOUT,
  );

  it(
    "commander's usage errors exit 2 with the message on stderr, for the program and its subcommands",
    async () => {
      const [none, unknownOption, unknownCommand, missing, badChoice] = await Promise.all([
        dotrank([]),
        dotrank(['search', 'q', '--bogus']),
        dotrank(['serach', 'q']),
        dotrank(['eval', '--out', 'x']),
        dotrank(['index', '--collection', 'x', '--source', 'solr']),
      ]);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/^Usage: dotrank/);
      expect(unknownOption).toMatchObject({ code: 2, stdout: '' });
      expect(unknownOption.stderr).toMatch(/unknown option '--bogus'/);
      expect(unknownCommand.code).toBe(2);
      expect(unknownCommand.stderr).toMatch(/unknown command 'serach'/);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/required option '--collection <dir>' not specified/);
      expect(badChoice.code).toBe(2);
      expect(badChoice.stderr).toMatch(/'solr' is invalid/);
    },
    SPAWN_TIMEOUT,
  );

  it(
    'bad input from our code exits 2 with one line naming the flag or the variable, and no stack trace',
    async () => {
      const [badK, badEnv, badFlag] = await Promise.all([
        dotrank(['search', 'q', '-k', '0']),
        dotrank(['encode', '--kind', 'query', '--in', 'in.tsv', '--out', 'out.jsonl'], {
          env: { DOTRANK_BATCH_SIZE: 'many' },
        }),
        dotrank(['encode', '--kind', 'query', '--in', 'in.tsv', '--out', 'out.jsonl', '--batch-size', '0'], {
          env: { DOTRANK_BATCH_SIZE: '64' },
        }),
      ]);
      expect(badK).toMatchObject({
        code: 2,
        stdout: '',
        stderr: 'dotrank: --k: must be an integer between 1 and 10000 (got "0")\n',
      });
      expect(badEnv.code).toBe(2);
      expect(badEnv.stderr).toMatch(/^dotrank: DOTRANK_BATCH_SIZE: .*\(got "many"\)\n$/);
      expect(badFlag.code).toBe(2);
      expect(badFlag.stderr).toMatch(/^dotrank: --batch-size: .*\(got "0"\)\n$/);
    },
    SPAWN_TIMEOUT,
  );

  it(
    'a failure exits 1; DOTRANK_DEBUG=1 adds the stack trace',
    async () => {
      const elasticsearchDown = { ELASTICSEARCH_URL: 'http://127.0.0.1:1', ELASTICSEARCH_TIMEOUT_MS: '2000' };
      const [down, debug] = await Promise.all([
        dotrank(['search', 'q', '--source', 'elasticsearch'], { env: elasticsearchDown }),
        dotrank(['search', 'q', '--source', 'elasticsearch'], { env: { ...elasticsearchDown, DOTRANK_DEBUG: '1' } }),
      ]);
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/^dotrank: .+\n$/);
      expect(down.stderr).not.toMatch(/\n\s+at /);
      expect(debug.code).toBe(1);
      expect(debug.stderr).toMatch(/\n\s+at /);
    },
    SPAWN_TIMEOUT,
  );
});
