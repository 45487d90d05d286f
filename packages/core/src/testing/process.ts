import { spawn, type ChildProcess } from 'node:child_process';

/** A service started as a real process by a test (`dotrank serve`, `dotrank worker`, ...). */
export interface SpawnedService {
  child: ChildProcess;
  /** Resolves with the first match of `ready` in its output; rejects if it exits first. */
  ready: Promise<RegExpExecArray>;
  /** Settles with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Everything it printed so far (stdout and stderr, interleaved). */
  output(): string;
  /** Sends `signal` (default SIGTERM) unless it has exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `node <args>` with `env` and watches its output for `ready`: one way for every test to start a service. */
export function spawnService(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): SpawnedService {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const isReady = new Promise<RegExpExecArray>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) resolve(match);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`${args.join(' ')} exited (${code}) before it was ready:\n${out}`)));
  });
  isReady.catch(() => undefined); // a caller that never awaits `ready` must not crash the run
  return {
    child,
    ready: isReady,
    exited,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
