// The CandidateSource contract and the BM25 settings against a real cluster, when ELASTICSEARCH_URL (or
// ELASTICSEARCH_CLOUD_ID) is set; skipped with a printed reason otherwise. Each run uses its own index and
// deletes it afterwards. ELASTICSEARCH_COMPAT=7 runs it against a 7.14-7.17 server. Also: the proxy's forwarding
// client reaches the cluster with the same credentials, and its hits give the source's passages.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { candidateSourceContract, uniquePrefix } from '@dotrank/core/testing';
import { ForwardingClient, decodedBody } from '../src/forward.js';
import { buildSearchBody } from '../src/query.js';
import { connectionSettings } from '../src/connection.js';
import { createClientFromConfig } from '../src/client.js';
import { createElasticsearchSource } from '../src/source.js';
import { readSearchHits } from '../src/response.js';

const config = loadConfig(process.env);
const configured = Boolean(config.ELASTICSEARCH_URL || config.ELASTICSEARCH_CLOUD_ID);
const compatibility = process.env['ELASTICSEARCH_COMPAT'] === '7' ? 7 : 8;
if (!configured)
  console.warn('[elasticsearch] integration suite skipped: ELASTICSEARCH_URL / ELASTICSEARCH_CLOUD_ID is not set');

describe.skipIf(!configured)('real Elasticsearch cluster', () => {
  const created: string[] = [];
  const indexName = (label: string) => {
    const name = uniquePrefix(`es-${label}`).toLowerCase();
    created.push(name);
    return name;
  };

  afterAll(async () => {
    const client = createClientFromConfig(config, { compatibility });
    for (const index of created)
      await client.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
    await client.close();
  });

  candidateSourceContract('elasticsearch (real cluster)', async () =>
    createElasticsearchSource(config, { index: indexName('contract'), compatibility }),
  );

  it('creates the index with the requested BM25 similarity and refuses a different one later', async () => {
    const source = createElasticsearchSource(config, { index: indexName('bm25'), compatibility });
    try {
      expect(await source.ensureIndex({ k1: 0.9, b: 0.4 })).toMatchObject({ created: true });
      expect(await source.ensureIndex()).toMatchObject({ created: false, similarity: { k1: 0.9, b: 0.4 } });
      await expect(source.ensureIndex({ k1: 1.2 })).rejects.toMatchObject({ field: 'k1' });
    } finally {
      await source.close();
    }
  });

  it('reports a missing index as NotFoundError', async () => {
    const source = createElasticsearchSource(config, { index: indexName('missing'), compatibility });
    try {
      await expect(source.search('wing', { k: 1 })).rejects.toMatchObject({ code: 'not_found', field: 'index' });
    } finally {
      await source.close();
    }
  });

  it('forwards a search with the configured credentials and reads the same passages as the source', async () => {
    const source = createElasticsearchSource(config, {
      index: indexName('proxy'),
      compatibility,
      textFields: ['title', 'text'],
    });
    const settings = connectionSettings(config);
    const forwarder = new ForwardingClient({ ...settings, url: settings.url! });
    try {
      await source.index([
        { id: 'a', title: 'Wings', text: 'Lift on a wing at 12 degrees.' },
        { id: 'b', text: 'Heat transfer on a wing.' },
      ]);
      const fromSource = await source.search('wing', { k: 2 });
      const body = Buffer.from(JSON.stringify(buildSearchBody('wing', { k: 2 }, source.options)));
      const contentType =
        compatibility === 7 ? 'application/json' : 'application/vnd.elasticsearch+json; compatible-with=8';
      const response = await forwarder.send({
        method: 'POST',
        path: `/${source.indexName}/_search`,
        headers: { 'content-type': contentType, accept: contentType },
        body,
      });
      expect(response.status).toBe(200);
      const read = readSearchHits((await decodedBody(response))!, source.options);
      if ('why' in read) throw new Error(read.why);
      expect(read.candidates.map((c) => [c.id, c.text])).toEqual(fromSource.map((c) => [c.id, c.text]));
    } finally {
      forwarder.close();
      await source.close();
    }
  });
});
