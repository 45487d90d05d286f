import type { Command } from 'commander';

/** `dotrank eval`: not implemented yet. */
export function registerEvalCommand(_program: Command): void {}
