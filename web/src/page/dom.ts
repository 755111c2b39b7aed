/**
 * Building the page's elements. Text goes in through `textContent` only: nothing a sender
 * wrote (a name, a body, a file name) is ever parsed as markup. `safeText` also shows the
 * characters that would let a sender reorder or hide what the reader sees (bidi overrides,
 * zero-width marks, control characters) as escapes, as the command line's app/escape.py does.
 */

type Child = Node | string | null | undefined | false;

export interface Props {
  readonly class?: string;
  readonly text?: string;
  readonly attrs?: Readonly<Record<string, string>>;
}

/** `<tag class=... attrs...>children</tag>`; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class !== undefined) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// General categories Cc, Cf, Zl, Zp, Co, Cs, Cn: what app/escape.py shows as escapes.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}]/gu;

function escaped(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`;
}

/** `text` with control and format characters made visible; with `multiline` a line break
 * stays one (the element shows it: `white-space: pre-wrap`). */
export function safeText(text: string, multiline = false): string {
  if (!multiline) return text.replace(HIDDEN, escaped);
  return text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => line.replace(HIDDEN, escaped))
    .join("\n");
}

// Glyphs a name could use to pass for a trust mark, written as their code instead: those of
// app/names.py's mark_glyphs (every character Unicode names a check mark or a root/radical
// sign: tests/test_web_view.py checks the two agree), and the warning and lock signs.
const MARK_LIKE =
  /[\u0606\u0607\u221a-\u221c\u237b\u23b7\u2611\u2705\u2713\u2714\u{10102}\u{1f5f8}\u{1f5f9}\u{1fbb1}\u26a0\u{1f512}\u{1f510}]/gu;

/** A sender's name as shown: `safeText`, and a glyph that looks like a mark spelled out. */
export function shownName(name: string): string {
  return safeText(name).replace(MARK_LIKE, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16)}`);
}

/** Milliseconds since the epoch as `2026-12-07 09:31` in the reader's time zone. */
export function shownTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** Bytes as people read them: 512 B, 2.4 KB, 5.0 MB (as app/display.py's human_size). */
export function humanSize(size: number): string {
  if (size < 1000) return `${size} B`;
  let power = Math.min(String(size).length - 1, 9) / 3;
  power = Math.floor(power);
  if (power < 3 && size / 1000 ** power >= 999.95) power += 1;
  return `${(size / 1000 ** power).toFixed(1)} ${["KB", "MB", "GB"][power - 1] ?? "GB"}`;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
