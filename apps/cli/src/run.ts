import { Command, CommanderError } from 'commander';
import { describeError, isDotrankError } from '@dotrank/core';
import { registerCommands } from './commands/all.js';

/** Builds the program; exported so tests can run commands in-process. */
export function buildProgram(program: Command = new Command()): Command {
  program
    .name('dotrank')
    .description('Neural reranking (TAS-B) for existing search engines')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text) });
  registerCommands(program);
  return program;
}

/** Runs the CLI; user errors print one clear line and exit 2, never a stack trace. */
export async function runCli(argv: string[], program: Command = new Command()): Promise<void> {
  buildProgram(program).exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`dotrank: ${describeError(error)}\n`);
    if (process.env['DOTRANK_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = isDotrankError(error) ? 2 : 1;
  }
}
