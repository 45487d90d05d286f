import type { Command } from 'commander';

/** `dotrank search`: not implemented yet. */
export function registerSearchCommand(_program: Command): void {}
