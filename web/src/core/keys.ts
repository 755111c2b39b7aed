/**
 * Chat keys and identities (SPEC §2.2, §2.3; core/keys.py): Argon2id (hash-wasm) over a
 * secret, salted with the name (schedule 1) or the name and a random salt (schedule 2),
 * then HKDF subkeys; Ed25519 identities, recovery codes and fingerprints.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { argon2id } from "hash-wasm";
import { concatBytes, equalConstantTime, readSmall, utf8ToBytes } from "./bytes.js";
import { InvalidInput } from "./errors.js";
import { normalizeChatName, normalizeUsername, secretBytes } from "./normalize.js";

const ARGON2_MEMORY_KIB = 64 * 1024;
const ARGON2_ITERATIONS = 3;
const ARGON2_LANES = 4;
const IDENTITY_ITERATIONS = 2;
export const IDENTITY_MEMORY_CHOICES = [64, 128, 256, 512, 1024] as const;
const ROUTING_TAG_BYTES = 4;
const CHAT_SALT_LABEL = "pointerbridge pb1 chat key";
const SALTED_CHAT_LABEL = "pointerbridge chat key v2";
const IDENTITY_SALT_LABEL = "pointerbridge pb1 identity";
const SALTED_IDENTITY_LABEL = "pointerbridge identity v2";
const RECOVERY_LABEL = "pointerbridge recovery code";
const FINGERPRINT_LABEL = "pointerbridge pb1 fingerprint";

/** The key of one chat and the subkeys pointers use. Keep it in memory only. */
export interface ChatKey {
  /** The normalized chat name (SPEC §2.1). */
  readonly name: string;
  readonly key: Uint8Array;
  readonly tagKey: Uint8Array;
  readonly chatId: Uint8Array;
  /** The Argon2id salt the key was derived with (empty for a key given as bytes). */
  readonly argon2Salt: Uint8Array;
  /** The chat's random salt (schedule 2), or null: an open chat's key or one given as bytes. */
  readonly salt: Uint8Array | null;
}

/** A person's Ed25519 identity. Only publicKey and fingerprint are meant to be shown. */
export interface Identity {
  readonly username: string;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly fingerprint: string;
}

/** HKDF-SHA256 (RFC 5869) with a 32-byte output; no salt is 32 zero bytes. */
export function hkdf(key: Uint8Array, info: string | Uint8Array, salt?: Uint8Array): Uint8Array {
  const infoBytes = typeof info === "string" ? utf8ToBytes(info) : info;
  return nobleHkdf(sha256, key, salt, infoBytes, 32);
}

/** SHA-256 of the label, the name and (schedule 2) the random salt, each after a 0x00. */
export function argon2Salt(label: string, name: string, randomSalt: Uint8Array | null): Uint8Array {
  const tail = randomSalt === null ? new Uint8Array(0) : concatBytes(new Uint8Array(1), randomSalt);
  return sha256(concatBytes(utf8ToBytes(label), new Uint8Array(1), utf8ToBytes(name), tail));
}

async function argon2(salt: Uint8Array, secret: Uint8Array, memoryKiB: number, iterations: number): Promise<Uint8Array> {
  return argon2id({
    password: secret,
    salt,
    parallelism: ARGON2_LANES,
    iterations,
    memorySize: memoryKiB,
    hashLength: 32,
    outputType: "binary",
  });
}

function checkChatSalt(salt: Uint8Array): Uint8Array {
  if (!(salt instanceof Uint8Array) || salt.length < 16 || salt.length > 32) {
    throw new InvalidInput("a chat salt is 16 to 32 bytes");
  }
  return salt;
}

function makeChatKey(name: string, key: Uint8Array, argon: Uint8Array, salt: Uint8Array | null): ChatKey {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new InvalidInput("a chat key is 32 bytes");
  return Object.freeze({
    name: normalizeChatName(name),
    key,
    tagKey: hkdf(key, "pb1 routing tag"),
    chatId: hkdf(key, "pb1 chat id"),
    argon2Salt: argon,
    salt,
  });
}

/** A chat key already derived (32 bytes), for `name` (normalized here). */
export function chatKeyFromBytes(name: string, key: Uint8Array, salt?: Uint8Array): ChatKey {
  return makeChatKey(name, key, new Uint8Array(0), salt === undefined ? null : checkChatSalt(salt));
}

/** Derive a chat key: with the chat's random `salt`, schedule 2; without, an open chat (schedule 1). */
export async function deriveChatKey(name: string, secret: string, salt?: Uint8Array): Promise<ChatKey> {
  const normalized = normalizeChatName(name);
  const chatSalt = salt === undefined ? null : checkChatSalt(salt);
  const argon = argon2Salt(chatSalt === null ? CHAT_SALT_LABEL : SALTED_CHAT_LABEL, normalized, chatSalt);
  const key = await argon2(argon, secretBytes(secret, "chat secret"), ARGON2_MEMORY_KIB, ARGON2_ITERATIONS);
  return makeChatKey(normalized, key, argon, chatSalt);
}

