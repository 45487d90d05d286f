import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, describeError, findRepoRoot } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { findCollection } from '@dotrank/datasets';
import { readManifest } from '@dotrank/encoder';
import { defaultModelDir, pullModel } from '@dotrank/model-tools';
import { startServer } from '@dotrank/search-api';
import { createRedisConnection } from '@dotrank/vector-cache';
import type { RunningServer } from '@dotrank/search-api';
import { EVAL_SYSTEMS, formatReportTable, runEvaluation } from './eval-runner.js';
import type { EvalRunSummary } from './eval-runner.js';
import { metricsReportSchema } from '@dotrank/eval';

export const TASB_HUB_ID = 'sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface QuickstartOptions {
  collection?: string;
  model?: string;
  port?: number;
  host?: string;
  depth: number;
  /** Stop everything once ready (benchmarks, smoke tests). */
  exitWhenReady?: boolean;
  /** Skip the hub attempt (tests; offline machines). */
  noPull?: boolean;
  progress?: boolean;
  /** Where the walkthrough lines go (default stderr); `dotrank start --quiet` drops them. Warnings always print. */
  log?: (line: string) => void;
}

export interface Quickstart {
  url: string;
  dashboardUrl: string;
  mode: 'queue' | 'in-process';
  readyMs: number;
  eval: { reused: boolean; table: string };
  stop(): Promise<void>;
}

const stderrLine = (line: string) => process.stderr.write(`${line}\n`);
const loud = (lines: string[]) => {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  stderrLine(
    `\n${'!'.repeat(width)}\n${lines.map((l) => `! ${l.padEnd(width - 4)} !`).join('\n')}\n${'!'.repeat(width)}\n`,
  );
};

