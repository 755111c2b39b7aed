/** Every failure the core reports, one type each (core/errors.py). */

/** The outcome names the test vectors use (SPEC §10). */
export type Expect =
  | "armor"
  | "noncanonical"
  | "version"
  | "truncated"
  | "oversize"
  | "no_match"
  | "aead"
  | "padding"
  | "malformed"
  | "signature";

/** A pointer could not be opened: `expect` says why, as SPEC §7 names it. */
export class PointerError extends Error {
  readonly expect: Expect;
  /** A refused sender key (small order or not canonical), reported as `signature`. */
  readonly weakKey: boolean;

  constructor(expect: Expect, message: string, weakKey = false) {
    super(message);
    this.name = "PointerError";
    this.expect = expect;
    this.weakKey = weakKey;
  }
}

/** An argument that cannot be used (a name, a salt, a recovery code, an invite): Python's InvalidInputError. */
export class InvalidInput extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidInput";
  }
}

/** A name that §2.1 does not allow (empty, too long, control or unassigned characters). */
export class InvalidName extends InvalidInput {
  constructor(message: string) {
    super(message);
    this.name = "InvalidName";
  }
}

/** The outcomes of opening a blob (docs/SPEC-blobs.md §2). */
export type BlobExpect = "blob_hash" | "blob_chunk" | "blob_truncated";

/** A blob could not be opened: `expect` as tests/vectors/blob.json names it. */
export class BlobError extends Error {
  readonly expect: BlobExpect;

  constructor(expect: BlobExpect, message: string) {
    super(message);
    this.name = "BlobError";
    this.expect = expect;
  }
}
