// Fault injection (#18): the connection cut in the middle of an MGET reply. A tiny TCP proxy between the worker and
// this file's redis-server forwards the first bytes of the next MGET reply, then destroys both sockets. The vector
// read must fail cleanly (no hang, no crash, no garbage scores) and the job be retried: the answer is the right one.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_PASSAGES } from '@dotrank/core/testing';
import { WORKER_EXIT_MS, exitWithin, search, spawnWorker, startFaultStack, type FaultStack } from './stack.js';

/** A TCP proxy to Redis that can cut the next MGET reply after `keep` bytes. */
interface CuttingProxy {
  url: string;
  /** Cut the next MGET reply after its first `keep` bytes. */
  armCut(keep: number): void;
  cuts: number;
  close(): Promise<void>;
}

async function startProxy(redisPort: number): Promise<CuttingProxy> {
  let armed: number | undefined;
  const sockets = new Set<Socket>();
  const proxy: CuttingProxy = {
    url: '',
    cuts: 0,
    armCut: (keep) => void (armed = keep),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: redisPort });
    sockets.add(client).add(upstream);
    // bytes of the MGET reply still to forward before the cut, once this connection sent an MGET while armed
    let cutAfter: number | undefined;
    client.on('data', (chunk: Buffer) => {
      if (armed !== undefined && /\r\nmget\r\n/i.test(chunk.toString('latin1'))) {
        cutAfter = armed;
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutAfter === undefined) return void client.write(chunk);
      client.write(chunk.subarray(0, cutAfter));
      if (chunk.length >= cutAfter) {
        proxy.cuts++;
        cutAfter = undefined;
        client.destroy();
        upstream.destroy();
      } else cutAfter -= chunk.length;
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  proxy.url = `redis://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return proxy;
}

let stack: FaultStack;
let proxy: CuttingProxy;
beforeAll(async () => {
  stack = await startFaultStack({ passages: CONTRACT_PASSAGES, workers: 0 });
  proxy = await startProxy(Number(new URL(stack.redisUrl).port));
  // the worker reaches Redis only through the proxy (its fast vector reader included)
  const worker = spawnWorker(proxy.url, stack.prefix, [], { DOTRANK_LOG_LEVEL: 'warn' });
  stack.workers.push(worker);
  await worker.ready;
});
afterAll(async () => {
  await stack?.close();
  await proxy?.close();
});

describe('connection cut in the middle of an MGET reply', () => {
  it('fails the read cleanly and retries the job: the answer is the right one', async () => {
    const query = 'boundary layer';
    // the first search encodes and caches the vectors; the second reads them with one MGET
    let cold = await search(stack.api.url, query);
    for (let i = 0; cold.degraded && i < 50; i++) cold = await search(stack.api.url, query);
    expect(cold).toMatchObject({ status: 200, degraded: false });
    const warm = await search(stack.api.url, query);
    expect(warm).toMatchObject({ status: 200, degraded: false, ids: cold.ids });

    // 40 bytes: the array header and part of the first vector
    proxy.armCut(40);
    const cut = await search(stack.api.url, query);
    expect(proxy.cuts).toBe(1);
    expect(cut).toMatchObject({ status: 200, degraded: false, ids: cold.ids });
    const worker = stack.workers[0]!;
    expect(worker.child.exitCode).toBe(null);
    // and the worker goes on serving
    expect(await search(stack.api.url, query)).toMatchObject({ status: 200, degraded: false, ids: cold.ids });
  }, 60_000);

  it('SIGTERM after the cut: the worker exits within its bound', async () => {
    const worker = stack.workers[0]!;
    worker.child.kill('SIGTERM');
    expect(await exitWithin(worker, WORKER_EXIT_MS), worker.output()).toBe(0);
  }, 30_000);
});
