#!/usr/bin/env node
// `npm start`: installs dependencies when they are missing, then runs `dotrank start` with any extra arguments.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
if (!existsSync(join(root, 'node_modules', '.bin', 'dotrank'))) {
  console.error('dotrank: dependencies are missing; running npm ci first');
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (npm.status !== 0) process.exit(npm.status ?? 1);
}
const cli = spawnSync(process.execPath, [join(root, 'apps', 'cli', 'bin', 'dotrank.js'), 'start', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(cli.status ?? (cli.signal ? 1 : 0));
