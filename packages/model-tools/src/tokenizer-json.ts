import { readFile } from 'node:fs/promises';
import { ModelError } from '@dotrank/core';

/** The fields of `tokenizer_config.json` (BertTokenizer / DistilBertTokenizer) that shape the tokenizer. */
export interface BertTokenizerConfig {
  do_lower_case?: boolean;
  strip_accents?: boolean | null;
  tokenize_chinese_chars?: boolean;
  unk_token?: string;
  sep_token?: string;
  pad_token?: string;
  cls_token?: string;
  mask_token?: string;
}

function tokenName(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string')
    return (value as { content: string }).content;
  return fallback;
}

/**
 * Builds the `tokenizer.json` (Hugging Face tokenizers format) equivalent to a BERT WordPiece tokenizer defined by
 * `vocab.txt` + `tokenizer_config.json`: BertNormalizer (lowercase / strip accents as configured), BertPreTokenizer,
 * WordPiece with `##` continuation, and TemplateProcessing `[CLS] $A [SEP]` (pairs: `[CLS] $A [SEP] $B:1 [SEP]:1`).
 */
export function buildBertTokenizerJson(
  vocabText: string,
  config: BertTokenizerConfig & Record<string, unknown> = {},
): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  const lines = vocabText.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, id) => {
    vocab[line.replace(/\r$/, '')] = id;
  });
  const names = {
    pad: tokenName(config.pad_token, '[PAD]'),
    unk: tokenName(config.unk_token, '[UNK]'),
    cls: tokenName(config.cls_token, '[CLS]'),
    sep: tokenName(config.sep_token, '[SEP]'),
    mask: tokenName(config.mask_token, '[MASK]'),
  };
  const idOf = (token: string): number => {
    const id = vocab[token];
    if (id === undefined) throw new ModelError(`special token ${token} is not in vocab.txt`, { field: 'vocab.txt' });
    return id;
  };
  const special = Object.values(names)
    .map((content) => ({
      id: idOf(content),
      special: true,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    }))
    .sort((a, b) => a.id - b.id);
  const cls = { id: names.cls, ids: [idOf(names.cls)], tokens: [names.cls] };
  const sep = { id: names.sep, ids: [idOf(names.sep)], tokens: [names.sep] };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: config.tokenize_chinese_chars ?? true,
      strip_accents: config.strip_accents ?? null,
      lowercase: config.do_lower_case ?? true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: names.cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: names.sep, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: names.cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: names.sep, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: names.sep, type_id: 1 } },
      ],
      special_tokens: { [names.cls]: cls, [names.sep]: sep },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: names.unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/** Reads `vocab.txt` and (optional) `tokenizer_config.json` from a folder and returns the tokenizer.json text. */
export async function tokenizerJsonFromVocab(vocabPath: string, configPath?: string): Promise<string> {
  const vocab = await readFile(vocabPath, 'utf8');
  let config: Record<string, unknown> = {};
  if (configPath) {
    try {
      config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new ModelError('tokenizer_config.json is not valid JSON', { field: configPath, cause: error });
    }
  }
  return JSON.stringify(buildBertTokenizerJson(vocab, config));
}
