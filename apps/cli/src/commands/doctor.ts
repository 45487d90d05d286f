import type { Command } from 'commander';
import { loadConfig } from '@dotrank/core';
import { formatChecks, runDoctor } from '../lib/doctor.js';

/** `dotrank doctor`: what this machine and configuration have, and how to fix what they lack. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check Node, Redis, Elasticsearch, the model, ONNX Runtime and the test tools; exit 1 when the configuration needs something missing',
    )
    .option('--json', 'print the checks as JSON: {"ok", "checks": [{status, check, detail, fix}]}')
    .action(async (flags: { json?: boolean }) => {
      const checks = await runDoctor(loadConfig());
      const healthy = checks.every((c) => c.status !== 'fail');
      if (flags.json) process.stdout.write(`${JSON.stringify({ ok: healthy, checks }, null, 2)}\n`);
      else process.stdout.write(`${formatChecks(checks)}\n`);
      if (!healthy) process.exitCode = 1;
    });
}
