import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';

/** One int tensor fed to the graph. */
export interface Feed {
  name: string;
  type: 'int64' | 'int32';
  data: BigInt64Array | Int32Array;
  dims: number[];
}

export interface RunResult {
  type: string;
  data: Float32Array;
  dims: readonly number[];
}

export interface HostSessionOptions {
  intraOpNumThreads: number;
  /** ONNX Runtime execution providers in order of preference (default `['cpu']`). */
  executionProviders?: readonly string[];
  /** Let idle intra-op threads spin (ORT's default) instead of sleeping. */
  spinWait?: boolean;
  /**
   * Niceness of the inference thread (worker host, Linux only): set on that thread before the session starts its pool,
   * whose threads inherit it (Linux keeps a nice value per thread). 0: unchanged.
   */
  nice?: number;
}

/** Where `session.run` executes: a worker thread (the event loop stays free) or the calling thread (it blocks). */
export type InferenceThread = 'worker' | 'main';

/** An ONNX Runtime session: its metadata and an async run. `firstTokenOnly` returns `[batch, dim]` from a 3-D output. */
export interface OrtHost {
  readonly inputMetadata: readonly InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly InferenceSession.ValueMetadata[];
  run(feeds: Feed[], output: string, firstTokenOnly: boolean): Promise<RunResult>;
  close(): Promise<void>;
}

/** An error from ONNX Runtime, carried across the thread boundary as text. */
export class OrtFailure extends Error {}

const require = createRequire(import.meta.url);
const ortPath = require.resolve('onnxruntime-node');

function sessionOptions(options: HostSessionOptions): InferenceSession.SessionOptions {
  return {
    executionProviders: [...(options.executionProviders ?? ['cpu'])],
    intraOpNumThreads: options.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // session config entries session.intra_op.allow_spinning / session.inter_op.allow_spinning
    extra: {
      session: {
        intra_op: { allow_spinning: options.spinWait ? '1' : '0' },
        inter_op: { allow_spinning: options.spinWait ? '1' : '0' },
      },
    },
  };
}

