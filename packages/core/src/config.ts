import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Configuration is read once, here, from the environment (and flags the apps merge on top), then passed
 * down. Packages never read `process.env` themselves.
 */
/** An integer variable in [min, max]; every failure (not a number, a fraction, out of range) says the same clear thing. */
const intFrom = (min: number, max: number) => {
  const message = `must be an integer between ${min} and ${max}`;
  return z.coerce.number({ message }).int({ message }).min(min, { message }).max(max, { message });
};
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** A field name or dotted path of an Elasticsearch document (`title`, `body.content`, `_id`). */
const FIELD_NAME = /^[^\s,^*]+$/;
const BOOSTED_FIELD = /^[^\s,^*]+(\^\d+(\.\d+)?)?$/;

/** A comma list of field names (with `^boost` when `boosts`); unset or blank = undefined; the first bad item is named. */
const fieldList = ({ boosts }: { boosts: boolean }) =>
  optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    const items = v.split(',').map((s) => s.trim());
    for (const item of items) {
      if ((boosts ? BOOSTED_FIELD : FIELD_NAME).test(item)) continue;
      const problem =
        item === ''
          ? 'has an empty item (a stray comma?)'
          : boosts
            ? `"${item}" is not a field name with an optional ^boost (e.g. title^2,body.content)`
            : `"${item}" is not a field name (dotted paths allowed, e.g. meta.title,body.content)`;
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return items;
  });

/** ELASTICSEARCH_URL: one URL or a comma list of nodes, each http(s). */
const nodeUrls = optionalString.pipe(
  z
    .string()
    .refine(
      (v) =>
        v.split(',').every((item) => {
          try {
            return ['http:', 'https:'].includes(new URL(item.trim()).protocol);
          } catch {
            return false;
          }
        }),
      { message: 'must be an http(s) URL or a comma list of them (e.g. https://es1:9200,https://es2:9200)' },
    )
    .optional(),
);

