// The dashboard at /dashboard/: built on demand from apps/dashboard when its build is missing or older than its
// sources (a fresh clone has no build), served as static files, or a 503 page saying why not and how to fix it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { describeError, findRepoRoot } from '@dotrank/core';

/** A command that builds the dashboard sources into `outDir` (default: vite's CLI). */
export type DashboardBuilder = (outDir: string) => { command: string; args: string[] };

/** Where the dashboard comes from: sources to build (`appDir`), a build folder (`outDir`), or both. */
export interface DashboardSource {
  /** The dashboard project (apps/dashboard): built into `outDir` when that is missing or older than its sources. */
  appDir?: string;
  /** Where the build lives; default `<appDir>/dist`. Without `appDir` it is served as it is. */
  outDir?: string;
  builder?: DashboardBuilder;
}

export interface EnsureDashboardOptions extends DashboardSource {
  log?: { info(message: string): void; warn(message: string): void };
}

/** A build ready to serve, or why there is none and the command that makes one. */
export type DashboardBuild = { dir: string; rebuilt: boolean } | { problem: string; fix: string };

/** What vite reads: a change to any of these makes the build stale. */
const SOURCES = ['src', 'index.html', 'vite.config.ts', 'package.json'];

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/** The command to tell a person: build the dashboard from the repository root (installing the dependencies first). */
export function dashboardFixCommand(appDir: string, install = false): string {
  const root = findRepoRoot(appDir);
  const workspace = root ? relative(root, appDir) || '.' : appDir;
  return `${root ? `cd ${root} && ` : ''}${install ? 'npm ci && ' : ''}npm run build -w ${workspace}`;
}

