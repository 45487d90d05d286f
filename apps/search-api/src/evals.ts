import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { NotFoundError, ValidationError } from '@dotrank/core';

/** One path segment: letters, digits, dot, dash, underscore; never `.` or `..`. */
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;
const RUN_EXTENSIONS = ['', '.run', '.trec', '.txt', '.tsv'];

function segment(field: string, value: string): string {
  if (!SAFE_SEGMENT.test(value) || value.includes('..')) {
    throw new ValidationError(field, 'must be a plain name (letters, digits, ".", "-", "_"; no path separators)');
  }
  return value;
}

/** Resolves `parts` under `root` and refuses anything (including symlinks) that lands outside it. */
async function inside(root: string, ...parts: string[]): Promise<string | undefined> {
  const base = await realpath(root).catch(() => undefined);
  if (!base) return undefined;
  const target = await realpath(join(base, ...parts)).catch(() => undefined);
  if (!target || !(target === base || target.startsWith(base + sep))) return undefined;
  return target;
}

export interface EvalEntry {
  name: string;
  modifiedAt: string;
  systems: string[];
}

const RUN_FILE = /\.(run|trec)$/;

/** Systems of one eval output: `<system>.run|.trec` beside metrics.json (what `dotrank eval` writes) or under runs/. */
async function runFiles(dir: string): Promise<string[]> {
  const beside = (await readdir(dir).catch(() => [] as string[])).filter(
    (n) => RUN_FILE.test(n) && !n.startsWith('qrels.'),
  );
  const under = await readdir(join(dir, 'runs')).catch(() => [] as string[]);
  const systems = [...beside, ...under]
    .filter((n) => SAFE_SEGMENT.test(n))
    .map((n) => RUN_EXTENSIONS.filter(Boolean).reduce((s, ext) => (s.endsWith(ext) ? s.slice(0, -ext.length) : s), n));
  return [...new Set(systems)].sort();
}

/** Eval outputs under `evalDir`: each direct sub-folder holding a `metrics.json`. */
export async function listEvals(evalDir: string): Promise<EvalEntry[]> {
  const root = resolve(evalDir);
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const out: EvalEntry[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !SAFE_SEGMENT.test(entry.name)) continue;
    const metrics = await inside(root, entry.name, 'metrics.json');
    if (!metrics) continue;
    const info = await stat(metrics);
    out.push({
      name: entry.name,
      modifiedAt: info.mtime.toISOString(),
      systems: await runFiles(join(root, entry.name)),
    });
  }
  return out.sort((a, b) => b.modifiedAt.localeCompare(a.modifiedAt) || a.name.localeCompare(b.name));
}

export interface RunRow {
  qid: string;
  docid: string;
  rank: number;
  score: number;
  tag: string;
}

/** TREC run lines `qid Q0 docid rank score tag` as rows; malformed lines name their line number. */
export function parseTrecRun(text: string, file: string): RunRow[] {
  const rows: RunRow[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    const [qid, , docid, rank, score, tag] = parts;
    if (parts.length < 6 || !qid || !docid || !Number.isFinite(Number(rank)) || !Number.isFinite(Number(score))) {
      throw new ValidationError(`${file}:${i + 1}`, 'not a TREC run line (qid Q0 docid rank score tag)');
    }
    rows.push({ qid, docid, rank: Number(rank), score: Number(score), tag: tag ?? '' });
  }
  return rows;
}

/**
 * The rows of one run of an eval output (`runs/<system>[.run|.trec|...]` or `<system>.run|.trec` beside metrics.json);
 * an unknown eval output or run is a NotFoundError naming `name` or `system`.
 */
export async function readEvalRun(evalDir: string, name: string, system: string): Promise<RunRow[]> {
  const root = resolve(evalDir);
  segment('name', name);
  segment('system', system);
  if (!(await inside(root, name, 'metrics.json'))) throw new NotFoundError('name', `no eval output "${name}"`);
  const candidates = RUN_EXTENSIONS.flatMap((ext) => [
    [name, 'runs', system + ext],
    ...(ext === '.run' || ext === '.trec' ? [[name, system + ext]] : []),
  ]);
  for (const parts of candidates) {
    const ext = parts[parts.length - 1]!.slice(system.length);
    const file = await inside(root, ...parts);
    if (!file) continue;
    const info = await stat(file);
    if (!info.isFile()) continue;
    return parseTrecRun(await readFile(file, 'utf8'), `${system}${ext}`);
  }
  throw new NotFoundError('system', `no run "${system}" in eval output "${name}"`);
}

