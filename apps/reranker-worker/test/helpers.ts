import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { loadConfig, type Candidate, type DotrankConfig } from '@dotrank/core';
import { redisUrlForTests, repoPath, tinyModelDir, deleteKeysWithPrefix } from '@dotrank/core/testing';

export const CLI = repoPath('apps/cli/bin/dotrank.js');
/** The worker's own entry (the same code as `dotrank worker`, without the rest of the CLI). */
export const WORKER_BIN = new URL('../bin/reranker-worker.js', import.meta.url).pathname;

export function testConfig(prefix: string, extra: Record<string, string> = {}): DotrankConfig {
  return loadConfig({
    REDIS_URL: redisUrlForTests(),
    DOTRANK_QUEUE_PREFIX: prefix,
    DOTRANK_KEY_PREFIX: prefix,
    DOTRANK_LOG_LEVEL: 'silent',
    ...extra,
  });
}

/** Deletes every key under our prefix (SCAN + DEL), never anything else. */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrlForTests());
  try {
    await deleteKeysWithPrefix(redis, prefix);
  } finally {
    await redis.quit();
  }
}

const WORDS =
  'boundary layer flow heat transfer shock wave supersonic wing vibration shell buckling pressure nozzle jet turbulence'.split(
    ' ',
  );

/** Deterministic passages: word mixes so scores differ. */
export function makeCandidates(n: number, seed: number, wordsPer = 12): Candidate[] {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: wordsPer }, () => WORDS[next() % WORDS.length]!);
    return { id: `s${seed}-p${i}`, text: `${words.join(' ')} ${i}`, score: n - i + (next() % 1000) / 1000 };
  });
}

export interface SpawnedWorker {
  child: ChildProcess;
  ready: Promise<void>;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `dotrank worker` as a real process (on the shared Redis unless given another) and resolves `ready` once it says so. */
export function spawnWorker(
  prefix: string,
  args: string[] = [],
  viaCli = false,
  redisUrl = redisUrlForTests(),
): SpawnedWorker {
  const entry = viaCli ? [CLI, 'worker'] : [WORKER_BIN];
  const child = spawn(process.execPath, [...entry, '--model', tinyModelDir(), '--threads', '1', ...args], {
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      DOTRANK_QUEUE_PREFIX: prefix,
      DOTRANK_KEY_PREFIX: prefix,
      DOTRANK_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker ready')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`worker exited (${code}) before ready:\n${out}`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}
