/**
 * The text of HTML (a mail's HTML part, a chat export's page) as the finder needs it, the
 * way bridges/email_format.py `_html_text` makes it: every tag a line break, entities undone
 * as Python's `html.unescape` does, so `&gt; pb1...` in a quoted reply reads `> pb1...`.
 * Linear in the text; nothing is parsed into a document.
 *
 * Only what changes what the finder sees is kept of the entity table: the entities that are
 * ignorable characters (SPEC §4: whitespace, `>`, zero-width marks, soft hyphen) and the one
 * that is alphabet (`&fjlig;`). Any other entity is a character outside the alphabet, a
 * separator, which a name left as written (`&copy;`) already is to the finder. The names
 * that need no `;` matter for their length: `&notpb2...` is `¬pb2...` to Python.
 */

const REPLACEMENT = "\ufffd"; // any separator: neither alphabet nor ignorable

const NAMED: ReadonlyMap<string, string> = new Map(Object.entries({
  "gt": ">", "GT": ">", "gt;": ">", "GT;": ">", "nbsp": "\u00a0", "nbsp;": "\u00a0",
  "NonBreakingSpace;": "\u00a0", "shy": "\u00ad", "shy;": "\u00ad", "Tab;": "\t", "NewLine;": "\n",
  "ensp;": "\u2002", "emsp;": "\u2003", "emsp13;": "\u2004", "emsp14;": "\u2005", "numsp;": "\u2007",
  "puncsp;": "\u2008", "thinsp;": "\u2009", "ThinSpace;": "\u2009", "hairsp;": "\u200a",
  "VeryThinSpace;": "\u200a", "MediumSpace;": "\u205f", "ThickSpace;": "\u205f\u200a",
  "ZeroWidthSpace;": "\u200b", "NegativeMediumSpace;": "\u200b", "NegativeThickSpace;": "\u200b",
  "NegativeThinSpace;": "\u200b", "NegativeVeryThinSpace;": "\u200b", "zwnj;": "\u200c",
  "zwj;": "\u200d", "NoBreak;": "\u2060", "fjlig;": "fj",
}));

// HTML5's names that are entities without a `;` (Python: html.entities.html5 keys without one).
const BARE = new Set(
  ("Aacute aacute Acirc acirc acute AElig aelig Agrave agrave AMP amp Aring aring Atilde atilde " +
    "Auml auml brvbar Ccedil ccedil cedil cent COPY copy curren deg divide Eacute eacute Ecirc ecirc " +
    "Egrave egrave ETH eth Euml euml frac12 frac14 frac34 GT gt Iacute iacute Icirc icirc iexcl " +
    "Igrave igrave iquest Iuml iuml laquo LT lt macr micro middot nbsp not Ntilde ntilde Oacute " +
    "oacute Ocirc ocirc Ograve ograve ordf ordm Oslash oslash Otilde otilde Ouml ouml para plusmn " +
    "pound QUOT quot raquo REG reg sect shy sup1 sup2 sup3 szlig THORN thorn times Uacute uacute " +
    "Ucirc ucirc Ugrave ugrave uml Uuml uuml Yacute yacute yen yuml").split(" "),
);

function bare(name: string): string {
  return NAMED.get(name) ?? REPLACEMENT;
}

/** A number's character as Python's unescape gives it (its replacements and removals). */
function numbered(code: number): string {
  if (code === 0 || (code >= 0x80 && code <= 0x9f)) return REPLACEMENT; // Python: U+FFFD or cp1252
  if (code === 0x0d) return "\r";
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return REPLACEMENT;
  const removed =
    (code >= 0x1 && code <= 0x8) || code === 0xb || (code >= 0xe && code <= 0x1f) || code === 0x7f ||
    (code >= 0xfdd0 && code <= 0xfdef) || (code & 0xfffe) === 0xfffe;
  return removed ? "" : String.fromCodePoint(code);
}

const REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** `text` with its character references undone as Python's `html.unescape` does for finding. */
export function unescapeHtml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(REFERENCE, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      const digits = ref.replace(/^#[xX]?|;$/g, "");
      const code = /^#[xX]/.test(ref) ? parseInt(digits, 16) : parseInt(digits, 10);
      return numbered(Number.isSafeInteger(code) ? code : 0x110000);
    }
    const named = NAMED.get(ref);
    if (named !== undefined) return named;
    if (BARE.has(ref) || BARE.has(ref.replace(/;$/, ""))) return bare(ref.replace(/;$/, ""));
    // The longest name that needs no `;` at its start: `&gtpb2...` is `>pb2...`.
    for (let end = ref.length - 1; end > 1; end--) {
      const name = ref.slice(0, end);
      if (BARE.has(name)) return bare(name) + ref.slice(end);
    }
    return whole; // unknown, or an entity outside the table: a separator as written
  });
}

const TAG = /<[^<>]*>/g;

/** The text of an HTML document or fragment, for finding pointers in it. */
export function htmlText(html: string): string {
  return unescapeHtml(html.replace(TAG, "\n"));
}
