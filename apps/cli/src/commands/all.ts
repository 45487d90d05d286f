import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every `dotrank` command, in `--help` order; each lives in its own module and only wires packages together. A module
 * is imported only when its command is registered: the modules of all commands together load the whole monorepo
 * (the API server, the queue, the model tools: ~2 s on this project's 2-core machine), which a quick command such as
 * `measure` should not pay.
 */
const COMMANDS: readonly [name: string, load: () => Promise<Register>][] = [
  ['encode', async () => (await import('./encode.js')).registerEncodeCommand],
  ['index', async () => (await import('./index-corpus.js')).registerIndexCommand],
  ['search', async () => (await import('./search.js')).registerSearchCommand],
  ['measure', async () => (await import('./measure.js')).registerMeasureCommand],
  ['eval', async () => (await import('./eval.js')).registerEvalCommand],
  ['compare', async () => (await import('./compare.js')).registerCompareCommand],
  ['rerank', async () => (await import('./rerank.js')).registerRerankCommand],
  ['worker', async () => (await import('./worker.js')).registerWorkerCommand],
  ['serve', async () => (await import('./serve.js')).registerServeCommand],
  ['model', async () => (await import('./model.js')).registerModelCommand],
  ['start', async () => (await import('./start.js')).registerStartCommand],
  ['doctor', async () => (await import('./doctor.js')).registerDoctorCommand],
  ['experiment', async () => (await import('./experiment.js')).registerExperimentCommand],
  ['judgments', async () => (await import('./judgments.js')).registerJudgmentsCommand],
  ['es', async () => (await import('./es.js')).registerEsCommand],
];

/**
 * Registers the command `only` when it names one, else every command (for `--help`, `help <command>`, no command,
 * or a mistyped one, which commander then suggests a correction for).
 */
export async function registerCommands(program: Command, only?: string): Promise<void> {
  const wanted = COMMANDS.filter(([name]) => name === only);
  const loaders = await Promise.all((wanted.length > 0 ? wanted : COMMANDS).map(([, load]) => load()));
  for (const register of loaders) register(program);
}
