import type { Command } from 'commander';

/** `dotrank measure`: not implemented yet. */
export function registerMeasureCommand(_program: Command): void {}
