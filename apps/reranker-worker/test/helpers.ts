import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig, type DotrankConfig } from '@dotrank/core';
import { redisUrlForTests, repoPath, tinyModelDir } from '@dotrank/core/testing';

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

export { deleteKeys, makeCandidates } from '@dotrank/rerank-core/testing';

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
