import type { Scalar } from '@dotrank/core';
import type { FrozenPostings } from './postings.js';
import type { BM25Params } from './similarity.js';

/** What the persistence layer needs to rebuild a frozen index (see persist.ts). */
export interface FrozenState {
  params: BM25Params;
  terms: string[];
  df: Int32Array;
  postings: FrozenPostings;
  norms: Uint8Array;
  ids: string[];
  texts: string[];
  metadata: Array<Record<string, Scalar> | undefined>;
  docCount: number;
  sumTotalTermFreq: number;
}
