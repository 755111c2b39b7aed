/**
 * The core with hex and JSON in and out, for test runners that drive the page from another
 * language (tests/test_web_vectors.py through Playwright): names and shapes as the test
 * vectors write them (snake_case, bytes as hex), every PointerError as its `expect`.
 */
import { blobHash, openBlob, sealBlob } from "./blob.js";
import { fromHex, toHex } from "./bytes.js";
import { type Content, encodeContent, nameProblem } from "./content.js";
import { BlobError, InvalidInput, PointerError } from "./errors.js";
import { isStrictPublicKey, verifySignature } from "./ed25519.js";
import { findPointers } from "./finding.js";
import { chatKeyFromBytes, deriveChatKey, deriveIdentity, identityFromSeed, identitySalt, readRecoveryCode } from "./keys.js";
import { type Message, type Part, isPart, sealContent, seal, unseal } from "./pointer.js";
import { MAX_NAME_BYTES, cleanName } from "./normalize.js";
import { Reassembler } from "./reassembly.js";

/** Why a one-character name is refused (null: it is not), per kind of name. */
const ONE_CHARACTER_CHECKS: Readonly<Record<string, (name: string) => string | null>> = {
  chat: (name) => cleanName(name, "chat name", MAX_NAME_BYTES.chat, true).problem,
  username: (name) => cleanName(name, "username", MAX_NAME_BYTES.username, false).problem,
  file: nameProblem,
};

