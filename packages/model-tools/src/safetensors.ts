import { readFile, writeFile } from 'node:fs/promises';
import { ModelError } from '@dotrank/core';
import { DTYPE_BYTES, decodeFloats, numel, type StateDict, type StoredDtype } from './tensor.js';

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const FLOAT_DTYPES = new Set<string>(['F32', 'F16', 'BF16', 'F64']);

/**
 * Reads a `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian data. Float tensors (F32/F16/BF16/F64) are returned as float32;
 * integer buffers (e.g. `position_ids`) are skipped, a model never needs them as weights.
 */
export async function readSafetensors(path: string): Promise<StateDict> {
  const bytes = await readFile(path);
  return parseSafetensors(bytes, path);
}

export function parseSafetensors(bytes: Uint8Array, label = 'safetensors'): StateDict {
  if (bytes.length < 8) throw new ModelError('file is too short to be safetensors', { field: label });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength <= 0 || 8 + headerLength > bytes.length) {
    throw new ModelError(`header length ${headerLength} does not fit in a ${bytes.length}-byte file`, { field: label });
  }
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as typeof header;
  } catch (error) {
    throw new ModelError('header is not valid JSON', { field: label, cause: error });
  }
  const dataStart = 8 + headerLength;
  const tensors: StateDict = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = entry as HeaderEntry;
    if (!FLOAT_DTYPES.has(dtype)) continue;
    const count = numel(shape);
    const [begin, end] = offsets;
    const width = DTYPE_BYTES[dtype as StoredDtype];
    if (end - begin !== count * width || dataStart + end > bytes.length) {
      throw new ModelError(
        `tensor ${name}: byte range [${begin}, ${end}) does not match ${dtype}${JSON.stringify(shape)}`,
        { field: label },
      );
    }
    tensors.set(name, { shape: [...shape], data: decodeFloats(bytes, dtype as StoredDtype, count, dataStart + begin) });
  }
  return tensors;
}

/** Writes float32 tensors as safetensors (used to generate random-weight checkpoints for tests and benchmarks). */
export async function writeSafetensors(
  path: string,
  tensors: StateDict,
  metadata: Record<string, string> = { format: 'pt' },
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json);
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  await writeFile(path, out);
}
