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
