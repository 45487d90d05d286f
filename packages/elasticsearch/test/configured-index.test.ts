// Any index, configured without code: the ELASTICSEARCH_* field variables and DOTRANK_INDEX_CONFIG are checked with
// errors naming the variable (or `file: index.field`), the one hit-to-passage function reads dotted paths and
// arrays, and the candidate source searches a stand-in cluster whose text sits in nested fields with options taken
// from the environment only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError, loadConfig } from '@dotrank/core';
import { startStandInElasticsearch } from '../src/testing/index.js';
import type { StandInElasticsearch } from '../src/testing/index.js';
import { passageFromHit } from '../src/query.js';
import { resolveSourceOptions } from '../src/options.js';
import {
  loadIndexConfig,
  parseIndexConfig,
  passageOptionsForIndex,
  sourceOptionsFromConfig,
} from '../src/index-config.js';
import { createElasticsearchSource } from '../src/source.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('ELASTICSEARCH_* field variables', () => {
  it('reads field lists, boosts, the separator, the id field and the flags', () => {
    const config = loadConfig({
      ELASTICSEARCH_SEARCH_FIELDS: 'body.content, meta.title^2.5',
      ELASTICSEARCH_TEXT_FIELDS: 'meta.title,body.content',
      ELASTICSEARCH_TEXT_SEPARATOR: '\\n\\n',
      ELASTICSEARCH_ID_FIELD: 'meta.ref',
      ELASTICSEARCH_FILTER_FIELDS: 'meta.lang,meta.year',
      ELASTICSEARCH_URL: 'http://es1:9200, http://es2:9200',
      ELASTICSEARCH_CA_FINGERPRINT: 'ab'.repeat(32),
      ELASTICSEARCH_TLS_INSECURE: '0',
    });
    expect(config).toMatchObject({
      ELASTICSEARCH_SEARCH_FIELDS: ['body.content', 'meta.title^2.5'],
      ELASTICSEARCH_TEXT_FIELDS: ['meta.title', 'body.content'],
      ELASTICSEARCH_TEXT_SEPARATOR: '\n\n',
      ELASTICSEARCH_ID_FIELD: 'meta.ref',
      ELASTICSEARCH_FILTER_FIELDS: ['meta.lang', 'meta.year'],
      ELASTICSEARCH_CA_FINGERPRINT: Array(32).fill('AB').join(':'),
      ELASTICSEARCH_TLS_INSECURE: false,
    });
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ ELASTICSEARCH_TEXT_SEPARATOR: ' ', ELASTICSEARCH_ID_FIELD: '_id' });
    expect(defaults.ELASTICSEARCH_SEARCH_FIELDS).toBeUndefined();
    expect(defaults.ELASTICSEARCH_TLS_INSECURE).toBe(false);
  });

  it.each([
    ['ELASTICSEARCH_SEARCH_FIELDS', 'title^high', /"title\^high" is not a field name with an optional \^boost/],
    ['ELASTICSEARCH_SEARCH_FIELDS', 'title,,text', /empty item/],
    ['ELASTICSEARCH_TEXT_FIELDS', 'body content', /"body content" is not a field name/],
    ['ELASTICSEARCH_TEXT_FIELDS', 'title^2', /"title\^2" is not a field name/],
    ['ELASTICSEARCH_FILTER_FIELDS', 'meta.*', /"meta\.\*" is not a field name/],
    ['ELASTICSEARCH_ID_FIELD', 'a b', /one field name/],
    ['ELASTICSEARCH_URL', 'http://es1:9200,ftp://es2', /http\(s\) URL or a comma list/],
    ['ELASTICSEARCH_URL', 'es1:9200', /http\(s\) URL/],
    ['ELASTICSEARCH_CA_FINGERPRINT', 'AB:CD', /64 hex digits/],
    ['ELASTICSEARCH_TLS_INSECURE', 'yes', /must be 0, 1, false or true/],
  ])('refuses %s=%s naming the variable', (variable, value, problem) => {
    const error = configError(() => loadConfig({ [variable]: value }));
    expect(error.field).toBe(variable);
    expect(error.message).toMatch(problem);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
  });
});

