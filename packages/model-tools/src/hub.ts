import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError, ModelError, NotFoundError, UnavailableError, ValidationError } from '@dotrank/core';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** Where and how to reach a Hugging Face hub (or a mirror with the same URL layout). */
export interface HubOptions {
  /** `HF_ENDPOINT`; default https://huggingface.co. */
  endpoint?: string;
  /** `HF_TOKEN`, sent as a Bearer token. */
  token?: string;
  /** Branch, tag or commit; default `main`. */
  revision?: string;
  fetch?: typeof fetch;
  /** How many times one file download is retried (resuming with Range) after a dropped connection. Default 5. */
  retries?: number;
}

export interface DownloadProgress {
  file: string;
  received: number;
  total: number | undefined;
  resumedFrom: number;
}

export interface RepoInfo {
  /** The commit the revision resolved to, when the hub says. */
  sha: string | undefined;
  files: string[];
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Whether the hub gave a sha256 (LFS X-Linked-Etag / ETag) that was checked. */
  verified: boolean;
  /** Bytes already present in a `.part` file (or after a dropped connection) that were not fetched again. */
  resumedBytes: number;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

export function validateRepoId(repo: string): string {
  if (typeof repo !== 'string' || !REPO_ID.test(repo) || repo.includes('..')) {
    throw new ValidationError('hub-id', `must look like owner/name (got ${JSON.stringify(repo)})`);
  }
  return repo;
}

function endpointOf(options: HubOptions): string {
  const endpoint = (options.endpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError('HF_ENDPOINT', `must be an http(s) URL (got ${JSON.stringify(options.endpoint)})`);
  }
  return endpoint;
}

/** `{endpoint}/{repo}/resolve/{revision}/{file}` */
export function resolveUrl(repo: string, file: string, options: HubOptions = {}): string {
  const revision = encodeURIComponent(options.revision ?? 'main');
  return `${endpointOf(options)}/${repo}/resolve/${revision}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function authHeaders(options: HubOptions): Record<string, string> {
  return options.token ? { authorization: `Bearer ${options.token}` } : {};
}

function statusError(status: number, repo: string, what: string, options: HubOptions): Error {
  if (status === 401 || status === 403) {
    return new ConfigError(
      'HF_TOKEN',
      `the hub refused ${what} of ${repo} (HTTP ${status}); ${options.token ? 'the token has no access' : 'set HF_TOKEN for private or gated models'}`,
    );
  }
  if (status === 404)
    return new NotFoundError(`${repo}/${what}`, `not found on the hub at revision ${options.revision ?? 'main'}`);
  return new UnavailableError('hub', `HTTP ${status} for ${what} of ${repo}`);
}

async function hubFetch(url: string, init: RequestInit, options: HubOptions): Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  try {
    return await doFetch(url, init);
  } catch (error) {
    throw new UnavailableError('hub', `cannot reach ${new URL(url).origin}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The file list and commit of a revision (`{endpoint}/api/models/{repo}/revision/{revision}`); undefined when the endpoint has no such API. */
export async function repoInfo(repo: string, options: HubOptions = {}): Promise<RepoInfo | undefined> {
  validateRepoId(repo);
  const url = `${endpointOf(options)}/api/models/${repo}/revision/${encodeURIComponent(options.revision ?? 'main')}`;
  const res = await hubFetch(url, { headers: authHeaders(options) }, options);
  if (res.status === 401 || res.status === 403) throw statusError(res.status, repo, 'the file list', options);
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  const body = (await res.json()) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  const files = (body.siblings ?? []).map((s) => s.rfilename).filter((f): f is string => typeof f === 'string');
  return { sha: typeof body.sha === 'string' ? body.sha : undefined, files };
}

const SHA256 = /^[0-9a-f]{64}$/;

function etagSha256(headers: Headers): string | undefined {
  for (const name of ['x-linked-etag', 'etag']) {
    const raw = headers.get(name);
    if (!raw) continue;
    const value = raw.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
    if (SHA256.test(value)) return value;
  }
  return undefined;
}

/** HEAD without following the redirect, so the hub's X-Linked-Etag / X-Linked-Size of LFS files are visible. */
export async function fileMetadata(
  repo: string,
  file: string,
  options: HubOptions = {},
): Promise<{ exists: boolean; sha256: string | undefined; size: number | undefined }> {
  const res = await hubFetch(
    resolveUrl(repo, file, options),
    { method: 'HEAD', redirect: 'manual', headers: authHeaders(options) },
    options,
  );
  if (res.status === 404) return { exists: false, sha256: undefined, size: undefined };
  if (res.status === 401 || res.status === 403) throw statusError(res.status, repo, file, options);
  if (res.status >= 400) throw statusError(res.status, repo, file, options);
  const size = Number(
    res.headers.get('x-linked-size') ?? (res.status < 300 ? res.headers.get('content-length') : undefined),
  );
  return { exists: true, sha256: etagSha256(res.headers), size: Number.isFinite(size) && size > 0 ? size : undefined };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

type DownloadOptions = HubOptions & { onProgress?: (progress: DownloadProgress) => void };

/** One file download across its attempts; `total` is learnt from the hub's HEAD, Content-Range or Content-Length. */
interface DownloadJob {
  repo: string;
  file: string;
  url: string;
  part: string;
  options: DownloadOptions;
  /** Bytes of `.part` present before the first attempt. */
  resumedFrom: number;
  total: number | undefined;
}

/**
 * How one attempt ended: the whole file is on disk; nothing was left to fetch (the `.part` file already holds the
 * announced size, or the hub answers 416 to the Range); or the connection dropped with `error`.
 */
type AttemptOutcome = { outcome: 'complete' } | { outcome: 'nothing-left' } | { outcome: 'dropped'; error: unknown };

/** The bytes of `.part` to resume from; a `.part` larger than the announced file is stale and starts over. */
async function partBytesToKeep(part: string, total: number | undefined): Promise<number> {
  const have = await sizeOf(part);
  if (total === undefined || have <= total) return have;
  await rm(part, { force: true });
  return 0;
}

/** Whether a response continues `.part` at `have` (a 206 whose Content-Range starts there), and the total size it tells. */
function resumePoint(
  res: Response,
  have: number,
  total: number | undefined,
): { append: boolean; total: number | undefined } {
  if (res.status === 206) {
    const match = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
    if (match && Number(match[1]) === have) return { append: true, total: match[3] !== '*' ? Number(match[3]) : total };
  }
  const length = Number(res.headers.get('content-length'));
  return { append: false, total: total === undefined && Number.isFinite(length) && length > 0 ? length : total };
}

/** Streams a response body into `.part` (appending or from scratch); returns the bytes on disk, or what cut the stream. */
async function writeBody(
  job: DownloadJob,
  res: Response,
  append: boolean,
  startAt: number,
): Promise<{ received: number; error?: unknown }> {
  const handle = await open(job.part, append ? 'a' : 'w');
  let received = startAt;
  try {
    if (!res.body) throw new UnavailableError('hub', `empty response body for ${job.file}`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      await handle.write(chunk);
      received += chunk.length;
      job.options.onProgress?.({ file: job.file, received, total: job.total, resumedFrom: job.resumedFrom });
    }
  } catch (error) {
    return { received, error };
  } finally {
    await handle.close();
  }
  return { received };
}

/** One GET of the rest of the file (Range from what `.part` holds); HTTP errors other than a dropped stream are thrown. */
async function downloadAttempt(job: DownloadJob): Promise<AttemptOutcome> {
  const have = await partBytesToKeep(job.part, job.total);
  if (job.total !== undefined && have === job.total) return { outcome: 'nothing-left' };
  const headers: Record<string, string> = {
    ...authHeaders(job.options),
    ...(have > 0 ? { range: `bytes=${have}-` } : {}),
  };
  const res = await hubFetch(job.url, { headers }, job.options);
  if (res.status === 416 && have > 0) {
    await res.body?.cancel();
    return { outcome: 'nothing-left' };
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw statusError(res.status, job.repo, job.file, job.options);
  }
  const resume = resumePoint(res, have, job.total);
  job.total = resume.total;
  const { received, error } = await writeBody(job, res, resume.append, resume.append ? have : 0);
  // a dropped connection: the next attempt resumes from what reached the disk
  if (error !== undefined) return { outcome: 'dropped', error };
  if (job.total !== undefined && received < job.total)
    return { outcome: 'dropped', error: new Error(`connection closed after ${received} of ${job.total} bytes`) };
  return { outcome: 'complete' };
}

/** Checks the finished `.part` against the announced size and sha256, then moves it to `dest`. */
async function verifyAndPlace(
  job: DownloadJob,
  dest: string,
  expectedSha256: string | undefined,
): Promise<DownloadResult> {
  const { part, file, total } = job;
  const bytes = await sizeOf(part);
  if (total !== undefined && bytes !== total)
    throw new ModelError(`downloaded ${bytes} bytes, the hub announced ${total}`, { field: file });
  const sha256 = await sha256Of(part);
  if (expectedSha256 && expectedSha256 !== sha256) {
    await rm(part, { force: true });
    throw new ModelError(
      `checksum mismatch: the hub says sha256 ${expectedSha256}, the download has ${sha256} (the partial file was removed; run again)`,
      { field: file },
    );
  }
  await rename(part, dest);
  return { path: dest, bytes, sha256, verified: expectedSha256 !== undefined, resumedBytes: job.resumedFrom };
}

/**
 * Downloads one file of a repo to `dest`, resumably: bytes go to `dest.part`, a later attempt (or a retry after
 * a dropped connection) asks for the rest with `Range: bytes=<have>-`. The sha256 the hub gives for LFS files
 * (X-Linked-Etag, or an ETag that is a sha256) is checked before the `.part` file is renamed.
 */
export async function downloadFile(
  repo: string,
  file: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  validateRepoId(repo);
  const meta = await fileMetadata(repo, file, options);
  if (!meta.exists) throw statusError(404, repo, file, options);
  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });
  const job: DownloadJob = {
    repo,
    file,
    url: resolveUrl(repo, file, options),
    part,
    options,
    resumedFrom: await sizeOf(part),
    total: meta.size,
  };
  const retries = options.retries ?? 5;
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const result = await downloadAttempt(job);
    if (result.outcome === 'dropped') {
      lastError = result.error;
      continue;
    }
    // complete, or nothing left to fetch (an earlier attempt wrote every byte before its connection dropped): either
    // way the file is whole as far as the transfer knows, and verifyAndPlace checks its size and checksum
    lastError = undefined;
    break;
  }
  if (lastError !== undefined) {
    throw new UnavailableError(
      'hub',
      `download of ${file} failed after ${retries + 1} attempts (kept ${await sizeOf(part)} bytes in ${part} to resume): ${(lastError as Error).message}`,
      { cause: lastError },
    );
  }
  return verifyAndPlace(job, dest, meta.sha256);
}
