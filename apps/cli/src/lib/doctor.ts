import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { describeError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import {
  authKindOf,
  createClientFromConfig,
  mappedTextFields,
  passageOptionsForIndex,
  statusOf,
  translateError,
} from '@dotrank/elasticsearch';
import { availableExecutionProviders, readManifest, TextTokenizer } from '@dotrank/encoder';
import { defaultModelDir } from '@dotrank/model-tools';
import { DEFAULT_REDIS_URL, TASB_HUB_ID } from './quickstart.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of `dotrank doctor`: what was checked, what was found, and for a warn or fail how to fix it. */
export interface CheckResult {
  status: CheckStatus;
  check: string;
  detail: string;
  fix?: string;
}

const ok = (check: string, detail: string): CheckResult => ({ status: 'ok', check, detail });
const warn = (check: string, detail: string, fix: string): CheckResult => ({ status: 'warn', check, detail, fix });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ status: 'fail', check, detail, fix });

/** The oldest Node the packages support (package.json `engines`). */
export const MIN_NODE = '20.19.0';

/** True when dotted version `a` >= `b` (missing parts count as 0). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a
    .replace(/^v/, '')
    .split('.')
    .map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  }
  return true;
}

export function checkNode(version: string = process.versions.node): CheckResult {
  if (versionAtLeast(version, MIN_NODE)) return ok('node', `v${version.replace(/^v/, '')} (needs >= ${MIN_NODE})`);
  return fail(
    'node',
    `v${version.replace(/^v/, '')} is older than ${MIN_NODE}`,
    `install Node.js ${MIN_NODE} or later (22 LTS recommended)`,
  );
}

/** maxmemory-policy: queues need noeviction; an allkeys-* policy suits an instance that only holds the vector cache. */
export function checkEvictionPolicy(policy: string): CheckResult {
  if (policy === 'noeviction') return ok('redis eviction', 'maxmemory-policy noeviction');
  if (policy.startsWith('allkeys-')) {
    return ok(
      'redis eviction',
      `maxmemory-policy ${policy}: fine for an instance that only caches vectors (BullMQ queues need noeviction)`,
    );
  }
  return warn(
    'redis eviction',
    `maxmemory-policy ${policy} may evict queue jobs and leaves unexpiring cache entries in place`,
    'redis-cli CONFIG SET maxmemory-policy noeviction (queues), or allkeys-lru on a cache-only instance',
  );
}

