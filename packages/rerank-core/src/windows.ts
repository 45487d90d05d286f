import { ValidationError, type DotrankConfig } from '@dotrank/core';
import {
  readManifest,
  splitIntoWindows,
  TextTokenizer,
  validateWindowOptions,
  type PassageWindow,
} from '@dotrank/encoder';
import { parseDocScore, usesWindows } from './doc-score.js';
import type { CandidateWindows } from './pipeline.js';

/** How long documents are handled: DOTRANK_DOC_SCORE and the window sizes (undefined: the model's defaults). */
export interface PassageWindowSettings {
  docScore: string;
  windowTokens?: number;
  stride?: number;
  /** Texts whose windows the splitter remembers (default REMEMBERED_TEXTS; 0: none). */
  rememberedTexts?: number;
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
  return {
    split: rememberedSplits((text) => splitIntoWindows(text, tokenizer, options), settings.rememberedTexts),
    docScore: settings.docScore,
  };
}

/** How many texts' windows a splitter remembers by default. */
export const REMEMBERED_TEXTS = 10_000;

/**
 * Remembers the windows of the texts split last (least recently used out): splitting tokenizes the whole text, which
 * for a long document costs far more than reading its cached vectors (the windows benchmark: about 4.5 ms a
 * 1,100-token document), and the same documents come back query after query.
 */
export function rememberedSplits(
  split: (text: string) => PassageWindow[],
  capacity = REMEMBERED_TEXTS,
): (text: string) => PassageWindow[] {
  const remembered = new Map<string, PassageWindow[]>();
  return (text) => {
    const known = remembered.get(text);
    if (known) {
      remembered.delete(text);
      remembered.set(text, known);
      return known;
    }
    const windows = split(text);
    if (capacity > 0) {
      remembered.set(text, windows);
      if (remembered.size > capacity) remembered.delete(remembered.keys().next().value!);
    }
    return windows;
  };
}
