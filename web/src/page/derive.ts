/**
 * Running a key derivation (Argon2id, about 0.6 s) without freezing the page's feedback:
 * "deriving…" is painted before the work starts, and a result that arrives after its
 * inputs changed is dropped (the newest request wins).
 */

/** Resolves once the browser has painted what was just changed. */
export function painted(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

/** A slot for one derivation at a time: `run` returns null when a newer one superseded it. */
export class Latest {
  private generation = 0;

  /** Makes any derivation under way stale (its inputs changed). */
  cancel(): void {
    this.generation += 1;
  }

  async run<T>(status: HTMLElement, work: () => Promise<T>): Promise<T | null> {
    this.generation += 1;
    const mine = this.generation;
    status.textContent = "deriving… (about a second)";
    status.className = "status busy";
    await painted();
    const result = await work();
    return mine === this.generation ? result : null;
  }
}

/** Standard base64 or base64url, padded or not, to bytes; throws on anything else. */
export function fromBase64(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, "").replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw new Error("not base64");
  const binary = atob(compact.padEnd(compact.length + ((4 - (compact.length % 4)) % 4), "="));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
