import type { Command } from 'commander';

/** `dotrank serve`: not implemented yet. */
export function registerServeCommand(_program: Command): void {}
