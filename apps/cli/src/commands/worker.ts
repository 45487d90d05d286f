import type { Command } from 'commander';

/** `dotrank worker`: not implemented yet. */
export function registerWorkerCommand(_program: Command): void {}
