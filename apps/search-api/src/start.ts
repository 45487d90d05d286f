import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { ConfigError, UnavailableError, findRepoRoot, withDeadline } from '@dotrank/core';
import type { CandidateSource, DotrankConfig } from '@dotrank/core';
import { createEmbeddedSource, hasSavedIndex } from '@dotrank/bm25';
import {
  ElasticsearchSource,
  connectionSettings,
  createElasticsearchSource,
  redisWindowStore,
  sourceOptionsFromConfig,
} from '@dotrank/elasticsearch';
import { openFirstStage } from '@dotrank/dense';
import type { FirstStage } from '@dotrank/dense';
import { encoderOptionsFromConfig, loadEncoder, readManifest } from '@dotrank/encoder';
import type { Encoder, QueryCacheStats } from '@dotrank/encoder';
import {
  InProcessReranker,
  QueueReranker,
  candidateWindowsFor,
  passageWindowSettingsFromConfig,
  type CandidateWindows,
} from '@dotrank/rerank-core';
import {
  MemoryVectorStore,
  RedisVectorStore,
  createRedisConnection,
  vectorStoreOptionsFromConfig,
} from '@dotrank/vector-cache';
import { CachedPassageModel, lazyPassageModel } from './plugins/compat-passages.js';
import { buildServer } from './server.js';
import { experimentOptionsFromConfig } from './plugins/experiments.js';
import type { DashboardSource } from './dashboard.js';
import type { ProxyTarget, ReadinessCheck, ServerDeps, ServerOptions } from './types.js';

export interface StartFlags {
  /** Embedded BM25 index folder (from `dotrank index`). */
  indexDir?: string;
  /** Elasticsearch index name (needs ELASTICSEARCH_URL). */
  index?: string;
  /** Model folder for in-process reranking (defaults to DOTRANK_MODEL). */
  model?: string;
  port?: number;
  host?: string;
  evalDir?: string;
  /** A dashboard build served as it is (default: apps/dashboard/dist, built on demand from apps/dashboard). */
  dashboardDir?: string;
  /** Where the dashboard is built from and into, and by what (tests); wins over dashboardDir. */
  dashboard?: DashboardSource;
  /** Rerank in this process even when REDIS_URL is set. */
  inProcess?: boolean;
  /** First stage: `bm25` (default), `dense` or `hybrid` (their index is built by `dotrank eval --first-stage`). */
  firstStage?: FirstStage;
  /** pino options or false; default `{ level: DOTRANK_LOG_LEVEL }`. */
  logger?: boolean | Record<string, unknown>;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  mode: 'queue' | 'in-process';
  close(): Promise<void>;
}

async function openSource(config: DotrankConfig, flags: StartFlags): Promise<CandidateSource> {
  if (flags.indexDir && flags.index)
    throw new ConfigError('--index', 'give either --index-dir (embedded BM25) or --index (Elasticsearch), not both');
  if (flags.indexDir) {
    const dir = resolve(flags.indexDir);
    if (!(await hasSavedIndex(dir))) {
      throw new ConfigError(
        '--index-dir',
        `no saved BM25 index in ${dir} (build one with: dotrank index <corpus> --index-dir ${flags.indexDir})`,
      );
    }
    return createEmbeddedSource({ dir });
  }
  if (flags.index || config.ELASTICSEARCH_URL) {
    if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID)
      throw new ConfigError('ELASTICSEARCH_URL', `is required for --index ${flags.index}`);
    return createElasticsearchSource(config, { index: flags.index ?? config.ELASTICSEARCH_INDEX });
  }
  throw new ConfigError(
    '--index-dir',
    'give --index-dir <dir> (embedded BM25 index) or --index <name> with ELASTICSEARCH_URL set',
  );
}

/** The cluster the `_search` proxy forwards to: the same connection settings and passage options as the source. */
function proxyTarget(config: DotrankConfig, source: CandidateSource): ProxyTarget | undefined {
  if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) return undefined;
  const settings = connectionSettings(config);
  return {
    ...settings,
    url: settings.url!,
    ...(source instanceof ElasticsearchSource ? { passage: source.options } : {}),
    passageFor: (index) => sourceOptionsFromConfig(config, index),
    enabled: config.DOTRANK_PROXY,
    indices: config.DOTRANK_PROXY_INDICES ?? [config.ELASTICSEARCH_INDEX],
    inferenceId: config.DOTRANK_INFERENCE_ID,
    windowTtlSeconds: config.DOTRANK_WINDOW_TTL_SECONDS,
  };
}

/**
 * Where the proxy keeps reranked windows (Redis when configured, shared by every API process; else the proxy's
 * in-memory LRU) and the model revision their keys hold.
 */