export const configSchema = z.object({
  REDIS_URL: optionalString,
  /**
   * A Redis Cluster's nodes, `host:port,host:port` (any of them will do; more are tried in turn at start). loadConfig
   * folds them into REDIS_URL as `?cluster=<nodes>` (REDIS_URL, if set, gives the credentials and TLS), so every
   * connection is a Cluster client. `REDIS_URL=redis://node:port?cluster=1` says the same with one node.
   */
  REDIS_CLUSTER_NODES: optionalString.pipe(
    z
      .string()
      .regex(/^\s*[^\s,]+:\d{1,5}\s*(,\s*[^\s,]+:\d{1,5}\s*)*$/, { message: 'must be host:port,host:port,...' })
      .optional(),
  ),
  /** One cluster URL or a comma list of its nodes; may carry `user:pass@` for basic auth. */
  ELASTICSEARCH_URL: nodeUrls,
  ELASTICSEARCH_INDEX: z.string().default('dotrank'),
  ELASTICSEARCH_API_KEY: optionalString,
  ELASTICSEARCH_USERNAME: optionalString,
  ELASTICSEARCH_PASSWORD: optionalString,
  ELASTICSEARCH_CA_FILE: optionalString,
  ELASTICSEARCH_CLOUD_ID: optionalString,
  ELASTICSEARCH_TIMEOUT_MS: intFrom(1, 600_000).default(30_000),
  /** 0 turns the Elasticsearch `_search` proxy off (its routes answer 404 in Elasticsearch's error shape). */
  DOTRANK_PROXY: z
    .enum(['0', '1', 'false', 'true'], { message: 'must be 0, 1, false or true' })
    .default('1')
    .transform((v) => v === '1' || v === 'true'),
  /** Indices the proxy serves, comma separated; a pattern (`logs-*`) or `_all` only when listed as such. Unset = ELASTICSEARCH_INDEX. */
  DOTRANK_PROXY_INDICES: optionalString.pipe(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[^\\/\s#]+$/, { message: 'lists index names (no /, \\, # or spaces)' })).min(1))
      .optional(),
  ),
  /** The `inference_id` of a `text_similarity_reranker` retriever that the proxy runs with dotrank's model. */
  DOTRANK_INFERENCE_ID: z.string().min(1).default('dotrank'),
  /** How long the proxy keeps a reranked window for the next pages (Redis when REDIS_URL is set, else in memory). */
  DOTRANK_WINDOW_TTL_SECONDS: intFrom(1, 7 * 24 * 3600).default(300),
  /** Fields the query runs on, `field^boost` each (unset: the source's default, `title,text`). */
  ELASTICSEARCH_SEARCH_FIELDS: fieldList({ boosts: true }),
  /** `_source` fields joined into the passage text; dotted paths reach into objects, arrays are joined. */
  ELASTICSEARCH_TEXT_FIELDS: fieldList({ boosts: false }),
  /** Between joined text fields and array values; `\n` and `\t` stand for a newline and a tab. */
  ELASTICSEARCH_TEXT_SEPARATOR: z
    .string()
    .default(' ')
    .transform((v) => v.replace(/\\n/g, '\n').replace(/\\t/g, '\t')),
  /** `_source` field holding the passage id (a dotted path allowed), or `_id`. */
  ELASTICSEARCH_ID_FIELD: z
    .string()
    .default('_id')
    .transform((v) => v.trim())
    .pipe(z.string().regex(FIELD_NAME, { message: 'must be one field name (a dotted path) or _id' })),
  /** Fields a search filter may name (an allow-list; unset: keys of the `metadata` object). */
  ELASTICSEARCH_FILTER_FIELDS: fieldList({ boosts: false }),
  /** SHA-256 fingerprint of the cluster's CA certificate (hex, colons optional), as Elasticsearch prints it at set-up. */
  ELASTICSEARCH_CA_FINGERPRINT: optionalString.pipe(
    z
      .string()
      .transform((v) => v.trim().replace(/:/g, '').toUpperCase())
      .pipe(
        z
          .string()
          .regex(/^[0-9A-F]{64}$/, { message: 'must be a SHA-256 fingerprint: 64 hex digits, colons optional' }),
      )
      .transform((v) => v.match(/../g)!.join(':'))
      .optional(),
  ),
  /** 1: accept any TLS certificate from the cluster (development only; a loud warning is printed). */
  ELASTICSEARCH_TLS_INSECURE: z
    .enum(['', '0', '1', 'false', 'true'], { message: 'must be 0, 1, false or true' })
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  /** A JSON file mapping index name -> {searchFields, textFields, idField, filterFields, textSeparator}. */
  DOTRANK_INDEX_CONFIG: optionalString,
  DOTRANK_MODEL: optionalString,
  DOTRANK_QUEUE_PREFIX: z.string().min(1).default('dotrank'),
  DOTRANK_KEY_PREFIX: z.string().min(1).default('dotrank'),
  DOTRANK_DATA_DIR: z.string().default('.dotrank'),
  DOTRANK_API_KEY: optionalString,
  DOTRANK_PORT: intFrom(0, 65_535).default(3000),
  DOTRANK_HOST: z.string().default('127.0.0.1'),
  DOTRANK_RERANK_DEADLINE_MS: intFrom(1, 600_000).default(500),
  /** How long a failed rerank job (which holds the query text) stays in Redis for inspection; default 7 days. */
  DOTRANK_FAILED_JOB_TTL_SECONDS: intFrom(1, 365 * 24 * 3600).default(604_800),
  DOTRANK_MAX_CANDIDATES: intFrom(1, 100_000).default(1000),
  DOTRANK_BATCH_SIZE: intFrom(1, 4096).default(32),
  DOTRANK_ORT_THREADS: intFrom(0, 1024).default(0),
  /**
   * ONNX Runtime's idle threads busy-wait for the next op when 1. Off by default: spinning threads take the cores
   * the queue, Redis and other processes need between inferences (measured in the worker bench).
   */
  DOTRANK_ORT_SPIN: z
    .enum(['0', '1', 'false', 'true'], { message: 'must be 0, 1, false or true' })
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  /**
   * Niceness of the inference thread and ONNX Runtime's pool threads (Linux only: per thread; 0 = as the process).
   * Above 0 the model yields the cores to the event loop (HTTP, the first stage, deadlines, the queue) when both want
   * them: under 2x overload the API held every request within its deadline + 20 ms at 5, not at 0 (22 of 1,425 late
   * by up to 163 ms), with the same throughput; the worker benchmark measured no difference.
   */
  DOTRANK_ORT_NICE: intFrom(0, 19).default(5),
  /** ONNX Runtime execution providers, comma separated, in order of preference (e.g. `cuda,cpu`). */
  DOTRANK_EXECUTION_PROVIDERS: z
    .string()
    .default('cpu')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(['cpu', 'cuda', 'dml', 'coreml', 'webgpu'])).min(1)),
  /** Rerank jobs a worker process runs at once; 0 = chosen from the cores (workerConcurrency). */
  DOTRANK_WORKER_CONCURRENCY: intFrom(0, 1024).default(0),
  /** Query vectors kept per process (LRU by model revision and token ids); 0 turns the query cache off. */
  DOTRANK_QUERY_CACHE_SIZE: intFrom(0, 100_000_000).default(10_000),
  /** Expiry of query vectors shared through Redis (beside the passage vectors); 0 = none. Default 7 days. */
  DOTRANK_QUERY_CACHE_TTL_SECONDS: intFrom(0, 10 * 365 * 24 * 3600).default(604_800),
  /** Most concurrent query encodings run as one inference call; 1 = one query per call. */
  DOTRANK_QUERY_BATCH: intFrom(1, 4096).default(16),
  /** How long the first query of a batch waits for others (ms); 0 = no waiting (queries that queued meanwhile still join). */
  DOTRANK_BATCH_WAIT_MS: intFrom(0, 10_000).default(2),
  /**
   * How a long document's score comes from its passage windows: `first` (default: no windows, the text truncated to
   * the passage length), `firstp`, `maxp`, `sump`, `meanp` or `kmax:K` (the mean of the K best windows).
   */
  DOTRANK_DOC_SCORE: z
    .string()
    .default('first')
    .transform((v) => v.trim().toLowerCase())
    .pipe(
      z.string().regex(/^(first|firstp|maxp|sump|meanp|kmax:([1-9]\d{0,2}|10[01]\d|102[0-4]))$/, {
        message: 'must be first, firstp, maxp, sump, meanp or kmax:K (K from 1 to 1024)',
      }),
    ),
  /** Tokens per passage window, special tokens included (default: the model's passage length). */
  DOTRANK_PASSAGE_WINDOW_TOKENS: intFrom(3, 8192).optional(),
  /** Tokens from one window's start to the next one's (default: half of the window). */
  DOTRANK_PASSAGE_WINDOW_STRIDE: intFrom(1, 8192).optional(),
  DOTRANK_CACHE_DTYPE: z.enum(['float32', 'float16', 'int8']).default('float32'),
  DOTRANK_CACHE_TTL_SECONDS: intFrom(0, 10 * 365 * 24 * 3600).default(0),
  /**
   * 1 (default): the Redis vector cache scores reads through its own lean connection (no per-chunk copies) where it
   * can (plain TCP or Unix socket, not TLS, Sentinel or Cluster); 0: through ioredis like every other command.
   */
  DOTRANK_CACHE_FAST_READS: z
    .enum(['0', '1', 'false', 'true'], { message: 'must be 0, 1, false or true' })
    .default('1')
    .transform((v) => v === '1' || v === 'true'),
  DOTRANK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** 1: the CLI prints the stack trace of an error after its one-line message. */
  DOTRANK_DEBUG: z
    .enum(['', '0', '1', 'false', 'true'], { message: 'must be 0, 1, false or true' })
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  /** Model hub for `dotrank model pull` (unset: https://huggingface.co) and its token for private or gated models. */
  HF_ENDPOINT: optionalString,
  HF_TOKEN: optionalString,
  /** Embedded dense first stage: `exact` (brute force) or `ann` (HNSW graph, built once and saved beside the vectors). */
  DOTRANK_DENSE_MODE: z.enum(['exact', 'ann']).default('exact'),
  /** HNSW backend of `ann`: `auto` = hnswlib (native, optional package hnswlib-node) when it loads, else the built-in `js`. */
  DOTRANK_ANN_BACKEND: z.enum(['auto', 'hnswlib', 'js']).default('auto'),
  /** HNSW parameters; unset = the dense package's defaults (M 16, efConstruction 200, efSearch 128). */
  DOTRANK_HNSW_M: intFrom(2, 127).optional(),
  DOTRANK_HNSW_EF_CONSTRUCTION: intFrom(1, 100_000).optional(),
  DOTRANK_HNSW_EF_SEARCH: intFrom(1, 100_000).optional(),
  /** Online comparison of BM25 and TAS-B: `off`, `shadow` (answer BM25, rerank in the background) or `interleave`. */
  DOTRANK_EXPERIMENT: z.enum(['off', 'shadow', 'interleave']).default('off'),
  /** Share of requests (0..1) that take part in the configured experiment. */
  DOTRANK_EXPERIMENT_TRAFFIC: z.coerce
    .number({ message: 'must be a number between 0 and 1' })
    .min(0, { message: 'must be a number between 0 and 1' })
    .max(1, { message: 'must be a number between 0 and 1' })
    .default(1),
  /** Impressions, and events, kept per experiment (Redis Streams MAXLEN ~; the same cap in memory). */
  DOTRANK_EXPERIMENT_MAX_EVENTS: intFrom(100, 1_000_000_000).default(1_000_000),
  /** Days impressions and events (and event ids, for idempotence) are kept. */
  DOTRANK_EXPERIMENT_RETENTION_DAYS: intFrom(1, 3650).default(30),
  /** The name impressions are logged under: a new name starts a new experiment. */
  DOTRANK_EXPERIMENT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'must be 1-64 letters, digits, dots, dashes or underscores' })
    .default('default'),
});

