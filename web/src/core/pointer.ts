/**
 * The pointer (SPEC §3, §5-§8; pb2's fields and labels §11.2): sealing a body into
 * pointers (split as §8 says) and opening one, checked in the order of §7 / §11.4.
 * core/layout.py, core/pointer.py and core/pointer2.py.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { randomBytes } from "@noble/hashes/utils.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { MAX_PAYLOAD_BYTES, armor, decodeArmor, maxPayloadBytes } from "./armor.js";
import { concatBytes, decodeUtf8, readSmall, toHex, uintBytes, utf8ToBytes } from "./bytes.js";
import { type Content, contentBody, decodeContent, encodeContent } from "./content.js";
import { isStrictPublicKey, sign, verifySignature } from "./ed25519.js";
import { InvalidInput, InvalidName, PointerError } from "./errors.js";
import { type ChatKey, type Identity, fingerprint, hkdf, routingTag, tagMatches } from "./keys.js";
import { normalizeUsername } from "./normalize.js";
import { largestPaddedAtMost, MIN_PADDED, paddedLength } from "./padding.js";

const NONCE_BYTES = 16;
const TAG_BYTES = 4;
const AEAD_TAG_BYTES = 16;
const SIGNATURE_BYTES = 64;
const MESSAGE_ID_BYTES = 16;
const ENVELOPE_BYTES = NONCE_BYTES + TAG_BYTES;
export const MIN_PAYLOAD_BYTES = ENVELOPE_BYTES + MIN_PADDED + AEAD_TAG_BYTES;
export const MAX_PARTS = 0xffff;
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_SENT_AT_MS = 253402300799999;
const FLAG_SPLIT = 0x01;
const HEAD_BYTES = 1 + 8 + 32 + 1;
const FIXED_BYTES = HEAD_BYTES + 4 + SIGNATURE_BYTES;
const SPLIT_BYTES = MESSAGE_ID_BYTES + 2 + 2;
const STREAM_BYTES = 8;
export const MAX_SEQ = 2 ** 32 - 1;
const AEAD_NONCE = new Uint8Array(12); // every pointer has its own key: a constant nonce is safe

/** A whole message, authenticated. `body` is the text to show; pb2 adds stream, seq, record. */
export interface Message {
  version: 1 | 2;
  chat: string;
  username: string;
  senderKey: Uint8Array;
  fingerprint: string;
  sentAtMs: number;
  body: string;
  id: string;
  content: Content;
  stream?: Uint8Array;
  seq?: number;
  record?: Uint8Array;
}

/** One authenticated piece of a split message (SPEC §8). */
export interface Part {
  version: 1 | 2;
  chat: string;
  username: string;
  senderKey: Uint8Array;
  sentAtMs: number;
  messageId: string;
  index: number;
  count: number;
  chunk: Uint8Array;
  stream?: Uint8Array;
  seq?: number;
}

/** What sets one version's pointers apart (SPEC §11.2). */
export interface Format {
  version: 1 | 2;
  ad: Uint8Array;
  signature: Uint8Array;
  idLabel: Uint8Array;
  keyInfo: string;
  extra: number;
}

const label = (text: string): Uint8Array => utf8ToBytes(text);
export const FORMATS: Readonly<Record<"1" | "2", Format>> = {
  "1": { version: 1, ad: label("pb1"), signature: label("pb1 signature\x00"), idLabel: label("pb1 message id\x00"), keyInfo: "pb1 message key", extra: 0 },
  "2": { version: 2, ad: label("pb2"), signature: label("pb2 signature\x00"), idLabel: label("pb2 message id\x00"), keyInfo: "pb2 message key", extra: STREAM_BYTES + 4 },
};

/** A message's id: hex of the first 16 bytes of SHA-256(label || sender key || unique) (SPEC §7 step 9). */
export function messageId(fmt: Format, senderKey: Uint8Array, unique: Uint8Array): string {
  return toHex(sha256(concatBytes(fmt.idLabel, senderKey, unique)).subarray(0, 16));
}

/** The text to show and the content of a whole body: pb1's text, pb2's record (`malformed` if not one). */
export function readBody(fmt: Format, data: Uint8Array): { content: Content; body: string } {
  if (fmt.version === 1) {
    const text = decodeUtf8(data);
    if (text === null) throw new PointerError("malformed", "the message body is not valid UTF-8");
    return { content: { kind: "text", text }, body: text };
  }
  const content = decodeContent(data);
  return { content, body: contentBody(content) };
}

