import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ModelError, NotFoundError } from '@dotrank/core';
import { loadEncoder } from '@dotrank/encoder';
import { convertCheckpoint } from '../src/convert.js';
import { defaultModelDir, pullModel } from '../src/pull.js';
import { downloadFile } from '../src/hub.js';
import { startFakeHub } from './fake-hub.js';
import { clsOfTexts, HUB_FIXTURES, maxAbsDiff, reference } from './reference.js';

const ref = reference();
const fixture = (model: string, file: string) => join(HUB_FIXTURES, model, file);
const REAL_ID = 'sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco';

/** The real TAS-B repo's layout (pytorch_model.bin, config, vocab), with the tiny fixture's contents. */
const distilRepo = {
  'config.json': fixture('tiny-distilbert', 'config.json'),
  'vocab.txt': fixture('tiny-distilbert', 'vocab.txt'),
  'tokenizer_config.json': fixture('tiny-distilbert', 'tokenizer_config.json'),
  'special_tokens_map.json': fixture('tiny-distilbert', 'special_tokens_map.json'),
  'pytorch_model.bin': fixture('tiny-distilbert', 'pytorch_model.bin'),
};

let work: string;
let hubs: { close: () => Promise<void> }[] = [];
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dotrank-hub-'));
});
afterEach(async () => {
  await Promise.all(hubs.map((h) => h.close()));
  hubs = [];
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function hub(options: Parameters<typeof startFakeHub>[0]) {
  const h = await startFakeHub(options);
  hubs.push(h);
  return h;
}

describe('pullModel from a hub', () => {
  it('downloads with a token, resumes a dropped weights download with Range, verifies sha256, converts; vectors equal PyTorch', async () => {
    const h = await hub({
      repos: { [REAL_ID]: { files: distilRepo, sha: 'a'.repeat(40) } },
      token: 'hf_secret',
      dropOnce: ['pytorch_model.bin'],
    });
    const out = defaultModelDir(join(work, 'data'), REAL_ID);
    expect(out).toBe(join(work, 'data', 'models', 'sebastian-hofstaetter__distilbert-dot-tas_b-b256-msmarco'));
    const progress: number[] = [];
    const result = await pullModel({
      repo: REAL_ID,
      out,
      endpoint: h.endpoint,
      token: 'hf_secret',
      onProgress: (p) => progress.push(p.received),
    });
    expect(result.mode).toBe('converted');
    expect(result.manifest).toMatchObject({
      modelId: REAL_ID,
      revision: 'a'.repeat(40),
      dtype: 'fp32',
      source: 'pytorch_model.bin',
    });
    const weights = result.downloads.find((d) => d.path.endsWith('pytorch_model.bin'))!;
    expect(weights.verified).toBe(true);
    expect(weights.sha256).toBe(
      createHash('sha256').update(readFileSync(distilRepo['pytorch_model.bin'])).digest('hex'),
    );
    // the first GET was cut off; the retry asked only for the rest
    const lfsGets = h.log.filter((r) => r.method === 'GET' && r.url.startsWith('/lfs/'));
    expect(lfsGets).toHaveLength(2);
    expect(lfsGets[0]!.range).toBeUndefined();
    expect(lfsGets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(progress.length).toBeGreaterThan(0);
    expect(h.log.filter((r) => r.url.includes('/resolve/')).every((r) => r.authorization === 'Bearer hf_secret')).toBe(
      true,
    );
    expect(existsSync(join(out, '.download'))).toBe(false);
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'dotrank.json',
      'model.onnx',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'vocab.txt',
    ]);

    const session = await ort.InferenceSession.create(join(out, 'model.onnx'));
    const vectors = await clsOfTexts(session, ref.input_ids);
    vectors.forEach((v, i) => expect(maxAbsDiff(v, ref.models['tiny-distilbert']!.cls[i]!)).toBeLessThan(1e-4));
    await session.release();
    const encoder = await loadEncoder(out);
    try {
      expect(encoder.modelId).toBe(REAL_ID);
      const encoded = await encoder.encodeQueries(ref.texts);
      encoded.forEach((v, i) => expect(maxAbsDiff(v, ref.models['tiny-distilbert']!.cls[i]!)).toBeLessThan(1e-4));
    } finally {
      await encoder.close();
    }
  });

  it('takes tokenizer.json and model.safetensors when the repo has them, and works against a mirror without the API', async () => {
    const h = await hub({
      noApi: true,
      repos: {
        'acme/tiny-bert': {
          files: {
            'config.json': fixture('tiny-bert', 'config.json'),
            'tokenizer.json': fixture('tiny-distilbert-tokenizer-json', 'tokenizer.json'),
            'model.safetensors': fixture('tiny-bert', 'model.safetensors'),
            'pytorch_model.bin': fixture('tiny-bert', 'pytorch_model.bin'),
          },
        },
      },
    });
    const out = join(work, 'bert-int8');
    const result = await pullModel({
      repo: 'acme/tiny-bert',
      out,
      endpoint: h.endpoint,
      revision: 'v1.0',
      dtype: 'int8',
    });
    expect(result.manifest).toMatchObject({
      revision: 'v1.0',
      dtype: 'int8',
      source: 'model.safetensors',
      family: 'bert',
    });
    expect(h.log.some((r) => r.url.includes('pytorch_model.bin') && r.method === 'GET')).toBe(false);
    expect(h.log.every((r) => !r.url.includes('/resolve/') || r.url.includes('/resolve/v1.0/'))).toBe(true);
    const encoder = await loadEncoder(out);
    try {
      const encoded = await encoder.encodePassages(ref.texts);
      encoded.forEach((v, i) => {
        const e = ref.models['tiny-bert']!.cls[i]!;
        const cos = v.reduce((s, x, j) => s + x * e[j]!, 0) / Math.hypot(...v) / Math.hypot(...e);
        expect(cos).toBeGreaterThanOrEqual(0.99);
      });
    } finally {
      await encoder.close();
    }
  });

  it("uses the repo's ONNX export with --prefer-onnx", async () => {
    const converted = await convertCheckpoint({
      from: join(HUB_FIXTURES, 'tiny-distilbert'),
      out: join(work, 'export-source'),
    });
    const h = await hub({
      repos: { 'acme/with-onnx': { files: { ...distilRepo, 'onnx/model.onnx': converted.graphPath } } },
    });
    const out = join(work, 'from-export');
    const result = await pullModel({ repo: 'acme/with-onnx', out, endpoint: h.endpoint, preferOnnx: true });
    expect(result.mode).toBe('onnx-export');
    expect(result.manifest).toMatchObject({ dtype: 'onnx-export', source: 'onnx/model.onnx', graph: 'model.onnx' });
    expect(h.log.some((r) => r.url.includes('pytorch_model.bin'))).toBe(false);
    const encoder = await loadEncoder(out);
    try {
      const [v] = await encoder.encodeQueries([ref.texts[0]!]);
      expect(maxAbsDiff(v!, ref.models['tiny-distilbert']!.cls[0]!)).toBeLessThan(1e-4);
    } finally {
      await encoder.close();
    }
  });

  it('reads a local folder with --from', async () => {
    const out = join(work, 'local');
    const result = await pullModel({ repo: REAL_ID, from: join(HUB_FIXTURES, 'tiny-distilbert'), out });
    expect(result.downloads).toEqual([]);
    expect(result.manifest.modelId).toBe(REAL_ID);
    expect(existsSync(join(out, 'model.onnx'))).toBe(true);
  });

  it('says 401 needs HF_TOKEN, 404 names the file, and rejects bad ids', async () => {
    const h = await hub({ repos: { [REAL_ID]: { files: distilRepo } }, token: 'hf_secret' });
    const out = join(work, 'denied');
    await expect(pullModel({ repo: REAL_ID, out, endpoint: h.endpoint })).rejects.toThrow(ConfigError);
    await expect(pullModel({ repo: REAL_ID, out, endpoint: h.endpoint })).rejects.toThrow(/HF_TOKEN/);
    await expect(pullModel({ repo: REAL_ID, out, endpoint: h.endpoint, token: 'wrong' })).rejects.toThrow(
      /the token has no access/,
    );
    const open = await hub({
      repos: {
        'acme/no-weights': {
          files: { 'config.json': distilRepo['config.json'], 'vocab.txt': distilRepo['vocab.txt'] },
        },
      },
    });
    await expect(
      pullModel({ repo: 'acme/no-weights', out: join(work, 'nw'), endpoint: open.endpoint }),
    ).rejects.toThrow(NotFoundError);
    await expect(
      downloadFile('acme/no-weights', 'missing.bin', join(work, 'm.bin'), { endpoint: open.endpoint }),
    ).rejects.toThrow(/acme\/no-weights\/missing\.bin: not found/);
    await expect(pullModel({ repo: '../etc', out, endpoint: h.endpoint })).rejects.toThrow(
      /hub-id: must look like owner\/name/,
    );
    await expect(pullModel({ repo: REAL_ID, out, endpoint: 'ftp://x' })).rejects.toThrow(/HF_ENDPOINT/);
  });
});

describe('downloadFile', () => {
  it('continues a .part file left by an earlier run with a Range request', async () => {
    const h = await hub({
      repos: { 'acme/m': { files: { 'model.safetensors': fixture('tiny-bert', 'model.safetensors') } } },
    });
    const full = readFileSync(fixture('tiny-bert', 'model.safetensors'));
    const dest = join(work, 'resume', 'model.safetensors');
    await mkdir(join(work, 'resume'), { recursive: true });
    await writeFile(`${dest}.part`, full.subarray(0, 1000));
    const result = await downloadFile('acme/m', 'model.safetensors', dest, { endpoint: h.endpoint });
    expect(result).toMatchObject({ bytes: full.length, verified: true, resumedBytes: 1000 });
    expect(readFileSync(dest).equals(full)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(h.log.filter((r) => r.url.startsWith('/lfs/') && r.method === 'GET').map((r) => r.range)).toEqual([
      'bytes=1000-',
    ]);
  });

  it('finishes when a dropped attempt had already written every byte (nothing left to fetch), after verifying it', async () => {
    const h = await hub({
      repos: { 'acme/m': { files: { 'model.safetensors': fixture('tiny-bert', 'model.safetensors') } } },
      dropAfterAllOnce: ['model.safetensors'],
    });
    const full = readFileSync(fixture('tiny-bert', 'model.safetensors'));
    const dest = join(work, 'all-then-drop', 'model.safetensors');
    const result = await downloadFile('acme/m', 'model.safetensors', dest, { endpoint: h.endpoint });
    expect(result).toMatchObject({ bytes: full.length, verified: true });
    expect(readFileSync(dest).equals(full)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it("refuses a file whose sha256 differs from the hub's and drops the partial file", async () => {
    const h = await hub({
      repos: { 'acme/m': { files: { 'model.safetensors': fixture('tiny-bert', 'model.safetensors') } } },
      lieAboutSha: ['model.safetensors'],
    });
    const dest = join(work, 'bad', 'model.safetensors');
    const attempt = downloadFile('acme/m', 'model.safetensors', dest, { endpoint: h.endpoint });
    await expect(attempt).rejects.toThrow(ModelError);
    await expect(downloadFile('acme/m', 'model.safetensors', dest, { endpoint: h.endpoint })).rejects.toThrow(
      /checksum mismatch/,
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });
});
