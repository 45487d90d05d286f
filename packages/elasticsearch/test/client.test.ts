import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@dotrank/core';
import { authKindOf, compatibilityOf, createClientFromConfig } from '../src/client.js';
import { connectionSettings } from '../src/connection.js';

const config = (env: Record<string, string>) => loadConfig(env);
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** The URL of the (single) node a client will talk to. */
function nodeUrl(client: ReturnType<typeof createClientFromConfig>): URL {
  return (client.connectionPool as unknown as { connections: Array<{ url: URL }> }).connections[0]!.url;
}

describe('createClientFromConfig', () => {
  it('builds a client for ELASTICSEARCH_URL with basic auth and the timeout', async () => {
    const client = createClientFromConfig(
      config({
        ELASTICSEARCH_URL: 'http://es.example:9200',
        ELASTICSEARCH_USERNAME: 'u',
        ELASTICSEARCH_PASSWORD: 'p',
        ELASTICSEARCH_TIMEOUT_MS: '1234',
      }),
    );
    expect(nodeUrl(client).href).toBe('http://es.example:9200/');
    expect(authKindOf(client)).toBe('basic');
    expect(compatibilityOf(client)).toBe(8);
    expect(
      (client.transport as unknown as Record<symbol, unknown>)[
        Object.getOwnPropertySymbols(client.transport).find((s) => s.description === 'request timeout')!
      ],
    ).toBe(1234);
    await client.close();
  });

  it('decodes an Elastic Cloud id into the cluster URL', async () => {
    const cloudId = `my-deployment:${Buffer.from('eu-west-1.aws.found.io:443$abc123$kib456').toString('base64')}`;
    const client = createClientFromConfig(config({ ELASTICSEARCH_CLOUD_ID: cloudId, ELASTICSEARCH_API_KEY: 'k' }));
    expect(nodeUrl(client).hostname).toBe('abc123.eu-west-1.aws.found.io');
    expect(nodeUrl(client).protocol).toBe('https:');
    expect(authKindOf(client)).toBe('api_key');
    await client.close();
  });

  it('names the setting for every configuration problem', () => {
    expect(configError(() => createClientFromConfig(config({}))).field).toBe('ELASTICSEARCH_URL');
    expect(configError(() => createClientFromConfig(config({ ELASTICSEARCH_URL: 'not a url' }))).message).toBe(
      'ELASTICSEARCH_URL: must be an http(s) URL or a comma list of them (e.g. https://es1:9200,https://es2:9200) (got "not a url")',
    );
    expect(configError(() => createClientFromConfig(config({ ELASTICSEARCH_URL: 'ftp://x' }))).field).toBe(
      'ELASTICSEARCH_URL',
    );
    expect(
      configError(() =>
        createClientFromConfig(config({ ELASTICSEARCH_URL: 'http://x', ELASTICSEARCH_CLOUD_ID: 'a:b' })),
      ).field,
    ).toBe('ELASTICSEARCH_CLOUD_ID');
    expect(
      configError(() =>
        createClientFromConfig(
          config({ ELASTICSEARCH_URL: 'http://x', ELASTICSEARCH_API_KEY: 'k', ELASTICSEARCH_USERNAME: 'u' }),
        ),
      ).field,
    ).toBe('ELASTICSEARCH_API_KEY');
    expect(
      configError(() => createClientFromConfig(config({ ELASTICSEARCH_URL: 'http://x', ELASTICSEARCH_USERNAME: 'u' })))
        .field,
    ).toBe('ELASTICSEARCH_PASSWORD');
    expect(
      configError(() => createClientFromConfig(config({ ELASTICSEARCH_URL: 'http://x', ELASTICSEARCH_PASSWORD: 'p' })))
        .field,
    ).toBe('ELASTICSEARCH_USERNAME');
    const missingCa = configError(() =>
      createClientFromConfig(config({ ELASTICSEARCH_URL: 'https://x', ELASTICSEARCH_CA_FILE: '/nonexistent/ca.pem' })),
    );
    expect(missingCa.message).toBe('ELASTICSEARCH_CA_FILE: cannot read /nonexistent/ca.pem (ENOENT)');
    const notPem = configError(() =>
      createClientFromConfig(
        config({ ELASTICSEARCH_URL: 'https://x', ELASTICSEARCH_CA_FILE: fixture('make-certs.sh') }),
      ),
    );
    expect(notPem.field).toBe('ELASTICSEARCH_CA_FILE');
    expect(configError(() => createClientFromConfig(config({ ELASTICSEARCH_CLOUD_ID: 'garbage' }))).field).toBe(
      'ELASTICSEARCH_CLOUD_ID',
    );
  });

  it('accepts a readable PEM CA file', async () => {
    const client = createClientFromConfig(
      config({ ELASTICSEARCH_URL: 'https://localhost:9200', ELASTICSEARCH_CA_FILE: fixture('ca.pem') }),
    );
    expect(authKindOf(client)).toBe('none');
    await client.close();
  });
});

describe('connectionSettings', () => {
  it('builds the Authorization header once for both clients, takes URL credentials out of the URL', () => {
    expect(
      connectionSettings(config({ ELASTICSEARCH_URL: 'http://x:9200', ELASTICSEARCH_API_KEY: 'aWQ6a2V5' })),
    ).toMatchObject({
      url: 'http://x:9200/',
      authKind: 'api_key',
      authorization: 'ApiKey aWQ6a2V5',
      timeoutMs: 30_000,
    });
    const inUrl = connectionSettings(config({ ELASTICSEARCH_URL: 'https://u%40corp:p%3Ass@x:9200/es' }));
    expect(inUrl).toMatchObject({
      url: 'https://x:9200/es',
      authKind: 'basic',
      auth: { username: 'u@corp', password: 'p:ss' },
    });
    expect(inUrl.authorization).toBe(`Basic ${Buffer.from('u@corp:p:ss').toString('base64')}`);
    expect(connectionSettings(config({})).url).toBeUndefined();
  });

  it('decodes a cloud id into the URL the forwarding client uses', () => {
    const cloudId = `d:${Buffer.from('eu-west-1.aws.found.io:443$abc123$kib').toString('base64')}`;
    expect(connectionSettings(config({ ELASTICSEARCH_CLOUD_ID: cloudId }))).toMatchObject({
      url: 'https://abc123.eu-west-1.aws.found.io:443',
      cloudId,
    });
  });

  it('refuses credentials given twice, naming the setting', () => {
    expect(
      configError(() => connectionSettings(config({ ELASTICSEARCH_URL: 'http://u:p@x', ELASTICSEARCH_API_KEY: 'k' })))
        .field,
    ).toBe('ELASTICSEARCH_URL');
  });
});
