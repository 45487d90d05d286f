import type { Command } from 'commander';
import { registerEncodeCommand } from './encode.js';
import { registerIndexCommand } from './index-corpus.js';
import { registerSearchCommand } from './search.js';
import { registerMeasureCommand } from './measure.js';
import { registerEvalCommand } from './eval.js';
import { registerCompareCommand } from './compare.js';
import { registerRerankCommand } from './rerank.js';
import { registerWorkerCommand } from './worker.js';
import { registerServeCommand } from './serve.js';
import { registerModelCommand } from './model.js';
import { registerStartCommand } from './start.js';
import { registerDoctorCommand } from './doctor.js';
import { registerExperimentCommand } from './experiment.js';
import { registerJudgmentsCommand } from './judgments.js';
import { registerEsCommand } from './es.js';

/** Every `dotrank` command; each lives in its own module and only wires packages together. */
export function registerCommands(program: Command): void {
  registerEncodeCommand(program);
  registerIndexCommand(program);
  registerSearchCommand(program);
  registerMeasureCommand(program);
  registerEvalCommand(program);
  registerCompareCommand(program);
  registerRerankCommand(program);
  registerWorkerCommand(program);
  registerServeCommand(program);
  registerModelCommand(program);
  registerStartCommand(program);
  registerDoctorCommand(program);
  registerExperimentCommand(program);
  registerJudgmentsCommand(program);
  registerEsCommand(program);
}
