import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { deleteKeysWithPrefix, redisUrlForTests, seededRandom, uniquePrefix } from '@dotrank/core/testing';
import { dot } from '@dotrank/core';
import { RedisVectorReader, readerOptionsFromIoredis } from '../src/vector-reader.js';
import { RedisVectorStore } from '../src/redis-store.js';
import { encodeVector, type VectorDtype } from '../src/codec.js';

const prefix = uniquePrefix('vreader');
let redis: Redis;
const url = new URL(redisUrlForTests());
const target = { host: url.hostname, port: Number(url.port || 6379) };

beforeAll(() => {
  redis = new Redis(redisUrlForTests());
});
afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
});

/** Every value an MGET gives, copied out of the reader's buffers. */
async function collect(reader: RedisVectorReader, keys: string[]): Promise<(Buffer | null)[]> {
  const out: (Buffer | null)[] = new Array(keys.length).fill(undefined);
  await reader.mget(keys, (i, v) => (out[i] = v ? Buffer.from(v) : null));
  return out;
}

/** A stand-in Redis that answers each command with what `reply` says. */
async function fakeRedis(
  reply: (socket: Socket, command: string, connection: number) => void,
): Promise<{ server: Server; port: number }> {
  let connections = 0;
  const server = createServer((socket) => {
    const connection = ++connections;
    socket.on('data', (d) => reply(socket, d.toString('latin1'), connection));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('RedisVectorReader (real Redis)', () => {
  it('returns what ioredis returns: values of any size, empty values and missing keys, values spanning reads', async () => {
    const rnd = seededRandom(3);
    const sizes = [0, 1, 3, 7, 100, 1021, 1024, 5000, 70_000, 2, 300_000, 9];
    const keys = sizes.map((_, i) => `${prefix}:v${i}`);
    for (let i = 0; i < sizes.length; i++) {
      await redis.set(keys[i]!, Buffer.from(Array.from({ length: sizes[i]! }, () => Math.floor(rnd() * 256))));
    }
    const withMissing = [...keys.slice(0, 5), `${prefix}:absent`, ...keys.slice(5)];
    const expected = await redis.mgetBuffer(withMissing);
    // a 1 KiB read buffer: most values and many header lines arrive split over several reads
    for (const readBufferBytes of [1024, 4096, 256 * 1024]) {
      const reader = new RedisVectorReader({ ...target, readBufferBytes });
      try {
        const got = await collect(reader, withMissing);
        expect(got.map((b) => (b ? b.toString('hex') : null))).toEqual(
          expected.map((b) => (b ? b.toString('hex') : null)),
        );
      } finally {
        await reader.close();
      }
    }
  });

  it('keeps concurrent calls apart: replies come back in order on the one connection', async () => {
    const reader = new RedisVectorReader({ ...target, readBufferBytes: 2048 });
    try {
      const keys = Array.from({ length: 60 }, (_, i) => `${prefix}:c${i}`);
      for (const [i, key] of keys.entries()) await redis.set(key, `value-${i}-${'x'.repeat(i * 37)}`);
      const calls = Array.from({ length: 20 }, (_, c) => keys.filter((_, i) => (i + c) % 3 === 0));
      const results = await Promise.all(calls.map((ks) => collect(reader, ks)));
      results.forEach((values, c) => {
        expect(values.map((v) => v!.toString())).toEqual(
          calls[c]!.map((k) => `value-${keys.indexOf(k)}-${'x'.repeat(keys.indexOf(k) * 37)}`),
        );
      });
    } finally {
      await reader.close();
    }
  });

  it('selects the database and applies ioredis keyPrefix, as the connection it copies does', async () => {
    const db3 = new Redis(redisUrlForTests(), { db: 3, keyPrefix: `${prefix}:kp:` });
    try {
      await db3.set('only-in-db3', 'here');
      const options = readerOptionsFromIoredis(db3.options as unknown as Record<string, unknown>);
      expect(options).toMatchObject({ db: 3, keyPrefix: `${prefix}:kp:` });
      const reader = new RedisVectorReader(options as Exclude<typeof options, { unsupported: string }>);
      expect((await collect(reader, ['only-in-db3']))[0]!.toString()).toBe('here');
      await reader.close();
      // not in database 0
      expect(await redis.get(`${prefix}:kp:only-in-db3`)).toBeNull();
    } finally {
      await db3.del('only-in-db3');
      await db3.quit();
    }
  });

  it('authenticates as an ACL user, and fails with what Redis says for a wrong password', async () => {
    const user = `${prefix}-user`;
    await redis.call('ACL', 'SETUSER', user, 'on', '>s3cret', `~${prefix}:*`, '+mget', '+quit', '+auth');
    try {
      await redis.set(`${prefix}:acl`, 'ok');
      const reader = new RedisVectorReader({ ...target, username: user, password: 's3cret' });
      expect((await collect(reader, [`${prefix}:acl`]))[0]!.toString()).toBe('ok');
      await reader.close();
      const wrong = new RedisVectorReader({ ...target, username: user, password: 'nope' });
      await expect(collect(wrong, [`${prefix}:acl`])).rejects.toThrow(/Redis: WRONGPASS/);
      await wrong.close();
    } finally {
      await redis.call('ACL', 'DELUSER', user);
    }
  });

  it('fails the call whose sink throws, after reading its reply, and the connection goes on', async () => {
    const reader = new RedisVectorReader(target);
    try {
      await redis.set(`${prefix}:s1`, 'a');
      await redis.set(`${prefix}:s2`, 'b');
      await expect(
        reader.mget([`${prefix}:s1`, `${prefix}:s2`], () => {
          throw new Error('sink broke');
        }),
      ).rejects.toThrow('sink broke');
      expect((await collect(reader, [`${prefix}:s2`, `${prefix}:s1`])).map((v) => v!.toString())).toEqual(['b', 'a']);
    } finally {
      await reader.close();
    }
  });

  it('refuses calls after close', async () => {
    const reader = new RedisVectorReader(target);
    await collect(reader, [`${prefix}:none`]);
    await reader.close();
    await expect(collect(reader, [`${prefix}:none`])).rejects.toThrow(/vector reader closed/);
  });
});

describe('RedisVectorReader against a misbehaving server', () => {
  it('passes on an error reply and stays usable', async () => {
    const { server, port } = await fakeRedis((socket, command) => {
      socket.write(command.includes('bad') ? '-ERR boom\r\n' : '*1\r\n$2\r\nok\r\n');
    });
    const reader = new RedisVectorReader({ host: '127.0.0.1', port });
    try {
      await expect(collect(reader, ['bad'])).rejects.toThrow('Redis: ERR boom');
      expect((await collect(reader, ['good']))[0]!.toString()).toBe('ok');
    } finally {
      await reader.close();
      server.close();
    }
  });

  it('drops the connection on a reply it cannot parse, and reconnects for the next call', async () => {
    const { server, port } = await fakeRedis((socket, _command, connection) => {
      socket.write(connection === 1 ? '!garbage\r\n' : '*1\r\n$-1\r\n');
    });
    const reader = new RedisVectorReader({ host: '127.0.0.1', port });
    try {
      await expect(collect(reader, ['k'])).rejects.toThrow(/unexpected reply from Redis \(unknown type\): !garbage/);
      expect(await collect(reader, ['k'])).toEqual([null]);
    } finally {
      await reader.close();
      server.close();
    }
  });

  it('fails a call whose reply never comes, after replyTimeoutMs, and one whose connection closes mid-reply', async () => {
    const silent = await fakeRedis(() => undefined);
    const waiting = new RedisVectorReader({ host: '127.0.0.1', port: silent.port, replyTimeoutMs: 150 });
    await expect(collect(waiting, ['k'])).rejects.toThrow(/no reply from Redis in 150 ms/);
    await waiting.close();
    silent.server.close();

    const cut = await fakeRedis((socket) => {
      socket.write('*2\r\n$10\r\nabc');
      socket.destroy();
    });
    const reader = new RedisVectorReader({ host: '127.0.0.1', port: cut.port });
    await expect(collect(reader, ['a', 'b'])).rejects.toThrow(/connection to Redis closed/);
    await reader.close();
    cut.server.close();
  });

  it('fails to connect with the reason', async () => {
    const reader = new RedisVectorReader({ host: '127.0.0.1', port: 1 });
    await expect(collect(reader, ['k'])).rejects.toThrow(/ECONNREFUSED/);
    await reader.close();
  });
});

describe('readerOptionsFromIoredis', () => {
  it('takes host, port, user, password and db from a parsed URL; TLS and Sentinel stay with ioredis', () => {
    const r = new Redis('redis://alice:pw@10.0.0.5:6380/4', { lazyConnect: true });
    expect(readerOptionsFromIoredis(r.options as unknown as Record<string, unknown>)).toMatchObject({
      host: '10.0.0.5',
      port: 6380,
      username: 'alice',
      password: 'pw',
      db: 4,
    });
    r.disconnect();
    expect(readerOptionsFromIoredis({ host: 'h', port: 1, tls: {} })).toEqual({ unsupported: 'TLS' });
    expect(readerOptionsFromIoredis({ sentinels: [{ host: 'h', port: 26379 }], name: 'mymaster' })).toEqual({
      unsupported: 'Sentinel',
    });
  });
});

describe('RedisVectorStore.scoreMany through the reader', () => {
  const vector = (dim: number, seed: number) =>
    Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 3 + i) * 1.3);

  it.each(['float32', 'float16', 'int8'] as VectorDtype[])(
    '(%s) gives exactly the scores, hits and counts of the ioredis path',
    async (dtype) => {
      const make = (fastReads: boolean) =>
        new RedisVectorStore({
          redis,
          keyPrefix: prefix,
          modelId: 'test/reader',
          revision: dtype,
          dtype,
          dimension: 96,
          chunkSize: 7,
          fastReads,
        });
      const fast = make(true);
      const plain = make(false);
      expect(fast.fastReads).toBe(true);
      expect(plain.fastReads).toBe(false);
      const keys = Array.from({ length: 50 }, (_, i) => ({ id: `r${i}`, text: `reader text ${i}` }));
      await plain.setMany(keys.filter((_, i) => i % 4 !== 1).map((key, i) => ({ key, vector: vector(96, i) })));
      // a foreign value and one of another dimension: refused, counted, a miss
      await redis.set(fast.keyFor(keys[1]!), Buffer.from('not a vector'));
      await redis.set(fast.keyFor(keys[5]!), encodeVector(vector(12, 1), dtype));
      const query = vector(96, 77);
      const viaPlain = await plain.scoreMany(keys, query);
      // the query ready at once, and the query arriving after the read
      const viaFast = await fast.scoreMany(keys, query);
      const viaFastLate = await fast.scoreMany(keys, new Promise<Float32Array>((r) => setTimeout(() => r(query), 30)));
      for (const got of [viaFast, viaFastLate]) {
        expect(Array.from(got.hit)).toEqual(Array.from(viaPlain.hit));
        expect(Array.from(got.scores)).toEqual(Array.from(viaPlain.scores));
      }
      const vectors = await plain.getMany(keys);
      keys.forEach((_, i) => {
        if (viaPlain.hit[i]) expect(viaPlain.scores[i]).toBe(dot(query, vectors[i]!));
      });
      // 37 cached, 13 not (two of them refused), read twice by each store
      expect(fast.stats()).toMatchObject({ hits: 74, misses: 26, rejected: 4 });
      expect(plain.stats()).toMatchObject({ hits: 74, misses: 26, rejected: 4 });
      await fast.close();
      await plain.close();
    },
  );

  it('is used only where it can serve: a dimension, no cluster, and not turned off', () => {
    const base = { redis, keyPrefix: prefix, modelId: 'm', revision: 'r' };
    expect(new RedisVectorStore({ ...base, dimension: 8 }).fastReads).toBe(true);
    expect(new RedisVectorStore(base).fastReads).toBe(false);
    expect(new RedisVectorStore({ ...base, dimension: 8, fastReads: false }).fastReads).toBe(false);
    const cluster = new Cluster([target], { lazyConnect: true });
    expect(new RedisVectorStore({ ...base, redis: cluster, dimension: 8 }).fastReads).toBe(false);
    cluster.disconnect();
  });

  it('reports a Redis that is down as the ioredis path does', async () => {
    const dead = new RedisVectorStore({
      url: 'redis://127.0.0.1:1',
      keyPrefix: prefix,
      modelId: 'm',
      revision: 'r',
      dimension: 4,
    });
    await expect(dead.scoreMany([{ id: 'a', text: 'a' }], new Float32Array(4))).rejects.toThrow(
      /redis: vector cache read failed: .*ECONNREFUSED/,
    );
    await dead.close();
  });
});
