import type { Command } from 'commander';

/** The flags of every long-running command: how much it says on stderr while it works. */
export interface OutputFlags {
  quiet?: boolean;
  /** true: --progress, false: --no-progress, undefined: only on a terminal. */
  progress?: boolean;
}

/** Adds --quiet (commands that print notices but draw no bars). */
export function addQuietOption(command: Command): Command {
  return command.option('-q, --quiet', 'no progress bars and no notices on stderr (errors and results still print)');
}

/** Adds --quiet, --progress and --no-progress. */
export function addOutputOptions(command: Command): Command {
  return addQuietOption(command)
    .option('--progress', 'progress bars even when stderr is not a terminal (default: only on a terminal)')
    .option('--no-progress', 'no progress bars');
}

/** Progress bars: asked for with --progress, else only when stderr is a terminal; never with --quiet. */
export function showProgress(flags: OutputFlags, stderrIsTTY: boolean = Boolean(process.stderr.isTTY)): boolean {
  if (flags.quiet) return false;
  return flags.progress ?? stderrIsTTY;
}

/** Notices ("wrote …", "vector cache: …") go to stderr so that stdout holds only results; --quiet drops them. */
export function noticeWriter(flags: OutputFlags): (line: string) => void {
  return flags.quiet ? () => undefined : (line) => process.stderr.write(`${line}\n`);
}
