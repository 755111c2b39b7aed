/**
 * Blobs, the encrypted files of attachments (docs/SPEC-blobs.md; core/blob.py): age's
 * STREAM without its header. ChaCha20-Poly1305 under the file key, 64 KiB chunks, nonce =
 * the chunk's index (11 bytes) || 1 for the last chunk else 0; hash = SHA-256 of the blob.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, equalConstantTime, uintBytes } from "./bytes.js";
import { BlobError, InvalidInput } from "./errors.js";

export const CHUNK_BYTES = 65536;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + 16;
const MAX_SIZE = 2n ** 64n - 1n;

function nonce(index: number, last: boolean): Uint8Array {
  return concatBytes(uintBytes(index, 11), Uint8Array.of(last ? 1 : 0));
}

function checkKey(fileKey: Uint8Array): void {
  if (!(fileKey instanceof Uint8Array) || fileKey.length !== 32) throw new InvalidInput("a file key is 32 bytes");
}

/** How many chunks a plaintext of `size` bytes has: max(1, ceil(size / 65536)). */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_BYTES));
}

/** The blob's length for a plaintext of `size` bytes. */
export function encryptedSize(size: number): number {
  return size + 16 * chunkCount(size);
}

/** Seal `plaintext` under `fileKey` (a fresh random key per file): the blob. */
export function sealBlob(fileKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkKey(fileKey);
  const count = chunkCount(plaintext.length);
  const out = new Uint8Array(encryptedSize(plaintext.length));
  for (let i = 0; i < count; i++) {
    const chunk = plaintext.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
    out.set(chacha20poly1305(fileKey, nonce(i, i === count - 1)).encrypt(chunk), i * SEALED_CHUNK_BYTES);
  }
  return out;
}

/** The SHA-256 of a blob, as an attachment record names it. */
export function blobHash(blob: Uint8Array): Uint8Array {
  return sha256(blob);
}

/** Open a blob whose record names `fileKey`, `hash` and `size`: the plaintext, or BlobError (SPEC-blobs §2). */
export function openBlob(fileKey: Uint8Array, hash: Uint8Array, size: bigint, blob: Uint8Array): Uint8Array {
  checkKey(fileKey);
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new InvalidInput("a blob's hash is 32 bytes");
  if (typeof size !== "bigint" || size < 0n || size > MAX_SIZE) throw new InvalidInput("a blob's size is 0 to 2^64 - 1 bytes");
  const plainSize = Number(size);
  const expected = size > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : encryptedSize(plainSize);
  if (blob.length !== expected) {
    throw new BlobError("blob_truncated", `the blob is ${blob.length} bytes; its size makes it ${expected}`);
  }
  const count = chunkCount(plainSize);
  const out = new Uint8Array(plainSize);
  for (let i = 0; i < count; i++) {
    const sealed = blob.subarray(i * SEALED_CHUNK_BYTES, (i + 1) * SEALED_CHUNK_BYTES);
    try {
      out.set(chacha20poly1305(fileKey, nonce(i, i === count - 1)).decrypt(sealed), i * CHUNK_BYTES);
    } catch {
      throw new BlobError("blob_chunk", `chunk ${i} of the blob does not authenticate: altered, moved or another key's`);
    }
  }
  if (!equalConstantTime(sha256(blob), hash)) {
    throw new BlobError("blob_hash", "the blob's SHA-256 is not the one its reference names");
  }
  return out;
}
