import type { Command } from 'commander';
import { ConfigError } from '@dotrank/core';
import { createClientFromConfig, inspectIndex, suggestionAsEnv, suggestionAsIndexConfig } from '@dotrank/elasticsearch';
import type { IndexInspection } from '@dotrank/elasticsearch';
import { intFlag } from '../lib/flags.js';
import { commandConfig, configOption } from '../lib/config-options.js';

interface InspectFlags {
  sample: string;
  json?: boolean;
}

/** A fixed-width table: columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n');
}

/** The inspection in words: mapping, sizes, the suggested configuration as env lines and as DOTRANK_INDEX_CONFIG. */
export function formatInspection(report: IndexInspection): string {
  const out: string[] = [];
  const names =
    report.indices.length === 1 && report.indices[0] === report.index ? '' : ` (${report.indices.join(', ')})`;
  out.push(`index ${report.index}${names}: ${report.documents} documents; sizes from ${report.sampled} sampled`);
  out.push('');
  if (report.textFields.length === 0) out.push('text fields: none in the mapping');
  else {
    out.push(`text fields (default analyzer: ${report.defaultAnalyzer}):`);
    const rows = [['field', 'type', 'analyzer', 'in docs', 'avg chars', 'max chars', 'avg words', 'note']];
    for (const f of report.textFields) {
      const notes = [
        f.multiField ? 'multi-field, not in _source' : '',
        f.nestedPath ? `nested (${f.nestedPath})` : '',
        f.arrays > 0 ? `array in ${f.arrays}` : '',
      ].filter(Boolean);
      rows.push([
        f.path,
        f.type,
        f.analyzer,
        `${f.documents}/${report.sampled}`,
        String(f.avgChars),
        String(f.maxChars),
        String(f.avgWords),
        notes.join('; '),
      ]);
    }
    out.push(table(rows));
  }
  if (report.nestedPaths.length) out.push(`nested paths: ${report.nestedPaths.join(', ')}`);
  const filters = report.filterFields.filter((f) => !f.multiField);
  if (filters.length) out.push(`filterable fields: ${filters.map((f) => `${f.path} (${f.type})`).join(', ')}`);
  for (const note of report.notes) out.push(`note: ${note}`);
  out.push('');
  out.push('suggested configuration (paste into the environment):');
  out.push(...suggestionAsEnv(report.index, report.suggestion));
  out.push('');
  out.push("or as this index's entry of DOTRANK_INDEX_CONFIG (a JSON file of index -> fields):");
  out.push(suggestionAsIndexConfig(report.index, report.suggestion));
  return `${out.join('\n')}\n`;
}

/** `dotrank es inspect [index]`: what an existing index holds and how to configure dotrank for it. */
export function registerEsCommand(program: Command): void {
  const es = program.command('es').description('look at an Elasticsearch index (ELASTICSEARCH_URL)');
  const inspect = es
    .command('inspect')
    .description(
      "print an index's text fields (analyzer, sizes), nested paths, filterable fields, document count and a suggested configuration",
    )
    .argument('[index]', 'index, alias or pattern (default: ELASTICSEARCH_INDEX)')
    .addOption(configOption('--index <name>', 'ELASTICSEARCH_INDEX', 'Elasticsearch index (the argument wins)'))
    .option('--sample <n>', 'documents read to measure the fields (1..10000)', '100')
    .option('--json', 'print the inspection as JSON');
  inspect.action(async (indexArgument: string | undefined, flags: InspectFlags) => {
    const config = commandConfig(inspect);
    if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) {
      throw new ConfigError('ELASTICSEARCH_URL', 'must be set (or ELASTICSEARCH_CLOUD_ID) to inspect an index');
    }
    const sample = intFlag('--sample', flags.sample, 1, 10_000)!;
    const index = indexArgument ?? config.ELASTICSEARCH_INDEX;
    const client = createClientFromConfig(config);
    try {
      const report = await inspectIndex(client, index, { sample });
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspection(report));
    } finally {
      await client.close();
    }
  });
}
