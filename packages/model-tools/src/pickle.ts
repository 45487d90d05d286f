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
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number')) throw new ModelError(`${what} is not a tuple of integers`);
  return value as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!storage || (storage as StorageRef).kind !== 'storage') throw new ModelError('_rebuild_tensor_v2: first argument is not a storage');
  if (typeof offset !== 'number') throw new ModelError('_rebuild_tensor_v2: storage offset is not an integer');
  return { kind: 'tensor', storage: storage as StorageRef, offset, size: toInts(size, 'tensor size'), stride: toInts(stride, 'tensor stride') };
}

function resolveGlobal(module: string, name: string): StorageType | Callable {
  const full = `${module}.${name}`;
  if (module === 'collections' && name === 'OrderedDict') return { kind: 'callable', name: full, call: () => new PickleDict() };
  if (module === 'torch._utils' && name === '_rebuild_tensor_v2') return { kind: 'callable', name: full, call: rebuildTensor };
  if (module === 'torch._utils' && name === '_rebuild_parameter') return { kind: 'callable', name: full, call: (args) => args[0] };
  if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return { kind: 'storage-type', name: full, dtype: STORAGE_TYPES[name]! };
  throw new ModelError(
    `refusing to unpickle global ${full}: a checkpoint may only rebuild tensors (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.*Storage)`,
    { field: 'pickle' },
  );
}

/**
 * Runs the pickle in `bytes`. `persistentLoad` resolves BINPERSID ids (PyTorch's storages). Returns the top object.
 */
export function unpickle(bytes: Uint8Array, persistentLoad: (pid: unknown) => unknown = () => {
  throw new ModelError('persistent id found outside a PyTorch checkpoint', { field: 'pickle' });
}): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const need = (n: number) => {
    if (pos + n > bytes.length) throw new ModelError('pickle ends unexpectedly', { field: 'pickle' });
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => (need(8), (pos += 8), Number(view.getBigUint64(pos - 8, true)));
  const str = (n: number) => (need(n), (pos += n), text.decode(bytes.subarray(pos - n, pos)));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new ModelError('pickle ends inside a text line', { field: 'pickle' });
    const s = text.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw new ModelError('pickle stack underflow', { field: 'pickle' });
    return stack.pop();
  };
  const popMark = () => {
    const at = marks.pop();
    if (at === undefined) throw new ModelError('pickle MARK missing', { field: 'pickle' });
    return stack.splice(at);
  };
  const top = () => stack[stack.length - 1];
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof PickleDict)) throw new ModelError('SETITEM(S) on something that is not a dict', { field: 'pickle' });
    for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const readLong = (n: number) => {
    need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]!);
    if (n > 0 && bytes[pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    pos += n;
    return Number(v);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(readLong(u8()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(str(u32()));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(str(u8()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) throw new ModelError(`pickle memo ${key} missing`, { field: 'pickle' });
        stack.push(memo.get(key));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new ModelError('STACK_GLOBAL needs two strings', { field: 'pickle' });
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop() as Callable | StorageType;
        if (!fn || fn.kind !== 'callable') throw new ModelError(`refusing to call ${(fn as StorageType)?.name ?? typeof fn}`, { field: 'pickle' });
        if (!Array.isArray(args)) throw new ModelError(`arguments to ${fn.name} are not a tuple`, { field: 'pickle' });
        stack.push(fn.call(args));
        break;
      }
      case 0x62: { // BUILD: state on an object; a state_dict carries `_metadata` here, which we do not need
        const state = pop();
        const target = top();
        if (!(target instanceof PickleDict)) throw new ModelError('BUILD on something that is not an OrderedDict', { field: 'pickle' });
        void state;
        break;
      }
      case 0x73: { // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const value = pop();
        const list = top();
        if (!Array.isArray(list)) throw new ModelError('APPEND on something that is not a list', { field: 'pickle' });
        list.push(value);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw new ModelError('APPENDS on something that is not a list', { field: 'pickle' });
        list.push(...items);
        break;
      }
      case 0x51: { // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      }
      default:
        throw new ModelError(`unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1} (only the state_dict subset is allowed)`, { field: 'pickle' });
    }
  }
}

/** Turns PyTorch's persistent id tuple into a storage reference. */
export function torchPersistentLoad(pid: unknown): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new ModelError(`unexpected persistent id ${JSON.stringify(pid)}`, { field: 'pickle' });
  const type = pid[1] as StorageType;
  if (!type || type.kind !== 'storage-type') throw new ModelError('persistent id does not name a torch storage type', { field: 'pickle' });
  return { kind: 'storage', dtype: type.dtype, storageType: type.name, key: String(pid[2]), numel: Number(pid[4]) };
}
