// Measures Redis memory per cached vector (MEMORY USAGE, real Redis) for each dtype, and extrapolates to
// 8.8M MS MARCO passages. Run: npm run bench -w packages/vector-cache   (REDIS_URL, default redis://127.0.0.1:6379)
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisVectorStore } from '../src/redis-store.js';
import { encodedByteLength, VECTOR_DTYPES } from '../src/codec.js';
import { deleteKeysWithPrefix } from '@dotrank/core/testing';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `dotrank-bench-mem-${randomBytes(4).toString('hex')}`;
const dim = Number(process.env['DIM'] ?? 768);
const n = 200;
const corpus = 8_841_823;
const redis = new Redis(url);
const gib = (b: number) => (b / 2 ** 30).toFixed(1);
console.log(`dim ${dim}, ${n} keys per dtype, extrapolated to ${corpus.toLocaleString('en')} passages`);
console.log('dtype    | value bytes | MEMORY USAGE per key | Redis overhead | total for corpus | vs float32');
let fp32Total = 0;
try {
  for (const dtype of VECTOR_DTYPES) {
    const store = new RedisVectorStore({
      redis,
      keyPrefix: prefix,
      modelId: 'sentence-transformers/msmarco-distilbert-base-tas-b',
      revision: 'main',
      dtype,
    });
    const entries = Array.from({ length: n }, (_, i) => ({
      key: { id: String(7_000_000 + i), text: `passage ${i}` },
      vector: Float32Array.from({ length: dim }, (_, j) => Math.sin(i + j)),
    }));
    await store.setMany(entries);
    let total = 0;
    for (const e of entries) total += Number(await redis.call('MEMORY', 'USAGE', store.keyFor(e.key), 'SAMPLES', '0'));
    const perKey = total / n;
    const value = encodedByteLength(dtype, dim);
    const corpusBytes = perKey * corpus;
    if (dtype === 'float32') fp32Total = corpusBytes;
    console.log(
      `${dtype.padEnd(8)} | ${String(value).padStart(11)} | ${perKey.toFixed(0).padStart(20)} | ${(perKey - value).toFixed(0).padStart(14)} | ${gib(corpusBytes).padStart(12)} GiB | ${(corpusBytes / fp32Total).toFixed(2)}x`,
    );
  }
} finally {
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
}