/** Redis: reachable, its version, its eviction policy. Required when REDIS_URL is set; otherwise the default is tried. */
export async function checkRedis(config: Pick<DotrankConfig, 'REDIS_URL'>): Promise<CheckResult[]> {
  const configured = config.REDIS_URL !== undefined;
  const url = config.REDIS_URL ?? DEFAULT_REDIS_URL;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let connectionError: unknown; // ioredis reports the cause (ECONNREFUSED, ...) here and rejects with "Connection is closed"
  redis.on('error', (error) => (connectionError ??= error));
  try {
    await redis.connect();
    const version = /redis_version:([^\r\n]+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
    const results = [
      ok('redis', `${url} answers (Redis ${version})${configured ? '' : ', not configured: set REDIS_URL to use it'}`),
    ];
    if (!versionAtLeast(version, '6.2.0'))
      results[0] = warn('redis', `${url} runs Redis ${version}`, 'use Redis 6.2 or later (BullMQ)');
    const policy = await redis.call('CONFIG', 'GET', 'maxmemory-policy').then(
      (reply) => (Array.isArray(reply) ? String(reply[1]) : undefined),
      () => undefined,
    );
    results.push(
      policy
        ? checkEvictionPolicy(policy)
        : warn(
            'redis eviction',
            'CONFIG GET maxmemory-policy is not allowed here',
            "check the policy in your provider's console: noeviction for queues",
          ),
    );
    return results;
  } catch (error) {
    if (!configured) return [ok('redis', `REDIS_URL not set and nothing answers at ${url}: reranking runs in-process`)];
    return [
      fail(
        'redis',
        `cannot reach ${url}: ${describeError(connectionError ?? error)}`,
        'start Redis (redis-server) or correct REDIS_URL',
      ),
    ];
  } finally {
    redis.disconnect();
  }
}

/** The `text` fields of an index mapping, with dotted paths for object fields. */
export function textFieldsOf(
  properties: Record<string, { type?: string; properties?: Record<string, unknown> }> | undefined,
  prefix = '',
): string[] {
  const fields: string[] = [];
  for (const [name, spec] of Object.entries(properties ?? {})) {
    if (spec.type === 'text') fields.push(`${prefix}${name}`);
    if (spec.properties) fields.push(...textFieldsOf(spec.properties as typeof properties, `${prefix}${name}.`));
  }
  return fields;
}

const BROAD_CLUSTER = ['all', 'manage', 'manage_security', 'manage_api_key'];
const BROAD_INDEX = ['all', 'manage', 'write', 'delete'];

/**
 * What the configured credentials may do (`_security/user/_has_privileges`): read on the indices the proxy serves,
 * and nothing broader (the proxy forwards callers' queries with them). Undefined when the cluster cannot tell
 * (security off, or no such API).
 */
export async function checkKeyPrivileges(
  client: ReturnType<typeof createClientFromConfig>,
  indices: string[],
): Promise<CheckResult | undefined> {
  let answer: Awaited<ReturnType<typeof client.security.hasPrivileges>>;
  try {
    answer = await client.security.hasPrivileges({
      cluster: BROAD_CLUSTER,
      index: [
        { names: indices, privileges: ['read'] },
        { names: ['*'], privileges: BROAD_INDEX, allow_restricted_indices: true },
      ],
    });
  } catch {
    return undefined;
  }
  const broad = [
    ...BROAD_CLUSTER.filter((p) => answer.cluster?.[p]).map((p) => `cluster ${p}`),
    ...BROAD_INDEX.filter((p) => answer.index?.['*']?.[p]).map((p) => `${p} on every index`),
  ];
  const unreadable = indices.filter((i) => !answer.index?.[i]?.['read']);
  const fix = `use an API key with read (and view_index_metadata) on ${indices.join(', ')} only: README, "Drop-in Elasticsearch proxy"`;
  if (unreadable.length > 0)
    return warn('elasticsearch privileges', `the credentials cannot read ${unreadable.join(', ')}`, fix);
  if (broad.length > 0)
    return warn('elasticsearch privileges', `the credentials can do more than read: ${broad.join(', ')}`, fix);
  return ok('elasticsearch privileges', `read on ${indices.join(', ')}, nothing broader`);
}

/** Elasticsearch, when configured: reachable, its version, the index and the text fields dotrank searches. */
export async function checkElasticsearch(config: DotrankConfig): Promise<CheckResult[]> {
  if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID)
    return [ok('elasticsearch', 'not configured: the embedded BM25 index is the first stage')];
  const where = config.ELASTICSEARCH_URL ?? 'Elastic Cloud';
  const index = config.ELASTICSEARCH_INDEX;
  const client = createClientFromConfig(config);
  const auth = authKindOf(client);
  try {
    let version: string;
    try {
      version = (await client.info()).version.number;
    } catch (error) {
      return [
        fail(
          'elasticsearch',
          describeError(translateError(error, { action: 'read cluster info', index: '-', auth })),
          'start the cluster or correct ELASTICSEARCH_URL and its credentials',
        ),
      ];
    }
    const results = [ok('elasticsearch', `${where} answers (Elasticsearch ${version})`)];
    try {
      const mapping = await client.indices.getMapping({ index });
      const properties = Object.values(mapping)[0]?.mappings.properties as Parameters<typeof textFieldsOf>[0];
      const text = textFieldsOf(properties);
      const wanted = mappedTextFields(passageOptionsForIndex(config, index));
      const searched = wanted.filter((f) => text.includes(f));
      results.push(
        searched.length > 0
          ? ok('elasticsearch index', `${index}: text fields ${text.join(', ')}`)
          : warn(
              'elasticsearch index',
              `${index} has no text field dotrank searches (${wanted.join(', ')}); text fields: ${text.join(', ') || 'none'}`,
              `set ELASTICSEARCH_SEARCH_FIELDS and ELASTICSEARCH_TEXT_FIELDS to the index's text fields (dotrank es inspect ${index} suggests them), or index with dotrank index --source elasticsearch`,
            ),
      );
    } catch (error) {
      results.push(
        statusOf(error) === 404
          ? warn(
              'elasticsearch index',
              `${index} does not exist`,
              `dotrank index --collection <dir> --source elasticsearch --index ${index}`,
            )
          : fail(
              'elasticsearch index',
              describeError(translateError(error, { action: 'read the mapping', index, auth })),
              'check ELASTICSEARCH_INDEX and the privileges of the credentials',
            ),
      );
    }
    const privileges = await checkKeyPrivileges(client, config.DOTRANK_PROXY_INDICES ?? [index]);
    if (privileges) results.push(privileges);
    return results;
  } finally {
    await client.close();
  }
}

