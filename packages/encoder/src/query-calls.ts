// How a gathered batch of queries is cut into inference calls. On a CPU a call costs a fixed part (every weight of
// the model is read from memory once per call: for a 66M-parameter DistilBERT that is ~265 MB, as long as encoding
// a few dozen tokens) plus a part per padded token. Many small calls pay the fixed part many times; one call pads
// short queries to the longest one's width. The cut that costs least is found exactly (queries sorted by length,
// each call a run of neighbours), with the fixed part learned from the calls this encoder has made: on a GPU, where
// the fixed part dominates, it becomes one call.

/** The fixed cost of a call in padded tokens before any call was timed (measured: ~24 on a 2-core CPU, full model). */
export const DEFAULT_CALL_OVERHEAD_TOKENS = 24;
/** Bounds on the learned overhead: a noisy fit never makes calls free or forbids splitting. */
const MIN_OVERHEAD = 1;
const MAX_OVERHEAD = 4096;
/** Calls timed before the fit is trusted, and the weight of the past (exponential forgetting per call). */
const MIN_CALLS = 16;
const DECAY = 0.98;
/** Above this many queries the exact cut (quadratic) gives way to the greedy one. */
const EXACT_UP_TO = 512;

/**
 * Sizes of the calls that cut `lengths` (sorted ascending) at the least cost `overhead + rows * width` each, where
 * width is a call's longest (last) length. Exact dynamic programming over the cut points.
 */
export function planQueryCalls(lengths: readonly number[], overheadTokens: number): number[] {
  const n = lengths.length;
  if (n === 0) return [];
  if (n > EXACT_UP_TO) return greedyCalls(lengths, overheadTokens);
  const best = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    const width = lengths[j - 1]!;
    for (let i = 0; i < j; i++) {
      const cost = best[i]! + overheadTokens + (j - i) * width;
      if (cost < best[j]!) {
        best[j] = cost;
        from[j] = i;
      }
    }
  }
  const sizes: number[] = [];
  for (let j = n; j > 0; j = from[j]!) sizes.push(j - from[j]!);
  return sizes.reverse();
}

/** Adds a query to the current call unless padding it costs more than a call of its own. */
function greedyCalls(lengths: readonly number[], overheadTokens: number): number[] {
  const sizes: number[] = [];
  let rows = 0;
  for (let k = 0; k < lengths.length; k++) {
    const width = lengths[k]!;
    // widening the current call to `width` costs rows * (width - previous width)
    if (rows > 0 && rows * (width - lengths[k - 1]!) > overheadTokens) {
      sizes.push(rows);
      rows = 0;
    }
    rows++;
  }
  sizes.push(rows);
  return sizes;
}

/**
 * The fixed cost of a call in tokens, fitted to `ms = fixed + perToken * paddedTokens` over the calls observed
 * (weighted least squares, recent calls weigh more). Until the fit is trusted, or when it is degenerate (noise on a
 * shared machine can make the slope vanish), DEFAULT_CALL_OVERHEAD_TOKENS.
 */
export class CallCostModel {
  private w = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;
  private calls = 0;

  observe(paddedTokens: number, ms: number): void {
    if (!(paddedTokens > 0) || !(ms >= 0) || !Number.isFinite(ms)) return;
    this.w = this.w * DECAY + 1;
    this.sx = this.sx * DECAY + paddedTokens;
    this.sy = this.sy * DECAY + ms;
    this.sxx = this.sxx * DECAY + paddedTokens * paddedTokens;
    this.sxy = this.sxy * DECAY + paddedTokens * ms;
    this.calls++;
  }

  /** The fixed cost of a call, in padded tokens. */
  overheadTokens(): number {
    if (this.calls < MIN_CALLS) return DEFAULT_CALL_OVERHEAD_TOKENS;
    const meanX = this.sx / this.w;
    const meanY = this.sy / this.w;
    const varX = this.sxx / this.w - meanX * meanX;
    if (!(varX > 1e-9 * meanX * meanX)) return DEFAULT_CALL_OVERHEAD_TOKENS;
    const slope = (this.sxy / this.w - meanX * meanY) / varX;
    if (!(slope > 0)) return DEFAULT_CALL_OVERHEAD_TOKENS;
    const fixed = meanY - slope * meanX;
    return Math.min(MAX_OVERHEAD, Math.max(MIN_OVERHEAD, fixed / slope));
  }
}
