import type { ExperimentOptions } from '../src/plugins/experiments.js';

/** The experiment settings both benchmark servers run with: experiments off by default, generous caps. */
export function benchExperiments(redisUrl: string, keyPrefix: string): ExperimentOptions {
  return { name: 'bench', mode: 'off', traffic: 1, maxEvents: 1_000_000, retentionDays: 1, redisUrl, keyPrefix };
}
