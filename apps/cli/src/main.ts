import { Command } from 'commander';
import { runCli } from './run.js';

await runCli(process.argv, new Command());
