/**
 * What a pb2 message says: its typed content record (SPEC §11.3; core/content.py). Every
 * record has one encoding: encodeContent(decodeContent(record)) is the record again.
 */
import { base64url, concatBytes, decodeUtf8, fromHex, readSmall, readUint, toHex, uintBytes, utf8ToBytes } from "./bytes.js";
import { InvalidInput, PointerError } from "./errors.js";
import { categories } from "./unicode.js";

export const TEXT = 1;
export const REPLY = 2;
export const EDIT = 3;
export const DELETE = 4;
export const ATTACHMENT = 5;
export const ROTATION = 6;
const ID_BYTES = 16;
const NOTICE_FIXED_BYTES = 1 + 32 + 32 + 8 + 64;
const MAX_SIZE = 2n ** 64n - 1n;

/** One message's content. A kind this version does not know is "unknown": a message it cannot show. */
export type Content =
  | { kind: "text"; text: string }
  | { kind: "reply"; target: string; text: string }
  | { kind: "edit"; target: string; text: string }
  | { kind: "delete"; target: string }
  | {
      kind: "attachment";
      fileKey: Uint8Array;
      hash: Uint8Array;
      size: bigint;
      name: string;
      mediaType: string;
      locators: [string, string][];
      caption: string;
    }
  | { kind: "rotation"; username: string; oldKey: Uint8Array; newKey: Uint8Array; atMs: bigint; signature: Uint8Array }
  | { kind: "unknown"; code: number; data: Uint8Array };


const HIDING = categories("Cf", "Zl", "Zp", "Co", "Cn");

function malformed(message: string): never {
  throw new PointerError("malformed", message);
}

/** The UTF-8 length of `text` with a lone surrogate as 3 bytes (Python's surrogatepass). */
function surrogatepassLength(text: string): number {
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A pair's two halves are 2 bytes each (4 in all); a lone half is 3, as any other up to U+FFFF.
    const paired = (c & 0xfc00) === 0xd800 ? (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 : (c & 0xfc00) === 0xdc00 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800;
    size += c < 0x80 ? 1 : c < 0x800 || paired ? 2 : 3;
  }
  return size;
}

/** Why `name` is no base name (null: it is one), as core/content.py judges it. */
export function nameProblem(name: string): string | null {
  const size = surrogatepassLength(name);
  if (size < 1 || size > 255) return `a file name is 1 to 255 bytes, not ${size}`;
  if (name === "." || name === "..") return `'${name}' is not a file name`;
  if (/[/\\\x00-\x1f\x7f-\x9f]/.test(name)) return "a file name holds no folder separator or control character";
  if (HIDING.any(name)) return "a file name holds no invisible or direction-changing character";
  return null;
}

function asciiProblem(text: string, what: string, low: number): string | null {
  if (text.length < 1 || text.length > 255) return `a ${what} is 1 to 255 printable ASCII characters`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < low || c > 0x7e) return `a ${what} is 1 to 255 printable ASCII characters`;
  }
  return null;
}

function check(problem: string | null): void {
  if (problem !== null) throw new InvalidInput(problem);
}

function targetBytes(target: string): Uint8Array {
  if (typeof target !== "string" || !/^[0-9a-f]{32}$/.test(target)) {
    throw new InvalidInput("a target is a message id: 32 lowercase hex digits");
  }
  return fromHex(target);
}

function textBytes(text: string): Uint8Array {
  if (typeof text !== "string") throw new InvalidInput("a message's text is a string");
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)) {
    throw new InvalidInput("a message's text is not encodable as UTF-8 (a lone surrogate)");
  }
  return utf8ToBytes(text);
}

function latin1(data: Uint8Array): string {
  return String.fromCharCode(...data);
}

function attachmentFields(c: Extract<Content, { kind: "attachment" }>): Uint8Array {
  if (!(c.fileKey instanceof Uint8Array) || c.fileKey.length !== 32) throw new InvalidInput("a file key is 32 bytes");
  if (!(c.hash instanceof Uint8Array) || c.hash.length !== 32) throw new InvalidInput("a blob's hash is 32 bytes");
  if (typeof c.size !== "bigint" || c.size < 0n || c.size > MAX_SIZE) throw new InvalidInput("a file's size is 0 to 2^64 - 1 bytes");
  check(nameProblem(c.name));
  check(asciiProblem(c.mediaType, "media type", 0x20));
  if (c.locators.length < 1 || c.locators.length > 255) throw new InvalidInput("an attachment names 1 to 255 locators");
  const name = textBytes(c.name);
  const locators = c.locators.map(([carrier, value]) => {
    check(asciiProblem(carrier, "carrier kind", 0x21));
    const raw = textBytes(value);
    if (raw.length < 1 || raw.length > 0xffff) throw new InvalidInput(`a locator's value is 1 to 65535 bytes, not ${raw.length}`);
    return concatBytes(Uint8Array.of(carrier.length), utf8ToBytes(carrier), uintBytes(raw.length, 2), raw);
  });
  return concatBytes(
    c.fileKey,
    c.hash,
    uintBytes(c.size, 8),
    Uint8Array.of(name.length),
    name,
    Uint8Array.of(c.mediaType.length),
    utf8ToBytes(c.mediaType),
    Uint8Array.of(c.locators.length),
    ...locators,
    textBytes(c.caption),
  );
}

function rotationProblem(notice: Uint8Array): string | null {
  const ulen = notice[0] ?? 0;
  if (!ulen || notice.length !== NOTICE_FIXED_BYTES + ulen) {
    return "a rotation record is a notice's bytes: no username, or the wrong length";
  }
  if (decodeUtf8(notice.subarray(1, 1 + ulen)) === null) return "the username of a rotation record is not valid UTF-8";
  return null;
}

