// `dotrank es inspect`: what an index someone else designed holds, read from its mapping and a sample of its
// documents: the text fields (analyzer, how many documents have them, how long they are), nested paths, the fields a
// filter can use, the document count, and the configuration that would serve it, ready to paste.
import type { Client } from '@elastic/elasticsearch';
import { authKindOf } from './client.js';
import { translateError } from './errors.js';
import { getField } from './query.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A text field of the mapping, with sizes from the sampled documents. */
export interface InspectedTextField {
  path: string;
  /** `text`, `match_only_text`, ... */
  type: string;
  /** The analyzer that indexes it (the index's default analyzer when the mapping names none). */
  analyzer: string;
  /** The nested path it sits under: searchable only inside a `nested` query. */
  nestedPath?: string;
  /** A multi-field (`title.english`): searchable, but not in `_source`, so it cannot give passage text. */
  multiField: boolean;
  /** Sampled documents holding a non-empty value. */
  documents: number;
  /** Sampled documents where the value is an array. */
  arrays: number;
  /** Average and largest length over the documents holding it, in characters and in words. */
  avgChars: number;
  maxChars: number;
  avgWords: number;
}

/** A field a filter can use: keyword, number, date, boolean. */
export interface InspectedFilterField {
  path: string;
  type: string;
  nestedPath?: string;
  multiField: boolean;
}

/** The configuration `dotrank es inspect` suggests. */
export interface SuggestedIndexConfig {
  searchFields: string[];
  textFields: string[];
  idField: string;
  filterFields: string[];
  textSeparator: string;
}

export interface IndexInspection {
  index: string;
  /** The concrete indices the name stands for (an alias or pattern may stand for several). */
  indices: string[];
  documents: number;
  /** Documents read to measure the fields. */
  sampled: number;
  defaultAnalyzer: string;
  textFields: InspectedTextField[];
  filterFields: InspectedFilterField[];
  nestedPaths: string[];
  suggestion: SuggestedIndexConfig;
  /** Things the suggestion could not settle, in words. */
  notes: string[];
}

/** TAS-B reads the first 256 word pieces of a passage: roughly 190 English words. */
const PASSAGE_WORDS = 190;
const TEXT_TYPES = new Set(['text', 'match_only_text', 'search_as_you_type', 'semantic_text']);
const FILTER_TYPES = new Set([
  'keyword',
  'constant_keyword',
  'wildcard',
  'boolean',
  'long',
  'integer',
  'short',
  'byte',
  'double',
  'float',
  'half_float',
  'scaled_float',
  'unsigned_long',
  'date',
  'date_nanos',
  'ip',
]);
const TITLE_LIKE = /(^|[._])(title|name|heading|headline|subject|label)$/i;

interface Walked {
  text: Array<Omit<InspectedTextField, 'documents' | 'arrays' | 'avgChars' | 'maxChars' | 'avgWords'>>;
  filter: InspectedFilterField[];
  nested: string[];
}

/** Text, filter and nested fields of a mapping's properties (multi-fields included, marked). */
export function walkMapping(properties: unknown, defaultAnalyzer = 'standard'): Walked {
  const out: Walked = { text: [], filter: [], nested: [] };
  const visit = (props: unknown, prefix: string, nestedPath: string | undefined, multiField: boolean): void => {
    if (!isObject(props)) return;
    for (const [name, spec] of Object.entries(props)) {
      if (!isObject(spec)) continue;
      const path = `${prefix}${name}`;
      const type = typeof spec['type'] === 'string' ? spec['type'] : isObject(spec['properties']) ? 'object' : '';
      const inNested = type === 'nested' ? path : nestedPath;
      if (type === 'nested') out.nested.push(path);
      const where = { ...(nestedPath ? { nestedPath } : {}), multiField };
      if (TEXT_TYPES.has(type)) {
        const analyzer = typeof spec['analyzer'] === 'string' ? spec['analyzer'] : defaultAnalyzer;
        out.text.push({ path, type, analyzer, ...where });
      } else if (FILTER_TYPES.has(type)) out.filter.push({ path, type, ...where });
      if (isObject(spec['properties'])) visit(spec['properties'], `${path}.`, inNested, multiField);
      if (isObject(spec['fields'])) visit(spec['fields'], `${path}.`, nestedPath, true);
    }
  };
  visit(properties, '', undefined, false);
  return out;
}

/** The sizes of one field over sampled `_source`s. */
function measure(path: string, sources: unknown[]) {
  let documents = 0;
  let arrays = 0;
  let chars = 0;
  let words = 0;
  let maxChars = 0;
  for (const source of sources) {
    const value = getField(source, path);
    const values = (Array.isArray(value) ? value.flat(Infinity) : [value]).filter(
      (v): v is string | number => typeof v === 'string' || typeof v === 'number',
    );
    const text = values.map(String).join(' ').trim();
    if (text === '') continue;
    documents++;
    if (Array.isArray(value)) arrays++;
    chars += text.length;
    words += text.split(/\s+/).length;
    maxChars = Math.max(maxChars, text.length);
  }
  return {
    documents,
    arrays,
    avgChars: documents ? Math.round(chars / documents) : 0,
    maxChars,
    avgWords: documents ? Math.round(words / documents) : 0,
  };
}

/**
 * Reads an index's mapping, settings (its default analyzer), document count and a sample of documents, and suggests
 * the field configuration. Errors are translated (`NotFoundError` for a missing index, naming it).
 */
