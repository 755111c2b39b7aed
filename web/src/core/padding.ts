/** Padmé buckets above a 240-byte floor (SPEC §5; core/padding.py). */

export const MIN_PADDED = 240;

function bitLength(n: number): number {
  return n <= 0 ? 0 : Math.floor(Math.log2(n)) + 1;
}

/** The bucket a sealed plaintext of `length` bytes is padded to. */
export function paddedLength(length: number): number {
  const l = Math.max(length, MIN_PADDED);
  const exponent = bitLength(l) - 1;
  const step = 2 ** (exponent - bitLength(exponent));
  return Math.ceil(l / step) * step;
}

/** The largest bucket not above `limit` (0 when even the smallest does not fit). */
export function largestPaddedAtMost(limit: number): number {
  if (limit < MIN_PADDED) return 0;
  const exponent = bitLength(limit) - 1;
  const step = 2 ** (exponent - bitLength(exponent));
  return Math.floor(limit / step) * step;
}