async function proxyWindows(
  config: DotrankConfig,
  settings: StartSettings,
  opened: Opened,
): Promise<Pick<ProxyTarget, 'windowStore' | 'modelRevision'>> {
  const revision = settings.modelDir
    ? await readManifest(resolve(settings.modelDir)).then(
        (m) => m.revision,
        () => resolve(settings.modelDir!),
      )
    : (config.DOTRANK_MODEL ?? 'unknown');
  if (!config.REDIS_URL) return { modelRevision: revision };
  const redis = createRedisConnection(config.REDIS_URL, { role: 'command' });
  opened.add(async () => void redis.disconnect());
  return { modelRevision: revision, windowStore: redisWindowStore(redis, config.DOTRANK_KEY_PREFIX) };
}

/** What startServer decides from configuration and flags, in one place. */
interface StartSettings {
  inProcess: boolean;
  firstStage: FirstStage;
  modelDir?: string;
  /** Where the dense/hybrid first stage keeps its index (beside the BM25 one). */
  dataDir: string;
  port: number;
  host: string;
  /** The checkout this code runs from (its dashboard and datasets), when it runs from one. */
  repoRoot?: string;
  /** buildServer's options (the collections under the checkout's datasets/ are added when the server is built). */
  server: ServerOptions;
}

function startSettings(config: DotrankConfig, flags: StartFlags): StartSettings {
  const repoRoot = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  const dashboard =
    flags.dashboard ??
    (flags.dashboardDir
      ? { outDir: flags.dashboardDir }
      : repoRoot
        ? { appDir: join(repoRoot, 'apps', 'dashboard') }
        : undefined);
  const modelDir = flags.model ?? config.DOTRANK_MODEL;
  return {
    inProcess: flags.inProcess === true || !config.REDIS_URL,
    firstStage: flags.firstStage ?? 'bm25',
    ...(modelDir ? { modelDir } : {}),
    dataDir: flags.indexDir
      ? resolve(flags.indexDir)
      : resolve(config.DOTRANK_DATA_DIR, 'index', flags.index ?? config.ELASTICSEARCH_INDEX),
    port: flags.port ?? config.DOTRANK_PORT,
    host: flags.host ?? config.DOTRANK_HOST,
    ...(repoRoot ? { repoRoot } : {}),
    server: {
      deadlineMs: config.DOTRANK_RERANK_DEADLINE_MS,
      maxCandidates: config.DOTRANK_MAX_CANDIDATES,
      ...(config.DOTRANK_API_KEY ? { apiKey: config.DOTRANK_API_KEY } : {}),
      ...(dashboard ? { dashboard } : {}),
      evalDir: flags.evalDir ?? join(config.DOTRANK_DATA_DIR, 'evals'),
      experiments: experimentOptionsFromConfig(config),
      logger: flags.logger ?? { level: config.DOTRANK_LOG_LEVEL },
    },
  };
}

/** What was opened, closed in reverse order, each given a bounded time (a client whose server is gone may never answer). */
class Opened {
  private readonly closers: (() => Promise<unknown>)[] = [];

