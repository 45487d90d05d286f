import AdmZip from 'adm-zip';
import { ModelError } from '@dotrank/core';
import { PickleDict, torchPersistentLoad, unpickle, type TensorRef } from './pickle.js';
import { DTYPE_BYTES, decodeFloats, numel, type FloatTensor, type StateDict, type StoredDtype } from './tensor.js';

function materialize(ref: TensorRef, storageBytes: Uint8Array, name: string): FloatTensor {
  const dtype = ref.storage.dtype as StoredDtype;
  const width = DTYPE_BYTES[dtype];
  const count = numel(ref.size);
  if (storageBytes.length < ref.storage.numel * width)
    throw new ModelError(`tensor ${name}: storage ${ref.storage.key} is truncated`);
  // contiguous row-major fast path
  let contiguous = true;
  let expect = 1;
  for (let d = ref.size.length - 1; d >= 0; d--) {
    if (ref.size[d] !== 1 && ref.stride[d] !== expect) contiguous = false;
    expect *= ref.size[d]!;
  }
  if (contiguous) {
    if ((ref.offset + count) * width > storageBytes.length)
      throw new ModelError(`tensor ${name}: view exceeds its storage`);
    return { shape: ref.size, data: decodeFloats(storageBytes, dtype, count, ref.offset * width) };
  }
  const all = decodeFloats(storageBytes, dtype, ref.storage.numel);
  const out = new Float32Array(count);
  const idx = new Array<number>(ref.size.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = ref.offset;
    for (let d = 0; d < idx.length; d++) at += idx[d]! * ref.stride[d]!;
    out[i] = all[at]!;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < ref.size[d]!) break;
      idx[d] = 0;
    }
  }
  return { shape: ref.size, data: out };
}

/**
 * Reads a PyTorch zip checkpoint (`torch.save` since 1.6; `pytorch_model.bin`): `<archive>/data.pkl` is unpickled
 * with the safe VM in `pickle.ts`, tensor storages come from `<archive>/data/<key>`. Non-float tensors
 * (integer buffers such as `position_ids`) are skipped.
 */
export function readTorchCheckpoint(path: string): StateDict {
  let zip: AdmZip;
  try {
    zip = new AdmZip(path);
  } catch (error) {
    throw new ModelError('not a PyTorch zip checkpoint (legacy non-zip torch.save files are not supported)', {
      field: path,
      cause: error,
    });
  }
  const entries = zip.getEntries();
  const pkl = entries.find((e) => e.entryName.endsWith('/data.pkl') || e.entryName === 'data.pkl');
  if (!pkl) throw new ModelError('no data.pkl inside the checkpoint archive', { field: path });
  const prefix = pkl.entryName.slice(0, -'data.pkl'.length);
  const byName = new Map(entries.map((e) => [e.entryName, e]));
  let root: unknown;
  try {
    root = unpickle(pkl.getData(), torchPersistentLoad);
  } catch (error) {
    if (error instanceof ModelError) throw new ModelError(`${error.problem}`, { field: path, cause: error });
    throw error;
  }
  if (!(root instanceof PickleDict))
    throw new ModelError('checkpoint is not a state_dict (expected a dict of tensors)', { field: path });
  const storages = new Map<string, Uint8Array>();
  const tensors: StateDict = new Map();
  for (const [key, value] of root) {
    if (typeof key !== 'string' || !value || (value as TensorRef).kind !== 'tensor') continue;
    const ref = value as TensorRef;
    if (ref.storage.dtype === 'unsupported') continue;
    let bytes = storages.get(ref.storage.key);
    if (!bytes) {
      const entry = byName.get(`${prefix}data/${ref.storage.key}`);
      if (!entry) throw new ModelError(`storage data/${ref.storage.key} of ${key} is missing`, { field: path });
      bytes = entry.getData();
      storages.set(ref.storage.key, bytes);
    }
    tensors.set(key, materialize(ref, bytes, key));
  }
  return tensors;
}
