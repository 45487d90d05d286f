import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelError } from '@dotrank/core';
import { parseSafetensors } from '../src/safetensors.js';
import { readTorchCheckpoint } from '../src/torch-checkpoint.js';
import { unpickle } from '../src/pickle.js';
import { HUB_FIXTURES } from './reference.js';

const PWNED = '/tmp/dotrank-pickle-pwned';

describe('safe pickle', () => {
  it.each([
    ['malicious-system', /refusing to unpickle global posix\.system/],
    ['malicious-eval', /refusing to unpickle global __builtin__\.eval/],
  ])('refuses %s, naming the global, and runs nothing', (dir, message) => {
    const path = join(HUB_FIXTURES, dir, 'pytorch_model.bin');
    expect(() => readTorchCheckpoint(path)).toThrow(ModelError);
    expect(() => readTorchCheckpoint(path)).toThrow(message);
    expect(existsSync(PWNED)).toBe(false);
  });

  it('refuses STACK_GLOBAL targets and opcodes outside the state_dict subset', () => {
    // protocol 4: SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'exec', STACK_GLOBAL
    const stackGlobal = Uint8Array.from([
      0x80,
      4,
      0x8c,
      8,
      ...Buffer.from('builtins'),
      0x8c,
      4,
      ...Buffer.from('exec'),
      0x93,
      0x2e,
    ]);
    expect(() => unpickle(stackGlobal)).toThrow(/refusing to unpickle global builtins\.exec/);
    // INST opcode ('i') is not part of the subset
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x69, 0x2e]))).toThrow(/unsupported pickle opcode 0x69/);
    // calling a storage type is refused
    const callStorage = Uint8Array.from([0x80, 2, 0x63, ...Buffer.from('torch\nFloatStorage\n'), 0x29, 0x52, 0x2e]);
    expect(() => unpickle(callStorage)).toThrow(/refusing to call torch\.FloatStorage/);
  });

  it('reads plain values', () => {
    // {'a': (1, -2, 3.5, True, None)} at protocol 2
    const bytes = Uint8Array.from([
      0x80, 2, 0x7d, 0x58, 1, 0, 0, 0, 0x61, 0x28, 0x4b, 1, 0x4a, 0xfe, 0xff, 0xff, 0xff, 0x47, 0x40, 0x0c, 0, 0, 0, 0,
      0, 0, 0x88, 0x4e, 0x74, 0x73, 0x2e,
    ]);
    const dict = unpickle(bytes) as Map<string, unknown>;
    expect(dict.get('a')).toEqual([1, -2, 3.5, true, null]);
  });
});

describe('safetensors', () => {
  function file(dtype: string, shape: number[], data: number[]): Uint8Array {
    const raw = Buffer.from(Uint8Array.from(data));
    const header = Buffer.from(
      JSON.stringify({
        __metadata__: { format: 'pt' },
        t: { dtype, shape, data_offsets: [0, raw.length] },
        ids: { dtype: 'I64', shape: [1], data_offsets: [raw.length, raw.length + 8] },
      }),
    );
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    return Buffer.concat([len, header, raw, Buffer.alloc(8)]);
  }

  it('decodes F16 and BF16 to float32 and skips integer buffers', () => {
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800 (little-endian)
    const f16 = parseSafetensors(file('F16', [3], [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]));
    expect(Array.from(f16.get('t')!.data)).toEqual([1, -2, 0.5]);
    expect(f16.has('ids')).toBe(false);
    // BF16: upper 16 bits of float32; 1.0 = 0x3f80, -3.0 = 0xc040
    const bf16 = parseSafetensors(file('BF16', [2, 1], [0x80, 0x3f, 0x40, 0xc0]));
    expect(bf16.get('t')).toEqual({ shape: [2, 1], data: Float32Array.from([1, -3]) });
  });

  it('names a bad byte range', () => {
    expect(() => parseSafetensors(file('F32', [3], [0, 0, 128, 63]), 'x.safetensors')).toThrow(
      /x\.safetensors: tensor t: byte range/,
    );
  });
});
