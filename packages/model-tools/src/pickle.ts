import { ModelError } from '@dotrank/core';
import type { StoredDtype } from './tensor.js';

/**
 * A deliberately small pickle virtual machine: enough of protocols 2-5 to read a PyTorch `state_dict`, and
 * nothing that can run code. Only these globals may be named, and each is implemented here in JavaScript:
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, and the
 * `torch.*Storage` types. Any other GLOBAL / STACK_GLOBAL (e.g. `posix.system`, `builtins.eval`) is refused
 * before it could be called, with an error naming it.
 */

/** A storage referenced by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`. */
export interface StorageRef {
  kind: 'storage';
  dtype: StoredDtype | 'unsupported';
  storageType: string;
  key: string;
  numel: number;
}

/** A tensor view over a storage, as `_rebuild_tensor_v2` describes it. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

export class PickleDict extends Map<unknown, unknown> {}

interface StorageType {
  kind: 'storage-type';
  name: string;
  dtype: StoredDtype | 'unsupported';
}
interface Callable {
  kind: 'callable';
  name: string;
  call: (args: unknown[]) => unknown;
}

const STORAGE_TYPES: Record<string, StoredDtype | 'unsupported'> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'unsupported',
  IntStorage: 'unsupported',
  ShortStorage: 'unsupported',
  CharStorage: 'unsupported',
  ByteStorage: 'unsupported',
  BoolStorage: 'unsupported',
};

function toInts(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number'))
    throw new ModelError(`${what} is not a tuple of integers`);
  return value as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!storage || (storage as StorageRef).kind !== 'storage')
    throw new ModelError('_rebuild_tensor_v2: first argument is not a storage');
  if (typeof offset !== 'number') throw new ModelError('_rebuild_tensor_v2: storage offset is not an integer');
  return {
    kind: 'tensor',
    storage: storage as StorageRef,
    offset,
    size: toInts(size, 'tensor size'),
    stride: toInts(stride, 'tensor stride'),
  };
}

function resolveGlobal(module: string, name: string): StorageType | Callable {
  const full = `${module}.${name}`;
  if (module === 'collections' && name === 'OrderedDict')
    return { kind: 'callable', name: full, call: () => new PickleDict() };
  if (module === 'torch._utils' && name === '_rebuild_tensor_v2')
    return { kind: 'callable', name: full, call: rebuildTensor };
  if (module === 'torch._utils' && name === '_rebuild_parameter')
    return { kind: 'callable', name: full, call: (args) => args[0] };
  if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name))
    return { kind: 'storage-type', name: full, dtype: STORAGE_TYPES[name]! };
  throw new ModelError(
    `refusing to unpickle global ${full}: a checkpoint may only rebuild tensors (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.*Storage)`,
    { field: 'pickle' },
  );
}

type PersistentLoad = (pid: unknown) => unknown;

const pickleError = (message: string) => new ModelError(message, { field: 'pickle' });

/** The bytes being read, the stack, MARK positions and the memo of one unpickle run. */
class PickleMachine {
  readonly stack: unknown[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, unknown>();
  pos = 0;
  private readonly view: DataView;
  private readonly text = new TextDecoder();

  constructor(
    private readonly bytes: Uint8Array,
    readonly persistentLoad: PersistentLoad,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) throw pickleError('pickle ends unexpectedly');
  }
  /** Checks that `n` bytes remain, then moves past them and returns where they start. */
  private take(n: number): number {
    this.need(n);
    this.pos += n;
    return this.pos - n;
  }
  u8(): number {
    return this.bytes[this.take(1)]!;
  }
  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.take(4), true);
  }
  u64(): number {
    return Number(this.view.getBigUint64(this.take(8), true));
  }
  float64BigEndian(): number {
    return this.view.getFloat64(this.take(8), false);
  }
  str(n: number): string {
    const at = this.take(n);
    return this.text.decode(this.bytes.subarray(at, at + n));
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw pickleError('pickle ends inside a text line');
    const s = this.text.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
  /** A little-endian two's-complement integer of `n` bytes (LONG1). */
  long(n: number): number {
    const at = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[at + i]!);
    if (n > 0 && this.bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return Number(v);
  }

  push(value: unknown): void {
    this.stack.push(value);
  }
  pop(): unknown {
    if (this.stack.length === 0) throw pickleError('pickle stack underflow');
    return this.stack.pop();
  }
  popMark(): unknown[] {
    const at = this.marks.pop();
    if (at === undefined) throw pickleError('pickle MARK missing');
    return this.stack.splice(at);
  }
  top(): unknown {
    return this.stack[this.stack.length - 1];
  }
  memoGet(key: number): unknown {
    if (!this.memo.has(key)) throw pickleError(`pickle memo ${key} missing`);
    return this.memo.get(key);
  }
}

