// Connection settings over real sockets: several nodes in ELASTICSEARCH_URL (the official client spreads requests
// over them), a CA pinned by ELASTICSEARCH_CA_FINGERPRINT, and ELASTICSEARCH_TLS_INSECURE with its warning.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { Agent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@dotrank/core';
import { startStandInElasticsearch } from '../src/testing/index.js';
import type { StandInElasticsearch } from '../src/testing/index.js';
import { createClientFromConfig } from '../src/client.js';
import { TLS_INSECURE_WARNING, connectionSettings, createHttpsAgent } from '../src/connection.js';
import { caught } from './support/caught.js';

const tls = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url)));
const CA_FILE = fileURLToPath(new URL('./fixtures/tls/ca.pem', import.meta.url));

describe('ELASTICSEARCH_URL with several nodes', () => {
  let a: StandInElasticsearch;
  let b: StandInElasticsearch;
  beforeAll(async () => {
    a = await startStandInElasticsearch({ indices: { docs: { documents: [{ _id: '1', _source: { text: 'x' } }] } } });
    b = await startStandInElasticsearch({ indices: { docs: { documents: [{ _id: '1', _source: { text: 'x' } }] } } });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('gives every node to the official client, which spreads requests over them', async () => {
    const config = loadConfig({ ELASTICSEARCH_URL: `${a.url}, ${b.url}/`, ELASTICSEARCH_API_KEY: 'aWQ6a2V5' });
    expect(connectionSettings(config)).toMatchObject({ url: `${a.url}/`, urls: [`${a.url}/`, `${b.url}/`] });
    const client = createClientFromConfig(config);
    try {
      for (let i = 0; i < 6; i++) await client.count({ index: 'docs' });
    } finally {
      await client.close();
    }
    for (const node of [a, b]) {
      const counts = node.requestsTo('/docs/_count');
      expect(counts.length).toBeGreaterThan(0);
      expect(counts.every((r) => r.headers['authorization'] === 'ApiKey aWQ6a2V5')).toBe(true);
    }
    expect(a.requestsTo('/docs/_count').length + b.requestsTo('/docs/_count').length).toBe(6);
  });

  it('takes credentials written into the URLs once, and refuses nodes that disagree', () => {
    const same = connectionSettings(loadConfig({ ELASTICSEARCH_URL: 'http://u:p@es1:9200,http://u:p@es2:9200' }));
    expect(same).toMatchObject({
      urls: ['http://es1:9200/', 'http://es2:9200/'],
      auth: { username: 'u', password: 'p' },
    });
    const error = caughtSync(() =>
      connectionSettings(loadConfig({ ELASTICSEARCH_URL: 'http://u:p@es1:9200,http://es2:9200' })),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^ELASTICSEARCH_URL: lists nodes with different user:password/);
  });
});

describe('TLS: CA fingerprint and insecure mode', () => {
  let es: StandInElasticsearch;
  const fingerprint = new X509Certificate(tls('ca.pem')).fingerprint256;
  beforeAll(async () => {
    // the server sends its certificate and the CA's, as Elasticsearch's own set-up does
    es = await startStandInElasticsearch({
      tls: { key: tls('server.key'), cert: Buffer.concat([tls('server.pem'), tls('ca.pem')]) },
    });
  });
  afterAll(() => es.close());

  async function info(env: Record<string, string>): Promise<unknown> {
    const client = createClientFromConfig(loadConfig({ ELASTICSEARCH_URL: es.url, ...env }), {
      clientOptions: { maxRetries: 0 },
    });
    try {
      return await client.info();
    } finally {
      await client.close();
    }
  }

  it('refuses the cluster whose CA is not trusted when nothing is configured', async () => {
    const error = await caught(info({}));
    expect(error.message).toMatch(/self[- ]signed certificate/i);
  });

  it('connects when ELASTICSEARCH_CA_FINGERPRINT pins the CA (colons and case as given), and refuses another pin', async () => {
    await expect(
      info({ ELASTICSEARCH_CA_FINGERPRINT: fingerprint.replace(/:/g, '').toLowerCase() }),
    ).resolves.toMatchObject({
      version: { number: '8.19.2' },
    });
    const settings = connectionSettings(
      loadConfig({ ELASTICSEARCH_URL: es.url, ELASTICSEARCH_CA_FINGERPRINT: fingerprint }),
    );
    expect(settings.caFingerprint).toBe(fingerprint);
    es.clearRequests();
    const wrong = await caught(info({ ELASTICSEARCH_CA_FINGERPRINT: 'AB'.repeat(32) }));
    expect(wrong.message).toMatch(/TLS connection refused: no certificate the cluster sent has the pinned fingerprint/);
    expect(es.requests).toHaveLength(0);
  });

  it('connects with the CA file (full verification)', async () => {
    await expect(info({ ELASTICSEARCH_CA_FILE: CA_FILE })).resolves.toMatchObject({ tagline: 'You Know, for Search' });
  });

  it('connects with ELASTICSEARCH_TLS_INSECURE=1 and warns loudly, once per cluster', async () => {
    const warnings: Error[] = [];
    const listen = (w: Error) => warnings.push(w);
    process.on('warning', listen);
    try {
      await expect(info({ ELASTICSEARCH_TLS_INSECURE: '1' })).resolves.toMatchObject({ version: { number: '8.19.2' } });
      await info({ ELASTICSEARCH_TLS_INSECURE: 'true' });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', listen);
    }
    const ours = warnings.filter((w) => w.name === 'DotrankWarning');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toContain(TLS_INSECURE_WARNING);
    expect(ours[0]!.message).toContain(es.url);
  });

  /** GET / through an https agent from createHttpsAgent: the status, or the error. */
  function get(agent: Agent): Promise<number | Error> {
    return new Promise((resolve) => {
      const req = request(`${es.url}/`, { agent, headers: { authorization: 'ApiKey c2VjcmV0' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', resolve);
      req.end();
    });
  }

  it('createHttpsAgent (for the proxy) checks the pin before a request is sent, and honours insecure', async () => {
    const settings = (env: Record<string, string>) =>
      connectionSettings(loadConfig({ ELASTICSEARCH_URL: es.url, ...env }));
    const agents = [
      createHttpsAgent(settings({ ELASTICSEARCH_CA_FINGERPRINT: fingerprint }), { keepAlive: true }),
      createHttpsAgent(settings({ ELASTICSEARCH_CA_FINGERPRINT: 'AB'.repeat(32) })),
      createHttpsAgent(settings({})),
      createHttpsAgent(settings({ ELASTICSEARCH_TLS_INSECURE: '1' })),
    ];
    try {
      es.clearRequests();
      const [pinned, again, wrong, untrusted, insecure] = [
        await get(agents[0]!),
        await get(agents[0]!),
        await get(agents[1]!),
        await get(agents[2]!),
        await get(agents[3]!),
      ];
      expect([pinned, again]).toEqual([200, 200]);
      expect(wrong).toBeInstanceOf(ConfigError);
      expect((wrong as Error).message).toMatch(
        /^ELASTICSEARCH_CA_FINGERPRINT: TLS connection refused: no certificate the cluster sent has the pinned fingerprint/,
      );
      expect((untrusted as Error).message).toMatch(/self[- ]signed certificate/i);
      expect(insecure).toBe(200);
      // the refused connections never carried a request (nor its credentials)
      expect(es.requests).toHaveLength(3);
    } finally {
      for (const agent of agents) agent.destroy();
    }
  });

  it('createHttpsAgent refuses a forged certificate sent beside the real CA (the signature is checked, not only the pin)', async () => {
    const forged = await startStandInElasticsearch({
      tls: { key: tls('server.key'), cert: Buffer.concat([tls('forged.pem'), tls('ca.pem')]) },
    });
    const agent = createHttpsAgent(
      connectionSettings(loadConfig({ ELASTICSEARCH_URL: forged.url, ELASTICSEARCH_CA_FINGERPRINT: fingerprint })),
    );
    try {
      const result = await new Promise<number | Error>((resolve) => {
        const req = request(`${forged.url}/`, { agent }, (res) => resolve(res.statusCode ?? 0));
        req.on('error', resolve);
        req.end();
      });
      expect(result).toBeInstanceOf(ConfigError);
      expect((result as Error).message).toMatch(/certificate "CN=localhost" is not signed by "CN=dotrank test CA"/);
      // the official client through createClientFromConfig refuses it too (its own fingerprint check would not)
      const client = createClientFromConfig(
        loadConfig({ ELASTICSEARCH_URL: forged.url, ELASTICSEARCH_CA_FINGERPRINT: fingerprint }),
        { clientOptions: { maxRetries: 0 } },
      );
      const refused = await caught(client.info()).finally(() => client.close());
      expect(refused.message).toMatch(/is not signed by/);
      expect(forged.requests).toHaveLength(0);
    } finally {
      agent.destroy();
      await forged.close();
    }
  });

  it('refuses ELASTICSEARCH_TLS_INSECURE together with a CA file or fingerprint', () => {
    for (const extra of [{ ELASTICSEARCH_CA_FILE: CA_FILE }, { ELASTICSEARCH_CA_FINGERPRINT: fingerprint }]) {
      const error = caughtSync(() =>
        connectionSettings(loadConfig({ ELASTICSEARCH_URL: es.url, ELASTICSEARCH_TLS_INSECURE: '1', ...extra })),
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe('ELASTICSEARCH_TLS_INSECURE');
    }
  });
});

function caughtSync(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
