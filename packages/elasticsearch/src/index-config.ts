// Where each index keeps its text, configured without code: the ELASTICSEARCH_* field variables for every index, and
// DOTRANK_INDEX_CONFIG (a JSON file: index -> fields) for indices that differ. The candidate source, the proxy and
// warming all take their passage options from here, so a document has one text and one cache key everywhere.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { parseBoostedField, resolveSourceOptions } from './options.js';
import type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';

/** The configuration the passage options are read from (all from `loadConfig`). */
export type PassageConfig = Pick<
  DotrankConfig,
  | 'ELASTICSEARCH_INDEX'
  | 'ELASTICSEARCH_SEARCH_FIELDS'
  | 'ELASTICSEARCH_TEXT_FIELDS'
  | 'ELASTICSEARCH_TEXT_SEPARATOR'
  | 'ELASTICSEARCH_ID_FIELD'
  | 'ELASTICSEARCH_FILTER_FIELDS'
  | 'DOTRANK_INDEX_CONFIG'
>;

/** One index's entry of DOTRANK_INDEX_CONFIG; each field replaces the ELASTICSEARCH_* variable for that index. */
export interface IndexFieldConfig {
  searchFields?: string[];
  textFields?: string[];
  textSeparator?: string;
  idField?: string;
  filterFields?: string[];
}

/** DOTRANK_INDEX_CONFIG read and checked: index name -> its fields. */
export type IndexConfigMap = ReadonlyMap<string, IndexFieldConfig>;