export type DotrankConfig = z.infer<typeof configSchema>;

/** Reads configuration from an environment; every problem names the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): DotrankConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || 'environment';
    throw new ConfigError(field, `${issue.message} (got ${JSON.stringify(env[field] ?? null)})`);
  }
  return withClusterNodes(parsed.data);
}

/** REDIS_CLUSTER_NODES as REDIS_URL's `cluster` parameter, the one form every Redis connection reads. */
function withClusterNodes(config: DotrankConfig): DotrankConfig {
  const nodes = config.REDIS_CLUSTER_NODES?.split(',').map((n) => n.trim());
  if (!nodes) return config;
  let url: URL;
  try {
    url = new URL(config.REDIS_URL ?? `redis://${nodes[0]}`);
  } catch {
    throw new ConfigError('REDIS_URL', `is not a URL (got ${JSON.stringify(config.REDIS_URL)})`);
  }
  url.searchParams.set('cluster', nodes.join(','));
  return { ...config, REDIS_URL: url.toString() };
}

/**
 * Rerank jobs a worker process runs at once: DOTRANK_WORKER_CONCURRENCY, or for 0 one per core of its share of the
 * machine, so that jobs run together can share one batched query encoding and one job's cache read overlaps
 * another's encoding (measured in the worker benchmark's throughput phase).
 */
export function workerConcurrency(configured: number, cores: number, workersPerMachine = 1): number {
  return configured > 0 ? configured : defaultIntraOpThreads(cores, workersPerMachine);
}

/** Default worker-side ORT threads: the cores of this machine divided among the workers that share it. */
export function defaultIntraOpThreads(cores: number, workersPerMachine = 1): number {
  return Math.max(1, Math.floor(cores / Math.max(1, workersPerMachine)));
}

/** The repository root: the nearest parent holding nx.json, or undefined outside a checkout. */
export function findRepoRoot(start: string = process.cwd()): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