type OpHandler = (vm: PickleMachine) => void;

const STOP = 0x2e;

const FRAMING_OPS: [number, OpHandler][] = [
  [0x80, (vm) => void vm.u8()], // PROTO
  [0x95, (vm) => void vm.u64()], // FRAME
  [0x28, (vm) => void vm.marks.push(vm.stack.length)], // MARK
];

const VALUE_OPS: [number, OpHandler][] = [
  [0x4e, (vm) => vm.push(null)], // NONE
  [0x88, (vm) => vm.push(true)], // NEWTRUE
  [0x89, (vm) => vm.push(false)], // NEWFALSE
  [0x4b, (vm) => vm.push(vm.u8())], // BININT1
  [0x4d, (vm) => vm.push(vm.u16())], // BININT2
  [0x4a, (vm) => vm.push(vm.i32())], // BININT
  [0x8a, (vm) => vm.push(vm.long(vm.u8()))], // LONG1
  [0x47, (vm) => vm.push(vm.float64BigEndian())], // BINFLOAT
  [0x58, (vm) => vm.push(vm.str(vm.u32()))], // BINUNICODE
  [0x8c, (vm) => vm.push(vm.str(vm.u8()))], // SHORT_BINUNICODE
  [0x8d, (vm) => vm.push(vm.str(vm.u64()))], // BINUNICODE8
  [0x54, (vm) => vm.push(vm.str(vm.u32()))], // BINSTRING
  [0x55, (vm) => vm.push(vm.str(vm.u8()))], // SHORT_BINSTRING
];

function setItems(dict: unknown, items: unknown[]): void {
  if (!(dict instanceof PickleDict)) throw pickleError('SETITEM(S) on something that is not a dict');
  for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
}

function listOnTop(vm: PickleMachine, opName: string): unknown[] {
  const list = vm.top();
  if (!Array.isArray(list)) throw pickleError(`${opName} on something that is not a list`);
  return list;
}

const CONTAINER_OPS: [number, OpHandler][] = [
  [0x29, (vm) => vm.push([])], // EMPTY_TUPLE
  [0x7d, (vm) => vm.push(new PickleDict())], // EMPTY_DICT
  [0x5d, (vm) => vm.push([])], // EMPTY_LIST
  [0x74, (vm) => vm.push(vm.popMark())], // TUPLE
  [0x6c, (vm) => vm.push(vm.popMark())], // LIST
  [0x85, (vm) => vm.push([vm.pop()])], // TUPLE1
  [
    0x86, // TUPLE2
    (vm) => {
      const b = vm.pop();
      vm.push([vm.pop(), b]);
    },
  ],
  [
    0x87, // TUPLE3
    (vm) => {
      const c = vm.pop();
      const b = vm.pop();
      vm.push([vm.pop(), b, c]);
    },
  ],
  [
    0x73, // SETITEM
    (vm) => {
      const value = vm.pop();
      const key = vm.pop();
      setItems(vm.top(), [key, value]);
    },
  ],
  [
    0x75, // SETITEMS
    (vm) => {
      const items = vm.popMark();
      setItems(vm.top(), items);
    },
  ],
  [
    0x61, // APPEND
    (vm) => {
      const value = vm.pop();
      listOnTop(vm, 'APPEND').push(value);
    },
  ],
  [
    0x65, // APPENDS
    (vm) => {
      const items = vm.popMark();
      listOnTop(vm, 'APPENDS').push(...items);
    },
  ],
];

