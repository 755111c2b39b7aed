/**
 * A chat's messages as people read them, as the command line shows them (app/view.py,
 * app/gaps.py): replies quoted, edits and deletes applied when signed by the target's own
 * key, forgeries flagged, kinds this version cannot show said so, replays and gaps counted
 * per sender stream. And trust judged from the paste alone: this page keeps no pins, so
 * the first key seen under a name (in paste order) is pinned for this paste, and another
 * key under that name is a loud KEY CHANGED. Pure: no DOM.
 */
import type { Content, Message } from "../core/index.js";
import { hex } from "./dom.js";
import type { Opened } from "./opening.js";

export const CANNOT_SHOW = "a message this version cannot show";
export const DELETED = "deleted by its sender";
export const NOT_HERE = "a message not in this paste";
const QUOTE_CHARS = 120;

/** How the page judges a sender: `first`: the first key seen under this name here (pinned
 * for this paste); `same`: that key again; `changed`: another key under a known name. */
export type Trust = "first" | "same" | "changed";

/** One line of a chat as shown. */
export interface Line {
  readonly message: Message;
  readonly kind: string; // text, reply, edit, delete, attachment, rotation, unknown
  readonly trust: Trust;
  readonly body: string;
  readonly target?: string;
  readonly quote?: string; // a reply's quote of its target's first line
  readonly quoteFrom?: string; // the name its target was sent under
  readonly edited: boolean;
  readonly deleted: boolean;
  readonly forged: boolean;
  readonly replayed: boolean;
  readonly note?: string;
}

/** Messages of one sender key that have not arrived (summed over its streams). */
export interface Gap {
  readonly username: string;
  readonly count: number;
}

export interface ChatView {
  readonly lines: Line[];
  readonly gaps: Gap[];
}

export function kindOf(message: Message): string {
  return message.content?.kind ?? "text";
}

function targetOf(content: Content | undefined): string | undefined {
  return content !== undefined && "target" in content ? content.target : undefined;
}

// Counted in code points, as Python counts (app/view.py): UTF-16 units would cut an emoji
// in half, leaving a lone surrogate that shows as \ud83d.
function firstLine(body: string): string {
  const end = body.indexOf("\n");
  const line = end < 0 ? body : body.slice(0, end);
  if (line.length <= QUOTE_CHARS) return line;
  const chars = Array.from(line.slice(0, 2 * QUOTE_CHARS + 2)); // past 2 units a char: more than enough
  return chars.length <= QUOTE_CHARS ? line : `${chars.slice(0, QUOTE_CHARS - 1).join("")}…`;
}

/** Trust of each message in paste order; `pins`: names already pinned (the reader's own). */
export function judge(opened: readonly Opened[], pins: ReadonlyMap<string, string>): Map<string, Trust> {
  const known = new Map(pins);
  const trust = new Map<string, Trust>();
  for (const { message } of [...opened].sort((a, b) => a.order - b.order)) {
    const key = hex(message.senderKey);
    const pinned = known.get(message.username);
    if (pinned === undefined) known.set(message.username, key);
    trust.set(message.id, pinned === undefined ? "first" : pinned === key ? "same" : "changed");
  }
  return trust;
}

/** Gaps and replays of the pb2 numbering (app/gaps.py), messages in display order. */
export function numbering(messages: readonly Message[]): { gaps: Gap[]; replayed: Set<string> } {
  const streams = new Map<string, { sender: string; username: string; seqs: Map<number, string> }>();
  const replayed = new Set<string>();
  for (const m of messages) {
    if (m.stream === undefined || m.seq === undefined) continue;
    const sender = hex(m.senderKey);
    const key = `${sender}/${hex(m.stream)}`;
    const entry = streams.get(key) ?? { sender, username: m.username, seqs: new Map<number, string>() };
    const first = entry.seqs.get(m.seq);
    if (first === undefined) entry.seqs.set(m.seq, m.id);
    else if (first !== m.id) replayed.add(m.id);
    entry.username = m.username;
    streams.set(key, entry);
  }
  const bySender = new Map<string, Gap>();
  for (const { sender, username, seqs } of streams.values()) {
    let highest = 0; // a loop, not Math.max(...seqs): a spread of 200,000 numbers overflows the stack
    for (const seq of seqs.keys()) highest = Math.max(highest, seq);
    const missing = highest - seqs.size; // numbers from 1 to the highest not seen
    if (missing > 0) bySender.set(sender, { username, count: (bySender.get(sender)?.count ?? 0) + missing });
  }
  return { gaps: [...bySender.values()], replayed };
}

