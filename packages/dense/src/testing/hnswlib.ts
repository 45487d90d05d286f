import { loadHnswlib } from '../ann.js';
import type { HnswlibModule } from '../ann.js';

/** hnswlib-node when it loads, or the reason a test must print when it skips for lack of it (an optional package). */
export function hnswlibOrSkipReason(): { module: HnswlibModule } | { reason: string } {
  try {
    return { module: loadHnswlib() };
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    return {
      reason: `the optional package hnswlib-node did not load (${why}); install it with a C++ toolchain (npm rebuild hnswlib-node)`,
    };
  }
}
