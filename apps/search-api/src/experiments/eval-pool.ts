// The Judge tab's other pool source: an eval output's query set, pooled from the runs `dotrank eval` wrote (BM25 and
// TAS-B by default), with the documents' text from the eval's collection when it has one.
import { NotFoundError, ValidationError } from '@dotrank/core';
import { listEvals, readEvalRun } from '../evals.js';
import { EvalCollections } from '../routes/evals-extra.js';
import type { EvalExtraOptions } from '../routes/evals-extra.js';

/** The systems pooled when a request names none: the comparison the Judge tab exists for. */
export const DEFAULT_POOL_SYSTEMS = ['bm25', 'tasb'] as const;
/** The deepest pool a request may ask for (the route's `depth` maximum): rankings are kept this deep. */
const KEPT_DEPTH = 100;

export interface EvalPoolQuery {
  qid: string;
  query: string;
  rankings: string[][];
}

/** Pools of eval outputs, built once per eval output, systems and metrics.json version. */
export class EvalPools {
  private readonly collections: EvalCollections;
  private readonly built = new Map<string, { modifiedAt: string; queries: Promise<EvalPoolQuery[]> }>();

  constructor(private readonly options: EvalExtraOptions) {
    this.collections = new EvalCollections(options);
  }

  /** `name` checked against the eval outputs the dashboard lists (the allow-list): unknown ones are refused. */
  private async known(name: string, systems: readonly string[]) {
    const evals = await listEvals(this.options.evalDir);
    const entry = evals.find((e) => e.name === name);
    if (!entry)
      throw new NotFoundError(
        'eval',
        `no eval output "${name}"${evals.length ? ` (known: ${evals.map((e) => e.name).join(', ')})` : ' (none yet: run dotrank eval)'}`,
      );
    const absent = systems.filter((s) => !entry.systems.includes(s));
    if (absent.length > 0)
      throw new ValidationError(
        'systems',
        `eval output "${name}" has no run ${absent.map((s) => `"${s}"`).join(', ')} (it has: ${entry.systems.join(', ')})`,
      );
    return entry;
  }

  /** The eval's judged queries (those of its first system's run) with each system's ranking, best first. */
  async queries(name: string, systems: readonly string[] = DEFAULT_POOL_SYSTEMS): Promise<EvalPoolQuery[]> {
    const entry = await this.known(name, systems);
    const key = `${name}\u0000${systems.join(',')}`;
    let pool = this.built.get(key);
    if (!pool || pool.modifiedAt !== entry.modifiedAt) {
      pool = { modifiedAt: entry.modifiedAt, queries: this.build(name, systems) };
      this.built.set(key, pool);
      pool.queries.catch(() => this.built.delete(key)); // a failed read is tried again next time
    }
    return pool.queries;
  }

  private async build(name: string, systems: readonly string[]): Promise<EvalPoolQuery[]> {
    const texts = await this.collections.queries(name);
    if (!texts)
      throw new NotFoundError(
        'eval',
        `eval output "${name}" has no queries (put queries.jsonl in its folder or set collection.path in metrics.json)`,
      );
    const runs = await Promise.all(systems.map((system) => readEvalRun(this.options.evalDir, name, system)));
    const byQuery = runs.map((rows) => {
      const ranked = new Map<string, { docid: string; rank: number }[]>();
      for (const row of rows) {
        const list = ranked.get(row.qid) ?? [];
        list.push(row);
        ranked.set(row.qid, list);
      }
      return new Map(
        [...ranked].map(([qid, list]) => [
          qid,
          list
            .sort((a, b) => a.rank - b.rank)
            .slice(0, KEPT_DEPTH)
            .map((r) => r.docid),
        ]),
      );
    });
    return [...byQuery[0]!.keys()]
      .filter((qid) => texts.has(qid))
      .map((qid) => ({ qid, query: texts.get(qid)!, rankings: byQuery.map((run) => run.get(qid) ?? []) }));
  }

  /** A document's text from the eval's collection, when it has a corpus holding it. */
  async text(name: string, docId: string): Promise<string | undefined> {
    const passage = (await this.collections.passages(name))?.get(docId);
    return passage ? [passage.title, passage.text].filter(Boolean).join('\n\n') : undefined;
  }
}
