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
export { type Content, contentBody, decodeContent, encodeContent } from "./content.js";
export {
  type Message,
  type Part,
  type SealOptions,
  belongsTo,
  isPart,
  newStream,
  seal,
  sealContent,
  unseal,
} from "./pointer.js";
export { Reassembler } from "./reassembly.js";
export { blobHash, openBlob, sealBlob } from "./blob.js";
export { type Invite, INVITE_PREFIX, readInvite } from "./invite.js";
export { equalConstantTime, fromHex, toHex } from "./bytes.js";
export { hex } from "./hexapi.js";

import { openBlob, sealBlob } from "./blob.js";
/** The blobs of attachments (docs/SPEC-blobs.md), as one object. */
export const blob = Object.freeze({ open: openBlob, seal: sealBlob });
