// The proxy's forwarding client over several nodes and over https, against stand-in clusters: requests spread over
// every node of ELASTICSEARCH_URL, a node that cannot be reached is skipped (an error answer is not), and the CA
// fingerprint pin and insecure mode hold as they do for the official client.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UnavailableError, loadConfig } from '@dotrank/core';
import { ForwardingClient } from '../src/forward.js';
import { connectionSettings } from '../src/connection.js';
import { startStandInElasticsearch } from '../src/testing/index.js';
import type { StandInElasticsearch } from '../src/testing/index.js';
import { caught } from './support/caught.js';

const tls = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url)));
const DOCS = [{ _id: 'd1', _source: { text: 'boundary layer' } }];

const clients: ForwardingClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function forwarder(env: Record<string, string>): ForwardingClient {
  const settings = connectionSettings(loadConfig(env));
  const client = new ForwardingClient({ ...settings, url: settings.url! });
  clients.push(client);
  return client;
}

const search = (client: ForwardingClient, status?: { code?: number }) =>
  client
    .send({
      method: 'POST',
      path: '/library/_search',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"query":{"match":{"text":"layer"}}}'),
    })
    .then((res) => {
      if (status) status.code = res.status;
      return JSON.parse(res.body.toString()) as { hits: { hits: { _id: string }[] } };
    });

describe('ForwardingClient over the nodes of ELASTICSEARCH_URL', () => {
  let a: StandInElasticsearch;
  let b: StandInElasticsearch;
  let failA = false;
  beforeAll(async () => {
    a = await startStandInElasticsearch({
      indices: { library: { documents: DOCS } },
      intercept: () => (failA ? { status: 503, body: { error: 'unavailable', status: 503 } } : undefined),
    });
    b = await startStandInElasticsearch({ indices: { library: { documents: DOCS } } });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close().catch(() => undefined);
  });

  it('spreads requests over every node, answers an error status as it is, and skips a node that is down', async () => {
    const client = forwarder({ ELASTICSEARCH_URL: `${a.url},${b.url}` });
    expect(client.origin).toBe(`${a.url}, ${b.url}`);
    for (let i = 0; i < 4; i++) expect((await search(client)).hits.hits.map((h) => h._id)).toEqual(['d1']);
    expect([a.requestsTo('/library/_search').length, b.requestsTo('/library/_search').length]).toEqual([2, 2]);

    // an HTTP error answer is the cluster's answer: not sent again to the other node
    a.clearRequests();
    b.clearRequests();
    failA = true;
    const statuses = [{}, {}] as { code?: number }[];
    await search(client, statuses[0]);
    await search(client, statuses[1]);
    failA = false;
    expect(statuses.map((s) => s.code).sort()).toEqual([200, 503]);
    expect([a.requests.length, b.requests.length]).toEqual([1, 1]);

    // a node that refuses connections: every request goes to the other one
    await b.close();
    a.clearRequests();
    for (let i = 0; i < 4; i++) expect((await search(client)).hits.hits.map((h) => h._id)).toEqual(['d1']);
    expect(a.requestsTo('/library/_search')).toHaveLength(4);
  });

  it('fails with UnavailableError naming every node when none can be reached', async () => {
    const port = new URL(b.url).port; // closed by the test above, or by now
    await b.close().catch(() => undefined);
    const dead = `http://127.0.0.1:${port}`;
    const client = forwarder({ ELASTICSEARCH_URL: `${dead},${dead.replace('127.0.0.1', 'localhost')}` });
    const error = await caught(search(client));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toMatch(
      new RegExp(`^elasticsearch: cannot reach any node of ELASTICSEARCH_URL: ${dead} \\(ECONNREFUSED\\); `),
    );
  });
});

describe('ForwardingClient over https', () => {
  let es: StandInElasticsearch;
  const fingerprint = new X509Certificate(tls('ca.pem')).fingerprint256;
  beforeAll(async () => {
    es = await startStandInElasticsearch({
      indices: { library: { documents: DOCS } },
      tls: { key: tls('server.key'), cert: Buffer.concat([tls('server.pem'), tls('ca.pem')]) },
    });
  });
  afterAll(() => es?.close());

  it('honours ELASTICSEARCH_CA_FINGERPRINT (a wrong pin sends nothing) and ELASTICSEARCH_TLS_INSECURE', async () => {
    es.clearRequests();
    const pinned = forwarder({ ELASTICSEARCH_URL: es.url, ELASTICSEARCH_CA_FINGERPRINT: fingerprint });
    expect((await search(pinned)).hits.hits.map((h) => h._id)).toEqual(['d1']);
    const insecure = forwarder({ ELASTICSEARCH_URL: es.url, ELASTICSEARCH_TLS_INSECURE: '1' });
    expect((await search(insecure)).hits.hits.map((h) => h._id)).toEqual(['d1']);
    expect(es.requestsTo('/library/_search')).toHaveLength(2);

    const wrong = await caught(
      search(forwarder({ ELASTICSEARCH_URL: es.url, ELASTICSEARCH_CA_FINGERPRINT: 'AB'.repeat(32) })),
    );
    expect(wrong).toBeInstanceOf(UnavailableError);
    expect(wrong.message).toMatch(/TLS connection refused: no certificate the cluster sent has the pinned fingerprint/);
    expect((wrong as Error & { cause?: unknown }).cause).toBeInstanceOf(ConfigError);
    const untrusted = await caught(search(forwarder({ ELASTICSEARCH_URL: es.url })));
    expect(untrusted.message).toMatch(/self[-_ ]signed/i);
    // the refused connections never carried a request (nor its credentials)
    expect(es.requestsTo('/library/_search')).toHaveLength(2);
  });
});
