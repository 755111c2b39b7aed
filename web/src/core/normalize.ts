/**
 * Names as SPEC §2.1 normalizes them: NFKC, zero-width characters removed, whitespace runs
 * (Python's str.split()) joined by one space, full Unicode case folding (Python's
 * str.casefold(), from a table generated from it: JavaScript's toLowerCase is not folding).
 * Categories are Python's (unicode_table.ts), not the browser's newer Unicode: see clean().
 */
import { InvalidInput, InvalidName } from "./errors.js";
import { categories } from "./unicode.js";
import { CASEFOLD_DATA } from "./unicode_table.js";

const MAX_CHAT_NAME_BYTES = 128;
const MAX_USERNAME_BYTES = 64;
const ZERO_WIDTH = /[\u200b\u200c\u200d\u2060\ufeff\u00ad]/g;
/** Every character Python's str.isspace() calls whitespace: what str.split() splits on. */
export const WHITESPACE =
  "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" +
  "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const SPLIT = new RegExp(`[${WHITESPACE}]+`, "u");
const encoder = new TextEncoder();

let folds: Map<number, string> | null = null;

function foldTable(): Map<number, string> {
  if (folds === null) {
    folds = new Map();
    for (const line of CASEFOLD_DATA.split("\n")) {
      const key = line.codePointAt(0) as number;
      folds.set(key, line.slice(key > 0xffff ? 2 : 1));
    }
  }
  return folds;
}

/** Python's str.casefold(): full Unicode case folding, one code point at a time. */
export function casefold(text: string): string {
  if (/^[\x00-\x7f]*$/.test(text)) return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  const table = foldTable();
  let out = "";
  for (const ch of text) out += table.get(ch.codePointAt(0) as number) ?? ch;
  return out;
}

/** Python's " ".join(text.split()). */
export function collapseWhitespace(text: string): string {
  return text
    .split(SPLIT)
    .filter((word) => word !== "")
    .join(" ");
}

/** The UTF-8 byte length of `text`. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** A name's normal form, or why it has none (SPEC §2.1). */
export type Cleaned = { text: string; problem: null } | { text: null; problem: string };

const UNASSIGNED = categories("Cn");
const FORBIDDEN = categories("Cc", "Cf", "Cs", "Co", "Cn");

/** `name` normalized as a chat name (`fold`) or a username, without throwing. */
export function cleanName(name: string, what: string, limit: number, fold: boolean): Cleaned {
  const refuse = (problem: string): Cleaned => ({ text: null, problem: `${what} ${problem}` });
  if (typeof name !== "string") return refuse("must be text");
  // A character unassigned in Python's Unicode stays in Python's NFKC result, so Python
  // refuses the name; the browser's NFKC may know it (compatibility characters added
  // since, e.g. U+1CCF0 OUTLINED DIGIT ZERO -> "0") and let the name through. Refused
  // first, so that NFKC only ever sees characters both Unicodes have, where normalization
  // stability makes the two agree.
  if (UNASSIGNED.any(name)) return refuse("contains unassigned characters");
  let text = collapseWhitespace(name.normalize("NFKC").replace(ZERO_WIDTH, ""));
  if (fold) text = casefold(text);
  if (!text) return refuse("is empty");
  if (FORBIDDEN.any(text)) return refuse("contains control or unassigned characters");
  if (utf8Length(text) > limit) return refuse(`is longer than ${limit} bytes of UTF-8`);
  return { text, problem: null };
}

function clean(name: string, what: string, limit: number, fold: boolean): string {
  const done = cleanName(name, what, limit, fold);
  if (done.problem !== null) throw new InvalidName(done.problem);
  return done.text;
}

export const MAX_NAME_BYTES = { chat: MAX_CHAT_NAME_BYTES, username: MAX_USERNAME_BYTES } as const;

/** The form of a chat name that keys are bound to (SPEC §2.1). Throws InvalidName. */
export function normalizeChatName(name: string): string {
  return clean(name, "chat name", MAX_CHAT_NAME_BYTES, true);
}

/** The form of a username that identities are bound to and pointers carry: no case folding. */
export function normalizeUsername(name: string): string {
  return clean(name, "username", MAX_USERNAME_BYTES, false);
}

/** A secret (chat secret, master phrase) as Argon2id takes it: NFC, UTF-8, non-empty. */
export function secretBytes(secret: string, what: string): Uint8Array {
  if (typeof secret !== "string") throw new InvalidInput(`${what} must be text`);
  if (!secret) throw new InvalidInput(`${what} is empty`);
  if (/\p{Cs}/u.test(secret.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""))) {
    throw new InvalidInput(`${what} is not valid Unicode text`);
  }
  return encoder.encode(secret.normalize("NFC"));
}
