/**
 * Text armor (SPEC §4): "pb", a version character, three base62 length digits, then the
 * payload in 32-byte blocks, each written as exactly C(n) base62 digits. Decoding accepts
 * only the canonical encoding and ignores whitespace, `>` and zero-width characters.
 */
import { PointerError } from "./errors.js";
import { WHITESPACE } from "./normalize.js";

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const MAX_PAYLOAD_BYTES = 32 * 1024;
export const HEADER_CHARS = 6;
const BLOCK_BYTES = 32;
const BLOCK_CHARS = 43;
/** C(n): the digits a block of n bytes takes (the smallest c with 62^c >= 256^n). */
export const CHARS_FOR: readonly number[] = Array.from({ length: BLOCK_BYTES + 1 }, (_, n) => {
  let c = 0;
  while (62n ** BigInt(c) < 256n ** BigInt(n)) c++;
  return c;
});
export const MAX_POINTER_CHARS = encodedLength(MAX_PAYLOAD_BYTES);
/** Longer input is refused unread: room for a line break or quote after every character. */
export const MAX_INPUT_CHARS = 4 * MAX_POINTER_CHARS;
/** What mail and chat clients insert when they wrap or quote (SPEC §4 step 2). */
export const IGNORABLES = WHITESPACE + ">\u200b\u200c\u200d\u2060\ufeff\u00ad";
const IGNORABLE_RUN = new RegExp(`[${IGNORABLES}]+`, "gu");
const NOT_ALPHABET = /[^0-9A-Za-z]/u;
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;
/** The versions read here: pb1 and pb2 share the envelope (SPEC §11). */
export const VERSION_CHARS = "12";
const GROUP = 8; // base62 digits per JavaScript number step (62^8 < 2^53)
const GROUP_VALUE = 62n ** BigInt(GROUP);

/** Characters in the armor of a payload of this many bytes. */
export function encodedLength(payloadBytes: number): number {
  const full = Math.floor(payloadBytes / BLOCK_BYTES);
  return HEADER_CHARS + full * BLOCK_CHARS + (CHARS_FOR[payloadBytes % BLOCK_BYTES] as number);
}

/** The largest payload whose armor fits in `maxChars` characters (0 if none). */
export function maxPayloadBytes(maxChars: number): number {
  if (maxChars < HEADER_CHARS) return 0;
  const room = maxChars - HEADER_CHARS;
  const full = Math.floor(room / BLOCK_CHARS);
  const restChars = room % BLOCK_CHARS;
  let rest = 0;
  for (let r = 0; r < BLOCK_BYTES; r++) if ((CHARS_FOR[r] as number) <= restChars) rest = r;
  return Math.min(MAX_PAYLOAD_BYTES, full * BLOCK_BYTES + rest);
}

/** The value of base62 `text` (alphabet characters only: checked by the caller). */
export function base62Value(text: string): bigint {
  let value = 0n;
  for (let start = 0; start < text.length; start += GROUP) {
    const group = text.slice(start, start + GROUP);
    let part = 0;
    for (let i = 0; i < group.length; i++) part = part * 62 + (DIGIT[group.charCodeAt(i)] as number);
    value = value * 62n ** BigInt(group.length) + BigInt(part);
  }
  return value;
}

/** `value` as exactly `chars` base62 digits. */
function base62Digits(value: bigint, chars: number): string {
  let out = "";
  let v = value;
  while (out.length < chars) {
    let part = Number(v % GROUP_VALUE);
    v /= GROUP_VALUE;
    for (let i = 0; i < GROUP && out.length < chars; i++) {
      out = ALPHABET[part % 62] + out;
      part = Math.floor(part / 62);
    }
  }
  if (v !== 0n) throw new RangeError("a value does not fit its digits");
  return out;
}

function blockValue(data: Uint8Array): bigint {
  let v = 0n;
  for (const byte of data) v = (v << 8n) | BigInt(byte);
  return v;
}

/** Encode a payload (1 to 32768 bytes) as pointer text of `version` (1 to 9). */
export function armor(version: number, payload: Uint8Array): string {
  if (!Number.isInteger(version) || version < 1 || version > 9) throw new RangeError("a version is a digit 1 to 9");
  if (payload.length < 1 || payload.length > MAX_PAYLOAD_BYTES) {
    throw new PointerError("oversize", `a payload is 1 to ${MAX_PAYLOAD_BYTES} bytes, not ${payload.length}`);
  }
  const parts = ["pb", ALPHABET[version] as string, base62Digits(BigInt(payload.length), 3)];
  for (let start = 0; start < payload.length; start += BLOCK_BYTES) {
    const block = payload.subarray(start, start + BLOCK_BYTES);
    parts.push(base62Digits(blockValue(block), CHARS_FOR[block.length] as number));
  }
  return parts.join("");
}

/** Python's len(): code points, not UTF-16 units. */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Decode the blocks of a checked pointer: a block whose value does not fit its bytes is `noncanonical`. */
function decodeBlocks(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let pos = 0;
  for (let start = 0; start < length; start += BLOCK_BYTES) {
    const size = Math.min(BLOCK_BYTES, length - start);
    const chars = CHARS_FOR[size] as number;
    let value = base62Value(text.slice(pos, pos + chars));
    pos += chars;
    if (value >> BigInt(8 * size) !== 0n) {
      throw new PointerError("noncanonical", `block at byte ${start} holds more than ${size} bytes`);
    }
    for (let i = size - 1; i >= 0; i--) {
      out[start + i] = Number(value & 0xffn);
      value >>= 8n;
    }
  }
  return out;
}

/** Decode text that must be exactly one pointer (SPEC §4 steps 1-8): its version and payload. */
export function decodeArmor(text: string): { version: string; payload: Uint8Array } {
  if (typeof text !== "string") throw new PointerError("armor", "a pointer is text");
  if (text.length > MAX_INPUT_CHARS && codePoints(text) > MAX_INPUT_CHARS) {
    throw new PointerError("oversize", `input of ${codePoints(text)} characters is refused unread`);
  }
  const compact = text.replace(IGNORABLE_RUN, "");
  const bad = NOT_ALPHABET.exec(compact);
  if (bad) throw new PointerError("armor", `character ${JSON.stringify(bad[0])} is not in the pointer alphabet`);
  if (!compact.startsWith("pb")) throw new PointerError("armor", "the text does not start with the pointer prefix 'pb'");
  if (compact.length < HEADER_CHARS) throw new PointerError("truncated", "the text ends inside the pointer header");
  const version = compact[2] as string;
  if (!VERSION_CHARS.includes(version)) {
    throw new PointerError("version", `pointer version '${version}' is not supported (this reads pb1 and pb2)`);
  }
  const length = Number(base62Value(compact.slice(3, HEADER_CHARS)));
  if (length > MAX_PAYLOAD_BYTES) {
    throw new PointerError("oversize", `the pointer declares ${length} bytes; the limit is ${MAX_PAYLOAD_BYTES}`);
  }
  if (length === 0) throw new PointerError("armor", "the pointer declares an empty payload");
  const expected = encodedLength(length);
  if (compact.length < expected) {
    throw new PointerError("truncated", `the pointer has ${compact.length} of its ${expected} characters`);
  }
  if (compact.length > expected) {
    throw new PointerError("armor", `${compact.length - expected} characters follow the end of the pointer`);
  }
  return { version, payload: decodeBlocks(compact.slice(HEADER_CHARS), length) };
}
