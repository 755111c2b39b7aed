/**
 * A mail (or an mbox of them) taken apart as bridges/email_format.py `scan_mail` does, so
 * that the page finds in it what the app finds: every text part decoded (quoted-printable's
 * soft line breaks and base64 cut or hide pointers in the raw text), HTML parts as text with
 * their entities undone. postal-mime does the MIME work; the bounds are the page's: a
 * hostile mail of thousands of parts is cut before postal-mime sees it (its time grows with
 * the square of the parts: 10,000 took 12 s), and what was left unread is said.
 */
import PostalMime from "postal-mime";
import type { Attachment } from "postal-mime";
import { htmlText } from "./htmltext.js";

/** MIME parts decoded per paste, at most (scan_mail reads 500 per mail). */
export const MAX_PARTS = 500;
const MAX_ATTACHED_DEPTH = 3; // mails attached to mails, opened this deep
const HEADER_BLOCK = /^(?:[\x21-\x39\x3b-\x7e]+:[^\n]*\n(?:[ \t][^\n]*\n)*)+\r?\n/;
const MIME_HEADER = /^(?:content-type|content-transfer-encoding|mime-version)[ \t]*:/im;
const MBOX_FROM = /(?:^|\n\r?\n)From [^\n]*\n/g;
const BOUNDARY = /boundary[ \t]*=[ \t]*(?:"([^"\r\n]*)"|([^\s;"]+))/gi;
const DASHES = /^--[^\r\n]*/gm;
const HEAD_LOOK = 1 << 21; // postal-mime refuses more header than this (2 MB) anyway

/** What taking a paste apart found: the texts to search besides it, and what to tell. */
export interface Decoded {
  readonly texts: string[];
  readonly notes: string[];
  parts: number; // MIME parts decoded
}

/** Whether `text` is a mail whose parts need decoding: headers, a MIME one among them, a blank line. */
export function isMail(text: string): boolean {
  const head = HEADER_BLOCK.exec(text.slice(0, HEAD_LOOK));
  return head !== null && MIME_HEADER.test(head[0]);
}

/** Whether `text` is an mbox: mails each after a `From ` line. */
export function isMbox(text: string): boolean {
  return text.startsWith("From ") && isMail(text.slice(text.indexOf("\n") + 1));
}

/** Where the part past `limit` starts (null: `mail` has no more parts than that), and the parts seen. */
function partsCut(mail: string, limit: number): [number | null, number] {
  const boundaries = new Set<string>();
  for (const match of mail.matchAll(BOUNDARY)) boundaries.add(match[1] ?? match[2] ?? "");
  let parts = 0;
  if (boundaries.size === 0) return [null, 1];
  for (const line of mail.matchAll(DASHES)) {
    if (!boundaries.has(line[0].slice(2).trimEnd())) continue; // closing lines end with "--": no new part
    parts += 1;
    if (parts > limit) return [line.index, limit];
  }
  return [null, Math.max(parts, 1)];
}

function asText(attachment: Attachment): string {
  const content = attachment.content;
  return typeof content === "string" ? content : new TextDecoder().decode(content);
}

function why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Decodes `mail` into `into`, within what is left of the parts budget. */
async function decodeMail(mail: string, into: Decoded, label: string, depth: number): Promise<void> {
  const left = MAX_PARTS - into.parts;
  if (left <= 0) return;
  const [cut, parts] = partsCut(mail, left);
  into.parts += parts;
  if (cut !== null) into.notes.push(`${label} has more than ${left} parts: the first ${left} were read, the rest were not.`);
  let email;
  try {
    email = await PostalMime.parse(cut === null ? mail : mail.slice(0, cut), { attachmentEncoding: "arraybuffer" });
  } catch (error) {
    into.notes.push(`${label} could not be taken apart (${why(error)}): only its raw text was searched.`);
    return;
  }
  into.texts.push(email.subject ?? "", email.text ?? "", htmlText(email.html ?? ""));
  for (const attachment of email.attachments) {
    const type = attachment.mimeType.toLowerCase();
    if (type === "text/html") into.texts.push(htmlText(asText(attachment)));
    else if (type.startsWith("text/")) into.texts.push(asText(attachment));
    else if (type === "message/rfc822" && depth < MAX_ATTACHED_DEPTH) {
      await decodeMail(asText(attachment), into, "A mail attached to it", depth + 1);
    }
  }
}

/** The decoded text parts of a mail or of every mail of an mbox, bounded by MAX_PARTS. */
export async function decodeMails(text: string): Promise<Decoded> {
  const into: Decoded = { texts: [], notes: [], parts: 0 };
  if (!isMbox(text)) {
    await decodeMail(text, into, "This mail", 0);
    return into;
  }
  const froms = [...text.matchAll(MBOX_FROM)];
  for (const [number, from] of froms.entries()) {
    if (into.parts >= MAX_PARTS) {
      into.notes.push(`Only the first ${number} of ${froms.length} mails were decoded (${MAX_PARTS} parts at most).`);
      break;
    }
    const mail = text.slice(from.index + from[0].length, froms[number + 1]?.index ?? text.length);
    await decodeMail(mail, into, `Mail ${number + 1}`, 0);
  }
  return into;
}