/** Options of sealing: the time, a carrier's limit, and (for test vectors) the random source. */
export interface SealOptions {
  sentAtMs?: number;
  maxChars?: number;
  random?: (n: number) => Uint8Array;
}

let lastSentMs = 0;

/** Now in milliseconds, at least one after the last seal of this page: a burst keeps its order. */
function nextSentMs(): number {
  lastSentMs = Math.max(Date.now(), lastSentMs + 1);
  return lastSentMs;
}

function encrypt(chat: ChatKey, fmt: Format, nonce: Uint8Array, inner: Uint8Array): string {
  const envelope = concatBytes(nonce, routingTag(chat, nonce));
  const key = hkdf(chat.key, fmt.keyInfo, nonce);
  const ciphertext = chacha20poly1305(key, AEAD_NONCE, concatBytes(fmt.ad, envelope)).encrypt(inner);
  return armor(fmt.version, concatBytes(envelope, ciphertext));
}

function sealOne(chat: ChatKey, sender: Identity, fmt: Format, nonce: Uint8Array, head: Uint8Array, body: Uint8Array): string {
  const signedLength = head.length + body.length + SIGNATURE_BYTES;
  const signature = sign(sender.seed, concatBytes(fmt.signature, chat.chatId, nonce, head, body));
  const padding = new Uint8Array(paddedLength(signedLength) - signedLength);
  return encrypt(chat, fmt, nonce, concatBytes(head, body, signature, padding));
}

function headOf(sender: Identity, sentMs: number, extra: Uint8Array, split: Uint8Array | null, bodyLength: number): Uint8Array {
  const user = utf8ToBytes(sender.username);
  return concatBytes(
    Uint8Array.of(split ? FLAG_SPLIT : 0),
    uintBytes(sentMs, 8),
    sender.publicKey,
    Uint8Array.of(user.length),
    user,
    extra,
    split ?? new Uint8Array(0),
    uintBytes(bodyLength, 4),
  );
}

function partCapacity(fixed: number, maxChars: number | undefined): number {
  const payload = maxChars === undefined ? MAX_PAYLOAD_BYTES : maxPayloadBytes(maxChars);
  const bucket = largestPaddedAtMost(payload - ENVELOPE_BYTES - AEAD_TAG_BYTES);
  return bucket ? bucket - fixed : -1;
}

/** Where the parts of a body start (and its end): balanced chunks, every part in one bucket (SPEC §8). */
function balanced(length: number, capacity: number, fixed: number): number[] {
  let count = Math.ceil(length / capacity);
  for (;;) {
    if (count > MAX_PARTS) throw new PointerError("oversize", `the message needs ${count} pointers; the limit is ${MAX_PARTS}`);
    const base = Math.floor(length / count);
    const extra = length % count;
    if (!extra || paddedLength(fixed + base) === paddedLength(fixed + base + 1)) {
      return Array.from({ length: count + 1 }, (_, i) => i * base + Math.min(i, extra));
    }
    count += 1;
  }
}

function sealBytes(chat: ChatKey, sender: Identity, fmt: Format, data: Uint8Array, extra: Uint8Array, options: SealOptions): string[] {
  const maxChars = options.maxChars;
  if (maxChars !== undefined && (!Number.isInteger(maxChars) || maxChars < 1)) {
    throw new InvalidInput("maxChars is a positive number of characters");
  }
  const random = options.random ?? randomBytes;
  const sentMs = options.sentAtMs ?? nextSentMs();
  if (!Number.isInteger(sentMs) || sentMs < 0 || sentMs > MAX_SENT_AT_MS) throw new InvalidInput("sentAtMs is out of range");
  if (data.length > MAX_MESSAGE_BYTES) {
    throw new PointerError("oversize", `a message is at most ${MAX_MESSAGE_BYTES} bytes, not ${data.length}`);
  }
  const fixed = FIXED_BYTES + extra.length + utf8ToBytes(sender.username).length;
  if (data.length <= partCapacity(fixed, maxChars)) {
    return [sealOne(chat, sender, fmt, random(NONCE_BYTES), headOf(sender, sentMs, extra, null, data.length), data)];
  }
  const chunk = partCapacity(fixed + SPLIT_BYTES, maxChars);
  if (chunk < 1) throw new InvalidInput(`maxChars=${maxChars} cannot hold even one byte of a message`);
  const bounds = balanced(data.length, chunk, fixed + SPLIT_BYTES);
  const count = bounds.length - 1;
  const id = random(MESSAGE_ID_BYTES);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const piece = data.subarray(bounds[i] as number, bounds[i + 1] as number);
    const split = concatBytes(id, uintBytes(i, 2), uintBytes(count, 2));
    out.push(sealOne(chat, sender, fmt, random(NONCE_BYTES), headOf(sender, sentMs, extra, split, piece.length), piece));
  }
  return out;
}

