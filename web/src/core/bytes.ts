/** Small byte helpers: hex, UTF-8 strictly, big-endian integers, constant-time equality. */
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";

export { concatBytes, utf8ToBytes };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Lowercase hex of `data`. */
export function toHex(data: Uint8Array): string {
  return bytesToHex(data);
}

/** The bytes of hex `text`. */
export function fromHex(text: string): Uint8Array {
  return hexToBytes(text);
}

/** `data` as UTF-8 text, or null when it is not valid UTF-8 (a BOM is kept, as Python does). */
export function decodeUtf8(data: Uint8Array): string | null {
  try {
    return strictUtf8.decode(data);
  } catch {
    return null;
  }
}

/** Whether `a` and `b` are the same bytes, in time that depends on their length only. */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** `value` as `size` bytes big-endian (value < 2^(8 size)). */
export function uintBytes(value: bigint | number, size: number): Uint8Array {
  let v = BigInt(value);
  const out = new Uint8Array(size);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The big-endian unsigned integer of `data`. */
export function readUint(data: Uint8Array): bigint {
  let v = 0n;
  for (const byte of data) v = (v << 8n) | BigInt(byte);
  return v;
}

/** The big-endian unsigned integer of `data` (at most 6 bytes) as a number. */
export function readSmall(data: Uint8Array): number {
  let v = 0;
  for (const byte of data) v = v * 256 + byte;
  return v;
}

/** Base64url without padding (RFC 4648 §5), as Python's urlsafe_b64encode(...).rstrip("="). */
export function base64url(data: Uint8Array): string {
  let binary = "";
  for (const byte of data) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of unpadded base64url `text`, or null when it is not base64url. */
export function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  try {
    const binary = atob(padded);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
