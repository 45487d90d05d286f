import type { Command } from 'commander';

/** `dotrank model`: not implemented yet. */
export function registerModelCommand(_program: Command): void {}