/** Seal a text from `sender` into pb1 pointers for `chat` (one, or the parts of a split message). */
export function seal(chat: ChatKey, sender: Identity, body: string, options: SealOptions = {}): string[] {
  if (typeof body !== "string") throw new InvalidInput("a message body is text");
  return sealBytes(chat, sender, FORMATS["1"], utf8ToBytes(body), new Uint8Array(0), options);
}

/** Seal a content into pb2 pointers: `stream` (8 bytes, not all zero) and `seq` (1 to 2^32 - 1) are the sender's. */
export function sealContent(
  chat: ChatKey,
  sender: Identity,
  content: Content,
  stream: Uint8Array,
  seq: number,
  options: SealOptions = {},
): string[] {
  if (!(stream instanceof Uint8Array) || stream.length !== STREAM_BYTES || stream.every((b) => b === 0)) {
    throw new InvalidInput("a stream is 8 bytes, not all zero");
  }
  if (!Number.isInteger(seq) || seq < 1 || seq > MAX_SEQ) throw new InvalidInput(`a sequence number is 1 to ${MAX_SEQ}`);
  const record = encodeContent(content);
  return sealBytes(chat, sender, FORMATS["2"], record, concatBytes(stream, uintBytes(seq, 4)), options);
}

/** A fresh stream: 8 random bytes, never all zero. */
export function newStream(): Uint8Array {
  for (;;) {
    const stream = randomBytes(STREAM_BYTES);
    if (stream.some((b) => b !== 0)) return stream;
  }
}

/** Check the routing tag and open the AEAD (SPEC §7 steps 2-4): the nonce and the padded inner plaintext. */
function decrypt(chat: ChatKey, fmt: Format, payload: Uint8Array): { nonce: Uint8Array; inner: Uint8Array } {
  if (payload.length < MIN_PAYLOAD_BYTES) throw new PointerError("truncated", `${payload.length} bytes is shorter than any pointer`);
  const nonce = payload.subarray(0, NONCE_BYTES);
  const tag = payload.subarray(NONCE_BYTES, ENVELOPE_BYTES);
  if (!tagMatches(chat, nonce, tag)) {
    throw new PointerError("no_match", `the pointer is not for chat '${chat.name}', or the secret is wrong`);
  }
  const key = hkdf(chat.key, fmt.keyInfo, nonce);
  try {
    const inner = chacha20poly1305(key, AEAD_NONCE, concatBytes(fmt.ad, nonce, tag)).decrypt(payload.subarray(ENVELOPE_BYTES));
    return { nonce, inner };
  } catch {
    throw new PointerError("aead", "the pointer was altered: authenticated decryption failed");
  }
}

function isNormalizedUsername(username: string): boolean {
  try {
    return normalizeUsername(username) === username;
  } catch (error) {
    if (error instanceof InvalidName) return false;
    throw error;
  }
}

