import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub } from './fake-hub.js';
import { HUB_FIXTURES, REPO_ROOT } from './reference.js';

const BIN = join(REPO_ROOT, 'apps', 'cli', 'bin', 'dotrank.js');

function dotrank(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dotrank-model-cli-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('dotrank model', { timeout: 240_000 }, () => {
  it('pull downloads from HF_ENDPOINT with HF_TOKEN into <DOTRANK_DATA_DIR>/models/<owner>__<name>', async () => {
    const f = (name: string) => join(HUB_FIXTURES, 'tiny-distilbert', name);
    const hub = await startFakeHub({
      token: 'hf_cli',
      repos: {
        'acme/tiny': {
          files: {
            'config.json': f('config.json'),
            'vocab.txt': f('vocab.txt'),
            'tokenizer_config.json': f('tokenizer_config.json'),
            'model.safetensors': f('model.safetensors'),
          },
        },
      },
    });
    try {
      const { code, stdout, stderr } = await dotrank(['model', 'pull', 'acme/tiny', '--dtype', 'int8'], {
        HF_ENDPOINT: hub.endpoint,
        HF_TOKEN: 'hf_cli',
        DOTRANK_DATA_DIR: join(work, 'data'),
      });
      expect(stderr).not.toMatch(/at .*\.ts:\d+/);
      expect(code).toBe(0);
      const out = join(work, 'data', 'models', 'acme__tiny');
      expect(JSON.parse(stdout)).toMatchObject({
        out,
        modelId: 'acme/tiny',
        dtype: 'int8',
        dimension: 32,
        graph: 'model.onnx',
      });
      expect(existsSync(join(out, 'model.onnx'))).toBe(true);
      const denied = await dotrank(['model', 'pull', 'acme/tiny', '--out', join(work, 'denied')], {
        HF_ENDPOINT: hub.endpoint,
        HF_TOKEN: '',
      });
      expect(denied.code).toBe(2);
      expect(denied.stderr.trim()).toMatch(/^dotrank: HF_TOKEN: the hub refused .* \(HTTP 401\)/);
    } finally {
      await hub.close();
    }
  });

  it('convert writes the model directory, and refuses a hostile pickle with one clear line', async () => {
    const ok = await dotrank([
      'model',
      'convert',
      '--from',
      join(HUB_FIXTURES, 'tiny-bert'),
      '--out',
      join(work, 'bert'),
      '--dtype',
      'fp16',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ dtype: 'fp16', dimension: 16 });
    const bad = await dotrank([
      'model',
      'convert',
      '--from',
      join(HUB_FIXTURES, 'malicious-eval'),
      '--out',
      join(work, 'evil'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/dotrank: .*pytorch_model\.bin: refusing to unpickle global __builtin__\.eval/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const badDtype = await dotrank(['model', 'convert', '--from', 'x', '--out', 'y', '--dtype', 'int4']);
    expect(badDtype.code).not.toBe(0);
    expect(badDtype.stderr).toMatch(/--dtype/);
  });
});
