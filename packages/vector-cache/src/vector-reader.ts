import * as net from 'node:net';

/** Where and how the reader connects: what a `redis://` URL or ioredis' options say. */
export interface VectorReaderOptions {
  host?: string;
  port?: number;
  /** Unix socket path (instead of host and port). */
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  /** ioredis' `keyPrefix`, when the store shares such a connection: every key is read under it. */
  keyPrefix?: string;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Fail a command (and drop the connection) when no reply arrives in this long (default 10 s). */
  replyTimeoutMs?: number;
  /** Size of the one buffer every reply is read into (default 256 KiB). */
  readBufferBytes?: number;
}

/**
 * Receives the values of one MGET in key order: a view of the stored bytes, valid only during the call (the reader
 * reuses its buffers), or null for a missing key.
 */
export type ValueSink = (index: number, value: Uint8Array | null) => void;

interface Pending {
  /** 'ok' expects a status reply (AUTH, SELECT); 'mget' an array of bulk strings. */
  kind: 'ok' | 'mget';
  sink?: ValueSink;
  /** An exception from the sink: the reply is still read to its end (to stay in step), then the call fails. */
  sinkError?: unknown;
  resolve: () => void;
  reject: (error: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

const LF = 10;

/**
 * A Redis connection that does one thing fast: MGET of binary values, each handed to a callback as a view of the
 * socket's read buffer. The socket reads into one reused buffer (net.Socket `onread`), so a 3 MB reply allocates
 * nothing per chunk and no Buffer per value. ioredis copies every 64 KiB chunk into a new buffer and slices a
 * Buffer per value; on a 1,000-candidate rerank this reader takes about half the CPU. RESP2 over TCP or a Unix
 * socket, with AUTH and SELECT; TLS, Sentinel and Cluster stay with ioredis.
 *
 * Commands are pipelined: concurrent calls share the connection and their replies arrive in order.
 */
export class RedisVectorReader {
  private readonly options: VectorReaderOptions;
  private readonly readBuffer: Buffer;
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private readonly pending: Pending[] = [];
  private closed = false;
  // parser state, carried from one chunk to the next
  private line = '';
  private arrayLeft = -1;
  private index = 0;
  /** Bytes of the current bulk value plus its CRLF still to come; -1 while a header line is expected. */
  private bodyNeed = -1;
  private bodyLength = 0;
  private carried = 0;
  private carry: Buffer = Buffer.allocUnsafeSlow(0);

  constructor(options: VectorReaderOptions) {
    this.options = options;
    this.readBuffer = Buffer.allocUnsafeSlow(options.readBufferBytes ?? 256 * 1024);
  }

  /** MGET `keys`; `sink` gets every value (or null) in key order before the promise resolves. */
  async mget(keys: readonly string[], sink: ValueSink): Promise<void> {
    if (keys.length === 0) return;
    const socket = await this.connect();
    const prefix = this.options.keyPrefix ?? '';
    let command = `*${keys.length + 1}\r\n$4\r\nMGET\r\n`;
    for (const key of keys) {
      const k = prefix + key;
      command += `$${Buffer.byteLength(k)}\r\n${k}\r\n`;
    }
    const done = this.expect('mget', sink);
    socket.write(command);
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    // a connection still being made gets a second at most (open() drops it should it come later)
    const socket = this.socket ?? (this.connecting ? await within(1000, this.connecting) : undefined);
    this.fail(new Error('vector reader closed'));
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end('*1\r\n$4\r\nQUIT\r\n');
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    }
  }

  private expect(kind: Pending['kind'], sink?: ValueSink): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { kind, sink, resolve, reject };
      const timeout = this.options.replyTimeoutMs ?? 10_000;
      entry.timer = setTimeout(() => {
        // a reply that never comes leaves the stream in an unknown state: drop the connection, fail everything on it
        this.socket?.destroy(new Error(`no reply from Redis in ${timeout} ms`));
      }, timeout);
      this.pending.push(entry);
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new Error('vector reader closed'));
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<net.Socket> {
    const o = this.options;
    const onread = {
      buffer: this.readBuffer,
      callback: (n: number) => {
        this.onData(n);
        return true;
      },
    };
    const socket = o.path
      ? net.connect({ path: o.path, onread })
      : net.connect({ host: o.host ?? '127.0.0.1', port: o.port ?? 6379, onread });
    socket.setNoDelay(true);
    this.resetParser();
    await new Promise<void>((resolve, reject) => {
      const timeout = o.connectTimeoutMs ?? 10_000;
      const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${timeout} ms`)), timeout);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    // 'close' follows every error: it fails what waits, with the error's reason when there was one
    if (this.closed) {
      socket.destroy();
      throw new Error('vector reader closed');
    }
    let reason: Error | undefined;
    socket.on('error', (error) => (reason ??= error));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.fail(reason ?? new Error('connection to Redis closed'));
    });
    // the handshake, pipelined; its replies arrive before any MGET's
    const handshake: Promise<void>[] = [];
    let hello = '';
    if (o.password) {
      const args = o.username ? ['AUTH', o.username, o.password] : ['AUTH', o.password];
      hello += encodeCommand(args);
      handshake.push(this.expect('ok'));
    }
    if (o.db) {
      hello += encodeCommand(['SELECT', String(o.db)]);
      handshake.push(this.expect('ok'));
    }
    this.socket = socket;
    if (hello) {
      socket.write(hello);
      try {
        await Promise.all(handshake);
      } catch (error) {
        socket.destroy();
        throw error;
      }
    }
    return socket;
  }

  private resetParser(): void {
    this.line = '';
    this.arrayLeft = -1;
    this.index = 0;
    this.bodyNeed = -1;
    this.carried = 0;
  }

  /** Rejects every waiting command (the connection is gone or unusable). */
  private fail(error: Error): void {
    const waiting = this.pending.splice(0);
    this.resetParser();
    for (const p of waiting) {
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  private settle(error?: Error): void {
    const p = this.pending.shift();
    if (!p) return;
    clearTimeout(p.timer);
    this.arrayLeft = -1;
    this.index = 0;
    if (error) p.reject(error);
    else if (p.sinkError !== undefined)
      p.reject(p.sinkError instanceof Error ? p.sinkError : new Error(String(p.sinkError)));
    else p.resolve();
  }

  private deliver(value: Uint8Array | null): void {
    const p = this.pending[0]!;
    if (p.sinkError === undefined) {
      try {
        p.sink!(this.index, value);
      } catch (error) {
        p.sinkError = error;
      }
    }
    this.index++;
    if (--this.arrayLeft === 0) this.settle();
  }

  /** One chunk of replies in readBuffer[0, n): header lines and bulk values, either of which may span chunks. */
  private onData(n: number): void {
    const buf = this.readBuffer;
    let p = 0;
    while (p < n) {
      if (this.bodyNeed < 0) {
        // a header line: +status, -error, *count, $length
        let e = p;
        while (e < n && buf[e] !== LF) e++;
        if (e === n) {
          this.line += buf.toString('latin1', p, n);
          return;
        }
        this.line += buf.toString('latin1', p, e);
        p = e + 1;
        const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
        this.line = '';
        if (!this.onLine(line)) return; // the connection is being dropped
        continue;
      }
      const available = n - p;
      if (this.carried === 0 && available >= this.bodyNeed) {
        // the whole value is in this chunk: hand out a view, no copy
        const value = buf.subarray(p, p + this.bodyLength);
        p += this.bodyNeed;
        this.bodyNeed = -1;
        this.deliver(value);
        continue;
      }
      // the value spans chunks: gather it in the carry buffer (reused, grown once to the largest value)
      if (this.carry.length < this.bodyNeed)
        this.carry = Buffer.allocUnsafeSlow(Math.max(this.bodyNeed, 2 * this.carry.length));
      const take = Math.min(available, this.bodyNeed - this.carried);
      buf.copy(this.carry, this.carried, p, p + take);
      this.carried += take;
      p += take;
      if (this.carried === this.bodyNeed) {
        const value = this.carry.subarray(0, this.bodyLength);
        this.carried = 0;
        this.bodyNeed = -1;
        this.deliver(value);
      }
    }
  }

  /** Handles one header line; false when it broke the protocol (the connection is then dropped). */
  private onLine(line: string): boolean {
    const current = this.pending[0];
    const protocolError = (why: string) => {
      this.socket?.destroy(new Error(`unexpected reply from Redis (${why}): ${line.slice(0, 80)}`));
      return false;
    };
    if (!current) return protocolError('no command waiting');
    switch (line.charCodeAt(0)) {
      case 43: // '+' status
        if (current.kind !== 'ok' || this.arrayLeft >= 0) return protocolError('status reply');
        this.settle();
        return true;
      case 45: // '-' error
        if (this.arrayLeft >= 0) return protocolError('error inside an array');
        this.settle(new Error(`Redis: ${line.slice(1)}`));
        return true;
      case 42: {
        // '*' array header
        const count = Number.parseInt(line.slice(1), 10);
        if (current.kind !== 'mget' || this.arrayLeft >= 0 || !Number.isInteger(count)) return protocolError('array');
        if (count <= 0) this.settle();
        else {
          this.arrayLeft = count;
          this.index = 0;
        }
        return true;
      }
      case 36: {
        // '$' bulk string header
        const length = Number.parseInt(line.slice(1), 10);
        if (current.kind !== 'mget' || this.arrayLeft <= 0 || !Number.isInteger(length))
          return protocolError('bulk string');
        if (length < 0) this.deliver(null);
        else {
          this.bodyLength = length;
          this.bodyNeed = length + 2;
          this.carried = 0;
        }
        return true;
      }
      default:
        return protocolError('unknown type');
    }
  }
}

/** `promise`'s value, or undefined if it rejects or takes longer than `ms`. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

function encodeCommand(args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

/** Reader options from ioredis options, or why the reader cannot serve that connection. */
export function readerOptionsFromIoredis(
  options: Record<string, unknown>,
): VectorReaderOptions | { unsupported: string } {
  if (options['tls']) return { unsupported: 'TLS' };
  if (Array.isArray(options['sentinels']) && options['sentinels'].length > 0) return { unsupported: 'Sentinel' };
  const str = (k: string) => (typeof options[k] === 'string' && options[k] !== '' ? (options[k] as string) : undefined);
  const num = (k: string) => (typeof options[k] === 'number' ? (options[k] as number) : undefined);
  return {
    host: str('host'),
    port: num('port'),
    path: str('path'),
    username: str('username'),
    password: str('password'),
    db: num('db'),
    keyPrefix: str('keyPrefix'),
    connectTimeoutMs: num('connectTimeout'),
  };
}
