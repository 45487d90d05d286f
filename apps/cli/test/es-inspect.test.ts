// `dotrank es inspect` as a user runs it (a child process) against a stand-in Elasticsearch over HTTP: an index whose
// text sits in nested objects, an array, a nested-type path and a multi-field; the configuration it suggests is
// pasted into the environment and a search through the Elasticsearch source then reads the right text.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { createElasticsearchSource } from '@dotrank/elasticsearch';
import { startStandInElasticsearch } from '@dotrank/elasticsearch/testing';
import type { StandInElasticsearch } from '@dotrank/elasticsearch/testing';
import { Command } from 'commander';
import { runCli } from '../src/run.js';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';
import type { CliResult } from './cli.js';

/** Runs the CLI in this process with `env` set for the run; what it wrote and the exit code it set. */
async function inProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const written = { stdout: '', stderr: '' };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.stdout += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    written.stderr += String(chunk);
    return true;
  });
  const exitCode = process.exitCode;
  Object.assign(process.env, env);
  try {
    process.exitCode = 0;
    await runCli(['node', 'dotrank', ...args], new Command(), process.env);
    return { code: Number(process.exitCode ?? 0), ...written };
  } finally {
    process.exitCode = exitCode;
    stdout.mockRestore();
    stderr.mockRestore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const LONG = 'word '.repeat(300).trim();

let es: StandInElasticsearch;
beforeAll(async () => {
  es = await startStandInElasticsearch({
    indices: {
      library: {
        mappings: {
          properties: {
            body: { properties: { content: { type: 'text', analyzer: 'english' } } },
            meta: {
              properties: {
                title: { type: 'text', fields: { en: { type: 'text', analyzer: 'english' } } },
                lang: { type: 'keyword' },
                year: { type: 'integer' },
              },
            },
            comments: { type: 'nested', properties: { text: { type: 'text' } } },
          },
        },
        documents: [
          {
            _id: 'a',
            _source: {
              meta: { title: 'Boundary layers', lang: 'en', year: 1950 },
              body: { content: 'boundary layer transition on a flat plate' },
              comments: [{ text: 'nice' }],
            },
          },
          {
            _id: 'b',
            _source: {
              meta: { title: 'Heat', lang: 'en', year: 1960 },
              body: { content: ['heat transfer', 'in supersonic flow'] },
            },
          },
          { _id: 'c', _source: { meta: { title: 'Long', lang: 'de', year: 1970 }, body: { content: LONG } } },
        ],
      },
    },
  });
});
afterAll(() => es.close());

describe('dotrank es inspect', () => {
  it(
    'prints the mapping, sizes and count, and a configuration that works once pasted (or given as flags); exit 2 for a missing index or a bad flag, 1 for no cluster',
    async () => {
      // one run as a user runs it (a child process); the other outcomes in this process, which is much faster
      const ok = await dotrank(['es', 'inspect', 'library', '--sample', '50'], { env: { ELASTICSEARCH_URL: es.url } });
      const json = await inProcess(['es', 'inspect', '--json'], {
        ELASTICSEARCH_URL: es.url,
        ELASTICSEARCH_INDEX: 'library',
      });
      const missing = await inProcess(['es', 'inspect', 'nope'], { ELASTICSEARCH_URL: es.url });
      const down = await inProcess(['es', 'inspect', 'library'], { ELASTICSEARCH_URL: 'http://127.0.0.1:1' });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('index library: 3 documents; sizes from 3 sampled');
      expect(ok.stdout).toMatch(/body\.content\s+text\s+english\s+3\/3\s+\d+\s+1499\s+\d+\s+array in 1/);
      expect(ok.stdout).toMatch(/meta\.title\.en\s+text\s+english\s+0\/3 .*multi-field, not in _source/);
      expect(ok.stdout).toMatch(/comments\.text\s+text\s+standard\s+1\/3 .*nested \(comments\)/);
      expect(ok.stdout).toContain('nested paths: comments');
      expect(ok.stdout).toContain('filterable fields: meta.lang (keyword), meta.year (integer)');
      expect(ok.stdout).toContain('note: comments.text sits under the nested path comments');
      const env = ok.stdout.split('\n').filter((line) => /^[A-Z_]+=/.test(line));
      expect(env).toEqual([
        'ELASTICSEARCH_INDEX=library',
        'ELASTICSEARCH_SEARCH_FIELDS=meta.title,body.content',
        'ELASTICSEARCH_TEXT_FIELDS=meta.title,body.content',
        'ELASTICSEARCH_ID_FIELD=_id',
        'ELASTICSEARCH_FILTER_FIELDS=meta.lang,meta.year',
      ]);
      const snippet = ok.stdout.slice(ok.stdout.indexOf('{'));
      expect(JSON.parse(snippet)).toEqual({
        library: {
          searchFields: ['meta.title', 'body.content'],
          textFields: ['meta.title', 'body.content'],
          idField: '_id',
          filterFields: ['meta.lang', 'meta.year'],
          textSeparator: ' ',
        },
      });

      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as {
        documents: number;
        textFields: Array<{ path: string; avgWords: number }>;
      };
      expect(report.documents).toBe(3);
      expect(report.textFields.find((f) => f.path === 'body.content')!.avgWords).toBe(Math.round((7 + 5 + 300) / 3));

      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^dotrank: index: Elasticsearch index "nope" does not exist/);
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/^dotrank: elasticsearch: cannot reach Elasticsearch/);

      // the same fields as flags of dotrank search (flags over the environment; a bad one named)
      const searched = await inProcess(
        [
          'search',
          'supersonic',
          '--json',
          '--index',
          'library',
          '--text-fields',
          'meta.title,body.content',
          '--search-fields',
          'body.content',
        ],
        { ELASTICSEARCH_URL: es.url, ELASTICSEARCH_TEXT_FIELDS: 'meta.lang' },
      );
      expect(searched.code).toBe(0);
      expect(JSON.parse(searched.stdout)).toEqual([
        { rank: 1, id: 'b', score: expect.any(Number), text: 'Heat heat transfer in supersonic flow' },
      ]);
      const bad = await inProcess(['search', 'x', '--index', 'library', '--text-fields', 'body content'], {
        ELASTICSEARCH_URL: es.url,
      });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^dotrank: --text-fields: "body content" is not a field name/);

      // the suggested lines, pasted into the environment, configure the source for this index
      const pasted = Object.fromEntries(env.map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
      const source = createElasticsearchSource(loadConfig({ ELASTICSEARCH_URL: es.url, ...pasted }));
      try {
        const [first] = await source.search('supersonic heat', { k: 1, filter: { 'meta.lang': 'en' } });
        expect(first).toMatchObject({ id: 'b', text: 'Heat heat transfer in supersonic flow' });
        expect(first!.metadata).toEqual({ 'meta.lang': 'en', 'meta.year': 1960 });
      } finally {
        await source.close();
      }
    },
    SPAWN_TIMEOUT,
  );
});