async function redisAnswers(url: string): Promise<boolean> {
  const redis = createRedisConnection(url, { role: 'check' });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * fetch that gives up when no response has started within `ms` (an offline machine, a firewall that drops packets):
 * the hub attempt then fails fast, while a large download that has started may take as long as it needs.
 */
function answeringWithin(ms: number): typeof fetch {
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${ms / 1000} s`)), ms);
    try {
      return await fetch(input, {
        ...init,
        signal: init?.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  };
}

/** DOTRANK_MODEL, else a model pulled before, else a pull from the hub, else the fixture model (loudly). */
async function resolveModel(
  config: DotrankConfig,
  options: QuickstartOptions,
  repo: string,
): Promise<{ dir: string; real: boolean }> {
  const say = options.log ?? stderrLine;
  const explicit = options.model ?? config.DOTRANK_MODEL;
  if (explicit) {
    await readManifest(resolve(explicit));
    return { dir: resolve(explicit), real: true };
  }
  const pulled = defaultModelDir(config.DOTRANK_DATA_DIR, TASB_HUB_ID);
  if (existsSync(join(pulled, 'dotrank.json'))) {
    say(`model: ${TASB_HUB_ID} (pulled before, ${pulled})`);
    return { dir: pulled, real: true };
  }
  if (!options.noPull) {
    say(`model: pulling ${TASB_HUB_ID} from ${config.HF_ENDPOINT ?? 'https://huggingface.co'} ...`);
    try {
      await pullModel({
        repo: TASB_HUB_ID,
        out: pulled,
        fetch: answeringWithin(15_000),
        retries: 1,
        ...(config.HF_ENDPOINT ? { endpoint: config.HF_ENDPOINT } : {}),
        ...(config.HF_TOKEN ? { token: config.HF_TOKEN } : {}),
        onStage: (stage) => say(`  ${stage}`),
      });
      return { dir: pulled, real: true };
    } catch (error) {
      say(`  the hub is not reachable: ${describeError(error)}`);
    }
  }
  const fixture = join(repo, 'tools', 'fixtures', 'tiny-tasb');
  loud([
    'USING THE SMALL RANDOM-WEIGHT FIXTURE MODEL: TAS-B SCORES BELOW ARE NOT MEANINGFUL.',
    'Every stage runs for real, but the weights are random. To get the real model:',
    `  npx dotrank model pull ${TASB_HUB_ID}`,
    `  (or set DOTRANK_MODEL to a model folder), then run npm start again.`,
  ]);
  return { dir: fixture, real: false };
}

/** A fingerprint of what the evaluation depends on: same fingerprint, same results, so a second run reuses them. */
async function evalFingerprint(corpus: string, modelDir: string, depth: number): Promise<string> {
  const corpusStat = await stat(corpus);
  const manifest = await readFile(join(modelDir, 'dotrank.json'), 'utf8').catch(() => '');
  const graph = await stat(join(modelDir, 'model.onnx')).catch(() => undefined);
  return JSON.stringify({
    corpus,
    size: corpusStat.size,
    mtime: corpusStat.mtimeMs,
    modelDir,
    manifest,
    graph: graph?.size ?? 0,
    depth,
    systems: EVAL_SYSTEMS,
  });
}

async function startWorkerProcess(
  repo: string,
  modelDir: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
): Promise<ChildProcess> {
  await mkdir(resolve(logFile, '..'), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    [join(repo, 'apps', 'cli', 'bin', 'dotrank.js'), 'worker', '--model', modelDir],
    {
      env,
      // the IPC channel closes when we die, however we die: the worker then stops instead of lingering
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // its own process group: a Ctrl-C meant for us must not also hit the worker, which we stop with one SIGTERM
      detached: true,
    },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

/**
 * `npm start` / `dotrank start`: everything a newcomer needs to see the pipeline work, with no set-up.
 */
export async function quickstart(config: DotrankConfig, options: QuickstartOptions): Promise<Quickstart> {
  const say = options.log ?? stderrLine;
  const started = performance.now();
  const repo = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  if (!repo) throw new ConfigError('repository', 'dotrank start runs from a checkout of the repository');
  // the sample collection the repository ships, found from this file's location rather than the cwd
  const collectionDir = options.collection ?? join(repo, 'datasets', 'cranfield');
  if (!existsSync(collectionDir)) {
    throw new ConfigError('--collection', `no collection at ${collectionDir}: pass --collection <BEIR folder>`);
  }
  const files = await findCollection(collectionDir);

  // queue mode when a Redis answers
  const redisUrl = config.REDIS_URL ?? DEFAULT_REDIS_URL;
  const queue = await redisAnswers(redisUrl);
  const effective: DotrankConfig = { ...config, REDIS_URL: queue ? redisUrl : undefined };
  say(
    queue
      ? `mode: queue — Redis answers at ${redisUrl}; reranking on a BullMQ worker process, vectors cached in Redis`
      : `mode: in-process — no Redis answers at ${redisUrl}; reranking inside the API process with an in-memory cache`,
  );
  say(
    `first stage: ${config.ELASTICSEARCH_URL ? `Elasticsearch at ${config.ELASTICSEARCH_URL}` : 'embedded BM25 (Lucene-exact)'}`,
  );

  const model = await resolveModel(config, options, repo);
  // the worker loads its model while we build, index and evaluate
  let worker: ChildProcess | undefined;
  const workerLog = resolve(config.DOTRANK_DATA_DIR, 'logs', 'worker.log');
  if (queue) {
    worker = await startWorkerProcess(repo, model.dir, { ...process.env, REDIS_URL: redisUrl }, workerLog);
    say(`worker: started (pid ${worker.pid}); log in ${workerLog}`);
  }
  try {
    return await startRest(config, options, {
      started,
      repo,
      collectionDir,
      files,
      queue,
      redisUrl,
      effective,
      model,
      worker,
    });
  } catch (error) {
    if (worker) await stopChild(worker);
    throw error;
  }
}

interface StartContext {
  started: number;
  repo: string;
  collectionDir: string;
  files: Awaited<ReturnType<typeof findCollection>>;
  queue: boolean;
  redisUrl: string;
  effective: DotrankConfig;
  model: { dir: string; real: boolean };
  worker: ChildProcess | undefined;
}

async function startRest(
  config: DotrankConfig,
  options: QuickstartOptions,
  context: StartContext,
): Promise<Quickstart> {
  const say = options.log ?? stderrLine;
  const { started, collectionDir, files, queue, effective, model, worker } = context;
  // evaluation (indexes on the first run; reused when nothing changed)
  const evalDir = resolve(config.DOTRANK_DATA_DIR, 'evals');
  const out = join(evalDir, files.name);
  const fingerprint = await evalFingerprint(files.corpus, model.dir, options.depth);
  const fingerprintFile = join(out, '.fingerprint');
  let summary: EvalRunSummary | undefined;
  let reused = false;
  const indexDir = resolve(config.DOTRANK_DATA_DIR, 'index', files.name);
  if (
    (await readFile(fingerprintFile, 'utf8').catch(() => '')) === fingerprint &&
    existsSync(join(out, 'metrics.json')) &&
    existsSync(indexDir)
  ) {
    reused = true;
    say(`evaluation: reusing ${out} (same corpus, model and depth)`);
  } else {
    say(`evaluation: BM25 vs TAS-B on ${files.name} (depth ${options.depth})`);
    summary = await runEvaluation(effective, {
      collection: collectionDir,
      out,
      model: model.dir,
      systems: [...EVAL_SYSTEMS],
      depth: options.depth,
      level: 1,
      ...(config.ELASTICSEARCH_URL ? {} : { indexDir }),
      progress: options.progress ?? true,
      log: say,
    });
    await writeFile(fingerprintFile, fingerprint);
  }
  const report =
    summary?.report ?? metricsReportSchema.parse(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')));

  // the API (the worker has been starting meanwhile); it builds the dashboard first when that is missing or stale
  say('api: starting (a fresh checkout builds the dashboard first, about half a minute) ...');
  const server: RunningServer = await startServer(effective, {
    ...(config.ELASTICSEARCH_URL ? {} : { indexDir }),
    model: model.dir,
    port: options.port ?? config.DOTRANK_PORT,
    host: options.host ?? config.DOTRANK_HOST,
    evalDir,
    ...(queue ? {} : { inProcess: true }),
    logger: { level: config.DOTRANK_LOG_LEVEL },
  });
  if (queue)
    await waitForWorker(server, worker!).catch(async (error: unknown) => {
      await server.close();
      throw error;
    });

  const readyMs = performance.now() - started;
  const table = formatReportTable(report);
  const stop = async () => {
    await server.close();
    if (worker) await stopChild(worker);
  };
  return {
    url: server.url,
    dashboardUrl: `${server.url}/dashboard/`,
    mode: queue ? 'queue' : 'in-process',
    readyMs,
    eval: { reused, table },
    stop,
  };
}

/** Readiness in queue mode means a worker has registered with the queue. */
async function waitForWorker(server: RunningServer, worker: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (worker.exitCode !== null)
      throw new ConfigError('worker', `the worker process exited with code ${worker.exitCode}; see its log`);
    const response = await server.app.inject({ method: 'GET', url: '/readyz' });
    if (response.statusCode === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ConfigError('worker', 'no worker became ready within 120 s; see its log');
}
