// The proxy's forwarding client over real sockets: what reaches the cluster, the credentials it adds (the same header
// the official client sends for the same settings), compressed bodies, TLS with the CA file, timeouts, refusals.
import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DotrankError, UnavailableError, loadConfig } from '@dotrank/core';
import { ForwardingClient, decodedBody } from '../src/forward.js';
import { connectionSettings } from '../src/connection.js';
import { createClientFromConfig } from '../src/client.js';
import { caught } from './support/caught.js';

const tls = (name: string) => fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url));

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];
const clients: ForwardingClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A server answering like Elasticsearch, recording each request. */
async function cluster(
  answer?: (req: IncomingMessage, res: ServerResponse) => void,
  server: Server = createHttpServer(),
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (answer) return answer(req, res);
      res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end('{"version":{"number":"8.19.2"},"tagline":"You Know, for Search"}');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const protocol = server instanceof HttpsServer ? 'https' : 'http';
  return { url: `${protocol}://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

function forwarder(env: Record<string, string>): ForwardingClient {
  const settings = connectionSettings(loadConfig(env));
  const client = new ForwardingClient({ ...settings, url: settings.url! });
  clients.push(client);
  return client;
}

describe('ForwardingClient', () => {
  it('forwards method, path, query string and body bytes to the configured cluster, without hop-by-hop headers', async () => {
    const { url, received } = await cluster();
    const body = Buffer.from('{ "query" : {"match":{"text":"é"}} }');
    const res = await forwarder({ ELASTICSEARCH_URL: `${url}/prefix/` }).send({
      method: 'POST',
      path: '/cran/_search?typed_keys=true',
      headers: {
        'content-type': 'application/json',
        connection: 'keep-alive, x-drop',
        'x-drop': '1',
        host: 'evil.example',
        'x-opaque-id': 't1',
        'transfer-encoding': 'chunked',
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(received).toHaveLength(1);
    const got = received[0]!;
    expect(got).toMatchObject({ method: 'POST', url: '/prefix/cran/_search?typed_keys=true', body: body.toString() });
    expect(got.headers['host']).toBe(new URL(url).host);
    expect(got.headers['x-opaque-id']).toBe('t1');
    expect(got.headers['x-drop']).toBeUndefined();
    expect(got.headers['content-length']).toBe(String(body.length));
  });

  for (const [kind, env] of [
    ['API key', { ELASTICSEARCH_API_KEY: 'aWQ6a2V5' }],
    ['user and password', { ELASTICSEARCH_USERNAME: 'élastic', ELASTICSEARCH_PASSWORD: 'p:ss' }],
  ] as const) {
    it(`sends the same Authorization as the official client for the ${kind}, replacing the caller's`, async () => {
      const { url, received } = await cluster();
      await forwarder({ ELASTICSEARCH_URL: url, ...env }).send({
        method: 'GET',
        path: '/',
        headers: { authorization: 'Bearer caller' },
      });
      const official = createClientFromConfig(loadConfig({ ELASTICSEARCH_URL: url, ...env }));
      try {
        await official.info();
      } finally {
        await official.close();
      }
      expect(received).toHaveLength(2);
      expect(received[0]!.headers['authorization']).toBe(received[1]!.headers['authorization']);
      expect(received[0]!.headers['authorization']).not.toBe('Bearer caller');
    });
  }

  it("lets the caller's own Authorization through when none is configured; URL credentials become basic auth", async () => {
    const { url, received } = await cluster();
    await forwarder({ ELASTICSEARCH_URL: url }).send({
      method: 'GET',
      path: '/',
      headers: { authorization: 'Bearer caller' },
    });
    expect(received[0]!.headers['authorization']).toBe('Bearer caller');
    const withUser = new URL(url);
    withUser.username = 'u';
    withUser.password = 'p%40ss';
    await forwarder({ ELASTICSEARCH_URL: withUser.href }).send({ method: 'GET', path: '/', headers: {} });
    expect(received[1]!.headers['authorization']).toBe(`Basic ${Buffer.from('u:p@ss').toString('base64')}`);
  });

  it('reads a gzip body as sent, and decodedBody inflates it', async () => {
    const json = '{"hits":{"hits":[]}}';
    const { url } = await cluster((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync(json));
    });
    const res = await forwarder({ ELASTICSEARCH_URL: url }).send({ method: 'GET', path: '/x/_search', headers: {} });
    expect(res.body.equals(Buffer.from(json))).toBe(false);
    expect((await decodedBody(res))?.toString()).toBe(json);
    expect(await decodedBody({ ...res, headers: { 'content-encoding': 'zstd' } })).toBeUndefined();
    expect(await decodedBody({ ...res, body: Buffer.from('not gzip') })).toBeUndefined();
  });

  it('talks TLS to a server signed by the CA in ELASTICSEARCH_CA_FILE, and fails clearly without it', async () => {
    const server = createHttpsServer({ key: readFileSync(tls('server.key')), cert: readFileSync(tls('server.pem')) });
    const { url } = await cluster(undefined, server);
    const https = url.replace('127.0.0.1', 'localhost');
    const trusted = await forwarder({ ELASTICSEARCH_URL: https, ELASTICSEARCH_CA_FILE: tls('ca.pem') }).send({
      method: 'GET',
      path: '/',
      headers: {},
    });
    expect(trusted.status).toBe(200);
    const untrusted = await caught(
      forwarder({ ELASTICSEARCH_URL: https }).send({ method: 'GET', path: '/', headers: {} }),
    );
    expect(untrusted).toBeInstanceOf(UnavailableError);
    expect(untrusted.message).toMatch(/^elasticsearch: cannot reach https:\/\/localhost:\d+ \(/);
  });

  it('gives up after ELASTICSEARCH_TIMEOUT_MS with a timeout error, and names a refused connection', async () => {
    const { url } = await cluster(() => undefined);
    const slow = await caught(
      forwarder({ ELASTICSEARCH_URL: url, ELASTICSEARCH_TIMEOUT_MS: '200' }).send({
        method: 'GET',
        path: '/',
        headers: {},
      }),
    );
    expect(slow).toBeInstanceOf(DotrankError);
    expect((slow as DotrankError).code).toBe('timeout');
    expect(slow.message).toBe(`elasticsearch: ${url} did not answer within 200 ms (ELASTICSEARCH_TIMEOUT_MS)`);
    const closed = createHttpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await caught(
      forwarder({ ELASTICSEARCH_URL: `http://127.0.0.1:${port}` }).send({ method: 'GET', path: '/', headers: {} }),
    );
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused.message).toBe(`elasticsearch: cannot reach http://127.0.0.1:${port} (ECONNREFUSED)`);
  });

  it('also times out a response whose body stops half way', async () => {
    const { url } = await cluster((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"hits":');
    });
    const stalled = await caught(
      forwarder({ ELASTICSEARCH_URL: url, ELASTICSEARCH_TIMEOUT_MS: '200' }).send({
        method: 'GET',
        path: '/x/_search',
        headers: {},
      }),
    );
    expect((stalled as DotrankError).code).toBe('timeout');
  });

  it('refuses a target that is not http(s), naming ELASTICSEARCH_URL', () => {
    expect(() => new ForwardingClient({ url: 'ftp://x' })).toThrow(ConfigError);
    expect(() => new ForwardingClient({ url: 'ftp://x' })).toThrow(/^ELASTICSEARCH_URL: /);
  });
});