/** The view of a chat's opened messages (sorted here by sent time, then paste order). */
export function buildView(opened: readonly Opened[], pins: ReadonlyMap<string, string>): ChatView {
  const trust = judge(opened, pins);
  const shown = [...opened].sort((a, b) => a.message.sentAtMs - b.message.sentAtMs || a.order - b.order);
  const everything = shown.map((o) => o.message);
  const { gaps, replayed } = numbering(everything);
  const byId = new Map(everything.map((m) => [m.id, m]));
  const edits = new Map<string, string>();
  const deleted = new Set<string>();
  const ownLine = new Map<string, { forged: boolean; why: string }>();
  for (const m of everything) {
    const kind = kindOf(m);
    const target = targetOf(m.content);
    if ((kind !== "edit" && kind !== "delete") || target === undefined) continue;
    const aimed = byId.get(target);
    const action = kind === "edit" ? "an edit" : "a delete";
    const short = target.slice(0, 8);
    if (aimed === undefined) ownLine.set(m.id, { forged: false, why: `${action} of ${NOT_HERE} (#${short})` });
    else if (hex(aimed.senderKey) !== hex(m.senderKey))
      ownLine.set(m.id, {
        forged: true,
        why: `FORGED: ${action} of ${aimed.username}'s message #${short}, signed by ${m.username}`,
      });
    else if (!["text", "reply", "attachment"].includes(kindOf(aimed)))
      ownLine.set(m.id, { forged: false, why: `${action} of a message that cannot be changed (#${short})` });
    else if (kind === "delete") deleted.add(target);
    else if (!deleted.has(target)) edits.set(target, m.body);
  }
  const lines: Line[] = [];
  for (const m of everything) {
    const kind = kindOf(m);
    const base = { message: m, kind, trust: trust.get(m.id) ?? "first", replayed: replayed.has(m.id) };
    const target = targetOf(m.content);
    const own = ownLine.get(m.id);
    if (own !== undefined) {
      lines.push({ ...base, body: m.body, ...(target !== undefined && { target }), edited: false, deleted: false, forged: own.forged, note: own.why });
      continue;
    }
    if (kind === "edit" || kind === "delete") continue; // applied to its target
    let quote: { quote: string; quoteFrom: string } | undefined;
    let note: string | undefined;
    if (kind === "reply" && target !== undefined) {
      const quoted = byId.get(target);
      if (quoted === undefined) note = `a reply to ${NOT_HERE}`;
      else quote = { quote: deleted.has(target) ? DELETED : firstLine(edits.get(target) ?? quoted.body), quoteFrom: quoted.username };
    }
    if (kind === "unknown") note = CANNOT_SHOW;
    const gone = deleted.has(m.id);
    if (gone) note = DELETED;
    lines.push({
      ...base,
      body: gone ? "" : (edits.get(m.id) ?? m.body),
      ...(target !== undefined && { target }),
      ...quote,
      edited: edits.has(m.id) && !gone,
      deleted: gone,
      forged: false,
      ...(note !== undefined && { note }),
    });
  }
  return { lines, gaps };
}

/** "2 messages from bob have not arrived" (names not yet made safe: the caller does). */
export function gapLine(gap: Gap): string {
  const what = gap.count === 1 ? "1 message" : `${gap.count} messages`;
  return `${what} from ${gap.username} ${gap.count === 1 ? "has" : "have"} not arrived`;
}
