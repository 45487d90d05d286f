import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { ConfigError, findRepoRoot } from '@dotrank/core';
import type { CandidateSource, DotrankConfig } from '@dotrank/core';
import { createEmbeddedSource, hasSavedIndex } from '@dotrank/bm25';
import { ElasticsearchSource, connectionSettings, createElasticsearchSource } from '@dotrank/elasticsearch';
import { openFirstStage } from '@dotrank/dense';
import type { FirstStage } from '@dotrank/dense';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { InProcessReranker, QueueReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore, createRedisConnection } from '@dotrank/vector-cache';
import { buildServer } from './server.js';
import type { DashboardSource } from './dashboard.js';
import type { ProxyTarget, ReadinessCheck, RerankerLike, ServerDeps } from './types.js';

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
  if (flags.indexDir && flags.index) throw new ConfigError('--index', 'give either --index-dir (embedded BM25) or --index (Elasticsearch), not both');
  if (flags.indexDir) {
    const dir = resolve(flags.indexDir);
    if (!(await hasSavedIndex(dir))) {
      throw new ConfigError('--index-dir', `no saved BM25 index in ${dir} (build one with: dotrank index <corpus> --index-dir ${flags.indexDir})`);
    }
    return createEmbeddedSource({ dir });
  }
  if (flags.index || config.ELASTICSEARCH_URL) {
    if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) throw new ConfigError('ELASTICSEARCH_URL', `is required for --index ${flags.index}`);
    return createElasticsearchSource(config, { index: flags.index ?? config.ELASTICSEARCH_INDEX });
  }
  throw new ConfigError('--index-dir', 'give --index-dir <dir> (embedded BM25 index) or --index <name> with ELASTICSEARCH_URL set');
}

/** The cluster the `_search` proxy forwards to: the same connection settings and passage options as the source. */
function proxyTarget(config: DotrankConfig, source: CandidateSource): ProxyTarget | undefined {
  if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) return undefined;
  const settings = connectionSettings(config);
  return { ...settings, url: settings.url!, ...(source instanceof ElasticsearchSource ? { passage: source.options } : {}) };
}

