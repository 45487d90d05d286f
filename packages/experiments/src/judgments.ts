// Judging, so offline evaluation works for users without qrels: pools of both systems' top-k, grades 0-3 appended
// to a store (Redis when configured, so several API processes share it; a JSON-lines file otherwise), written out as
// TREC qrels with a sidecar log of who judged what when.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { ValidationError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { seedFrom } from './interleave.js';
import type { Impression } from './types.js';

export interface Judgment {
  qid: string;
  query: string;
  docId: string;
  /** 0 (not relevant) .. 3 (perfectly relevant). */
  grade: number;
  judge: string;
  /** Epoch milliseconds. */
  time: number;
}

export interface JudgmentStore {
  readonly kind: 'redis' | 'file';
  append(judgment: Judgment): Promise<void>;
  /** Every judgment in the order given (a later grade of the same query and document replaces an earlier one). */
  list(): Promise<Judgment[]>;
  close(): Promise<void>;
}

const TOKEN = /^[\x21-\x7e]{1,256}$/;

/** Checks a judgment from a request; every problem names the field. */
export function parseJudgment(raw: unknown, now: number = Date.now()): Judgment {
  const body = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const text = (field: string, pattern: RegExp, what: string) => {
    const value = body[field];
    if (typeof value !== 'string' || !pattern.test(value)) throw new ValidationError(field, `is required: ${what}`);
    return value;
  };
  const grade = body['grade'];
  if (typeof grade !== 'number' || !Number.isInteger(grade) || grade < 0 || grade > 3)
    throw new ValidationError('grade', 'must be an integer 0-3');
  return {
    qid: text('qid', TOKEN, 'a query id without spaces'),
    query: text('query', /\S/, 'the query text'),
    docId: text('docId', TOKEN, 'a document id without spaces'),
    grade,
    judge: body['judge'] === undefined ? 'anonymous' : text('judge', /^[^\n]{1,100}$/, 'a name of 1-100 characters'),
    time: now,
  };
}

/** The judgments file without Redis: `<DOTRANK_DATA_DIR>/judgments/judgments.jsonl` (the API and the CLI agree). */
export function judgmentsFileOf(config: Pick<DotrankConfig, 'DOTRANK_DATA_DIR'>): string {
  return resolve(config.DOTRANK_DATA_DIR, 'judgments', 'judgments.jsonl');
}

/** A query's id in qrels: its own (an eval's query set) or one derived from its text (logged traffic). */
export function queryIdOf(query: string): string {
  return `t${seedFrom(query).toString(16).padStart(8, '0')}`;
}

/** The last grade per (qid, docId). */
export function latestJudgments(judgments: readonly Judgment[]): Judgment[] {
  const latest = new Map<string, Judgment>();
  for (const j of judgments) latest.set(`${j.qid}\u0000${j.docId}`, j);
  return [...latest.values()];
}

/** TREC qrels (`qid 0 docid grade`), sorted by query id and document id, one line per judged pair. */
export function formatQrels(judgments: readonly Judgment[]): string {
  return latestJudgments(judgments)
    .sort((a, b) => (a.qid < b.qid ? -1 : a.qid > b.qid ? 1 : a.docId < b.docId ? -1 : a.docId > b.docId ? 1 : 0))
    .map((j) => `${j.qid} 0 ${j.docId} ${j.grade}\n`)
    .join('');
}

/** The sidecar log: every judgment (replaced ones too) as a JSON line with who and when. */
export function formatJudgmentLog(judgments: readonly Judgment[]): string {
  return judgments.map((j) => `${JSON.stringify({ ...j, time: new Date(j.time).toISOString() })}\n`).join('');
}

/** The judged queries as BEIR queries.jsonl, so `dotrank eval` can run them against the exported qrels. */
export function formatJudgedQueries(judgments: readonly Judgment[]): string {
  const queries = new Map<string, string>();
  for (const j of judgments) queries.set(j.qid, j.query);
  return [...queries].map(([id, text]) => `${JSON.stringify({ _id: id, text })}\n`).join('');
}

export interface PoolItem {
  qid: string;
  query: string;
  docId: string;
  /** Pooled documents of this query not judged yet (this one included). */
  remaining: number;
}

/** One query of a pool: its id in the qrels, its text and each system's ranking (document ids, best first). */
export interface PoolQuery {
  qid: string;
  query: string;
  rankings: readonly (readonly string[])[];
}

