import { ValidationError } from '@dotrank/core';

/**
 * The measures of the model card's protocol (TAS-B, Hofstätter et al. 2021), by benchmark: MS MARCO dev reports
 * MRR@10 (and recall at the candidate depth), TREC-DL 2019/2020 nDCG@10 with MAP and R@1000 counting grade >= 2 as
 * relevant (the TREC-DL convention for binary measures), BEIR nDCG@10 and R@100.
 */
export const MEASURE_PRESETS = {
  'msmarco-dev': ['MRR@10', 'R@1000'],
  'trec-dl': ['nDCG@10', 'AP(rel=2)', 'R(rel=2)@1000'],
  beir: ['nDCG@10', 'R@100'],
} as const satisfies Record<string, readonly string[]>;

export type MeasurePreset = keyof typeof MEASURE_PRESETS;
export const PRESET_NAMES = Object.keys(MEASURE_PRESETS) as MeasurePreset[];

/** The measures of a preset; a ValidationError naming the presets for an unknown one. */
export function presetMeasures(name: string): string[] {
  const measures = (MEASURE_PRESETS as Record<string, readonly string[]>)[name];
  if (!measures) throw new ValidationError('preset', `unknown preset "${name}" (presets: ${PRESET_NAMES.join(', ')})`);
  return [...measures];
}

/** The measures asked for by `--preset` and `--measures` together (preset first, no duplicates), or undefined. */
export function resolveMeasures(options: { preset?: string; measures?: readonly string[] }): string[] | undefined {
  const out = [...(options.preset ? presetMeasures(options.preset) : []), ...(options.measures ?? [])];
  return out.length > 0 ? out : undefined;
}