/** vite's own CLI from the dashboard's dependencies (run with this Node, so no shell and no PATH lookup). */
async function viteBuilder(appDir: string): Promise<DashboardBuilder | undefined> {
  let manifest: string;
  try {
    manifest = createRequire(join(appDir, 'package.json')).resolve('vite/package.json');
  } catch {
    return undefined; // not installed: dependencies installed without dev dependencies, or not at all
  }
  const bin = (JSON.parse(await readFile(manifest, 'utf8')) as { bin: { vite: string } }).bin.vite;
  const cli = join(dirname(manifest), bin);
  return (outDir) => ({
    command: process.execPath,
    args: [cli, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'],
  });
}

/** Runs the build as a child process; rejects with the tail of what it printed. */
async function runBuilder(appDir: string, command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | string>((done, fail) => {
    child.once('error', fail);
    child.once('close', (exitCode, signal) => done(exitCode ?? signal ?? 'unknown'));
  });
  if (code !== 0) {
    const tail = output.trim().split('\n').slice(-5).join(' | ');
    throw new Error(
      `\`${[basename(command), ...args.map((a) => basename(a))].join(' ')}\` exited with ${code}${tail ? `: ${tail}` : ''}`,
    );
  }
}

/** Whether a process with this id is running (signal 0 tests without sending anything). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the staging and previous folders (`<outDir>.building-<pid>`, `.previous-<pid>`) of builds whose process
 * died before it could clean up (killed mid-build), so they do not pile up beside the build.
 */
async function removeAbandonedBuilds(outDir: string): Promise<void> {
  const prefix = `${basename(outDir)}.`;
  const entries = await readdir(dirname(outDir)).catch(() => [] as string[]);
  for (const name of entries) {
    const match = name.startsWith(prefix) ? /^(?:building|previous)-(\d+)$/.exec(name.slice(prefix.length)) : null;
    if (match && !processAlive(Number(match[1])))
      await rm(join(dirname(outDir), name), { recursive: true, force: true });
  }
}

/**
 * Makes sure `outDir` holds a build of the dashboard at least as new as its sources, building it when it is not.
 * The build goes to a folder of its own and then takes the place of the old one, so a server reading the old
 * build (or a second process building at the same time) never sees a half-written folder. When the build fails
 * but an older one exists, the older one is served (and the log says so).
 */
export async function ensureDashboardBuilt(options: EnsureDashboardOptions): Promise<DashboardBuild> {
  const appDir = options.appDir ? resolve(options.appDir) : undefined;
  const outDir = resolve(options.outDir ?? join(appDir ?? '.', 'dist'));
  const log = options.log ?? { info: () => undefined, warn: () => undefined };
  const index = join(outDir, 'index.html');
  const builtAt = existsSync(index) ? (await stat(index)).mtimeMs : undefined;
  if (!appDir || !existsSync(join(appDir, 'package.json'))) {
    if (builtAt !== undefined) return { dir: outDir, rebuilt: false };
    const problem = `there is no dashboard build in ${outDir} (no index.html) and no dashboard sources to build it from`;
    log.warn(`${problem}; /dashboard/ answers 503`);
    return {
      problem,
      fix: `npm run build -w apps/dashboard in a checkout of dotrank, then serve its apps/dashboard/dist (--dashboard-dir <folder>)`,
    };
  }
  const builder = options.builder ?? (await viteBuilder(appDir));
  const fix = dashboardFixCommand(appDir, !builder);
  const sourcesAt = Math.max(...(await Promise.all(SOURCES.map((name) => newestMtime(join(appDir, name))))));
  if (builtAt !== undefined && builtAt >= sourcesAt) return { dir: outDir, rebuilt: false };

  log.info(`dashboard: building ${appDir} (${builtAt === undefined ? 'no build yet' : 'sources changed'}) ...`);
  await removeAbandonedBuilds(outDir);
  const started = performance.now();
  const staging = `${outDir}.building-${process.pid}`;
  try {
    if (!builder)
      throw new Error(`vite is not installed for ${appDir} (dependencies installed without dev dependencies?)`);
    const { command, args } = builder(staging);
    await runBuilder(appDir, command, args);
    if (!existsSync(join(staging, 'index.html'))) throw new Error(`the build wrote no index.html to ${staging}`);
    const previous = `${outDir}.previous-${process.pid}`;
    await rename(outDir, previous).catch(() => undefined);
    // another process may have put its (equally fresh) build in place meanwhile: then ours is not needed
    await rename(staging, outDir).catch(() => undefined);
    await rm(previous, { recursive: true, force: true });
  } catch (error) {
    const problem = `the dashboard could not be built: ${describeError(error)}`;
    if (builtAt !== undefined) {
      log.warn(`${problem}; serving the older build in ${outDir} (rebuild with: ${fix})`);
      return { dir: outDir, rebuilt: false };
    }
    log.warn(`${problem}; /dashboard/ answers 503 until it is built (fix: ${fix}, then restart)`);
    return { problem, fix };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  log.info(`dashboard: built in ${((performance.now() - started) / 1000).toFixed(1)} s (${outDir})`);
  return { dir: outDir, rebuilt: true };
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);

function unavailablePage(problem: string, fix: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dotrank dashboard unavailable</title></head>
<body style="font-family: sans-serif; max-width: 48rem; margin: 3rem auto; line-height: 1.5">
<h1>The dashboard is not available</h1>
<p>${escapeHtml(problem)}</p>
<p>To build it, run:</p>
<pre style="background: #f3f3f3; padding: 1rem">${escapeHtml(fix)}</pre>
<p>then restart the server. The API itself (<a href="/docs">/docs</a>, /search) works without it.</p>
</body></html>
`;
}

/** Serves /dashboard/ (the build, or a 503 page naming the problem and the fix) and redirects /dashboard to it. */
export const dashboardPlugin: FastifyPluginAsync<DashboardSource> = async (app, source) => {
  const build = await ensureDashboardBuilt({ ...source, log: app.log });
  // the build's assets are relative to /dashboard/ (vite base), so the page needs the trailing slash
  app.get('/dashboard', { schema: { hide: true } }, async (request, reply) => {
    const query = request.url.indexOf('?');
    return reply.redirect(`/dashboard/${query >= 0 ? request.url.slice(query) : ''}`, 301);
  });
  if ('dir' in build) {
    await app.register(fastifyStatic, { root: build.dir, prefix: '/dashboard/', index: ['index.html'] });
    return;
  }
  const page = unavailablePage(build.problem, build.fix);
  const unavailable = async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.code(503).type('text/html; charset=utf-8').send(page);
  app.get('/dashboard/', { schema: { hide: true } }, unavailable);
  app.get('/dashboard/*', { schema: { hide: true } }, unavailable);
};
