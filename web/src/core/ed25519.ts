/**
 * Ed25519 as the reference implementation checks it (core/ed25519.py, SPEC §7 step 8): a
 * sender key must be canonical and not of small order, then RFC 8032's verification as
 * OpenSSL runs it (pyca/cryptography): S < L, and [S]B - [k]A encoded must be R's bytes
 * exactly (the cofactorless equation: noble's own verify is cofactored, and would accept
 * a few signatures with small-order components that OpenSSL refuses).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { concatBytes, equalConstantTime } from "./bytes.js";

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const SMALL_ORDER_Y = new Set<bigint>([
  1n,
  P - 1n,
  0n,
  0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
  0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n,
]);

function littleEndian(data: Uint8Array): bigint {
  let v = 0n;
  for (let i = data.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i] as number);
  return v;
}

/** Whether `key` is a 32-byte canonical encoding of a point not of small order. */
export function isStrictPublicKey(key: Uint8Array): boolean {
  if (key.length !== 32) return false;
  const y = littleEndian(key) & ((1n << 255n) - 1n);
  return y < P && !SMALL_ORDER_Y.has(y);
}

/** Whether `signature` is `key`'s over `message` (the key's strictness is the caller's check). */
export function verifySignature(key: Uint8Array, signature: Uint8Array, message: Uint8Array): boolean {
  if (key.length !== 32 || signature.length !== 64) return false;
  const s = littleEndian(signature.subarray(32));
  if (s >= L) return false;
  let point;
  try {
    point = ed25519.Point.fromBytes(key, false);
  } catch {
    return false; // not a point on the curve
  }
  const r = signature.subarray(0, 32);
  const k = littleEndian(sha512(concatBytes(r, key, message))) % L;
  const sb = s === 0n ? ed25519.Point.ZERO : ed25519.Point.BASE.multiplyUnsafe(s);
  const ka = k === 0n ? ed25519.Point.ZERO : point.multiplyUnsafe(k);
  return equalConstantTime(sb.subtract(ka).toBytes(), r);
}

/** The Ed25519 public key of a 32-byte seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** The Ed25519 signature of `message` by the key of `seed`. */
export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, seed);
}
