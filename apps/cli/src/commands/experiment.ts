// `dotrank experiment export|report`: an experiment's impressions and events, from Redis (REDIS_URL) or from a
// running API (--url, needed when the API keeps them in memory).
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Command } from 'commander';
import { ConfigError, UnavailableError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { RedisExperimentStore, analyzeExperiment } from '@dotrank/experiments';
import type { ExperimentEvent, ExperimentReport, Impression } from '@dotrank/experiments';
import { createRedisConnection } from '@dotrank/vector-cache';
import { commandConfig, configOption } from '../lib/config-options.js';

interface ExperimentFlags {
  name: string;
  url?: string;
  out?: string;
  json?: boolean;
}

interface Logged {
  impressions: Impression[];
  events: ExperimentEvent[];
}

/** GET from a running API, with its key when one is configured. */
async function fromApi(url: string, path: string, config: DotrankConfig): Promise<string> {
  const target = new URL(path, url.endsWith('/') ? url : `${url}/`);
  const headers: Record<string, string> = config.DOTRANK_API_KEY ? { 'x-api-key': config.DOTRANK_API_KEY } : {};
  let res: Response;
  try {
    res = await fetch(target, { headers });
  } catch (error) {
    throw new UnavailableError('--url', `no answer from ${target.origin} (${(error as Error).message})`);
  }
  if (!res.ok) throw new UnavailableError('--url', `${target.href} answered ${res.status}: ${await res.text()}`);
  return res.text();
}

async function loadLogged(config: DotrankConfig, flags: ExperimentFlags): Promise<Logged> {
  if (flags.url) {
    const text = await fromApi(flags.url, `api/experiments/${encodeURIComponent(flags.name)}/export`, config);
    const logged: Logged = { impressions: [], events: [] };
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const { kind, ...record } = JSON.parse(line) as { kind: string };
      if (kind === 'impression') logged.impressions.push(record as Impression);
      else logged.events.push(record as ExperimentEvent);
    }
    return logged;
  }
  if (!config.REDIS_URL)
    throw new ConfigError(
      'REDIS_URL',
      'is not set: without Redis the API keeps experiments in its memory; read them with --url <api>',
    );
  const redis = createRedisConnection(config.REDIS_URL) as ConstructorParameters<typeof RedisExperimentStore>[0];
  const store = new RedisExperimentStore(redis, {
    keyPrefix: config.DOTRANK_KEY_PREFIX,
    maxEvents: config.DOTRANK_EXPERIMENT_MAX_EVENTS,
    retentionDays: config.DOTRANK_EXPERIMENT_RETENTION_DAYS,
    closeConnection: true,
  });
  try {
    const [impressions, events] = await Promise.all([store.impressions(flags.name), store.events(flags.name)]);
    return { impressions, events };
  } finally {
    await store.close();
  }
}

async function writeLines(lines: string[], out: string | undefined): Promise<void> {
  const stream = out ? createWriteStream(out) : process.stdout;
  for (const line of lines) if (!stream.write(`${line}\n`)) await once(stream, 'drain');
  if (out) {
    stream.end();
    await once(stream, 'finish');
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

function printReport(report: ExperimentReport): void {
  const lines = [
    `experiment ${report.name} (${report.mode})`,
    `impressions ${report.impressions}, with clicks ${report.impressionsWithClicks}`,
    `TAS-B wins ${report.wins}, ties ${report.ties}, losses ${report.losses}`,
    `delta ${report.delta.toFixed(4)} (95 % CI ${report.ci[0].toFixed(4)} .. ${report.ci[1].toFixed(4)}), sign test p = ${report.pValue.toPrecision(4)}`,
    `impressions for 80 % power: ${report.impressionsFor80Power ?? 'no effect observed yet'}${report.impressionsStillNeeded ? ` (${report.impressionsStillNeeded} more)` : ''}`,
  ];
  if (report.perQuery.length > 0) {
    lines.push(
      '',
      `${'impr'.padStart(6)} ${'clicked'.padStart(7)} ${'W/T/L'.padStart(11)} ${'delta'.padStart(7)}  query`,
    );
    for (const q of report.perQuery)
      lines.push(
        `${String(q.impressions).padStart(6)} ${String(q.impressionsWithClicks).padStart(7)} ${`${q.wins}/${q.ties}/${q.losses}`.padStart(11)} ${q.delta.toFixed(3).padStart(7)}  ${q.query}`,
      );
  }
  if (report.shadow) {
    const s = report.shadow;
    lines.push(
      '',
      `shadow: ${s.impressions} impressions; mean Jaccard@10 ${pct(s.meanJaccard10)}, RBO ${s.meanRbo.toFixed(3)}, Kendall tau ${s.meanKendallTau.toFixed(3)}`,
    );
    for (const d of s.disagreements.slice(0, 10)) lines.push(`  RBO ${d.rbo.toFixed(3)}  ${d.query}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function addSourceOptions(command: Command): Command {
  return command
    .addOption(configOption('--name <name>', 'DOTRANK_EXPERIMENT_NAME', 'experiment name'))
    .option('--url <url>', 'read from a running API (e.g. http://127.0.0.1:3000) instead of Redis');
}

/** `dotrank experiment`: export and report of online experiments. */
export function registerExperimentCommand(program: Command): void {
  const experiment = program
    .command('experiment')
    .description('online experiments (BM25 vs TAS-B on live traffic): export the log, report the result');
  const exportCommand = addSourceOptions(
    experiment.command('export').description('write impressions and events as JSON lines ({"kind": ...})'),
  ).option('-o, --out <file>', 'write to this file (default: standard output)');
  exportCommand.action(async (flags: ExperimentFlags) => {
    const config = commandConfig(exportCommand);
    const logged = await loadLogged(config, { ...flags, name: config.DOTRANK_EXPERIMENT_NAME });
    await writeLines(
      [
        ...logged.impressions.map((i) => JSON.stringify({ kind: 'impression', ...i })),
        ...logged.events.map((e) => JSON.stringify({ kind: 'event', ...e })),
      ],
      flags.out,
    );
  });
  const reportCommand = addSourceOptions(
    experiment.command('report').description('wins/ties/losses, delta, sign test, bootstrap CI, per query'),
  )
    .option('--json', 'print the report as JSON (the shape of GET /api/experiments/:name)')
    .option('-o, --out <file>', 'write the JSON report to this file (implies --json)');
  reportCommand.action(async (flags: ExperimentFlags) => {
    const config = commandConfig(reportCommand);
    const name = config.DOTRANK_EXPERIMENT_NAME;
    const logged = await loadLogged(config, { ...flags, name });
    const mode = logged.impressions.at(-1)?.mode ?? config.DOTRANK_EXPERIMENT;
    const report = analyzeExperiment(logged.impressions, logged.events, { name, mode });
    if (flags.out) await writeFile(flags.out, `${JSON.stringify(report, null, 2)}\n`);
    else if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report);
  });
}
