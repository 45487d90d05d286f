import { createHash } from 'node:crypto';
import type { DenseEncoder } from '@dotrank/core';

/**
 * Deterministic stand-in for unit tests: a text's vector is derived from sha256 of its words (bag of hashed words),
 * so texts sharing words have larger dot products. Not a model: only for tests that must run without ONNX.
 */
export class FakeEncoder implements DenseEncoder {
  readonly modelId = 'fake/bag-of-words';
  readonly revision = 'test';
  readonly similarity = 'dot' as const;
  passageCalls = 0;
  queryCalls = 0;
  delayMs = 0;
  constructor(readonly dimension = 16) {}

  private vector(text: string): Float32Array {
    const v = new Float32Array(this.dimension);
    for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
      const h = createHash('sha256').update(word).digest();
      for (let i = 0; i < this.dimension; i++) v[i]! += (h[i % h.length]! - 127.5) / 127.5;
    }
    return v;
  }

  private async wait(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
  }

  async encodeQueries(texts: readonly string[]): Promise<Float32Array[]> {
    this.queryCalls++;
    await this.wait();
    return texts.map((t) => this.vector(t));
  }

  async encodePassages(texts: readonly string[]): Promise<Float32Array[]> {
    this.passageCalls++;
    await this.wait();
    return texts.map((t) => this.vector(t));
  }

  async close(): Promise<void> {}
}
