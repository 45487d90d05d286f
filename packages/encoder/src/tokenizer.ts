import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelError } from '@dotrank/core';

type Json = Record<string, unknown>;

/** Special token ids the post-processor puts before and after a single sequence (e.g. [CLS] ... [SEP]). */
interface Specials {
  before: number[];
  after: number[];
}

function specialIds(token: Json, specials: Json | undefined, file: string): number[] {
  const id = token['id'];
  const entry = typeof id === 'string' ? (specials?.[id] as Json | undefined) : undefined;
  const ids = entry?.['ids'];
  if (!Array.isArray(ids) || !ids.every((v) => typeof v === 'number')) {
    throw new ModelError(`post_processor names special token ${JSON.stringify(id)} without ids`, { field: file });
  }
  return ids as number[];
}

/** Reads the single-sequence template of tokenizer.json's post-processor. */
function readSpecials(postProcessor: unknown, file: string): Specials {
  if (postProcessor === null || postProcessor === undefined) return { before: [], after: [] };
  const pp = postProcessor as Json;
  switch (pp['type']) {
    case 'TemplateProcessing': {
      const before: number[] = [];
      const after: number[] = [];
      let seenSequence = false;
      for (const item of (pp['single'] as Json[] | undefined) ?? []) {
        if ('Sequence' in item) {
          seenSequence = true;
        } else if ('SpecialToken' in item) {
          const ids = specialIds(item['SpecialToken'] as Json, pp['special_tokens'] as Json | undefined, file);
          (seenSequence ? after : before).push(...ids);
        }
      }
      return { before, after };
    }
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const cls = pp['cls'] as [string, number] | undefined;
      const sep = pp['sep'] as [string, number] | undefined;
      if (!cls || !sep) throw new ModelError('post_processor lacks cls/sep', { field: file });
      return { before: [cls[1]], after: [sep[1]] };
    }
    default:
      throw new ModelError(
        `post_processor type ${JSON.stringify(pp['type'])} is not supported (expected TemplateProcessing or BertProcessing)`,
        { field: file },
      );
  }
}

/**
 * The model's tokenizer (`@huggingface/tokenizers`, pure JS) with truncation done here, as the Python
 * `tokenizers` library does it for a single sequence: the text's tokens are cut to `maxLength` minus the
 * special tokens, then the special tokens ([CLS] ... [SEP]) are added, so they are always kept.
 */
export class TextTokenizer {
  readonly padId: number;
  private readonly specials: Specials;

  private constructor(
    private readonly tokenizer: Tokenizer,
    specials: Specials,
    padId: number,
  ) {
    this.specials = specials;
    this.padId = padId;
  }

  static async fromFile(path: string): Promise<TextTokenizer> {
    let json: Json;
    try {
      json = JSON.parse(await readFile(path, 'utf8')) as Json;
    } catch (error) {
      throw new ModelError(`cannot read tokenizer: ${(error as Error).message}`, { field: path, cause: error });
    }
    let config: Json = {};
    try {
      config = JSON.parse(await readFile(join(dirname(path), 'tokenizer_config.json'), 'utf8')) as Json;
    } catch {
      config = {};
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (error) {
      throw new ModelError(`is not a tokenizer this library can load: ${(error as Error).message}`, {
        field: path,
        cause: error,
      });
    }
    const specials = readSpecials(json['post_processor'], path);
    const padding = json['padding'] as Json | null | undefined;
    const padId =
      typeof padding?.['pad_id'] === 'number' ? (padding['pad_id'] as number) : (tokenizer.token_to_id('[PAD]') ?? 0);
    return new TextTokenizer(tokenizer, specials, padId);
  }

  /** Number of special tokens added around one sequence. */
  get specialCount(): number {
    return this.specials.before.length + this.specials.after.length;
  }

  /** Token ids of one text without special tokens and without truncation (what windows are cut from). */
  pieces(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Token ids of one text with special tokens, at most `maxLength` of them (special tokens included). */
  encode(text: string, maxLength: number): number[] {
    const body = this.pieces(text);
    const room = Math.max(0, maxLength - this.specialCount);
    const kept = body.length > room ? body.slice(0, room) : body;
    return [...this.specials.before, ...kept, ...this.specials.after];
  }
}
