/**
 * What a paste or a file is searched as: its text as it is, and what the text hides from a
 * finder reading it raw. A mail's parts decoded (mail.ts); a JSON chat export's strings as
 * they read (a Telegram result.json writes a line break as `\n`, which glues the `n` to the
 * `pb` of a pointer on the next line); an HTML page's text with its entities undone. And the
 * finder run over all of it in pieces, so a text of any size the page reads is searched
 * (the core refuses one string of more than 11 M characters unread).
 */
import { ALPHABET, IGNORABLES } from "../core/armor.js";
import { findPointers } from "../core/index.js";
import { htmlText } from "./htmltext.js";
import { decodeMails, isMail, isMbox } from "./mail.js";

/** The texts to search, and what to tell the person about them. */
export interface Searched {
  readonly texts: string[];
  readonly notes: string[];
}

const PIECE = 1 << 22; // characters the finder is given at once
const NOT_SEPARATOR = new Set(ALPHABET + IGNORABLES);
const MAX_STRINGS = 1_000_000; // strings read out of a JSON export

/** Every string value of a JSON document, in document order, at most MAX_STRINGS. */
function jsonStrings(text: string, notes: string[]): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return []; // not JSON after all: its raw text is searched
  }
  const strings: string[] = [];
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") {
      if (strings.push(item) >= MAX_STRINGS) {
        notes.push(`Only the first ${MAX_STRINGS} strings of this JSON were read as text.`);
        break;
      }
    } else if (item !== null && typeof item === "object") {
      const values: unknown[] = Array.isArray(item) ? item : Object.values(item);
      for (let index = values.length - 1; index >= 0; index--) stack.push(values[index]); // no spread: an export has 100,000s
    }
  }
  return strings;
}

/** `text` and what is hidden in it: decoded mail parts, JSON strings, HTML text. */
export async function searchable(text: string, fileName = ""): Promise<Searched> {
  const searched: Searched = { texts: [text], notes: [] };
  const start = text.trimStart().slice(0, 1);
  if (isMail(text) || isMbox(text)) {
    const decoded = await decodeMails(text);
    searched.texts.push(...decoded.texts);
    searched.notes.push(`Read as a mail: ${decoded.parts} MIME part(s) decoded.`, ...decoded.notes);
  } else if (start === "{" || start === "[") searched.texts.push(jsonStrings(text, searched.notes).join("\n"));
  else if (start === "<" || /\.html?$/i.test(fileName)) searched.texts.push(htmlText(text));
  return searched;
}

/** `text` in pieces of at most about PIECE characters, cut only where no pointer can pass. */
function* pieces(text: string): Generator<string> {
  let start = 0;
  while (text.length - start > PIECE) {
    let cut = start + PIECE;
    // Back to a separator (neither alphabet nor ignorable): a pointer never spans one.
    while (cut > start + PIECE / 2 && NOT_SEPARATOR.has(text[cut - 1] as string)) cut -= 1;
    if (cut === start + PIECE / 2) cut = start + PIECE; // no separator in 2 M characters: no pointer either
    yield text.slice(start, cut);
    start = cut;
  }
  yield text.slice(start);
}

/** Every distinct pointer in `texts`, in the order first found. */
export function findAll(texts: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of texts) for (const piece of pieces(text)) for (const pointer of findPointers(piece)) found.add(pointer);
  return [...found];
}