/** A rotation notice's bytes: ulen || username || old key || new key || at_ms || signature (docs/KEYS.md). */
export function noticeBytes(c: Extract<Content, { kind: "rotation" }>): Uint8Array {
  const name = textBytes(c.username);
  if (name.length > 255) throw new InvalidInput("a rotation's username is at most 255 bytes");
  return concatBytes(Uint8Array.of(name.length), name, c.oldKey, c.newKey, uintBytes(c.atMs, 8), c.signature);
}

/** The content record of `content` (SPEC §11.3); InvalidInput for one a reader would refuse. */
export function encodeContent(content: Content): Uint8Array {
  switch (content.kind) {
    case "text":
      return concatBytes(Uint8Array.of(TEXT), textBytes(content.text));
    case "reply":
    case "edit":
      return concatBytes(
        Uint8Array.of(content.kind === "reply" ? REPLY : EDIT),
        targetBytes(content.target),
        textBytes(content.text),
      );
    case "delete":
      return concatBytes(Uint8Array.of(DELETE), targetBytes(content.target));
    case "attachment":
      return concatBytes(Uint8Array.of(ATTACHMENT), attachmentFields(content));
    case "rotation": {
      const notice = noticeBytes(content);
      check(rotationProblem(notice));
      return concatBytes(Uint8Array.of(ROTATION), notice);
    }
    case "unknown":
      if (!Number.isInteger(content.code) || content.code < 7 || content.code > 0xff) {
        throw new InvalidInput(`kind ${content.code} is not a kind this version does not know`);
      }
      return concatBytes(Uint8Array.of(content.code), content.data);
  }
}

class Reader {
  pos = 0;
  constructor(readonly data: Uint8Array) {}

  take(size: number, what: string): Uint8Array {
    const end = this.pos + size;
    if (end > this.data.length) malformed(`the ${what} runs past the end of the record`);
    const out = this.data.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  short(what: string, prefix = 1): Uint8Array {
    return this.take(readSmall(this.take(prefix, `length of the ${what}`)), what);
  }

  rest(): Uint8Array {
    return this.data.subarray(this.pos);
  }
}

function utf8(data: Uint8Array, what: string): string {
  const text = decodeUtf8(data);
  return text === null ? malformed(`the ${what} is not valid UTF-8`) : text;
}

function decodeAttachment(data: Uint8Array): Content {
  const read = new Reader(data);
  const fixed = read.take(72, "file key, hash and size");
  const name = utf8(read.short("file name"), "file name");
  const nameBad = nameProblem(name);
  if (nameBad !== null) malformed(nameBad);
  const mediaType = latin1(read.short("media type"));
  const typeBad = asciiProblem(mediaType, "media type", 0x20);
  if (typeBad !== null) malformed(typeBad);
  const count = read.take(1, "locator count")[0] as number;
  if (!count) malformed("an attachment names no locator");
  const locators: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const carrier = latin1(read.short("carrier kind"));
    const carrierBad = asciiProblem(carrier, "carrier kind", 0x21);
    if (carrierBad !== null) malformed(carrierBad);
    const value = utf8(read.short("locator value", 2), "locator value");
    if (!value) malformed("a locator's value is empty");
    locators.push([carrier, value]);
  }
  const caption = utf8(read.rest(), "caption");
  return {
    kind: "attachment",
    fileKey: fixed.slice(0, 32),
    hash: fixed.slice(32, 64),
    size: readUint(fixed.subarray(64, 72)),
    name,
    mediaType,
    locators,
    caption,
  };
}

/** The content a record holds; PointerError("malformed") unless it is exactly one. */
export function decodeContent(record: Uint8Array): Content {
  if (!record.length) malformed("the content record is empty");
  const kind = record[0] as number;
  const fields = record.subarray(1);
  if (kind === TEXT) return { kind: "text", text: utf8(fields, "message text") };
  if (kind === REPLY || kind === EDIT || kind === DELETE) {
    if (fields.length < ID_BYTES) malformed("the target runs past the end of the record");
    const target = toHex(fields.subarray(0, ID_BYTES));
    if (kind === DELETE) {
      if (fields.length !== ID_BYTES) malformed(`${fields.length - ID_BYTES} bytes follow a delete's target`);
      return { kind: "delete", target };
    }
    const text = utf8(fields.subarray(ID_BYTES), "message text");
    return kind === REPLY ? { kind: "reply", target, text } : { kind: "edit", target, text };
  }
  if (kind === ATTACHMENT) return decodeAttachment(fields);
  if (kind === ROTATION) {
    const problem = rotationProblem(fields);
    if (problem !== null) malformed(problem);
    const ulen = fields[0] as number;
    const pos = 1 + ulen;
    return {
      kind: "rotation",
      username: utf8(fields.subarray(1, pos), "rotation username"),
      oldKey: fields.slice(pos, pos + 32),
      newKey: fields.slice(pos + 32, pos + 64),
      atMs: readUint(fields.subarray(pos + 64, pos + 72)),
      signature: fields.slice(pos + 72, pos + 136),
    };
  }
  if (kind === 0) malformed("content kind 0 is not a kind");
  return { kind: "unknown", code: kind, data: fields.slice() };
}

/** The text to show for a content: a text, reply's or edit's text, a caption, a rotation's two lines; "" else. */
export function contentBody(content: Content): string {
  switch (content.kind) {
    case "text":
    case "reply":
    case "edit":
      return content.text;
    case "attachment":
      return content.caption;
    case "rotation": {
      const raw = noticeBytes(content);
      return (
        `${content.username} changed their key; this notice is signed by the old one.\n` +
        `pb-rotate-1 ${base64url(raw)}`
      );
    }
    default:
      return "";
  }
}
