import { describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { ConfigError } from '@dotrank/core';
import { redisUrlForTests } from '@dotrank/core/testing';
import {
  clusterSeedsFromUrl,
  createRedisConnection,
  parseClusterSeeds,
  redisOptionsFromUrl,
} from '../src/connection.js';

describe('createRedisConnection', () => {
  it('connects to a real Redis with the role’s retry policy', async () => {
    const command = createRedisConnection(redisUrlForTests());
    const blocking = createRedisConnection(redisUrlForTests(), { role: 'blocking' });
    try {
      expect(await command.ping()).toBe('PONG');
      expect(await blocking.ping()).toBe('PONG');
      if (!(command instanceof Redis && blocking instanceof Redis)) throw new Error('expected plain clients');
      expect(command.options.maxRetriesPerRequest).toBe(3);
      expect(blocking.options.maxRetriesPerRequest).toBeNull(); // what BullMQ requires of blocking connections
    } finally {
      await Promise.all([command.quit(), blocking.quit()]);
    }
  });

  it('a probe fails at once while Redis is unreachable, and reports errors to onError', async () => {
    let reported: (error: Error) => void = () => undefined;
    const firstError = new Promise<Error>((resolve) => (reported = resolve));
    const probe = createRedisConnection('redis://127.0.0.1:1', { role: 'probe', onError: (e) => reported(e) });
    try {
      await expect(probe.ping()).rejects.toThrow(/writeable|ECONNREFUSED/);
      expect((await firstError).message).toMatch(/ECONNREFUSED/);
    } finally {
      probe.disconnect();
    }
  });

  it('a check connects only when asked and answers whether Redis is there, without retrying', async () => {
    const up = createRedisConnection(redisUrlForTests(), { role: 'check' });
    expect(up.status).toBe('wait');
    await up.connect();
    expect(await up.ping()).toBe('PONG');
    up.disconnect();
    const down = createRedisConnection('redis://127.0.0.1:1', { role: 'check' });
    await expect(down.connect()).rejects.toThrow(/Connection is closed/); // the cause (ECONNREFUSED) goes to onError
    expect(down.status).toBe('end'); // gave up: no reconnect loop
  });

  it('reads host, port, credentials, db and TLS from the URL, and names REDIS_URL when it is wrong', () => {
    expect(redisOptionsFromUrl('redis://127.0.0.1:6380')).toEqual({ host: '127.0.0.1', port: 6380 });
    expect(redisOptionsFromUrl('rediss://u%40x:p%2Fw@cache.example/3')).toEqual({
      host: 'cache.example',
      port: 6379,
      username: 'u@x',
      password: 'p/w',
      db: 3,
      tls: {},
    });
    expect(() => createRedisConnection('localhost:6379')).toThrow(/REDIS_URL/);
    expect(() => redisOptionsFromUrl('http://x')).toThrow(ConfigError);
    expect(() => redisOptionsFromUrl('redis://x/abc')).toThrow(/database must be a number/);
  });

  it('reads a Redis Cluster from the URL (?cluster=1 or a seed list) and builds a Cluster client for it', () => {
    expect(clusterSeedsFromUrl('redis://10.0.0.1:7000')).toBeUndefined();
    expect(clusterSeedsFromUrl('redis://10.0.0.1:7000?cluster=0')).toBeUndefined();
    expect(clusterSeedsFromUrl('redis://10.0.0.1:7000?cluster=1')).toEqual([{ host: '10.0.0.1', port: 7000 }]);
    expect(clusterSeedsFromUrl('redis://u:p@a:7000/?cluster=b:7001,[::1]:7002')).toEqual([
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(() => clusterSeedsFromUrl('redis://a:7000/2?cluster=1')).toThrow(
      /REDIS_URL: a Redis Cluster has only database 0/,
    );
    expect(() => clusterSeedsFromUrl('redis://a:7000?cluster=b')).toThrow(/REDIS_URL: "b" is not host:port/);
    expect(() => redisOptionsFromUrl('redis://a:7000?clutser=1')).toThrow(/REDIS_URL: unknown parameter "clutser"/);
    expect(() => parseClusterSeeds(' , ')).toThrow(/REDIS_CLUSTER_NODES: names no node/);
    expect(() => parseClusterSeeds('a:70000')).toThrow(/REDIS_CLUSTER_NODES: "a:70000" is not host:port/);
    const check = createRedisConnection('redis://127.0.0.1:1?cluster=1', { role: 'check' });
    expect(check).toBeInstanceOf(Cluster);
    check.disconnect();
    const plain = createRedisConnection('redis://127.0.0.1:1', { role: 'check' });
    expect(plain).toBeInstanceOf(Redis);
    plain.disconnect();
  });
});