const MEMO_OPS: [number, OpHandler][] = [
  [0x71, (vm) => void vm.memo.set(vm.u8(), vm.top())], // BINPUT
  [0x72, (vm) => void vm.memo.set(vm.u32(), vm.top())], // LONG_BINPUT
  [0x94, (vm) => void vm.memo.set(vm.memo.size, vm.top())], // MEMOIZE
  [0x68, (vm) => vm.push(vm.memoGet(vm.u8()))], // BINGET
  [0x6a, (vm) => vm.push(vm.memoGet(vm.u32()))], // LONG_BINGET
];

function stackGlobal(vm: PickleMachine): void {
  const name = vm.pop();
  const module = vm.pop();
  if (typeof module !== 'string' || typeof name !== 'string') throw pickleError('STACK_GLOBAL needs two strings');
  vm.push(resolveGlobal(module, name));
}

/** REDUCE: calls one of the allow-listed callables; anything else on the stack (a storage type, a plain value) is refused. */
function reduce(vm: PickleMachine): void {
  const args = vm.pop();
  const fn = vm.pop() as Callable | StorageType;
  if (!fn || fn.kind !== 'callable') throw pickleError(`refusing to call ${(fn as StorageType)?.name ?? typeof fn}`);
  if (!Array.isArray(args)) throw pickleError(`arguments to ${fn.name} are not a tuple`);
  vm.push(fn.call(args));
}

/** BUILD: state on an object; a state_dict carries `_metadata` here, which we do not need. */
function build(vm: PickleMachine): void {
  vm.pop();
  if (!(vm.top() instanceof PickleDict)) throw pickleError('BUILD on something that is not an OrderedDict');
}

const CALL_OPS: [number, OpHandler][] = [
  [
    0x63, // GLOBAL
    (vm) => {
      const module = vm.line();
      const name = vm.line();
      vm.push(resolveGlobal(module, name));
    },
  ],
  [0x93, stackGlobal], // STACK_GLOBAL
  [0x52, reduce], // REDUCE
  [0x62, build], // BUILD
  [0x51, (vm) => vm.push(vm.persistentLoad(vm.pop()))], // BINPERSID
];

/** Every opcode the machine runs, by byte (STOP aside); a byte without a handler is refused. */
const OP_HANDLERS: (OpHandler | undefined)[] = Array.from({ length: 256 }, () => undefined);
for (const [op, handler] of [...FRAMING_OPS, ...VALUE_OPS, ...CONTAINER_OPS, ...MEMO_OPS, ...CALL_OPS])
  OP_HANDLERS[op] = handler;

/**
 * Runs the pickle in `bytes`. `persistentLoad` resolves BINPERSID ids (PyTorch's storages). Returns the top object.
 */
export function unpickle(
  bytes: Uint8Array,
  persistentLoad: PersistentLoad = () => {
    throw pickleError('persistent id found outside a PyTorch checkpoint');
  },
): unknown {
  const vm = new PickleMachine(bytes, persistentLoad);
  for (;;) {
    const op = vm.u8();
    if (op === STOP) return vm.pop();
    const handler = OP_HANDLERS[op];
    if (!handler)
      throw pickleError(
        `unsupported pickle opcode 0x${op.toString(16)} at byte ${vm.pos - 1} (only the state_dict subset is allowed)`,
      );
    handler(vm);
  }
}

/** Turns PyTorch's persistent id tuple into a storage reference. */
export function torchPersistentLoad(pid: unknown): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
    throw new ModelError(`unexpected persistent id ${JSON.stringify(pid)}`, { field: 'pickle' });
  const type = pid[1] as StorageType;
  if (!type || type.kind !== 'storage-type')
    throw new ModelError('persistent id does not name a torch storage type', { field: 'pickle' });
  return { kind: 'storage', dtype: type.dtype, storageType: type.name, key: String(pid[2]), numel: Number(pid[4]) };
}