/** The 4-byte routing tag of a pointer sealed under `chat` with `nonce` (SPEC §3). */
export function routingTag(chat: ChatKey, nonce: Uint8Array): Uint8Array {
  return blake2s(nonce, { key: chat.tagKey, dkLen: 32 }).subarray(0, ROUTING_TAG_BYTES);
}

/** Whether `tag` is `chat`'s routing tag for `nonce`, compared in constant time. */
export function tagMatches(chat: ChatKey, nonce: Uint8Array, tag: Uint8Array): boolean {
  return equalConstantTime(routingTag(chat, nonce), tag);
}

/** Six groups of five digits that two people read to each other to compare keys. */
export function fingerprint(publicKey: Uint8Array): string {
  const digest = sha256(concatBytes(utf8ToBytes(FINGERPRINT_LABEL), new Uint8Array(1), publicKey));
  const groups: string[] = [];
  for (let i = 0; i < 30; i += 5) groups.push(String(readSmall(digest.subarray(i, i + 5)) % 100000).padStart(5, "0"));
  return groups.join(" ");
}

/** An identity from its 32-byte Ed25519 seed. */
export function identityFromSeed(username: string, seed: Uint8Array): Identity {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new InvalidInput("an identity seed is 32 bytes");
  const publicKey = ed25519.getPublicKey(seed);
  return Object.freeze({ username: normalizeUsername(username), seed, publicKey, fingerprint: fingerprint(publicKey) });
}

/** What a recovery code holds: the identity's Argon2id memory and random salt. */
export interface RecoveryCode {
  readonly memoryMiB: number;
  readonly salt: Uint8Array;
}

function recoveryCheck(head: Uint8Array): number {
  return sha256(concatBytes(utf8ToBytes(RECOVERY_LABEL), new Uint8Array(1), head))[0] as number;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Python's base64.b32decode (strict alphabet, padding to a multiple of 8), or null. */
function base32Decode(text: string): Uint8Array | null {
  if (text.length % 8 !== 0) return null;
  const body = text.replace(/={0,6}$/, "");
  const pad = text.length - body.length;
  if (![0, 1, 3, 4, 6].includes(pad) || (text.length === 0 && pad)) return null;
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of body) {
    const digit = BASE32.indexOf(ch);
    if (digit < 0) return null;
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** Read a recovery code as typed: any case, dashes and spaces anywhere, 0/1/8 for O/I/B (SPEC §2.3). */
export function readRecoveryCode(text: string): RecoveryCode {
  if (typeof text !== "string" || [...text].length > 64) throw new InvalidInput("a recovery code is 16 letters and digits");
  const compact = text
    .toUpperCase()
    .replace(/[- ]/g, "")
    .replace(/0/g, "O")
    .replace(/1/g, "I")
    .replace(/8/g, "B");
  const raw = base32Decode(compact);
  if (raw === null) throw new InvalidInput("a recovery code is 16 letters (A-Z) and digits (2-7)");
  if (raw.length !== 10 || !equalConstantTime(raw.subarray(9), Uint8Array.of(recoveryCheck(raw.subarray(0, 9))))) {
    throw new InvalidInput("that recovery code is mistyped (its check letter does not match)");
  }
  const version = (raw[0] as number) >> 4;
  const cost = (raw[0] as number) & 0x0f;
  if (version !== 1 || cost >= IDENTITY_MEMORY_CHOICES.length) {
    throw new InvalidInput("that recovery code is from a newer version");
  }
  return { memoryMiB: IDENTITY_MEMORY_CHOICES[cost] as number, salt: raw.slice(1, 9) };
}

/** The Argon2id salt of an identity: schedule 2 with a code, schedule 1 without. */
export function identitySalt(username: string, code?: RecoveryCode): Uint8Array {
  const normalized = normalizeUsername(username);
  return code === undefined
    ? argon2Salt(IDENTITY_SALT_LABEL, normalized, null)
    : argon2Salt(SALTED_IDENTITY_LABEL, normalized, code.salt);
}

/** Regenerate an identity: with a recovery code, schedule 2 (its memory, 2 passes); without, schedule 1. */
export async function deriveIdentity(username: string, phrase: string, recoveryCode?: string): Promise<Identity> {
  const normalized = normalizeUsername(username);
  const code = recoveryCode === undefined ? undefined : readRecoveryCode(recoveryCode);
  const salt = identitySalt(normalized, code);
  const secret = secretBytes(phrase, "master phrase");
  const seed =
    code === undefined
      ? await argon2(salt, secret, ARGON2_MEMORY_KIB, ARGON2_ITERATIONS)
      : await argon2(salt, secret, code.memoryMiB * 1024, IDENTITY_ITERATIONS);
  return identityFromSeed(normalized, seed);
}
