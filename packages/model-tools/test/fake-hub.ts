import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  /** repo path -> bytes (or a file to read) */
  files: Record<string, Uint8Array | string>;
  sha?: string;
}

export interface FakeHubOptions {
  repos: Record<string, FakeRepo>;
  /** When set, every /resolve and /api request must carry `Authorization: Bearer <token>` (401 otherwise). */
  token?: string;
  /** Repo files whose first full download is cut off after half the bytes (the socket is destroyed). */
  dropOnce?: string[];
  /** Repo files whose first full download sends every byte (chunked, no length) and then cuts the connection. */
  dropAfterAllOnce?: string[];
  /** Repo files whose announced sha256 is wrong (checksum failure test). */
  lieAboutSha?: string[];
  /** Serve no /api/models endpoint (a plain mirror): the client must probe files with HEAD. */
  noApi?: boolean;
}

export interface RequestLog {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
  status: number;
}

const LFS = /\.(safetensors|bin|onnx)$/;

/**
 * A loopback imitation of the Hugging Face hub's URL layout: `/api/models/{repo}/revision/{rev}`, and
 * `/{repo}/resolve/{rev}/{file}` answering LFS files with a 302 to `/lfs/{sha256}` plus X-Linked-Etag / X-Linked-Size,
 * small files with their bytes and a git-style (sha1) ETag. `/lfs/` honours `Range: bytes=N-`.
 */
export async function startFakeHub(
  options: FakeHubOptions,
): Promise<{ endpoint: string; log: RequestLog[]; close: () => Promise<void> }> {
  const log: RequestLog[] = [];
  const blobs = new Map<string, { bytes: Buffer; file: string; repo: string }>();
  const repos = new Map<string, { sha: string; files: Map<string, Buffer> }>();
  for (const [id, repo] of Object.entries(options.repos)) {
    const files = new Map<string, Buffer>();
    for (const [path, content] of Object.entries(repo.files))
      files.set(path, typeof content === 'string' ? readFileSync(content) : Buffer.from(content));
    repos.set(id, { sha: repo.sha ?? createHash('sha1').update(id).digest('hex'), files });
  }
  const dropped = new Set<string>();

  const handle = (req: IncomingMessage, res: ServerResponse): number => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const authorized = !options.token || req.headers.authorization === `Bearer ${options.token}`;
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) {
      if (options.noApi) return end(res, 404);
      if (!authorized) return end(res, 401);
      const repo = repos.get(decodeURIComponent(api[1]!));
      if (!repo) return end(res, 404);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          id: api[1],
          sha: repo.sha,
          siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
        }),
      );
      return 200;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      if (!authorized) return end(res, 401);
      const repoId = decodeURIComponent(resolve[1]!);
      const repo = repos.get(repoId);
      const file = resolve[3]!.split('/').map(decodeURIComponent).join('/');
      const bytes = repo?.files.get(file);
      if (!repo || !bytes) {
        res.setHeader('x-error-code', 'EntryNotFound');
        return end(res, 404);
      }
      if (LFS.test(file)) {
        let sha = createHash('sha256').update(bytes).digest('hex');
        blobs.set(sha, { bytes, file, repo: repoId });
        const announced = options.lieAboutSha?.includes(file) ? '0'.repeat(64) : sha;
        if (announced !== sha) blobs.set(announced, { bytes, file, repo: repoId });
        sha = announced;
        res.setHeader('x-linked-etag', `"${sha}"`);
        res.setHeader('x-linked-size', String(bytes.length));
        res.setHeader('etag', `"${createHash('sha1').update(bytes).digest('hex')}"`);
        res.setHeader('location', `/lfs/${sha}`);
        return end(res, 302);
      }
      res.setHeader('etag', `"${createHash('sha1').update(bytes).digest('hex')}"`);
      res.setHeader('content-length', String(bytes.length));
      res.statusCode = 200;
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return 200;
    }
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (lfs) {
      const blob = blobs.get(lfs[1]!);
      if (!blob) return end(res, 404);
      const size = blob.bytes.length;
      res.setHeader('accept-ranges', 'bytes');
      res.setHeader('etag', `"${lfs[1]}"`);
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      if (start >= size && range) {
        res.setHeader('content-range', `bytes */${size}`);
        return end(res, 416);
      }
      res.statusCode = range ? 206 : 200;
      if (range) res.setHeader('content-range', `bytes ${start}-${size - 1}/${size}`);
      res.setHeader('content-length', String(size - start));
      if (req.method === 'HEAD') {
        res.end();
        return res.statusCode;
      }
      const key = `${blob.repo}/${blob.file}`;
      if (!range && options.dropAfterAllOnce?.includes(blob.file) && !dropped.has(key)) {
        dropped.add(key);
        res.removeHeader('content-length');
        res.flushHeaders();
        res.write(blob.bytes, () => setTimeout(() => res.socket?.destroy(), 20));
        return 200;
      }
      if (!range && options.dropOnce?.includes(blob.file) && !dropped.has(key)) {
        dropped.add(key);
        res.flushHeaders();
        res.write(blob.bytes.subarray(0, Math.floor(size / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
        return 200;
      }
      res.end(blob.bytes.subarray(start));
      return res.statusCode;
    }
    return end(res, 404);
  };

  const server = createServer((req, res) => {
    const status = handle(req, res);
    log.push({
      method: req.method ?? '',
      url: req.url ?? '',
      range: req.headers.range,
      authorization: req.headers.authorization,
      status,
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

function end(res: ServerResponse, status: number): number {
  res.statusCode = status;
  res.end();
  return status;
}