  add(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([close().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
    }
    this.closers.length = 0;
  }
}

/** One encoder per process, loaded only when something here needs it (in-process reranking, dense queries). */
function processEncoder(
  config: DotrankConfig,
  settings: StartSettings,
  opened: Opened,
): ((why: string) => Promise<Encoder>) & { queryCacheStats: () => QueryCacheStats | undefined } {
  let loading: Promise<Encoder> | undefined;
  let loaded: Encoder | undefined;
  const load = (why: string) => {
    if (!settings.modelDir)
      return Promise.reject(new ConfigError('--model', `is required ${why} (or set DOTRANK_MODEL)`));
    if (!loading) {
      // query vectors are shared through Redis with the other API processes and the workers when there is one
      const redis = config.REDIS_URL ? createRedisConnection(config.REDIS_URL) : undefined;
      if (redis) opened.add(async () => redis.disconnect()); // added first, so closed after the encoder
      const encoder = loadEncoder(resolve(settings.modelDir), encoderOptionsFromConfig(config, {}, redis));
      loading = encoder;
      void encoder.then((e) => (loaded = e)).catch(() => undefined);
      opened.add(async () => (await encoder).close()); // idempotent, so an owner closing it too is fine
    }
    return loading;
  };
  return Object.assign(load, { queryCacheStats: () => loaded?.queryCacheStats() });
}

/** The first stage: BM25 itself, or the dense/hybrid index built beside it. */
async function openCandidates(
  config: DotrankConfig,
  settings: StartSettings,
  lexical: CandidateSource,
  encoder: (why: string) => Promise<Encoder>,
  opened: Opened,
): Promise<CandidateSource> {
  const { firstStage, dataDir } = settings;
  if (firstStage === 'bm25') return lexical;
  const queryEncoder = await encoder(`for --first-stage ${firstStage} (queries are encoded in the API process)`);
  // under a windowed DOTRANK_DOC_SCORE the dense index holds window vectors and scores a document by its best window
  const windows = await passageWindows(config, settings);
  const staged = await openFirstStage(config, {
    firstStage,
    bm25: lexical,
    encoder: queryEncoder,
    dataDir,
    ...(windows ? { windows } : {}),
  });
  opened.add(() => staged.close());
  if ((await staged.count()) === 0) {
    throw new ConfigError(
      '--first-stage',
      `no dense index for ${queryEncoder.modelId} beside ${dataDir}; build it with: dotrank eval --collection <dir> --first-stage ${firstStage} --model <dir>`,
    );
  }
  return staged;
}

/** The reranker and what the server learns about it (readiness checks, queue state), and the line saying which. */
type RerankSetup = Pick<ServerDeps, 'reranker' | 'queueAvailable' | 'queueStats' | 'lostJobs' | 'passages'> & {
  readiness: Record<string, ReadinessCheck>;
  startLine: string;
};

async function inProcessReranker(
  config: DotrankConfig,
  settings: StartSettings,
  encoder: (why: string) => Promise<Encoder>,
): Promise<RerankSetup> {
  const loaded = await encoder('in in-process mode');
  const windows = await passageWindows(config, settings);
  const store = new MemoryVectorStore({ dimension: loaded.dimension });
  // /embed reads and fills the reranker's own cache
  const passages = lazyPassageModel(() => CachedPassageModel.open(loaded, store, config.DOTRANK_BATCH_SIZE));
  return {
    passages,
    reranker: new InProcessReranker({
      encoder: loaded,
      store,
      batchSize: config.DOTRANK_BATCH_SIZE,
      maxCandidates: config.DOTRANK_MAX_CANDIDATES,
      closeResources: true,
      ...(windows ? { windows } : {}),
    }),
    readiness: { model: async () => true },
    startLine: `in-process mode: ${config.REDIS_URL ? '--in-process given' : 'no REDIS_URL configured'}; reranking with ${loaded.modelId} in this process (in-memory vector cache)`,
  };
}

/** How long a Redis call made for a request (/metrics, /api/stats) may take: a Redis that stopped answering must not hang it. */
const REDIS_CALL_MS = 1000;

/**
 * Queue mode's /embed: the workers' Redis vector cache, misses encoded in this process by the model loaded on first
 * use (so only when DOTRANK_MODEL or --model is given; the API's Redis user then needs the vector keys too).
 */
function queuePassages(
  config: DotrankConfig,
  settings: StartSettings,
  encoder: (why: string) => Promise<Encoder>,
  opened: Opened,
): ServerDeps['passages'] {
  if (!settings.modelDir) return undefined;
  return lazyPassageModel(async () => {
    const loaded = await encoder('for /embed and /v1/embeddings');
    const store = new RedisVectorStore(vectorStoreOptionsFromConfig(config, loaded));
    opened.add(() => store.close());
    return CachedPassageModel.open(loaded, store, config.DOTRANK_BATCH_SIZE);
  });
}

/**
 * Long documents split into windows (DOTRANK_DOC_SCORE other than `first`): this process splits them, with the model's
 * tokenizer, in queue mode too (the workers then score the windows).
 */
async function passageWindows(config: DotrankConfig, settings: StartSettings): Promise<CandidateWindows | undefined> {
  const windowSettings = passageWindowSettingsFromConfig(config);
  if (windowSettings.docScore === 'first') return undefined;
  if (!settings.modelDir)
    throw new ConfigError(
      'DOTRANK_DOC_SCORE',
      `${windowSettings.docScore} splits documents into windows with the model's tokenizer in this process: set DOTRANK_MODEL (or --model)`,
    );
  return candidateWindowsFor(resolve(settings.modelDir), windowSettings);
}

async function queueReranker(
  config: DotrankConfig,
  settings: StartSettings,
  redisUrl: string,
  opened: Opened,
): Promise<RerankSetup> {
  const windows = await passageWindows(config, settings);
  const queue = new QueueReranker({
    connection: redisUrl,
    queuePrefix: config.DOTRANK_QUEUE_PREFIX,
    deadlineMs: config.DOTRANK_RERANK_DEADLINE_MS,
    maxCandidates: config.DOTRANK_MAX_CANDIDATES,
    failedJobTtlSeconds: config.DOTRANK_FAILED_JOB_TTL_SECONDS,
    ...(windows ? { windows } : {}),
  });
  // a connection of our own tells, without waiting, whether Redis is there (then degrade at once)
  const probe = createRedisConnection(redisUrl, { role: 'probe' });
  opened.add(async () => probe.disconnect());
  return {
    reranker: queue,
    queueAvailable: () => probe.status === 'ready',
    lostJobs: () => queue.lostJobs,
    // Redis known to be gone: say so at once rather than wait out the bound (a scrape must answer within a second)
    queueStats: () =>
      probe.status !== 'ready'
        ? Promise.reject(new UnavailableError('redis', 'not connected (queue stats)'))
        : withDeadline(
            async () => {
              const [counts, activeWorkers] = await Promise.all([
                queue.queue.getJobCounts('waiting', 'prioritized', 'delayed'),
                queue.workerCount(),
              ]);
              return { depth: Object.values(counts).reduce((a, b) => a + b, 0), activeWorkers };
            },
            {
              deadlineMs: REDIS_CALL_MS,
              onTimeout: (ms) => new UnavailableError('redis', `no answer within ${ms} ms (queue stats)`),
            },
          ),
    // model: a worker (which holds the model) refreshed its heartbeat lately; no CLIENT LIST (refused to ACL users)
    readiness: { redis: async () => (await probe.ping()) === 'PONG', model: async () => await queue.workersAlive() },
    startLine: `queue mode: reranking through BullMQ queue "${config.DOTRANK_QUEUE_PREFIX}" on ${new URL(redisUrl).host} (start workers with: dotrank worker --model <dir>)`,
  };
}

/** Collections an eval output may refer to by name: the sub-folders of the repository's datasets/. */
async function datasetFolders(repoRoot: string | undefined): Promise<string[]> {
  if (!repoRoot) return [];
  const datasets = join(repoRoot, 'datasets');
  const entries = await readdir(datasets, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => join(datasets, e.name));
}

/** Opens everything the server depends on; each is added to `opened` as soon as it is open. */
async function openDeps(
  config: DotrankConfig,
  flags: StartFlags,
  settings: StartSettings,
  opened: Opened,
): Promise<{ deps: ServerDeps; startLine: string }> {
  const lexical = await openSource(config, flags);
  opened.add(() => lexical.close());
  const encoder = processEncoder(config, settings, opened);
  const source = await openCandidates(config, settings, lexical, encoder, opened);
  const { startLine, ...rerank } = settings.inProcess
    ? await inProcessReranker(config, settings, encoder)
    : {
        ...(await queueReranker(config, settings, config.REDIS_URL!, opened)),
        passages: queuePassages(config, settings, encoder, opened),
      };
  opened.add(() => rerank.reranker.close());
  const target = proxyTarget(config, lexical);
  const proxy = target && target.enabled ? { ...target, ...(await proxyWindows(config, settings, opened)) } : target;
  const deps: ServerDeps = {
    source,
    mode: settings.inProcess ? 'in-process' : 'queue',
    ...rerank,
    ...(proxy ? { proxy } : {}),
    queryCache: encoder.queryCacheStats,
    onClose: () => opened.closeAll(),
  };
  return { deps, startLine };
}

/** Says which mode the server runs in, then listens. */
async function listen(
  app: FastifyInstance,
  deps: ServerDeps,
  startLine: string,
  settings: StartSettings,
): Promise<string> {
  app.log.info(startLine);
  if (deps.reranker instanceof QueueReranker)
    void deps.reranker.directRepliesRefused().then((why) => {
      if (why)
        app.log.warn(
          `${why}: results come through the queue's events stream, a millisecond or more later per rerank (README: Redis ACLs)`,
        );
    });
  if (deps.proxy) app.log.info(`Elasticsearch rerank proxy: /:index/_search -> ${new URL(deps.proxy.url).origin}`);
  return app.listen({ port: settings.port, host: settings.host });
}

/** Creates the real dependencies from configuration and flags, builds the server and starts listening. */
export async function startServer(config: DotrankConfig, flags: StartFlags = {}): Promise<RunningServer> {
  const settings = startSettings(config, flags);
  const opened = new Opened();
  let app: FastifyInstance | undefined;
  try {
    const { deps, startLine } = await openDeps(config, flags, settings, opened);
    app = await buildServer(deps, { ...settings.server, collectionDirs: await datasetFolders(settings.repoRoot) });
    const url = await listen(app, deps, startLine, settings);
    const running = app;
    // closing the server closes what was opened for it (deps.onClose)
    return { app: running, url, mode: deps.mode, close: () => running.close() };
  } catch (error) {
    await app?.close().catch(() => undefined);
    await opened.closeAll();
    throw error;
  }
}
