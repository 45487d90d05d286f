import { ValidationError, type DotrankConfig } from '@dotrank/core';
import { readManifest, splitIntoWindows, TextTokenizer, validateWindowOptions } from '@dotrank/encoder';
import { parseDocScore, usesWindows } from './doc-score.js';
import type { CandidateWindows } from './pipeline.js';

/** How long documents are handled: DOTRANK_DOC_SCORE and the window sizes (undefined: the model's defaults). */
export interface PassageWindowSettings {
  docScore: string;
  windowTokens?: number;
  stride?: number;
}

export function passageWindowSettingsFromConfig(
  config: Pick<DotrankConfig, 'DOTRANK_DOC_SCORE' | 'DOTRANK_PASSAGE_WINDOW_TOKENS' | 'DOTRANK_PASSAGE_WINDOW_STRIDE'>,
): PassageWindowSettings {
  return {
    docScore: config.DOTRANK_DOC_SCORE,
    ...(config.DOTRANK_PASSAGE_WINDOW_TOKENS !== undefined
      ? { windowTokens: config.DOTRANK_PASSAGE_WINDOW_TOKENS }
      : {}),
    ...(config.DOTRANK_PASSAGE_WINDOW_STRIDE !== undefined ? { stride: config.DOTRANK_PASSAGE_WINDOW_STRIDE } : {}),
  };
}

/**
 * The window splitter for a model directory, or undefined under `first` (no windows). Only the model's tokenizer and
 * passage length are read, so a queue producer can split documents without loading the model. Windows default to the
 * model's passage length with half of it as the stride.
 */
export async function candidateWindowsFor(
  modelDir: string,
  settings: PassageWindowSettings,
): Promise<CandidateWindows | undefined> {
  const mode = parseDocScore(settings.docScore);
  if (!usesWindows(mode)) return undefined;
  const manifest = await readManifest(modelDir);
  const tokenizer = await TextTokenizer.fromFile(manifest.tokenizerPath);
  const windowTokens = settings.windowTokens ?? manifest.passageMaxLength;
  // a longer window would be truncated by the encoder: its end would count for nothing, silently
  if (windowTokens > manifest.passageMaxLength)
    throw new ValidationError(
      'DOTRANK_PASSAGE_WINDOW_TOKENS',
      `must be at most the model's passage length (${manifest.passageMaxLength}); got ${windowTokens}`,
    );
  const stride = settings.stride ?? Math.max(1, Math.floor(windowTokens / 2));
  const options = { windowTokens, stride };
  validateWindowOptions(options, tokenizer.specialCount);
  return { split: (text) => splitIntoWindows(text, tokenizer, options), docScore: settings.docScore };
}