/** The code points of `text` that `check` refuses as a one-character name, as [first, last] ranges. */
function refusedRanges(check: (name: string) => string | null, text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const ch of text) {
    if (check(ch) === null) continue;
    const cp = ch.codePointAt(0) as number;
    const last = out[out.length - 1];
    if (last && last[1] === cp - 1) last[1] = cp;
    else out.push([cp, cp]);
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type ContentJson = Record<string, Json>;

/** A content as the pb2 vectors write it: its kind's name and fields, bytes as hex. */
export function contentToJson(c: Content): ContentJson {
  switch (c.kind) {
    case "attachment":
      return {
        kind: c.kind,
        file_key: toHex(c.fileKey),
        hash: toHex(c.hash),
        size: c.size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(c.size) : c.size.toString(),
        name: c.name,
        media_type: c.mediaType,
        locators: c.locators.map(([carrier, value]) => ({ carrier, value })),
        caption: c.caption,
      };
    case "rotation":
      return { kind: c.kind, notice: toHex(encodeContent(c).subarray(1)) };
    case "unknown":
      return { kind: c.kind, code: c.code, data: toHex(c.data) };
    case "delete":
      return { kind: c.kind, target: c.target };
    default:
      return { ...c };
  }
}

/** The content the pb2 vectors write as JSON. */
export function contentFromJson(j: ContentJson): Content {
  const s = (key: string): string => j[key] as string;
  switch (j["kind"]) {
    case "text":
      return { kind: "text", text: s("text") };
    case "reply":
    case "edit":
      return { kind: j["kind"], target: s("target"), text: s("text") };
    case "delete":
      return { kind: "delete", target: s("target") };
    case "attachment":
      return {
        kind: "attachment",
        fileKey: fromHex(s("file_key")),
        hash: fromHex(s("hash")),
        size: BigInt(j["size"] as number | string),
        name: s("name"),
        mediaType: s("media_type"),
        locators: (j["locators"] as { carrier: string; value: string }[]).map((l) => [l.carrier, l.value]),
        caption: s("caption"),
      };
    case "rotation": {
      const notice = fromHex(s("notice"));
      const ulen = notice[0] ?? 0;
      const pos = 1 + ulen;
      let at = 0n;
      for (const byte of notice.subarray(pos + 64, pos + 72)) at = (at << 8n) | BigInt(byte);
      return {
        kind: "rotation",
        username: new TextDecoder().decode(notice.subarray(1, pos)),
        oldKey: notice.slice(pos, pos + 32),
        newKey: notice.slice(pos + 32, pos + 64),
        atMs: at,
        signature: notice.slice(pos + 72),
      };
    }
    case "unknown":
      return { kind: "unknown", code: j["code"] as number, data: fromHex(s("data")) };
    default:
      throw new InvalidInput(`no content kind ${String(j["kind"])}`);
  }
}

function numbering(item: Message | Part): ContentJson {
  return { version: item.version, stream: item.stream ? toHex(item.stream) : null, seq: item.seq ?? null };
}

/** A message or a part as plain JSON (bytes as hex). */
export function itemToJson(item: Message | Part): { message?: ContentJson; part?: ContentJson } {
  const common = { chat: item.chat, username: item.username, sender_key: toHex(item.senderKey), sent_at_ms: item.sentAtMs };
  if (isPart(item)) {
    return { part: { ...common, ...numbering(item), message_id: item.messageId, index: item.index, count: item.count, data: toHex(item.chunk) } };
  }
  return {
    message: {
      ...common,
      ...numbering(item),
      fingerprint: item.fingerprint,
      body: item.body,
      id: item.id,
      record: item.record ? toHex(item.record) : null,
      content: contentToJson(item.content),
    },
  };
}

/** Run `fn`; a PointerError or BlobError becomes its `expect`, InvalidInput "invalid"; other errors are thrown. */
type Outcome = { outcome: string; error?: string; [key: string]: unknown };

function outcome(fn: () => object): Outcome {
  try {
    return { outcome: "success", ...fn() };
  } catch (error) {
    if (error instanceof PointerError || error instanceof BlobError) return { outcome: error.expect, error: error.message };
    if (error instanceof InvalidInput) return { outcome: "invalid", error: error.message };
    throw error;
  }
}

async function outcomeAsync(fn: () => Promise<object>): Promise<Outcome> {
  try {
    return { outcome: "success", ...(await fn()) };
  } catch (error) {
    if (error instanceof InvalidInput) return { outcome: "invalid", error: error.message };
    throw error;
  }
}

/** A random source that replays `hex` and counts what is left. */
function replay(hex: string): { random: (n: number) => Uint8Array; left: () => number } {
  let drawn = fromHex(hex);
  return {
    random: (n) => {
      if (drawn.length < n) throw new Error("the seal drew more random bytes than given");
      const out = drawn.slice(0, n);
      drawn = drawn.subarray(n);
      return out;
    },
    left: () => drawn.length,
  };
}

/** The vector runners' entry points: hex and JSON in and out. */
export const hex = Object.freeze({
  chatKey: (name: string, secret: string, salt: string | null) =>
    outcomeAsync(async () => {
      const key = await deriveChatKey(name, secret, salt === null ? undefined : fromHex(salt));
      return {
        normalized_name: key.name,
        argon2_salt: toHex(key.argon2Salt),
        chat_key: toHex(key.key),
        routing_tag_key: toHex(key.tagKey),
        chat_id: toHex(key.chatId),
      };
    }),
  identity: (username: string, phrase: string, code: string | null) =>
    outcomeAsync(async () => {
      const ident = await deriveIdentity(username, phrase, code ?? undefined);
      const salt = identitySalt(username, code === null ? undefined : readRecoveryCode(code));
      return { username: ident.username, argon2_salt: toHex(salt), seed: toHex(ident.seed), public_key: toHex(ident.publicKey), fingerprint: ident.fingerprint };
    }),
  identityFromSeed: (username: string, seed: string) => {
    const ident = identityFromSeed(username, fromHex(seed));
    return { public_key: toHex(ident.publicKey), fingerprint: ident.fingerprint };
  },
  recoveryCode: (text: string) =>
    outcome(() => {
      const code = readRecoveryCode(text);
      return { memory_mib: code.memoryMiB, salt: toHex(code.salt) };
    }),
  find: (text: string): string[] => findPointers(text),
  /** Which characters of `text` a one-character chat name, username or file name refuses (ranges). */
  refusedNames: (which: string, text: string): [number, number][] => {
    const check = ONE_CHARACTER_CHECKS[which];
    if (check === undefined) throw new InvalidInput(`no name check ${which}`);
    return refusedRanges(check, text);
  },
  unseal: (chatName: string, key: string, pointer: string) => outcome(() => itemToJson(unseal(chatKeyFromBytes(chatName, fromHex(key)), pointer))),
  join: (chatName: string, key: string, pointers: string[]) =>
    outcome(() => {
      const chat = chatKeyFromBytes(chatName, fromHex(key));
      const joiner = new Reassembler();
      let done: Message | null = null;
      for (const text of pointers) done = joiner.add(unseal(chat, text));
      return done === null ? {} : itemToJson(done);
    }),
  seal: (chatName: string, key: string, seed: string, username: string, body: string, sentAtMs: number, maxChars: number | null, random: string) => {
    const source = replay(random);
    const options = { sentAtMs, random: source.random, ...(maxChars === null ? {} : { maxChars }) };
    const pointers = seal(chatKeyFromBytes(chatName, fromHex(key)), identityFromSeed(username, fromHex(seed)), body, options);
    return { pointers, random_left: source.left() };
  },
  seal2: (
    chatName: string,
    key: string,
    seed: string,
    username: string,
    content: ContentJson,
    stream: string,
    seq: number,
    sentAtMs: number,
    maxChars: number | null,
    random: string,
  ) => {
    const source = replay(random);
    const options = { sentAtMs, random: source.random, ...(maxChars === null ? {} : { maxChars }) };
    const c = contentFromJson(content);
    const chat = chatKeyFromBytes(chatName, fromHex(key));
    const pointers = sealContent(chat, identityFromSeed(username, fromHex(seed)), c, fromHex(stream), seq, options);
    return { pointers, record: toHex(encodeContent(c)), random_left: source.left() };
  },
  verify: (key: string, signature: string, message: string): { strict: boolean; verifies: boolean } => ({
    strict: isStrictPublicKey(fromHex(key)),
    verifies: verifySignature(fromHex(key), fromHex(signature), fromHex(message)),
  }),
  encodeContent: (content: ContentJson): string => toHex(encodeContent(contentFromJson(content))),
  sealBlob: (fileKey: string, plaintext: string): { blob: string; hash: string } => {
    const blob = sealBlob(fromHex(fileKey), fromHex(plaintext));
    return { blob: toHex(blob), hash: toHex(blobHash(blob)) };
  },
  openBlob: (fileKey: string, hash: string, size: number, blob: string) =>
    outcome(() => ({ plaintext: toHex(openBlob(fromHex(fileKey), fromHex(hash), BigInt(size), fromHex(blob))) })),
});
