// `dotrank rerank --run --via queue`: the real CLI process sends every query to a real worker (`dotrank worker`, the
// tiny fixture model) through BullMQ on the shared Redis, under a key prefix of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deleteKeysWithPrefix,
  keysMatching,
  redisUrlForTests,
  tinyModelDir,
  uniquePrefix,
} from '@dotrank/core/testing';
import { collectionSlice, dotrank, SPAWN_TIMEOUT } from './cli.js';

const bin = fileURLToPath(new URL('../bin/dotrank.js', import.meta.url));
const prefix = uniquePrefix('cli-rerank-queue');
const queueEnv = { REDIS_URL: redisUrlForTests(), DOTRANK_QUEUE_PREFIX: prefix, DOTRANK_KEY_PREFIX: prefix };
const noRedis = { REDIS_URL: undefined, ELASTICSEARCH_URL: undefined };

let dir: string;
let collection: string;
let redis: Redis;
let worker: ChildProcess | undefined;
let workerOutput = '';

/** `dotrank worker` on our prefix; resolves once it says it is ready. */
function startWorker(): Promise<void> {
  // one job at a time: a worker running several encodes their queries together in one padded call, whose vectors
  // may differ from a lone query's in the last bits, and this test compares runs byte for byte
  const child = spawn(
    process.execPath,
    [bin, 'worker', '--model', tinyModelDir(), '--threads', '1', '--concurrency', '1'],
    {
      env: { ...process.env, ...queueEnv, DOTRANK_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  worker = child;
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      workerOutput += d.toString();
      if (workerOutput.includes('worker ready')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before ready:\n${workerOutput}`)));
  });
}

async function stopWorker(): Promise<void> {
  const child = worker;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-rerank-queue-'));
  collection = join(dir, 'mini');
  await collectionSlice('cranfield', collection, 12);
  redis = new Redis(redisUrlForTests());
});
afterAll(async () => {
  await stopWorker();
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank rerank --run --via queue', () => {
  it(
    "gives through a worker the run of the in-process rerank and of dotrank eval's TAS-B system, resumes, and leaves only the cache behind",
    async () => {
      const model = tinyModelDir();
      const evalOut = join(dir, 'eval');
      const [evaluation] = await Promise.all([
        dotrank(
          ['eval', '--collection', collection, '--systems', 'bm25,tasb', '--depth', '10', '--model', model].concat([
            '--index-dir',
            join(dir, 'index'),
            '--out',
            evalOut,
            '--cache',
            'memory',
            '--no-progress',
          ]),
          { env: noRedis },
        ),
        startWorker(),
      ]);
      expect(evaluation, evaluation.stderr).toMatchObject({ code: 0 });
      const expected = await readFile(join(evalOut, 'tasb.run'), 'utf8');
      const args = ['rerank', '--run', join(evalOut, 'bm25.run'), '--collection', collection, '--no-progress'];
      const inProcessOut = join(dir, 'in-process.run');
      const queueOut = join(dir, 'queue.run');
      const [inProcess, queued] = await Promise.all([
        dotrank([...args, '--model', model, '--out', inProcessOut], { env: noRedis }),
        // no --model: the worker has the model, this process needs none
        dotrank([...args, '--via', 'queue', '--out', queueOut], { env: { ...queueEnv, DOTRANK_MODEL: undefined } }),
      ]);
      expect(inProcess, inProcess.stderr).toMatchObject({ code: 0 });
      expect(queued, queued.stderr).toMatchObject({ code: 0 });
      expect(queued.stderr).toContain(`reranking through the workers of queue "${prefix}"`);
      expect(queued.stderr).toMatch(/reranked 12 queries \(0 already done\)/);
      expect(await readFile(inProcessOut, 'utf8')).toBe(expected);
      expect(await readFile(queueOut, 'utf8')).toBe(expected);
      // the worker encoded the passages and cached them under our prefix
      expect((await keysMatching(redis, `${prefix}:vec:*`)).length).toBeGreaterThan(0);

      // an interruption mid-line, resumed through the queue: the complete queries are kept, the rest redone
      await truncate(queueOut, Math.floor((await stat(queueOut)).size * 0.6));
      const resumed = await dotrank([...args, '--via', 'queue', '--out', queueOut], { env: queueEnv });
      expect(resumed, resumed.stderr).toMatchObject({ code: 0 });
      expect(resumed.stderr).toMatch(/resuming: [1-9]\d? queries already in/);
      expect(await readFile(queueOut, 'utf8')).toBe(expected);

      // nothing of a job is left once the worker has stopped (no waiting, active, completed or failed job, payload,
      // lock or heartbeat); what stays is meant to: the vector caches and BullMQ's per-queue bookkeeping
      await stopWorker();
      const left = (await keysMatching(redis, `${prefix}*`)).filter(
        (key) => !/:q?vec:/.test(key) && !/^[^:]+:[^:]+:(meta|id|events|stalled-check)$/.test(key),
      );
      expect(left, workerOutput).toEqual([]);
    },
    SPAWN_TIMEOUT * 2,
  );
});
