import type { Command } from 'commander';

/** `dotrank encode`: not implemented yet. */
export function registerEncodeCommand(_program: Command): void {}
