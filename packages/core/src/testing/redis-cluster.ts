import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/** One node of a test cluster, as the cluster itself reports it (CLUSTER NODES) when asked. */
export interface ClusterNode {
  port: number;
  /** `host:port` */
  address: string;
  id: string;
  role: 'master' | 'replica';
  /** A replica's master id. */
  masterId?: string;
  /** Killed by killNode (its process is gone). */
  killed: boolean;
}

/** A test's own Redis Cluster (three masters with a replica each by default), torn down by stop(). */
export interface OwnRedisCluster {
  /** The nodes as created (roles change on failover: ask nodes() for the current view). */
  readonly ports: number[];
  /** `redis://127.0.0.1:<first node>?cluster=1`: what REDIS_URL would be for a cluster. */
  readonly url: string;
  /** Every node as `host:port`, comma separated (what REDIS_CLUSTER_NODES takes). */
  readonly seeds: string;
  /** The nodes as the first live node sees them now. */
  nodes(): Promise<ClusterNode[]>;
  /** The port of the master serving `slot` now. */
  masterOf(slot: number): Promise<number>;
  /** The port of the master serving each of the 16384 slots now (0: none), from one CLUSTER SLOTS. */
  slotMasters(): Promise<Uint32Array>;
  /** SIGKILL one node (no shutdown, no last write to disk: a crashed host) and wait for its exit. */
  killNode(port: number): Promise<void>;
  /** SIGSTOP one node: it holds its connections but answers nothing (a replica that falls behind, a hung host). */
  pauseNode(port: number): void;
  /** SIGCONT. */
  resumeNode(port: number): void;
  /** Resolves once every live node reports cluster_state:ok with all 16384 slots served, else rejects after `ms`. */
  waitHealthy(ms?: number): Promise<void>;
  /** Kills every node and removes their folders. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a node may be silent before it is failed over (default 1000 ms, short for tests). */
  nodeTimeoutMs?: number;
}

/**
 * Why a cluster cannot be started here (redis-server or redis-cli missing), or undefined when it can. Tests skip with
 * this reason printed; CI installs both (`.ci/run`).
 */
export function redisClusterUnavailable(): string | undefined {
  for (const tool of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (probe.error || probe.status !== 0) return `${tool} is not installed (apt-get install redis-server redis-tools)`;
  }
  return undefined;
}

interface Spawned {
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

async function spawnNode(port: number, busPort: number, dir: string, nodeTimeoutMs: number): Promise<Spawned> {
  const child = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
      ...['--save', '', '--appendonly', 'no'],
      ...['--cluster-enabled', 'yes', '--cluster-port', String(busPort)],
      ...['--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', String(nodeTimeoutMs)],
      // a replica takes over however long ago it last heard from its master (tests kill masters at will)
      ...['--cluster-replica-validity-factor', '0'],
      // the slots whose master is gone fail; the others keep serving (what dotrank's README recommends)
      ...['--cluster-require-full-coverage', 'no'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('error', reject);
    void exited.then(() => reject(new Error(`redis-server (cluster node ${port}) exited: ${output.slice(-2000)}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { port, child, exited };
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 });
  return stdout;
}

/** CLUSTER NODES as seen by the node on `port`. */
function parseNodes(text: string, killed: Set<number>): ClusterNode[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, addr, flags, master] = line.split(' ');
      const address = addr!.split('@')[0]!;
      const port = Number(address.split(':')[1]);
      const replica = flags!.includes('slave');
      return {
        port,
        address,
        id: id!,
        role: replica ? ('replica' as const) : ('master' as const),
        ...(replica && master !== '-' ? { masterId: master! } : {}),
        killed: killed.has(port),
      };
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether every live node says the cluster is ok, all slots are served and each replica is in sync. */
async function healthy(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const info = await cli(port, 'cluster', 'info').catch(() => '');
    if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
    const replication = await cli(port, 'info', 'replication').catch(() => '');
    if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
  }
  return true;
}

/** The nodes of a cluster being made, and how to kill them all and remove their folders. */
interface Launched {
  spawned: Spawned[];
  stop(): Promise<void>;
}

/** Starts `count` cluster-enabled nodes and joins them with `redis-cli --cluster create`; cleans up if that fails. */
async function launchNodes(count: number, replicas: number, nodeTimeoutMs: number): Promise<Launched> {
  const spawned: Spawned[] = [];
  const dirs: string[] = [];
  const stop = async () => {
    for (const node of spawned) {
      if (node.child.exitCode !== null || node.child.signalCode !== null) continue;
      node.child.kill('SIGCONT'); // a stopped process would hold SIGKILL
      node.child.kill('SIGKILL');
    }
    await Promise.all(spawned.map((node) => node.exited));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const used = new Set<number>();
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!used.has(p)) return (used.add(p), p);
      }
    };
    for (let i = 0; i < count; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'dotrank-cluster-'));
      dirs.push(dir);
      spawned.push(await spawnNode(await port(), await port(), dir, nodeTimeoutMs));
    }
    const addresses = spawned.map((n) => `127.0.0.1:${n.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
      { timeout: 30_000 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { spawned, stop };
}

/** The test's handle on launched nodes. */
function clusterHandle({ spawned, stop }: Launched): OwnRedisCluster {
  const killed = new Set<number>();
  const ports = spawned.map((n) => n.port);
  const nodeOn = (port: number) => {
    const node = spawned.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    return node;
  };
  const live = () => ports.filter((p) => !killed.has(p));
  const cluster: OwnRedisCluster = {
    ports,
    url: `redis://127.0.0.1:${ports[0]}?cluster=1`,
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    nodes: async () => parseNodes(await cli(live()[0]!, 'cluster', 'nodes'), killed),
    slotMasters: async () => {
      const ranges = JSON.parse(await cli(live()[0]!, '--json', 'cluster', 'slots')) as [
        number,
        number,
        [string, number],
      ][];
      const owners = new Uint32Array(16384);
      for (const [from, to, [, port]] of ranges) owners.fill(port, from, to + 1);
      return owners;
    },
    masterOf: async (slot) => {
      const port = (await cluster.slotMasters())[slot];
      if (!port) throw new Error(`slot ${slot} has no master`);
      return port;
    },
    killNode: async (port) => {
      const node = nodeOn(port);
      killed.add(port);
      node.child.kill('SIGCONT');
      node.child.kill('SIGKILL');
      await node.exited;
    },
    pauseNode: (port) => void nodeOn(port).child.kill('SIGSTOP'),
    resumeNode: (port) => void nodeOn(port).child.kill('SIGCONT'),
    waitHealthy: async (ms = 20_000) => {
      const until = Date.now() + ms;
      while (!(await healthy(live()))) {
        if (Date.now() > until) throw new Error(`Redis Cluster not healthy within ${ms} ms`);
        await sleep(100);
      }
    },
    stop,
  };
  return cluster;
}

/**
 * Starts a Redis Cluster of `masters` masters with `replicasPerMaster` replicas each (default 3 + 3), each node a
 * `redis-server --cluster-enabled yes` on free ports (client and bus) with a temporary folder of its own, joined with
 * `redis-cli --cluster create`; resolves once the cluster is ok and every replica in sync. No persistence; slots
 * whose master is gone fail while the others keep serving (`cluster-require-full-coverage no`).
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<OwnRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const launched = await launchNodes(masters * (1 + replicas), replicas, options.nodeTimeoutMs ?? 1000);
  const cluster = clusterHandle(launched);
  try {
    await cluster.waitHealthy();
  } catch (error) {
    await launched.stop();
    throw error;
  }
  return cluster;
}