export interface PoolOptions {
  /** How deep each ranking is pooled (default 10). */
  depth?: number;
  /** The seed of the order queries are judged in (default 1). */
  seed?: number;
  /** Judge only the first `sample` queries of that order (default all). */
  sample?: number;
}

/** Logged traffic as pool queries: per query text, both systems' top-k of every impression, its id from the text. */
function trafficPool(impressions: readonly Impression[]): PoolQuery[] {
  const byQuery = new Map<string, (readonly string[])[]>();
  for (const impression of impressions) {
    const rankings = byQuery.get(impression.query) ?? [];
    rankings.push(impression.control, impression.treatment);
    byQuery.set(impression.query, rankings);
  }
  return [...byQuery].map(([query, rankings]) => ({ qid: queryIdOf(query), query, rankings }));
}

/** A query's pool: the top `depth` of its rankings, interleaved rank by rank, each document once. */
function poolOf(rankings: PoolQuery['rankings'], depth: number): string[] {
  const pool: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < depth; i++)
    for (const ranking of rankings) {
      const id = ranking[i];
      if (id && !seen.has(id)) {
        seen.add(id);
        pool.push(id);
      }
    }
  return pool;
}

/**
 * The next unjudged document: queries (of logged traffic, or an eval's query set given as `{queries}`) in a seeded
 * order, optionally only the first `sample` of them, each pooling the top `depth` of every system (alternating, so
 * both are judged as deep as each other), skipping pairs already judged.
 */
export function nextToJudge(
  from: readonly Impression[] | { queries: readonly PoolQuery[] },
  judgments: readonly Judgment[],
  options: PoolOptions = {},
): PoolItem | undefined {
  const depth = options.depth ?? 10;
  const judged = new Set(judgments.map((j) => `${j.qid}\u0000${j.docId}`));
  const seed = options.seed ?? 1;
  const queries = (
    Array.isArray(from)
      ? trafficPool(from as readonly Impression[])
      : (from as { queries: readonly PoolQuery[] }).queries
  )
    .map((q) => ({ q, key: seedFrom(`${seed}:${q.query}`) }))
    .sort((a, b) => a.key - b.key)
    .map(({ q }) => q)
    .slice(0, options.sample ?? Number.POSITIVE_INFINITY);
  for (const { qid, query, rankings } of queries) {
    const open = poolOf(rankings, depth).filter((docId) => !judged.has(`${qid}\u0000${docId}`));
    if (open.length > 0) return { qid, query, docId: open[0]!, remaining: open.length };
  }
  return undefined;
}

/** Judgments as JSON lines in one file, appended to (created with its folder on first use). */
export class FileJudgmentStore implements JudgmentStore {
  readonly kind = 'file' as const;
  constructor(readonly path: string) {}

  async append(judgment: Judgment): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify(judgment)}\n`);
  }

  async list(): Promise<Judgment[]> {
    const text = await readFile(this.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line, i) => {
        try {
          return JSON.parse(line) as Judgment;
        } catch {
          throw new ValidationError(`${this.path}:${i + 1}`, 'is not a JSON judgment line');
        }
      });
  }

  async close(): Promise<void> {}
}

/** Judgments in one Redis stream (`<prefix>:judgments`), never trimmed: judgments are scarce and small. */
export class RedisJudgmentStore implements JudgmentStore {
  readonly kind = 'redis' as const;
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    options: { keyPrefix: string; closeConnection?: boolean },
  ) {
    this.key = `${options.keyPrefix}:judgments`;
    this.closeConnection = options.closeConnection ?? false;
  }

  private readonly closeConnection: boolean;

  async append(judgment: Judgment): Promise<void> {
    await this.redis.xadd(this.key, '*', 'j', JSON.stringify(judgment));
  }

  async list(): Promise<Judgment[]> {
    const out: Judgment[] = [];
    let start = '-';
    for (;;) {
      const page = await this.redis.xrange(this.key, start, '+', 'COUNT', 1000);
      for (const [, fields] of page) out.push(JSON.parse(fields[1]!) as Judgment);
      if (page.length < 1000) return out;
      start = `(${page[page.length - 1]![0]}`;
    }
  }

  async close(): Promise<void> {
    if (this.closeConnection) this.redis.disconnect();
  }
}