const NAME = { type: 'string', description: 'Eval output: a sub-folder of the eval folder' };
const SYSTEM = { type: 'string', description: 'System: a run file of the eval output (<system>.run|.trec)' };
const params = (properties: Record<string, object>) => ({
  type: 'object',
  required: Object.keys(properties),
  properties,
});

/** `/api/evals`, `/api/evals/:name/metrics`, `/api/evals/:name/runs/:system`: reads files only under evalDir. */
export async function evalRoutes(app: FastifyInstance, opts: { evalDir: string }): Promise<void> {
  const root = resolve(opts.evalDir);
  app.get(
    '/api/evals',
    { schema: { tags: ['evals'], summary: 'Eval outputs found under the eval folder' } },
    async () => ({
      evals: await listEvals(root),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/evals/:name/metrics',
    { schema: { tags: ['evals'], summary: 'metrics.json of one eval output', params: params({ name: NAME }) } },
    async (request) => {
      const name = segment('name', request.params.name);
      const file = await inside(root, name, 'metrics.json');
      if (!file) throw new NotFoundError('name', `no eval output "${name}"`);
      try {
        return JSON.parse(await readFile(file, 'utf8')) as unknown;
      } catch {
        throw new ValidationError('metrics.json', `${name}/metrics.json is not valid JSON`);
      }
    },
  );

  app.get<{ Params: { name: string; system: string }; Querystring: { qid?: string } }>(
    '/api/evals/:name/runs/:system',
    {
      schema: {
        tags: ['evals'],
        summary: 'A TREC run file of one eval output, as JSON rows',
        params: params({ name: NAME, system: SYSTEM }),
        querystring: {
          type: 'object',
          properties: { qid: { type: 'string', description: 'Only the rows of this query' } },
        },
      },
    },
    async (request) => {
      const name = segment('name', request.params.name);
      const system = segment('system', request.params.system);
      const rows = await readEvalRun(root, name, system);
      const qid = request.query.qid;
      return { name, system, rows: typeof qid === 'string' && qid !== '' ? rows.filter((r) => r.qid === qid) : rows };
    },
  );

  app.get<{ Params: { name: string; system: string }; Querystring: { qid: string } }>(
    '/api/evals/:name/best-passages/:system',
    {
      schema: {
        tags: ['evals'],
        summary: "A windowed system's best passage per document of one query (<system>.passages.jsonl; none: [])",
        params: params({ name: NAME, system: SYSTEM }),
        querystring: {
          type: 'object',
          required: ['qid'],
          properties: { qid: { type: 'string', description: 'The query' } },
        },
      },
    },
    async (request) => bestPassages(root, request.params, request.query.qid),
  );
}

/** One query's best passages from `<system>.passages.jsonl` (none when the system was scored without windows). */
async function bestPassages(
  root: string,
  params: { name: string; system: string },
  qid: string,
): Promise<{ name: string; system: string; passages: BestPassageLine[] }> {
  const name = segment('name', params.name);
  const system = segment('system', params.system);
  if (!(await inside(root, name, 'metrics.json'))) throw new NotFoundError('name', `no eval output "${name}"`);
  const file = await inside(root, name, `${system}.passages.jsonl`);
  // a system scored without windows (DOTRANK_DOC_SCORE=first) has no passages file: nothing to highlight
  if (!file) return { name, system, passages: [] };
  const passages = (await readFile(file, 'utf8'))
    .split('\n')
    .map((line, i) => ({ line, i }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, i }) => parsePassageLine(line, `${system}.passages.jsonl:${i + 1}`))
    .filter((p) => p.qid === qid);
  return { name, system, passages };
}

interface BestPassageLine {
  qid: string;
  docid: string;
  text: string;
  start: number;
  end: number;
  score: number;
}

/** One line of a passages file, checked: a bad line is named by file:line. */
function parsePassageLine(line: string, where: string): BestPassageLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ValidationError(where, 'is not valid JSON');
  }
  const p = value as Partial<BestPassageLine>;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.qid !== 'string' ||
    typeof p.docid !== 'string' ||
    typeof p.text !== 'string' ||
    !Number.isInteger(p.start) ||
    !Number.isInteger(p.end) ||
    typeof p.score !== 'number'
  )
    throw new ValidationError(where, 'must be {qid, docid, text, start, end, score}');
  return { qid: p.qid, docid: p.docid, text: p.text, start: p.start!, end: p.end!, score: p.score };
}
