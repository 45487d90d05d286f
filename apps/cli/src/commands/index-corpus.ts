import type { Command } from 'commander';

/** `dotrank index`: not implemented yet. */
export function registerIndexCommand(_program: Command): void {}
