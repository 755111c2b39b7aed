/**
 * The pointer format of docs/SPEC.md (pb1 and pb2) and the blobs of docs/SPEC-blobs.md,
 * written from the spec alone: the second implementation beside the Python core.
 */
export const VERSIONS = ["1", "2"] as const;

export { BlobError, InvalidInput, InvalidName, PointerError, type BlobExpect, type Expect } from "./errors.js";
export { normalizeChatName, normalizeUsername, casefold } from "./normalize.js";
export { decodeArmor, armor, encodedLength } from "./armor.js";
export { findPointers, scan } from "./finding.js";
export {
  type ChatKey,
  type Identity,
  type RecoveryCode,
  chatKeyFromBytes,
  deriveChatKey,
  deriveIdentity,
  fingerprint,
  identityFromSeed,
  readRecoveryCode,
  routingTag,
} from "./keys.js";
export { paddedLength } from "./padding.js";
export { equalConstantTime, fromHex, toHex } from "./bytes.js";
