/** A latency in milliseconds, two decimals below 10 ms; an em dash when there is none. */
export const formatMs = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(v < 10 ? 2 : 1)} ms`;
