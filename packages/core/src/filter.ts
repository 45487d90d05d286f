import type { Scalar, SearchFilter } from './types.js';

/** True when every filter field equals the metadata value, or one of the listed values. */
export function matchesFilter(metadata: Record<string, Scalar> | undefined, filter: SearchFilter | undefined): boolean {
  if (!filter) return true;
  for (const [field, wanted] of Object.entries(filter)) {
    const actual = metadata?.[field];
    if (actual === undefined) return false;
    if (Array.isArray(wanted) ? !wanted.includes(actual) : wanted !== actual) return false;
  }
  return true;
}
