import { resolve } from 'node:path';
import { ConfigError } from '@dotrank/core';
import type { CandidateSource, DotrankConfig, IndexReport, Passage } from '@dotrank/core';
import { createEmbeddedSource } from '@dotrank/bm25';
import { createElasticsearchSource } from '@dotrank/elasticsearch';

export type SourceKind = 'embedded' | 'elasticsearch';

export interface SourceFlags {
  source?: SourceKind;
  indexDir?: string;
  index?: string;
}

/** Embedded unless asked otherwise or a cluster is configured (the documented default). */
export function sourceKindOf(config: DotrankConfig, flags: SourceFlags): SourceKind {
  if (flags.source) return flags.source;
  if (flags.indexDir) return 'embedded';
  if (flags.index) return 'elasticsearch';
  return config.ELASTICSEARCH_URL || config.ELASTICSEARCH_CLOUD_ID ? 'elasticsearch' : 'embedded';
}

/** Where the embedded index of a collection lives when no --index-dir is given. */
export function defaultIndexDir(config: DotrankConfig, collectionName: string): string {
  return resolve(config.DOTRANK_DATA_DIR, 'index', collectionName);
}

export interface OpenedSource {
  source: CandidateSource;
  kind: SourceKind;
  /** Folder (embedded) or index name (Elasticsearch), for messages. */
  location: string;
}

/** Opens the first stage for a collection; the embedded index is created empty when absent. */
export async function openSourceFor(
  config: DotrankConfig,
  flags: SourceFlags,
  collectionName: string,
): Promise<OpenedSource> {
  const kind = sourceKindOf(config, flags);
  if (kind === 'embedded') {
    if (flags.index)
      throw new ConfigError('--index', 'names an Elasticsearch index; with the embedded source use --index-dir');
    const dir = flags.indexDir ? resolve(flags.indexDir) : defaultIndexDir(config, collectionName);
    return { source: await createEmbeddedSource({ dir }), kind, location: dir };
  }
  if (flags.indexDir)
    throw new ConfigError('--index-dir', 'is for the embedded source; with Elasticsearch use --index');
  if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) {
    throw new ConfigError('ELASTICSEARCH_URL', 'must be set (or ELASTICSEARCH_CLOUD_ID) to use --source elasticsearch');
  }
  const index = flags.index ?? config.ELASTICSEARCH_INDEX;
  const source = createElasticsearchSource(config, { index });
  await source.ensureIndex({});
  return { source, kind, location: `${index} on Elasticsearch` };
}

/** Indexes the passages unless the source already holds documents; returns undefined when it reused them. */
export async function indexIfEmpty(
  source: CandidateSource,
  passages: () => AsyncIterable<Passage>,
  onProgress?: (done: number) => void,
): Promise<IndexReport | undefined> {
  if ((await source.count()) > 0) return undefined;
  return source.index(passages(), { onProgress: (p) => onProgress?.(p.done) });
}
