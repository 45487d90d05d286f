// How much two rankings of one query differ: the shadow mode's measures.

/** |A ∩ B| / |A ∪ B| over the top `depth` of each list; 1 for two empty lists. */
export function jaccardAt(a: readonly string[], b: readonly string[], depth = 10): number {
  const top = new Set(a.slice(0, depth));
  const other = new Set(b.slice(0, depth));
  let shared = 0;
  for (const id of other) if (top.has(id)) shared++;
  const union = top.size + other.size - shared;
  return union === 0 ? 1 : shared / union;
}

/**
 * Rank-biased overlap, extrapolated (Webber, Moffat and Zobel, "A similarity measure for indefinite rankings", TOIS
 * 2010, eq. 32): the agreement at each depth d, X_d / d, weighted by p^d, with the unseen tail assumed to agree as
 * the seen part does. For lists of unequal length s < l the shorter one's overlap is carried on (the equation's
 * second sum). 1 for identical lists, 0 for disjoint ones.
 */
export function rankBiasedOverlap(a: readonly string[], b: readonly string[], p = 0.9): number {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  const s = short.length;
  const l = long.length;
  if (l === 0) return 1;
  if (s === 0) return 0;
  const seenShort = new Set<string>();
  const seenLong = new Set<string>();
  let overlap = 0;
  let sum = 0;
  let overlapAtS = 0;
  for (let d = 1; d <= l; d++) {
    const fromLong = long[d - 1]!;
    if (d <= s) {
      const fromShort = short[d - 1]!;
      if (fromShort === fromLong) overlap++;
      else {
        if (seenLong.has(fromShort)) overlap++;
        if (seenShort.has(fromLong)) overlap++;
      }
      seenShort.add(fromShort);
    } else if (seenShort.has(fromLong)) overlap++;
    seenLong.add(fromLong);
    if (d === s) overlapAtS = overlap;
    sum += (overlap / d) * p ** d;
    if (d > s) sum += ((overlapAtS * (d - s)) / (s * d)) * p ** d;
  }
  return ((1 - p) / p) * sum + ((overlap - overlapAtS) / l + overlapAtS / s) * p ** l;
}

/**
 * Kendall's tau-b over the union of two rankings: a document missing from one list is placed below all of its
 * documents (tied with the other missing ones there). 1 = same order, -1 = reversed; 1 when fewer than two documents.
 */
export function kendallTauUnion(a: readonly string[], b: readonly string[]): number {
  const union = [...new Set([...a, ...b])];
  if (union.length < 2) return 1;
  const rankIn = (list: readonly string[]) => {
    const ranks = new Map(list.map((id, i) => [id, i]));
    return union.map((id) => ranks.get(id) ?? list.length);
  };
  const x = rankIn(a);
  const y = rankIn(b);
  let concordant = 0;
  let discordant = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < union.length; i++) {
    for (let j = i + 1; j < union.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX++;
      else if (dy === 0) tiesY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const denominator = Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denominator === 0 ? 1 : (concordant - discordant) / denominator;
}
