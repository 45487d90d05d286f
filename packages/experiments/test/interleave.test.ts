import { describe, expect, it } from 'vitest';
import { seedFrom, seededCoin, teamDraftInterleave } from '../src/interleave.js';

/** A coin that returns the given bits in order and counts how often it was tossed. */
function scriptedCoin(bits: boolean[]) {
  let i = 0;
  const coin = () => {
    if (i >= bits.length) throw new Error('coin tossed more often than the algorithm allows');
    return bits[i++]!;
  };
  return Object.assign(coin, { tosses: () => i });
}

const flat = (shown: { docId: string; system: string }[]) => shown.map((r) => `${r.docId}:${r.system}`);

describe('team-draft interleaving (Radlinski, Kurup and Joachims 2008, Algorithm 2)', () => {
  const a = ['a', 'b', 'c', 'd'];
  const b = ['b', 'a', 'e', 'f'];

  it('A wins every tied toss: A takes its best, B its best not yet shown, and so on', () => {
    const coin = scriptedCoin([true, true, true]);
    expect(flat(teamDraftInterleave(a, b, 10, coin))).toEqual(['a:bm25', 'b:tasb', 'c:bm25', 'e:tasb', 'd:bm25']);
    // A's list is all shown: the draft ends (f is never reached); one toss per round where the teams are even: rounds 1, 3 and 5
    expect(coin.tosses()).toBe(3);
  });

  it('B wins every tied toss: the mirror image', () => {
    const coin = scriptedCoin([false, false, false]);
    expect(flat(teamDraftInterleave(a, b, 10, coin))).toEqual(['b:tasb', 'a:bm25', 'e:tasb', 'c:bm25', 'f:tasb']);
    // B's list is all shown: d is never reached
  });

  it('the team with fewer picks goes next without a toss; a tied round tosses again', () => {
    // identical lists: the toss order decides who gets credit for each position
    const coin = scriptedCoin([true, false]);
    expect(flat(teamDraftInterleave(['x', 'y', 'z', 'w'], ['x', 'y', 'z', 'w'], 4, coin))).toEqual([
      'x:bm25',
      'y:tasb',
      'z:tasb',
      'w:bm25',
    ]);
    expect(coin.tosses()).toBe(2);
  });

  it('stops when either team has nothing left to pick (as published), and at the length asked for', () => {
    expect(flat(teamDraftInterleave(['a'], ['b', 'c', 'd'], 10, scriptedCoin([true])))).toEqual(['a:bm25']);
    expect(flat(teamDraftInterleave(['a', 'x'], ['b', 'c', 'd'], 10, scriptedCoin([true, true])))).toEqual([
      'a:bm25',
      'b:tasb',
      'x:bm25',
    ]);
    // two lists of k always give k: when one is used up, everything in it is shown already
    expect(teamDraftInterleave(['1', '2', '3'], ['3', '4', '5'], 3, seededCoin(3))).toHaveLength(3);
    expect(teamDraftInterleave(a, b, 3, scriptedCoin([true, true]))).toHaveLength(3);
    expect(teamDraftInterleave([], b, 10, scriptedCoin([]))).toEqual([]);
  });

  it('never shows a document twice, and every shown document is in the list of the team credited', () => {
    const coin = seededCoin(7);
    const x = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
    const y = ['3', '1', '11', '2', '12', '5', '13', '4', '14', '6'];
    const shown = teamDraftInterleave(x, y, 10, coin);
    expect(new Set(shown.map((r) => r.docId)).size).toBe(shown.length);
    for (const r of shown) expect((r.system === 'bm25' ? x : y).includes(r.docId)).toBe(true);
  });

  it('the seeded coin is reproducible per impression id and fair over many', () => {
    const run = (id: string) => teamDraftInterleave(a, b, 4, seededCoin(seedFrom(id)));
    expect(run('imp-1')).toEqual(run('imp-1'));
    let aFirst = 0;
    for (let i = 0; i < 10_000; i++) if (run(`imp-${i}`)[0]!.system === 'bm25') aFirst++;
    expect(aFirst).toBeGreaterThan(4800);
    expect(aFirst).toBeLessThan(5200);
  });
});
