/**
 * Unicode general categories as the Python core's unicodedata has them (not the browser's:
 * its `\p{Cn}` is a newer Unicode, where characters assigned since Python's version are
 * no longer unassigned). The ranges come from scripts/make_unicode_table.py.
 */
import { CATEGORY_RANGES } from "./unicode_table.js";

/** Code points of some categories: sorted, merged ranges, searched by bisection. */
export class CodePointSet {
  private readonly starts: Uint32Array;
  private readonly ends: Uint32Array;

  constructor(categories: readonly string[]) {
    const spans: [number, number][] = [];
    for (const name of categories) {
      const data = CATEGORY_RANGES[name];
      if (data === undefined) throw new Error(`no table for category ${name}`);
      for (const span of data.split(",")) {
        const [a, b] = span.split("-");
        spans.push([parseInt(a as string, 16), parseInt(b ?? (a as string), 16)]);
      }
    }
    spans.sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    for (const [a, b] of spans) {
      const last = merged[merged.length - 1];
      if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
      else merged.push([a, b]);
    }
    this.starts = Uint32Array.from(merged, (s) => s[0]);
    this.ends = Uint32Array.from(merged, (s) => s[1]);
  }

  /** Whether code point `cp` is in the set. */
  has(cp: number): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cp < (this.starts[mid] as number)) hi = mid - 1;
      else if (cp > (this.ends[mid] as number)) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** Whether any code point of `text` is in the set (a lone surrogate counts as itself). */
  any(text: string): boolean {
    for (const ch of text) if (this.has(ch.codePointAt(0) as number)) return true;
    return false;
  }
}

/** The code points of `names`, Python's unicodedata categories. */
export function categories(...names: string[]): CodePointSet {
  return new CodePointSet(names);
}