const FIELD_NAME = /^[^\s,^*]+$/;
const INDEX_NAME = /^[^\s,*?"<>|\\/#:]+$/;
const KEYS = ['searchFields', 'textFields', 'textSeparator', 'idField', 'filterFields'] as const;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function fieldList(file: string, where: string, value: unknown, boosts: boolean): string[] {
  const fail = (problem: string) => new ConfigError(file, `${where}: ${problem}`);
  if (!Array.isArray(value) || value.length === 0)
    throw fail('must be a non-empty list of field names, e.g. ["body.content"]');
  return value.map((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') throw fail(`item ${i + 1} must be a field name`);
    const name = item.trim();
    if (boosts) {
      try {
        parseBoostedField(name);
      } catch {
        throw fail(`"${name}" is not a field name with an optional ^boost (e.g. "title^2")`);
      }
    } else if (!FIELD_NAME.test(name)) throw fail(`"${name}" is not a field name (dotted paths allowed)`);
    return name;
  });
}

/** Checks the parsed JSON of DOTRANK_INDEX_CONFIG; every problem is `file: index.field: problem`. */
export function parseIndexConfig(file: string, json: unknown): IndexConfigMap {
  if (!isObject(json))
    throw new ConfigError(file, 'must be a JSON object mapping index names to {searchFields, textFields, ...}');
  const out = new Map<string, IndexFieldConfig>();
  for (const [index, entry] of Object.entries(json)) {
    if (!INDEX_NAME.test(index))
      throw new ConfigError(file, `${JSON.stringify(index)}: is not an index name (no wildcards, commas or spaces)`);
    if (!isObject(entry))
      throw new ConfigError(file, `${index}: must be an object such as {"textFields": ["body.content"]}`);
    const config: IndexFieldConfig = {};
    for (const [key, value] of Object.entries(entry)) {
      const where = `${index}.${key}`;
      switch (key) {
        case 'searchFields':
          config.searchFields = fieldList(file, where, value, true);
          break;
        case 'textFields':
        case 'filterFields':
          config[key] = fieldList(file, where, value, false);
          break;
        case 'idField':
          if (typeof value !== 'string' || !FIELD_NAME.test(value.trim()))
            throw new ConfigError(file, `${where}: must be one field name (a dotted path) or "_id"`);
          config.idField = value.trim();
          break;
        case 'textSeparator':
          if (typeof value !== 'string') throw new ConfigError(file, `${where}: must be a string`);
          config.textSeparator = value;
          break;
        default:
          throw new ConfigError(file, `${where}: unknown field; an index may set ${KEYS.join(', ')}`);
      }
    }
    out.set(index, config);
  }
  return out;
}

const loaded = new Map<string, { mtimeMs: number; map: IndexConfigMap }>();

/**
 * Reads DOTRANK_INDEX_CONFIG (kept per path, read again only when the file changes). A missing file, bad JSON
 * (`file:line`), or a bad entry (`file: index.field: problem`) is a ConfigError.
 */
export function loadIndexConfig(path: string): IndexConfigMap {
  const file = resolve(path);
  let mtimeMs: number;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError('DOTRANK_INDEX_CONFIG', `cannot read ${file} (${code})`);
  }
  const cached = loaded.get(file);
  if (cached && cached.mtimeMs === mtimeMs) return cached.map;
  const text = readFileSync(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file}${jsonErrorLine(text)}`, `not valid JSON${jsonErrorNear(text)}`);
  }
  const map = parseIndexConfig(file, json);
  loaded.set(file, { mtimeMs, map });
  return map;
}

/** `:line` of the first JSON syntax error in a text (Node 20's JSON.parse does not say where). */
function jsonErrorLine(text: string): string {
  const offset = jsonErrorOffset(text);
  return offset === undefined ? '' : `:${text.slice(0, offset).split('\n').length}`;
}

/** ` (near "…")`: the text where the first JSON syntax error is. */
function jsonErrorNear(text: string): string {
  const offset = jsonErrorOffset(text);
  if (offset === undefined) return '';
  return offset >= text.length
    ? ' (the text ends too early)'
    : ` (near ${JSON.stringify(text.slice(offset, offset + 24))})`;
}

/** Offset of the first JSON syntax error, found by a recursive-descent scan (no values built). */
function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => (text.startsWith(word, i) ? (i += word.length) : fail());
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : text.charCodeAt(i) < 0x20 ? fail() : 1;
    if (i >= text.length) fail();
    i++;
  };
  const list = (close: string, item: () => void) => {
    i++;
    space();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      space();
      if (text[i] === ',') i++;
      else if (text[i] === close) return void i++;
      else fail();
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{')
      list('}', () => {
        space();
        if (text[i] !== '"') fail();
        string();
        space();
        if (text[i] !== ':') fail();
        i++;
        value();
      });
    else if (c === '[') list(']', value);
    else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) fail();
      i += m![0].length;
    }
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (offset) {
    return offset as number;
  }
}

/**
 * The passage options of an index from configuration: the ELASTICSEARCH_* field variables, with the index's entry
 * of DOTRANK_INDEX_CONFIG over them. Unset ones keep the source's defaults.
 */
export function sourceOptionsFromConfig(
  config: Partial<PassageConfig>,
  index: string = config.ELASTICSEARCH_INDEX ?? 'dotrank',
): ElasticsearchSourceOptions {
  const entry = config.DOTRANK_INDEX_CONFIG ? loadIndexConfig(config.DOTRANK_INDEX_CONFIG).get(index) : undefined;
  const options: ElasticsearchSourceOptions = { index };
  const searchFields = entry?.searchFields ?? config.ELASTICSEARCH_SEARCH_FIELDS;
  const textFields = entry?.textFields ?? config.ELASTICSEARCH_TEXT_FIELDS;
  const textSeparator = entry?.textSeparator ?? config.ELASTICSEARCH_TEXT_SEPARATOR;
  const idField = entry?.idField ?? config.ELASTICSEARCH_ID_FIELD;
  const filterFields = entry?.filterFields ?? config.ELASTICSEARCH_FILTER_FIELDS;
  if (searchFields) options.searchFields = [...searchFields];
  if (textFields) options.textFields = [...textFields];
  if (textSeparator !== undefined) options.textSeparator = textSeparator;
  if (idField) options.idField = idField;
  if (filterFields) options.filterFields = [...filterFields];
  return options;
}

/**
 * How hits of `index` become passages (and how it is searched), from configuration: what the candidate source, the
 * `_search` proxy and warming use for that index.
 */
export function passageOptionsForIndex(config: Partial<PassageConfig>, index: string): ResolvedSourceOptions {
  return resolveSourceOptions(sourceOptionsFromConfig(config, index), index);
}
