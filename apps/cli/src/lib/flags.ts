import { ValidationError } from '@dotrank/core';

/** An integer flag in [min, max]; undefined when absent. Errors name the flag and the value. */
export function intFlag(
  flag: string,
  value: string | undefined,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ValidationError(flag, `must be an integer between ${min} and ${max} (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** A number flag in [min, max]; undefined when absent. */
export function numberFlag(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new ValidationError(flag, `must be a number between ${min} and ${max} (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** A comma-separated list checked against the allowed values. */
export function listFlag<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new ValidationError(flag, 'must name at least one value');
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new ValidationError(flag, `unknown value ${JSON.stringify(item)} (expected one of ${allowed.join(', ')})`);
  }
  return [...new Set(items)] as T[];
}
