import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Each spawn starts the whole CLI through tsx, which is slow on a busy machine: the timeout of a test that spawns. */
export const SPAWN_TIMEOUT = 240_000;

const bin = fileURLToPath(new URL('../bin/dotrank.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `dotrank` as a user would (a child process through bin/dotrank.js), with `env` over this process's environment. */
export function dotrank(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { timeout: SPAWN_TIMEOUT - 10_000, env, ...(options.cwd ? { cwd: options.cwd } : {}) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