/**
 * onnxruntime-node 1.30's `session.run` is a synchronous native call that the JS API merely defers with
 * `setImmediate`: it blocks the JS thread for the whole inference. The worker below owns the session so that
 * the calling thread's event loop keeps turning (timers, sockets, BullMQ lock renewal) while a batch runs.
 * Plain JavaScript (CommonJS, `eval: true`) so it runs the same from TypeScript sources, tsx, vitest and dist.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
function meta(list) {
  return list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false }));
}
function message(error) { return error && error.message ? String(error.message) : String(error); }
parentPort.on('message', async (msg) => {
  if (msg.kind === 'load') {
    try {
      // this thread only (Linux: pid 0 is the calling thread); ORT's pool threads, created below, inherit it. Elsewhere
      // a priority belongs to the whole process, event loop included: left alone
      if (workerData.nice && process.platform === 'linux') require('node:os').setPriority(0, workerData.nice);
      session = await ort.InferenceSession.create(workerData.graphPath, workerData.options);
      parentPort.postMessage({ id: msg.id, ok: true, inputMetadata: meta(session.inputMetadata), outputMetadata: meta(session.outputMetadata) });
    } catch (error) {
      parentPort.postMessage({ id: msg.id, ok: false, error: message(error) });
    }
    return;
  }
  if (msg.kind === 'close') {
    try { if (session) await session.release(); } catch (_) { /* closing anyway */ }
    parentPort.postMessage({ id: msg.id, ok: true });
    return;
  }
  try {
    const feeds = {};
    for (const f of msg.feeds) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const out = (await session.run(feeds, [msg.output]))[msg.output];
    if (!out) throw new Error('no output ' + msg.output);
    let data = out.data;
    let dims = out.dims.slice();
    if (msg.firstTokenOnly && dims.length === 3 && out.type === 'float32') {
      const [rows, seq, dim] = dims;
      const first = new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) first.set(data.subarray(r * seq * dim, r * seq * dim + dim), r * dim);
      data = first;
      dims = [rows, dim];
    } else {
      data = data.slice();
    }
    parentPort.postMessage({ id: msg.id, ok: true, type: out.type, data, dims }, [data.buffer]);
  } catch (error) {
    parentPort.postMessage({ id: msg.id, ok: false, error: message(error) });
  }
});
`;

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

class WorkerHost implements OrtHost {
  inputMetadata: readonly InferenceSession.ValueMetadata[] = [];
  outputMetadata: readonly InferenceSession.ValueMetadata[] = [];
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | undefined;

  constructor(graphPath: string, options: HostSessionOptions) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath, graphPath, options: sessionOptions(options), nice: options.nice ?? 0 },
    });
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; ok: boolean; error?: string } & Record<string, unknown>) => {
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new OrtFailure(msg.error ?? 'unknown ONNX Runtime error'));
    });
    const fail = (error: Error): void => {
      this.dead = error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', (error) => fail(new OrtFailure(`inference thread failed: ${error.message}`)));
    this.worker.on('exit', (code) => fail(new OrtFailure(`inference thread exited (code ${code})`)));
  }

  request(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Record<string, unknown>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while work is pending; an idle encoder never holds it open.
      this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async load(): Promise<void> {
    const reply = await this.request({ kind: 'load' });
    this.inputMetadata = reply['inputMetadata'] as InferenceSession.ValueMetadata[];
    this.outputMetadata = reply['outputMetadata'] as InferenceSession.ValueMetadata[];
  }

  async run(feeds: Feed[], output: string, firstTokenOnly: boolean): Promise<RunResult> {
    const reply = await this.request(
      { kind: 'run', feeds, output, firstTokenOnly },
      feeds.map((f) => f.data.buffer as ArrayBuffer),
    );
    return { type: reply['type'] as string, data: reply['data'] as Float32Array, dims: reply['dims'] as number[] };
  }

  async close(): Promise<void> {
    if (!this.dead) await this.request({ kind: 'close' }).catch(() => undefined);
    this.dead ??= new OrtFailure('encoder is closed');
    await this.worker.terminate();
  }
}

class MainThreadHost implements OrtHost {
  private constructor(private readonly session: InferenceSession) {}

  get inputMetadata(): readonly InferenceSession.ValueMetadata[] {
    return this.session.inputMetadata;
  }

  get outputMetadata(): readonly InferenceSession.ValueMetadata[] {
    return this.session.outputMetadata;
  }

  static async start(graphPath: string, options: HostSessionOptions): Promise<MainThreadHost> {
    try {
      return new MainThreadHost(await ort.InferenceSession.create(graphPath, sessionOptions(options)));
    } catch (error) {
      throw new OrtFailure(error instanceof Error ? error.message : String(error));
    }
  }

  async run(feeds: Feed[], output: string, firstTokenOnly: boolean): Promise<RunResult> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const f of feeds) tensors[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    let out;
    try {
      out = (await this.session.run(tensors, [output]))[output];
    } catch (error) {
      throw new OrtFailure(error instanceof Error ? error.message : String(error));
    }
    if (!out) throw new OrtFailure(`no output ${output}`);
    const data = out.data as Float32Array;
    const dims = out.dims;
    if (firstTokenOnly && dims.length === 3 && out.type === 'float32') {
      const rows = dims[0]!;
      const seq = dims[1]!;
      const dim = dims[2]!;
      const first = new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) first.set(data.subarray(r * seq * dim, r * seq * dim + dim), r * dim);
      return { type: out.type, data: first, dims: [rows, dim] };
    }
    return { type: out.type, data, dims };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Starts a session on `graphPath` in a worker thread (default) or on the calling thread. Failures are OrtFailure. */
export async function startOrtHost(
  graphPath: string,
  options: HostSessionOptions,
  thread: InferenceThread,
): Promise<OrtHost> {
  if (thread === 'main') return MainThreadHost.start(graphPath, options);
  const host = new WorkerHost(graphPath, options);
  try {
    await host.load();
  } catch (error) {
    await host.close();
    throw error;
  }
  return host;
}