/** The model folder (DOTRANK_MODEL, else the pulled TAS-B): its manifest and tokenizer load. */
export async function checkModel(
  config: Pick<DotrankConfig, 'DOTRANK_MODEL' | 'DOTRANK_DATA_DIR'>,
): Promise<CheckResult> {
  const dir = config.DOTRANK_MODEL
    ? resolve(config.DOTRANK_MODEL)
    : defaultModelDir(config.DOTRANK_DATA_DIR, TASB_HUB_ID);
  if (!config.DOTRANK_MODEL && !existsSync(dir)) {
    return warn(
      'model',
      `DOTRANK_MODEL not set and no pulled model at ${dir}`,
      `npx dotrank model pull ${TASB_HUB_ID} (or set DOTRANK_MODEL to a model folder)`,
    );
  }
  try {
    const manifest = await readManifest(dir);
    await TextTokenizer.fromFile(manifest.tokenizerPath);
    return ok('model', `${manifest.modelId} (dim ${manifest.dimension}, ${manifest.graph}) in ${dir}`);
  } catch (error) {
    const fix = config.DOTRANK_MODEL
      ? 'point DOTRANK_MODEL at a folder made by dotrank model pull|convert'
      : `npx dotrank model pull ${TASB_HUB_ID}`;
    return (config.DOTRANK_MODEL ? fail : warn)('model', describeError(error), fix);
  }
}

export function checkExecutionProviders(
  config: Pick<DotrankConfig, 'DOTRANK_EXECUTION_PROVIDERS'>,
  available: string[] = availableExecutionProviders(),
): CheckResult {
  const wanted = config.DOTRANK_EXECUTION_PROVIDERS;
  const missing = wanted.filter((p) => !available.includes(p));
  const detail = `DOTRANK_EXECUTION_PROVIDERS=${wanted.join(',')}; available: ${available.join(', ')}`;
  if (missing.length === 0) return ok('onnx runtime', detail);
  return fail(
    'onnx runtime',
    `${detail}; missing: ${missing.join(', ')}`,
    'install the GPU binaries (README, "GPU workers") or set DOTRANK_EXECUTION_PROVIDERS=cpu',
  );
}

/** An executable on PATH, or undefined. */
function onPath(name: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** What the test suite needs besides Redis: Lucene jars and javac (BM25 parity), Chromium (dashboard e2e). Tests only: warn. */
export function checkTestTools(javaDir = '/usr/share/java'): CheckResult[] {
  const jars = existsSync(javaDir) ? readdirSync(javaDir).filter((f) => /^lucene-core.*\.jar$/.test(f)) : [];
  const javac = onPath('javac');
  const chromium = ['chromium', 'chromium-browser', 'google-chrome'].map((name) => onPath(name)).find(Boolean);
  return [
    jars.length > 0
      ? ok('tests: lucene', `${jars[0]} in ${javaDir}`)
      : warn('tests: lucene', `no lucene-core jar in ${javaDir}`, 'apt-get install liblucene8-java'),
    javac
      ? ok('tests: javac', javac)
      : warn('tests: javac', 'javac not on PATH', 'apt-get install openjdk-17-jdk-headless'),
    chromium
      ? ok('tests: chromium', chromium)
      : warn('tests: chromium', 'no chromium on PATH', 'apt-get install chromium'),
  ];
}

/** Every check, in the order printed. */
export async function runDoctor(config: DotrankConfig): Promise<CheckResult[]> {
  const guarded = async (check: string, run: () => Promise<CheckResult[]> | CheckResult[]): Promise<CheckResult[]> => {
    try {
      return await run();
    } catch (error) {
      return [fail(check, describeError(error), 'see the message; run with DOTRANK_DEBUG=1 for details')];
    }
  };
  return [
    checkNode(),
    ...(await guarded('redis', () => checkRedis(config))),
    ...(await guarded('elasticsearch', () => checkElasticsearch(config))),
    ...(await guarded('model', async () => [await checkModel(config)])),
    ...(await guarded('onnx runtime', () => [checkExecutionProviders(config)])),
    ...checkTestTools(),
  ];
}

/** `ok|warn|fail  <check>  <detail>`, columns aligned, each fix on the line below its check. */
export function formatChecks(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.check.length));
  return results
    .map(
      (r) =>
        `${r.status.padEnd(4)}  ${r.check.padEnd(width)}  ${r.detail}${r.fix ? `\n${' '.repeat(width + 8)}fix: ${r.fix}` : ''}`,
    )
    .join('\n');
}