describe('passageFromHit', () => {
  const options = resolveSourceOptions({
    textFields: ['meta.title', 'body.content', 'sections.text'],
    idField: 'meta.ref',
    textSeparator: ' | ',
    filterFields: ['meta.lang'],
  });

  it('reads dotted paths into objects, joins arrays and arrays of objects, in the configured order', () => {
    const hit = {
      _id: 'es-1',
      _source: {
        meta: { title: 'Title', ref: 'R1', lang: 'en' },
        body: { content: ['first part', 'second part'] },
        sections: [{ text: 'sec one' }, { text: ['sec two a', 'sec two b'] }, { other: 1 }],
      },
    };
    expect(passageFromHit(hit, options)).toEqual({
      id: 'R1',
      text: 'Title | first part | second part | sec one | sec two a | sec two b',
      metadata: { 'meta.lang': 'en' },
    });
  });

  it('leaves missing and empty fields out, falls back to _id, and keeps flat dotted keys', () => {
    expect(passageFromHit({ _id: 'es-2', _source: { body: { content: '' }, 'meta.title': 'Flat' } }, options)).toEqual({
      id: 'es-2',
      text: 'Flat',
    });
    expect(passageFromHit({ _id: 'es-3', _source: {} }, options)).toEqual({ id: 'es-3', text: '' });
    expect(() => passageFromHit({ _source: {} }, options)).toThrow(ValidationError);
  });

  it('gives the same passage (text and so cache key) for the same hit under config-built options', () => {
    const config = loadConfig({
      ELASTICSEARCH_TEXT_FIELDS: 'meta.title,body.content,sections.text',
      ELASTICSEARCH_ID_FIELD: 'meta.ref',
      ELASTICSEARCH_TEXT_SEPARATOR: ' | ',
      ELASTICSEARCH_FILTER_FIELDS: 'meta.lang',
    });
    const hit = { _id: 'x', _source: { meta: { title: 'T', ref: 'R', lang: 'de' }, body: { content: 'C' } } };
    expect(passageFromHit(hit, passageOptionsForIndex(config, 'library'))).toEqual(passageFromHit(hit, options));
  });
});

describe('DOTRANK_INDEX_CONFIG', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dotrank-index-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('overrides the environment per index and leaves other indices to it', () => {
    const file = join(dir, 'indices.json');
    writeFileSync(
      file,
      JSON.stringify({
        articles: {
          textFields: ['headline', 'body.content'],
          searchFields: ['headline^3', 'body.content'],
          textSeparator: '\n',
        },
        logs: { idField: 'event.id', filterFields: ['service'] },
      }),
    );
    const config = loadConfig({ ELASTICSEARCH_TEXT_FIELDS: 'text', DOTRANK_INDEX_CONFIG: file });
    expect(passageOptionsForIndex(config, 'articles')).toMatchObject({
      index: 'articles',
      textFields: ['headline', 'body.content'],
      searchFields: ['headline^3', 'body.content'],
      textSeparator: '\n',
    });
    expect(passageOptionsForIndex(config, 'logs')).toMatchObject({
      textFields: ['text'],
      idField: 'event.id',
      filterFields: ['service'],
      metadataField: null,
    });
    expect(sourceOptionsFromConfig(config, 'other')).toEqual({
      index: 'other',
      textFields: ['text'],
      textSeparator: ' ',
      idField: '_id',
    });
  });

  it.each([
    [{ a: { textFields: 'body' } }, /: a\.textFields: must be a non-empty list/],
    [{ a: { textFields: [] } }, /: a\.textFields: must be a non-empty list/],
    [{ a: { searchFields: ['t^x'] } }, /: a\.searchFields: "t\^x" is not a field name with an optional \^boost/],
    [{ a: { idField: 3 } }, /: a\.idField: must be one field name/],
    [{ a: { textSeperator: ' ' } }, /: a\.textSeperator: unknown field; an index may set searchFields, textFields/],
    [{ 'logs-*': {} }, /"logs-\*": is not an index name/],
    [{ a: ['body'] }, /: a: must be an object/],
    [[], /must be a JSON object mapping index names/],
  ])('refuses %j with file: index.field: problem', (json, problem) => {
    const error = configError(() => parseIndexConfig('/etc/indices.json', json));
    expect(error.message.startsWith('/etc/indices.json: ')).toBe(true);
    expect(error.message).toMatch(problem);
  });

  it('names the file and line of bad JSON, and a missing file under the variable', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{\n  "a": {\n    "textFields": ["x",]\n  }\n}\n');
    const error = configError(() => loadIndexConfig(file));
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:3: not valid JSON \\(near "\\]`));
    const missing = configError(() => loadIndexConfig(join(dir, 'nope.json')));
    expect(missing.field).toBe('DOTRANK_INDEX_CONFIG');
    expect(missing.message).toMatch(/ENOENT/);
  });
});

