import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr. On a terminal it redraws in place; elsewhere (CI, pipes) it prints a line every
 * few seconds so logs stay short. `--quiet` callers pass enabled=false.
 */
export function createProgress(label: string, total = 0, enabled = true): Progress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(18)} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left | {rate}/s`,
      stream: process.stderr,
      hideCursor: true,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(total, 0, { rate: '0' });
  return {
    update(done, newTotal) {
      if (newTotal !== undefined && newTotal !== bar.getTotal()) bar.setTotal(newTotal);
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds).toString() : '0' });
    },
    stop() {
      bar.stop();
    },
  };
}
