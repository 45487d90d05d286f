import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { configSchema, describeError, isDotrankError } from '@dotrank/core';
import type { ErrorCode } from '@dotrank/core';
import { registerCommands } from './commands/all.js';

/** The exit codes of every command: 0 ok, 1 failure, 2 usage or bad input. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The version of this package (the same file in the sources and in dist/). */
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/**
 * Builds the program; exported so tests can run commands in-process. With `argv`, only the command it names is loaded
 * (see registerCommands); without, every command.
 */
export async function buildProgram(program: Command = new Command(), argv?: readonly string[]): Promise<Command> {
  program
    .name('dotrank')
    .description('Neural reranking (TAS-B) for existing search engines')
    .version(version, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text) })
    // before the commands are added, so that they inherit it: runCli decides every exit code
    .exitOverride();
  // argv is [node, script, command, ...]: a first word that is an option (--help, -V) names no command
  await registerCommands(program, argv?.[2]);
  return program;
}

/** Commander's own outcomes that are not errors: help and version asked for. */
const COMMANDER_SUCCESS = new Set(['commander.helpDisplayed', 'commander.version']);

/**
 * Our errors that mean the user gave something wrong: a flag, a variable, a file or folder that is missing, a model
 * directory or checkpoint that cannot be used. The others (unavailable, timeout, internal) are failures.
 */
const BAD_INPUT = new Set<ErrorCode>(['invalid_input', 'invalid_config', 'not_found', 'model_error']);

/**
 * The one place that turns an outcome into an exit code. Commander's usage errors (unknown option, missing argument,
 * bad choice, no command) and our bad-input errors (ValidationError, ConfigError, NotFoundError, ModelError) are 2;
 * anything else that went wrong (a service unavailable or too slow, a bug) is 1.
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // `dotrank help` exits 0; help shown because no command was given exits non-zero
    if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return COMMANDER_SUCCESS.has(error.code) ? EXIT.ok : EXIT.usage;
  }
  if (isDotrankError(error) && BAD_INPUT.has(error.code)) return EXIT.usage;
  return EXIT.failure;
}

/** DOTRANK_DEBUG through core's schema; an invalid value (reported elsewhere) means off. */
function debugEnabled(env: Record<string, string | undefined>): boolean {
  const parsed = configSchema.shape.DOTRANK_DEBUG.safeParse(env['DOTRANK_DEBUG']);
  return parsed.success && parsed.data;
}

/** Runs the CLI; errors print one clear line (a stack trace only with DOTRANK_DEBUG=1) and set the exit code. */
export async function runCli(
  argv: string[],
  program: Command = new Command(),
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  try {
    await buildProgram(program, argv);
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeFor(error);
    if (error instanceof CommanderError) return; // commander has printed its message already
    process.stderr.write(`dotrank: ${describeError(error)}\n`);
    if (debugEnabled(env) && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  }
}