/** Creates the real dependencies from configuration and flags, builds the server and starts listening. */
export async function startServer(config: DotrankConfig, flags: StartFlags = {}): Promise<RunningServer> {
  const closers: (() => Promise<unknown>)[] = [];
  // each resource gets a bounded time to close (a client whose server is gone may never answer QUIT)
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([close().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
    }
    closers.length = 0;
  };
  try {
    const lexical = await openSource(config, flags);
    closers.push(() => lexical.close());
    // one encoder per process, loaded only when something here needs it (in-process reranking, dense queries)
    let encoderPromise: Promise<Encoder> | undefined;
    const processEncoder = (why: string): Promise<Encoder> => {
      const modelDir = flags.model ?? config.DOTRANK_MODEL;
      if (!modelDir) return Promise.reject(new ConfigError('--model', `is required ${why} (or set DOTRANK_MODEL)`));
      if (!encoderPromise) {
        const loading = loadEncoder(resolve(modelDir), encoderOptionsFromConfig(config));
        encoderPromise = loading;
        closers.push(async () => (await loading).close()); // idempotent, so an owner closing it too is fine
      }
      return encoderPromise;
    };
    let source: CandidateSource = lexical;
    const firstStage = flags.firstStage ?? 'bm25';
    if (firstStage !== 'bm25') {
      const encoder = await processEncoder(`for --first-stage ${firstStage} (queries are encoded in the API process)`);
      const dataDir = flags.indexDir ? resolve(flags.indexDir) : resolve(config.DOTRANK_DATA_DIR, 'index', flags.index ?? config.ELASTICSEARCH_INDEX);
      const staged = await openFirstStage(config, { firstStage, bm25: lexical, encoder, dataDir });
      closers.push(() => staged.close());
      if ((await staged.count()) === 0) {
        throw new ConfigError('--first-stage', `no dense index for ${encoder.modelId} beside ${dataDir}; build it with: dotrank eval --collection <dir> --first-stage ${firstStage} --model <dir>`);
      }
      source = staged;
    }
    const inProcess = flags.inProcess === true || !config.REDIS_URL;
    let reranker: RerankerLike;
    const readiness: Record<string, ReadinessCheck> = {};
    let queueAvailable: ServerDeps['queueAvailable'];
    let queueStats: ServerDeps['queueStats'];
    let startLine: string;

    if (inProcess) {
      const encoder = await processEncoder('in in-process mode');
      const store = new MemoryVectorStore({ dimension: encoder.dimension });
      reranker = new InProcessReranker({ encoder, store, batchSize: config.DOTRANK_BATCH_SIZE, maxCandidates: config.DOTRANK_MAX_CANDIDATES, closeResources: true });
      readiness['model'] = async () => true;
      startLine = `in-process mode: ${config.REDIS_URL ? '--in-process given' : 'no REDIS_URL configured'}; reranking with ${encoder.modelId} in this process (in-memory vector cache)`;
    } else {
      const redisUrl = config.REDIS_URL!;
      const queue = new QueueReranker({
        connection: redisUrl,
        queuePrefix: config.DOTRANK_QUEUE_PREFIX,
        deadlineMs: config.DOTRANK_RERANK_DEADLINE_MS,
        maxCandidates: config.DOTRANK_MAX_CANDIDATES,
      });
      reranker = queue;
      // a connection of our own tells, without waiting, whether Redis is there (then degrade at once)
      const probe = createRedisConnection(redisUrl, { role: 'probe' });
      closers.push(async () => probe.disconnect());
      queueAvailable = () => probe.status === 'ready';
      queueStats = async () => {
        const counts = await queue.queue.getJobCounts('waiting', 'prioritized', 'delayed');
        const depth = Object.values(counts).reduce((a, b) => a + b, 0);
        return { depth, activeWorkers: await queue.queue.getWorkersCount() };
      };
      readiness['redis'] = async () => (await probe.ping()) === 'PONG';
      readiness['model'] = async () => (await queue.queue.getWorkersCount()) > 0;
      startLine = `queue mode: reranking through BullMQ queue "${config.DOTRANK_QUEUE_PREFIX}" on ${new URL(redisUrl).host} (start workers with: dotrank worker --model <dir>)`;
    }
    closers.push(() => reranker.close());

    // the dashboard of the checkout this code runs from (serve may run from any folder)
    const repoRoot = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
    const dashboard = flags.dashboard ?? (flags.dashboardDir ? { outDir: flags.dashboardDir } : repoRoot ? { appDir: join(repoRoot, 'apps', 'dashboard') } : undefined);
    const evalDir = flags.evalDir ?? join(config.DOTRANK_DATA_DIR, 'evals');
    const proxy = proxyTarget(config, lexical);
    // collections an eval output may refer to by name: the sub-folders of the repository's datasets/
    const datasets = repoRoot ? join(repoRoot, 'datasets') : undefined;
    const collectionDirs = datasets
      ? (await readdir(datasets, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(datasets, e.name))
      : [];
    const app = await buildServer(
      {
        source,
        reranker,
        mode: inProcess ? 'in-process' : 'queue',
        readiness,
        ...(queueAvailable ? { queueAvailable } : {}),
        ...(queueStats ? { queueStats } : {}),
        ...(proxy ? { proxy } : {}),
        onClose: closeAll,
      },
      {
        deadlineMs: config.DOTRANK_RERANK_DEADLINE_MS,
        maxCandidates: config.DOTRANK_MAX_CANDIDATES,
        ...(config.DOTRANK_API_KEY ? { apiKey: config.DOTRANK_API_KEY } : {}),
        ...(dashboard ? { dashboard } : {}),
        evalDir,
        collectionDirs,
        logger: flags.logger ?? { level: config.DOTRANK_LOG_LEVEL },
      },
    );
    app.log.info(startLine);
    if (proxy) app.log.info(`Elasticsearch rerank proxy: /:index/_search -> ${new URL(proxy.url).origin}`);
    const url = await app.listen({ port: flags.port ?? config.DOTRANK_PORT, host: flags.host ?? config.DOTRANK_HOST });
    return { app, url, mode: inProcess ? 'in-process' : 'queue', close: () => app.close() };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
