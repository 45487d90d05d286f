// A click simulator over judged queries: how a user would click a shown list, given how relevant each result is.
// It proves the experiment machinery (the interleaving test picks the offline winner) and sizes it against A/B tests.

/** Per-grade probabilities; grades beyond the table use its last entry, unjudged documents grade 0. */
export interface ClickModel {
  kind: 'cascade' | 'position';
  /** P(click | examined, grade). */
  attractiveness: readonly number[];
  /** Cascade: P(stop after a click | grade) — the user leaves satisfied. */
  stopAfterClick?: readonly number[];
  /** Position-based: P(examine position i), i from 0; beyond the table, the last entry. */
  examination?: readonly number[];
}

/** Attractiveness rising with the grade as (2^g − 1) / (2^max − 1), with a small chance of clicking a non-relevant result. */
export function gradedAttractiveness(maxGrade: number, noise = 0.05, ceiling = 0.9): number[] {
  const top = 2 ** maxGrade - 1;
  return Array.from({ length: maxGrade + 1 }, (_, g) => noise + (ceiling - noise) * ((2 ** g - 1) / top));
}

export function cascadeModel(maxGrade: number): ClickModel {
  const attractiveness = gradedAttractiveness(maxGrade);
  return { kind: 'cascade', attractiveness, stopAfterClick: attractiveness.map((a) => Math.min(0.9, a)) };
}

export function positionBasedModel(maxGrade: number, positions = 10): ClickModel {
  return {
    kind: 'position',
    attractiveness: gradedAttractiveness(maxGrade),
    examination: Array.from({ length: positions }, (_, i) => 1 / (i + 1) ** 0.8),
  };
}

const at = (table: readonly number[], i: number) => table[Math.min(i, table.length - 1)] ?? 0;

/**
 * The positions (0-based) a simulated user clicks in `shown`. Cascade: examine top-down, click with the document's
 * attractiveness, after a click leave with its stop probability. Position-based: each position independently,
 * examined with its examination probability and clicked with the attractiveness.
 */
export function simulateClicks(
  shown: readonly string[],
  grades: ReadonlyMap<string, number> | undefined,
  model: ClickModel,
  random: () => number,
): number[] {
  const clicks: number[] = [];
  for (let i = 0; i < shown.length; i++) {
    const grade = Math.max(0, grades?.get(shown[i]!) ?? 0);
    const attractive = at(model.attractiveness, grade);
    if (model.kind === 'position') {
      if (random() < at(model.examination ?? [1], i) && random() < attractive) clicks.push(i);
      continue;
    }
    if (random() < attractive) {
      clicks.push(i);
      if (random() < at(model.stopAfterClick ?? [1], grade)) break;
    }
  }
  return clicks;
}
