/**
 * Finding pointers in arbitrary text (SPEC §4, "Finding"), as core/finding.py does: the
 * text is first compacted (ignorables removed, every other character outside the
 * alphabet a `.` that ends a run, a `p` that may start a candidate, not right after an
 * alphabet character, written `!`), then candidates are judged one by one.
 */
import { ALPHABET, CHARS_FOR, codePoints, HEADER_CHARS, IGNORABLES, MAX_INPUT_CHARS, MAX_PAYLOAD_BYTES, VERSION_CHARS, encodedLength, base62Value } from "./armor.js";
import { PointerError } from "./errors.js";

const IGNORABLE_SET = new Set(IGNORABLES);
const ALPHABET_SET = new Set(ALPHABET);
/** The armor of the largest value of r bytes: a block is canonical when it sorts at most as high. */
const LARGEST: readonly string[] = CHARS_FOR.map((chars, r) => {
  let v = (1n << BigInt(8 * r)) - 1n;
  let out = "";
  while (out.length < chars) {
    out = ALPHABET[Number(v % 62n)] + out;
    v /= 62n;
  }
  return out;
});

/** `text` as the finder sees it, with a `.` at each end (where runs end too). */
export function compact(text: string): string {
  const out: string[] = ["."];
  let afterAlphabet = false;
  for (const ch of text) {
    if (ALPHABET_SET.has(ch)) {
      out.push(ch === "p" && !afterAlphabet ? "!" : ch);
      afterAlphabet = true;
    } else if (IGNORABLE_SET.has(ch)) {
      afterAlphabet = false;
    } else {
      out.push(".");
      afterAlphabet = false;
    }
  }
  out.push(".");
  return out.join("");
}

const CANDIDATE = /!b[1-9](?=[0-8.])/g;
const GLUED = /pb[1-9](?=[0-8.])/y;

function firstNoncanonical(data: string, length: number): number | null {
  const full = Math.floor(length / 32);
  const rest = length % 32;
  const top = LARGEST[32] as string;
  for (let block = 0; block < full; block++) {
    if (data.slice(block * 43, block * 43 + 43) > top) return block * 32;
  }
  if (rest && data.slice(full * 43) > (LARGEST[rest] as string)) return full * 32;
  return null;
}

/** Each pointer found in `text` (compact, in order) and each candidate refused (its error). */
export function* scan(text: string): Generator<string | PointerError> {
  if (typeof text !== "string") throw new PointerError("armor", "pointers are found in text");
  // Characters as Python counts them (code points): a UTF-16 length over the limit may not be.
  if (text.length > 64 * MAX_INPUT_CHARS && codePoints(text) > 64 * MAX_INPUT_CHARS) {
    throw new PointerError("oversize", `text of ${codePoints(text)} characters is refused unread`);
  }
  const data = compact(text);
  const runs = { end: -1 };
  let pos = 0;
  let glued = false;
  for (;;) {
    let start = -1;
    if (glued) {
      GLUED.lastIndex = pos;
      if (GLUED.test(data)) start = pos;
    }
    if (start < 0) {
      CANDIDATE.lastIndex = pos;
      const match = CANDIDATE.exec(data);
      if (!match) return;
      start = match.index;
    }
    const [stop, refused] = judge(data, start, runs);
    pos = stop >= 0 ? stop : start + 3;
    glued = refused === null;
    yield refused ?? data.slice(start, stop).replace(/!/g, "p");
  }
}

/**
 * The end of the candidate at `start` and why it is refused (null: a pointer), or -1 when
 * incomplete. `runs.end` is the `.` ending the run of the last candidate judged: pointers
 * glued end to end in one long run would each search the rest of it again (quadratic: an
 * 11-million-character paste of them hung the page), as core/finding.py's _end_of_run.
 */
function judge(data: string, start: number, runs: { end: number }): [number, PointerError | null] {
  const header = data.slice(start + 3, start + HEADER_CHARS);
  if (header.includes(".")) return [-1, new PointerError("truncated", "the text ends inside a pointer header")];
  const length = Number(base62Value(header.replace(/!/g, "p")));
  if (length > MAX_PAYLOAD_BYTES) {
    return [-1, new PointerError("oversize", `the pointer declares ${length} bytes; the limit is ${MAX_PAYLOAD_BYTES}`)];
  }
  if (length === 0) return [-1, new PointerError("armor", "the pointer declares an empty payload")];
  const stop = start + encodedLength(length);
  if (start >= runs.end) runs.end = data.indexOf(".", start); // there is one: compact() ends the text with it
  if (stop > runs.end) return [-1, new PointerError("truncated", "the text ends before the pointer does")];
  if (VERSION_CHARS.includes(data[start + 2] as string)) {
    const bad = firstNoncanonical(data.slice(start + HEADER_CHARS, stop).replace(/!/g, "p"), length);
    if (bad !== null) return [stop, new PointerError("noncanonical", `block at byte ${bad} holds more than its bytes`)];
  }
  return [stop, null];
}

/** Every well-formed pointer inside `text`, compact, in order of appearance (SPEC §4). */
export function findPointers(text: string): string[] {
  const found: string[] = [];
  for (const item of scan(text)) if (typeof item === "string") found.push(item);
  return found;
}
