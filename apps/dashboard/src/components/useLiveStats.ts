import { useEffect, useState } from 'react';
import { api } from '../api.js';
import { pushBounded } from '../data.js';
import type { LiveStats } from '../types.js';

export const REFRESH_MS = 2000;
const MAX_SAMPLES = 150; // five minutes at 2 s

/** One poll of GET /api/stats and when it arrived. */
export interface Sample {
  t: number;
  stats: LiveStats;
}

/** While `active`, polls GET /api/stats every REFRESH_MS and keeps the last five minutes of samples. */
export function useLiveStats(active: boolean): { samples: Sample[]; error: string | null } {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!active) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const stats = await api.stats();
        if (!live) return;
        setSamples((s) => pushBounded(s, { t: Date.now(), stats }, MAX_SAMPLES));
        setError(null);
      } catch (e) {
        if (live) setError(e instanceof Error ? e.message : String(e));
      }
      if (live) timer = setTimeout(() => void tick(), REFRESH_MS);
    };
    void tick();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [active]);

  return { samples, error };
}