export async function inspectIndex(
  client: Client,
  index: string,
  options: { sample?: number } = {},
): Promise<IndexInspection> {
  const context = (action: string) => ({ action, index, auth: authKindOf(client) });
  const call = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw translateError(error, context(action));
    }
  };
  const mapping = await call('read the mapping', () => client.indices.getMapping({ index }));
  const settings = await call('read the settings', () => client.indices.getSettings({ index, flat_settings: true }));
  const documents = (await call('count documents', () => client.count({ index }))).count;
  const sample = await call('sample documents', () =>
    client.search({ index, size: options.sample ?? 100, query: { match_all: {} }, track_total_hits: false }),
  );
  const indices = Object.keys(mapping).sort();
  const defaultAnalyzer = defaultAnalyzerOf(settings);
  const walked: Walked = { text: [], filter: [], nested: [] };
  for (const name of indices) {
    const one = walkMapping(mapping[name]?.mappings?.properties, defaultAnalyzer);
    for (const f of one.text) if (!walked.text.some((t) => t.path === f.path)) walked.text.push(f);
    for (const f of one.filter) if (!walked.filter.some((t) => t.path === f.path)) walked.filter.push(f);
    for (const p of one.nested) if (!walked.nested.includes(p)) walked.nested.push(p);
  }
  const sources = sample.hits.hits.map((h) => h._source ?? {});
  const textFields = walked.text.map((f) => ({ ...f, ...measure(f.path, sources) }));
  const { suggestion, notes } = suggest(textFields, walked.filter, sources.length);
  return {
    index,
    indices,
    documents,
    sampled: sources.length,
    defaultAnalyzer,
    textFields,
    filterFields: walked.filter,
    nestedPaths: walked.nested,
    suggestion,
    notes,
  };
}

function defaultAnalyzerOf(settings: Json): string {
  for (const entry of Object.values(settings)) {
    const flat = isObject(entry) && isObject(entry['settings']) ? entry['settings'] : {};
    const type = flat['index.analysis.analyzer.default.type'];
    if (typeof type === 'string') return type;
  }
  return 'standard';
}

/** The configuration that fits the fields: title-like fields then the longest text field; keyword-like filters. */
function suggest(
  text: InspectedTextField[],
  filter: InspectedFilterField[],
  sampled: number,
): { suggestion: SuggestedIndexConfig; notes: string[] } {
  const notes: string[] = [];
  const usable = text.filter((f) => !f.multiField && !f.nestedPath && f.documents > 0);
  const common = usable.filter((f) => f.documents * 2 >= sampled);
  const pool = common.length > 0 ? common : usable;
  const titles = pool.filter((f) => TITLE_LIKE.test(f.path));
  const body = [...pool].filter((f) => !titles.includes(f)).sort((a, b) => b.avgChars - a.avgChars)[0];
  const chosen = [...titles, ...(body ? [body] : [])].map((f) => f.path);
  if (chosen.length === 0) {
    notes.push(
      sampled === 0
        ? 'the index is empty: no text field could be measured; set ELASTICSEARCH_TEXT_FIELDS by hand'
        : 'no text field of the mapping holds text in the sampled documents; set ELASTICSEARCH_TEXT_FIELDS by hand',
    );
  }
  for (const f of text.filter((t) => t.nestedPath && t.documents > 0)) {
    notes.push(
      `${f.path} sits under the nested path ${f.nestedPath}: a plain query does not search it (left out); it can still be a text field`,
    );
  }
  for (const f of text.filter((t) => chosen.includes(t.path) && t.avgWords > PASSAGE_WORDS)) {
    notes.push(
      `${f.path} averages ${f.avgWords} words: TAS-B reads about the first ${PASSAGE_WORDS} words (256 tokens) of a passage`,
    );
  }
  const filterFields = filter.filter((f) => !f.multiField && !f.nestedPath).map((f) => f.path);
  return {
    suggestion: { searchFields: chosen, textFields: chosen, idField: '_id', filterFields, textSeparator: ' ' },
    notes,
  };
}

/** The suggestion as environment lines, ready to paste (the separator only when it is not the default). */
export function suggestionAsEnv(index: string, s: SuggestedIndexConfig): string[] {
  const lines = [`ELASTICSEARCH_INDEX=${index}`];
  if (s.searchFields.length) lines.push(`ELASTICSEARCH_SEARCH_FIELDS=${s.searchFields.join(',')}`);
  if (s.textFields.length) lines.push(`ELASTICSEARCH_TEXT_FIELDS=${s.textFields.join(',')}`);
  lines.push(`ELASTICSEARCH_ID_FIELD=${s.idField}`);
  if (s.filterFields.length) lines.push(`ELASTICSEARCH_FILTER_FIELDS=${s.filterFields.join(',')}`);
  if (s.textSeparator !== ' ')
    lines.push(`ELASTICSEARCH_TEXT_SEPARATOR=${JSON.stringify(s.textSeparator).slice(1, -1)}`);
  return lines;
}

/** The suggestion as a DOTRANK_INDEX_CONFIG file with this one index (`{"<index>": {...}}`, an index a line). */
export function suggestionAsIndexConfig(index: string, s: SuggestedIndexConfig): string {
  const entry: Json = {};
  if (s.searchFields.length) entry['searchFields'] = s.searchFields;
  if (s.textFields.length) entry['textFields'] = s.textFields;
  entry['idField'] = s.idField;
  if (s.filterFields.length) entry['filterFields'] = s.filterFields;
  entry['textSeparator'] = s.textSeparator;
  return `{\n  ${JSON.stringify(index)}: ${JSON.stringify(entry)}\n}`;
}
