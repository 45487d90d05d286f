// Real sockets, no mock: a local HTTP server that never answers (timeouts), a closed port (connection refused),
// a server that is not Elasticsearch (product check), and an HTTPS server whose certificate only the CA file
// in test/fixtures/tls trusts.
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, UnavailableError, loadConfig } from '@dotrank/core';
import { createElasticsearchSource } from '../src/source.js';
import type { ElasticsearchSource } from '../src/source.js';
import { caught } from './support/caught.js';

const tls = (name: string) => fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url));

const servers: Server[] = [];
const sources: ElasticsearchSource[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

function source(
  env: Record<string, string>,
  options: Parameters<typeof createElasticsearchSource>[1] = {},
): ElasticsearchSource {
  const s = createElasticsearchSource(loadConfig({ ELASTICSEARCH_INDEX: 'docs', ...env }), {
    clientOptions: { maxRetries: 0 },
    ...options,
  });
  sources.push(s);
  return s;
}

const esAnswer = (res: ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
  res.end(JSON.stringify(body));
};

describe('against real sockets', () => {
  it('turns a timeout into UnavailableError naming ELASTICSEARCH_TIMEOUT_MS', async () => {
    const port = await listen(
      createHttpServer(() => {
        /* never answers */
      }),
    );
    const s = source({ ELASTICSEARCH_URL: `http://127.0.0.1:${port}`, ELASTICSEARCH_TIMEOUT_MS: '150' });
    const error = await caught(s.search('wing', { k: 1 }));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toBe(
      'elasticsearch: Elasticsearch did not answer search on index "docs" after 150 ms (ELASTICSEARCH_TIMEOUT_MS)',
    );
    expect(error.message).not.toContain('    at ');
  });

  it('retries a timed-out bulk request, then stops the ingest with UnavailableError', async () => {
    let bulks = 0;
    const port = await listen(
      createHttpServer((req: IncomingMessage) => {
        if (req.url?.includes('_bulk')) bulks++;
      }),
    );
    const s = source(
      { ELASTICSEARCH_URL: `http://127.0.0.1:${port}`, ELASTICSEARCH_TIMEOUT_MS: '100' },
      {
        autoCreateIndex: false,
        bulk: { maxRetries: 2, initialBackoffMs: 1, maxBackoffMs: 2 },
      },
    );
    const error = await caught(s.index([{ id: 'a', text: 'x' }]));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toContain('did not answer bulk ingest on index "docs" after 100 ms');
    expect(bulks).toBe(3);
  });

  it('turns connection refused into UnavailableError naming the settings to check', async () => {
    const port = await listen(createHttpServer());
    const closed = servers.pop()!;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const s = source({ ELASTICSEARCH_URL: `http://127.0.0.1:${port}` });
    const error = await caught(s.count());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toMatch(
      /^elasticsearch: cannot reach Elasticsearch \(count\): .*ECONNREFUSED.*; check ELASTICSEARCH_URL \/ ELASTICSEARCH_CLOUD_ID and that the cluster is up$/,
    );
  });

  it('refuses a server that is not Elasticsearch', async () => {
    const port = await listen(
      createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"count": 3}');
      }),
    );
    const error = await caught(source({ ELASTICSEARCH_URL: `http://127.0.0.1:${port}` }).count());
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('ELASTICSEARCH_URL');
  });

  it('talks TLS to a server signed by the CA in ELASTICSEARCH_CA_FILE, and fails clearly without it', async () => {
    const seen: Array<string | undefined> = [];
    const server = createHttpsServer(
      { key: readFileSync(tls('server.key')), cert: readFileSync(tls('server.pem')) },
      (req, res) => {
        seen.push(req.headers.authorization);
        esAnswer(res, { count: 7, _shards: { total: 1, successful: 1, failed: 0 } });
      },
    );
    const port = await listen(server as unknown as Server);
    const url = `https://localhost:${port}`;
    const trusted = source({
      ELASTICSEARCH_URL: url,
      ELASTICSEARCH_CA_FILE: tls('ca.pem'),
      ELASTICSEARCH_API_KEY: 'dGxz',
    });
    expect(await trusted.count()).toBe(7);
    expect(seen).toEqual(['ApiKey dGxz']);
    const untrusted = source({ ELASTICSEARCH_URL: url });
    const error = await caught(untrusted.count());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toMatch(/cannot reach Elasticsearch \(count\): .*(certificate|self.signed|issuer)/i);
  });
});