/** Parse and check an opened plaintext (SPEC §7 steps 5-9, §11.4). */
function parse(chat: ChatKey, fmt: Format, nonce: Uint8Array, inner: Uint8Array): Message | Part {
  const flags = inner[0] as number;
  const sentMs = readSmall(inner.subarray(1, 3)) * 2 ** 48 + readSmall(inner.subarray(3, 9));
  const senderKey = inner.slice(9, 41);
  const userLength = inner[41] as number;
  if (flags & ~FLAG_SPLIT) throw new PointerError("malformed", `unknown flags 0x${flags.toString(16).padStart(2, "0")}`);
  if (sentMs > MAX_SENT_AT_MS) throw new PointerError("malformed", "the send time is after the year 9999");
  let pos = HEAD_BYTES + userLength;
  let stream: Uint8Array | undefined;
  let seq: number | undefined;
  if (fmt.version === 2) {
    if (pos + fmt.extra > inner.length) throw new PointerError("malformed", "the stream and sequence number run past the end");
    stream = inner.slice(pos, pos + STREAM_BYTES);
    seq = readSmall(inner.subarray(pos + STREAM_BYTES, pos + fmt.extra));
    if (stream.every((b) => b === 0)) throw new PointerError("malformed", "stream 0 is not a stream");
    if (!seq) throw new PointerError("malformed", "sequence numbers start at 1");
    pos += fmt.extra;
  }
  let split: { id: Uint8Array; index: number; count: number } | null = null;
  if (flags & FLAG_SPLIT) {
    if (pos + SPLIT_BYTES > inner.length) throw new PointerError("malformed", "the split header runs past the end");
    split = {
      id: inner.slice(pos, pos + 16),
      index: readSmall(inner.subarray(pos + 16, pos + 18)),
      count: readSmall(inner.subarray(pos + 18, pos + 20)),
    };
    pos += SPLIT_BYTES;
  }
  if (pos + 4 > inner.length) throw new PointerError("malformed", "the body length runs past the end");
  const bodyLength = readSmall(inner.subarray(pos, pos + 4));
  const headEnd = pos + 4;
  const end = headEnd + bodyLength + SIGNATURE_BYTES;
  if (end > inner.length) throw new PointerError("malformed", "the body runs past the end");
  const userBytes = inner.subarray(HEAD_BYTES, HEAD_BYTES + userLength);
  const username = decodeUtf8(userBytes);
  if (username === null) throw new PointerError("malformed", "the username is not valid UTF-8");
  if (inner.length !== paddedLength(end) || inner.subarray(end).some((b) => b !== 0)) {
    throw new PointerError("padding", "the padding is not canonical zero padding");
  }
  if (!userBytes.length || !isNormalizedUsername(username)) {
    throw new PointerError("malformed", "the username is empty or not in normalized form");
  }
  if (split && !(split.count >= 2 && split.index < split.count)) {
    throw new PointerError("malformed", `part ${split.index} of ${split.count} is impossible`);
  }
  const data = inner.slice(headEnd, headEnd + bodyLength);
  const read = split ? null : readBody(fmt, data);
  if (!isStrictPublicKey(senderKey)) {
    throw new PointerError("signature", `the sender key of '${username}' is of small order or not canonical`, true);
  }
  const signed = concatBytes(fmt.signature, chat.chatId, nonce, inner.subarray(0, end - SIGNATURE_BYTES));
  if (!verifySignature(senderKey, inner.subarray(end - SIGNATURE_BYTES, end), signed)) {
    throw new PointerError("signature", `the signature of '${username}' does not verify`);
  }
  const numbering = stream !== undefined && seq !== undefined ? { stream, seq } : {};
  if (split) {
    return {
      version: fmt.version,
      chat: chat.name,
      username,
      senderKey,
      sentAtMs: sentMs,
      messageId: toHex(split.id),
      index: split.index,
      count: split.count,
      chunk: data,
      ...numbering,
    };
  }
  const { content, body } = read as { content: Content; body: string };
  return {
    version: fmt.version,
    chat: chat.name,
    username,
    senderKey,
    fingerprint: fingerprint(senderKey),
    sentAtMs: sentMs,
    body,
    id: messageId(fmt, senderKey, nonce),
    content,
    ...numbering,
    ...(fmt.version === 2 ? { record: data } : {}),
  };
}

/** Open one pointer of `chat` (pb1 or pb2): a message, or a part of a split one. Throws PointerError. */
export function unseal(chat: ChatKey, pointer: string): Message | Part {
  const { version, payload } = decodeArmor(pointer);
  const fmt = FORMATS[version as "1" | "2"];
  const { nonce, inner } = decrypt(chat, fmt, payload);
  return parse(chat, fmt, nonce, inner);
}

/** Whether a pointer is sealed under `chat`: its routing tag is the chat's and its AEAD opens (SPEC §7 step 3). */
export function belongsTo(chat: ChatKey, pointer: string): boolean {
  try {
    const { version, payload } = decodeArmor(pointer);
    decrypt(chat, FORMATS[version as "1" | "2"], payload);
    return true;
  } catch (error) {
    if (error instanceof PointerError) return false;
    throw error;
  }
}

/** Whether `item` is a part of a split message (else a whole message). */
export function isPart(item: Message | Part): item is Part {
  return "messageId" in item;
}