describe('the Elasticsearch source on an index with nested fields, configured only through the environment', () => {
  let es: StandInElasticsearch;
  const docs = [
    { ref: 'P-1', title: 'Boundary layers', content: 'boundary layer transition on a flat plate', lang: 'en' },
    { ref: 'P-2', title: 'Heat', content: 'heat transfer in a boundary layer at supersonic speed', lang: 'en' },
    { ref: 'P-3', title: 'Kegel', content: 'boundary layer of a cone', lang: 'de' },
    { ref: 'P-4', title: 'Unrelated', content: 'wing flutter', lang: 'en' },
  ];
  beforeAll(async () => {
    es = await startStandInElasticsearch({
      indices: {
        library: {
          documents: docs.map((d, i) => ({
            _id: `doc-${i}`,
            _source: { meta: { ref: d.ref, title: d.title, lang: d.lang }, body: { content: d.content } },
          })),
        },
      },
    });
  });
  afterAll(() => es.close());

  const env = () => ({
    ELASTICSEARCH_URL: es.url,
    ELASTICSEARCH_INDEX: 'library',
    ELASTICSEARCH_SEARCH_FIELDS: 'body.content,meta.title^2',
    ELASTICSEARCH_TEXT_FIELDS: 'meta.title,body.content',
    ELASTICSEARCH_ID_FIELD: 'meta.ref',
    ELASTICSEARCH_FILTER_FIELDS: 'meta.lang',
  });

  it('searches the configured fields, filters on an allowed field, and builds passages from the nested text', async () => {
    const source = createElasticsearchSource(loadConfig(env()));
    try {
      es.clearRequests();
      const candidates = await source.search('boundary layer', { k: 3, filter: { 'meta.lang': 'en' } });
      const sent = JSON.parse(es.requestsTo('/library/_search')[0]!.body) as Record<string, unknown>;
      expect(sent).toMatchObject({
        size: 3,
        _source: { includes: ['meta.title', 'body.content', 'meta.ref', 'meta.lang'] },
        query: {
          bool: {
            must: [{ multi_match: { query: 'boundary layer', fields: ['body.content', 'meta.title^2'] } }],
            filter: [{ term: { 'meta.lang': 'en' } }],
          },
        },
      });
      // the same search straight at the stand-in gives the order and scores the source returns
      const direct = await fetch(`${es.url}/library/_search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(sent),
      }).then((r) => r.json() as Promise<{ hits: { hits: Array<{ _id: string; _score: number }> } }>);
      expect(candidates.map((c) => c.score)).toEqual(direct.hits.hits.map((h) => h._score));
      expect(candidates.map((c) => c.id)).toEqual(['P-1', 'P-2']);
      expect(candidates[0]).toEqual({
        id: 'P-1',
        text: 'Boundary layers boundary layer transition on a flat plate',
        score: direct.hits.hits[0]!._score,
        metadata: { 'meta.lang': 'en' },
      });
      expect(candidates.every((c) => c.metadata?.['meta.lang'] === 'en')).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('refuses a filter on a field outside ELASTICSEARCH_FILTER_FIELDS, naming it, before asking the cluster', async () => {
    const source = createElasticsearchSource(loadConfig(env()));
    try {
      es.clearRequests();
      const error = await source.search('boundary', { k: 3, filter: { 'meta.ref': 'P-1' } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('filter.meta.ref');
      expect((error as Error).message).toMatch(/filters may use meta\.lang \(ELASTICSEARCH_FILTER_FIELDS\)/);
      expect(es.requests).toHaveLength(0);
    } finally {
      await source.close();
    }
  });

  it('lets options given in code win over the environment', async () => {
    const source = createElasticsearchSource(loadConfig(env()), { textFields: ['body.content'] });
    try {
      const [first] = await source.search('cone', { k: 1 });
      expect(first).toMatchObject({ id: 'P-3', text: 'boundary layer of a cone' });
    } finally {
      await source.close();
    }
  });
});
