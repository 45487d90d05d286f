import { Option } from 'commander';
import type { Command } from 'commander';
import { ConfigError, configSchema, loadConfig } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';

/** A configuration variable that a flag may also set. */
export type ConfigVariable = keyof DotrankConfig;

/** The schema's defaults, shown in `--help` beside the variable. */
const schemaDefaults = configSchema.parse({}) as Record<string, unknown>;

/**
 * A flag that sets a configuration variable: `--help` shows `(default: …, env: VAR)`. Its value is not read by the
 * command directly but through {@link commandConfig}, the one place where flags and the environment meet the
 * configuration schema. `defaultValue` replaces the schema's default for this command only.
 */
export function configOption(
  flags: string,
  variable: ConfigVariable,
  description: string,
  defaultValue?: string,
): Option {
  const option = new Option(flags, description).env(variable);
  const shown = defaultValue ?? schemaDefaults[variable];
  if (shown !== undefined) option.default(String(shown));
  return option;
}

/**
 * The flags that say where an Elasticsearch index keeps its text (the ELASTICSEARCH_*_FIELDS variables and
 * DOTRANK_INDEX_CONFIG), for every command that builds an Elasticsearch source.
 */
export function addElasticsearchFieldOptions(command: Command): Command {
  const options = [
    configOption(
      '--search-fields <list>',
      'ELASTICSEARCH_SEARCH_FIELDS',
      'Elasticsearch fields the query runs on, field^boost, comma separated',
    ),
    configOption(
      '--text-fields <list>',
      'ELASTICSEARCH_TEXT_FIELDS',
      'Elasticsearch _source fields joined into the passage text (dotted paths; arrays joined)',
    ),
    configOption(
      '--text-separator <text>',
      'ELASTICSEARCH_TEXT_SEPARATOR',
      'between joined text fields (\\n: newline)',
    ),
    configOption('--id-field <field>', 'ELASTICSEARCH_ID_FIELD', 'Elasticsearch field holding the passage id'),
    configOption('--filter-fields <list>', 'ELASTICSEARCH_FILTER_FIELDS', 'Elasticsearch fields a filter may name'),
    configOption('--index-config <file>', 'DOTRANK_INDEX_CONFIG', 'JSON file of index -> fields, over the flags above'),
  ];
  for (const option of options) command.addOption(option);
  return command;
}

/**
 * The flags of query encoding under load (the query-vector cache and the query batcher), for every command that
 * encodes queries for others: `serve` and `worker`.
 */
export function addQueryEncodingOptions(command: Command): Command {
  const options = [
    configOption('--query-cache-size <n>', 'DOTRANK_QUERY_CACHE_SIZE', 'query vectors kept in this process, 0 = off'),
    configOption(
      '--query-cache-ttl-seconds <s>',
      'DOTRANK_QUERY_CACHE_TTL_SECONDS',
      'expiry of query vectors shared through Redis, 0 = none',
    ),
    configOption('--query-batch <n>', 'DOTRANK_QUERY_BATCH', 'most concurrent queries per ONNX call, 1 = no batching'),
    configOption(
      '--batch-wait-ms <ms>',
      'DOTRANK_BATCH_WAIT_MS',
      'how long a query waits for company while traffic is concurrent, 0 = never',
    ),
  ];
  for (const option of options) command.addOption(option);
  return command;
}

/** The environment a command runs with: process.env with the values of its configuration flags on top. */
export function commandEnv(
  command: Command,
  env: Record<string, string | undefined> = process.env,
): Record<string, string | undefined> {
  const merged = { ...env };
  for (const option of command.options) {
    if (!option.envVar) continue;
    const value: unknown = command.getOptionValue(option.attributeName());
    if (value !== undefined) merged[option.envVar] = String(value);
  }
  return merged;
}

/**
 * The configuration of a command: its flags over the environment, validated by core's schema. A bad value given as a
 * flag is reported under the flag's name, one from the environment under the variable's.
 */
export function commandConfig(command: Command, env: Record<string, string | undefined> = process.env): DotrankConfig {
  try {
    return loadConfig(commandEnv(command, env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const option = command.options.find((o) => o.envVar === error.field);
    if (option?.long && command.getOptionValueSource(option.attributeName()) === 'cli')
      throw new ConfigError(option.long, error.problem);
    throw error;
  }
}

/** True when the user typed the flag (not when its value came from the environment or a default). */
export function givenOnCommandLine(command: Command, attributeName: string): boolean {
  return command.getOptionValueSource(attributeName) === 'cli';
}
