#!/usr/bin/env node
// `npm start`: installs dependencies when they are missing, then runs `dotrank start` with any extra arguments.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
if (!existsSync(join(root, 'node_modules', '.bin', 'dotrank'))) {
  console.error('dotrank: dependencies are missing; running npm ci first');
  // hnswlib-node (optional) compiles against the Node headers: a distribution's Node ships them, so no download
  const systemHeaders =
    process.execPath.startsWith('/usr/bin/') &&
    existsSync('/usr/include/node/node.h') &&
    !process.env.npm_config_nodedir;
  const env = systemHeaders ? { ...process.env, npm_config_nodedir: '/usr' } : process.env;
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (npm.status !== 0) process.exit(npm.status ?? 1);
}
const cli = spawn(
  process.execPath,
  [join(root, 'apps', 'cli', 'bin', 'dotrank.js'), 'start', ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);
// A terminal's Ctrl-C reaches the whole process group; a supervisor's SIGTERM may reach only us: pass it on once.
let forwarded = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (!forwarded) cli.kill(signal);
    forwarded = true;
  });
}
cli.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
