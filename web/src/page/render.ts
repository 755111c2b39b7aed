/**
 * The messages of a paste as the page shows them: one section per chat, its gaps, then each
 * line with its sender, time, trust mark and body. Everything a sender controls goes in as
 * text (`el`'s `text`), made safe by `safeText`/`shownName` first.
 */
import type { Content } from "../core/index.js";
import { el, humanSize, safeText, shownName, shownTime } from "./dom.js";
import type { PasteResult } from "./opening.js";
import { buildView, gapLine } from "./view.js";
import type { Line, Trust } from "./view.js";

export const NO_PINS =
  "This page has no long-term pins: it judges senders from what is pasted here only (the first key " +
  "under a name is trusted for this paste). The app on your computer remembers keys; check there when it matters.";
const NO_FILES = "This page cannot fetch files: save them with pbridge save on a computer.";

const MARKS: Record<Trust, [string, string]> = {
  first: ["key first seen in this paste", "mark first"],
  same: ["✓", "mark same"],
  changed: ["KEY CHANGED: NOT VERIFIED AS THIS SENDER", "mark changed"],
};

/** What a reply button does: the page's reply box is told which message is answered. */
export type OnReply = (chatIndex: number, line: Line) => void;

function fileLabel(content: Extract<Content, { kind: "attachment" }>): string {
  return `[file: ${content.name}, ${humanSize(Number(content.size))}, ${content.mediaType}]`;
}

// Named by its sender, whose name the line's head shows: the name inside the notice is the
// sender's words too, and one naming someone else must not read as that person's change.
function rotationText(sender: string, content: Extract<Content, { kind: "rotation" }>): string {
  const other = content.username === sender ? "" : ` (the notice names ${shownName(content.username)}, not its sender: ignore it)`;
  return `-- ${shownName(sender)} says they changed key${other} (this page cannot check a key change: verify in person) --`;
}

function bodyOf(line: Line): HTMLElement {
  const body = el("div", { class: "body" });
  const add = (text: string, cls = "text"): void => {
    body.append(el("span", { class: cls, text: safeText(text, true) }));
  };
  const content = line.message.content;
  if (line.forged || (line.note !== undefined && (line.kind === "edit" || line.kind === "delete"))) {
    add(`[${line.note ?? ""}]`, line.forged ? "flag forged" : "note");
    if (line.kind === "edit") add(line.body);
  } else if (line.deleted) add("(deleted by its sender)", "note");
  else {
    if (line.kind === "reply" && line.quote === undefined) add(`(${line.note ?? ""})`, "note");
    if (line.kind === "unknown") add(`(${line.note ?? ""})`, "note");
    else if (line.kind === "attachment" && content?.kind === "attachment") {
      add(fileLabel(content), "attached");
      if (line.body !== "") add(line.body);
    } else if (line.kind === "rotation" && content?.kind === "rotation") add(rotationText(line.message.username, content), "note");
    else if (line.body !== "" || line.kind !== "reply") add(line.body);
    if (line.edited) add("(edited)", "note");
  }
  if (line.replayed) add("[replayed: not a new message]", "flag");
  return body;
}

function lineElement(line: Line, reply: (() => void) | null): HTMLElement {
  const [mark, markClass] = MARKS[line.trust];
  const m = line.message;
  const head = el(
    "div",
    { class: "head" },
    el("span", { class: "name", text: shownName(m.username) }),
    el("span", { class: markClass, text: mark, attrs: { title: `key ${m.fingerprint}` } }),
    el("time", { text: shownTime(m.sentAtMs) }),
  );
  const quote =
    line.kind === "reply" && line.quote !== undefined && !line.deleted
      ? el("div", { class: "quote", text: safeText(`↳ ${shownName(line.quoteFrom ?? "")}: ${line.quote}`) })
      : null;
  const foot = el("div", { class: "foot" }, el("small", { class: "id", text: `#${m.id.slice(0, 8)} · ${m.fingerprint}` }));
  if (reply !== null) foot.append(el("button", { class: "quiet reply-to", text: "Reply", attrs: { type: "button" } }));
  foot.querySelector("button")?.addEventListener("click", () => reply?.());
  const classes = ["msg", line.trust === "changed" || line.forged ? "alarm" : "", line.deleted ? "gone" : ""];
  return el("article", { class: classes.join(" ").trim(), attrs: { "data-id": m.id } }, head, quote, bodyOf(line), foot);
}

function summary(result: PasteResult): string {
  const opened = result.chats.reduce((n, c) => n + c.messages.length, 0);
  const parts = [`${result.found} pointer${result.found === 1 ? "" : "s"} found`, `${opened} message${opened === 1 ? "" : "s"} opened`];
  if (result.unmatched) parts.push(`${result.unmatched} for no chat typed here`);
  if (result.unreadable) parts.push(`${result.unreadable} damaged`);
  return parts.join(" · ");
}

/** The results of a paste; `pins`: the reader's own name pinned to their key. */
export function renderResults(result: PasteResult, pins: ReadonlyMap<string, string>, onReply: OnReply | null): HTMLElement {
  const out = el("div", { class: "results" }, el("p", { class: "summary", text: summary(result) }));
  let files = false;
  for (const [index, share] of result.chats.entries()) {
    const view = buildView(share.messages, pins);
    const section = el("section", { class: "chat-view", attrs: { "data-chat": share.chat.key.name } },
      el("h3", { text: `${safeText(share.chat.key.name)} · ${view.lines.length} shown` }));
    for (const gap of view.gaps) section.append(el("p", { class: "gap", text: safeText(gapLine({ ...gap, username: shownName(gap.username) })) }));
    const problems: string[] = [];
    if (share.damaged) problems.push(`${share.damaged} pointer(s) of this chat did not open: damaged or forged`);
    if (share.incomplete) problems.push(`${share.incomplete} split message(s) with parts not in this paste`);
    if (share.refused) problems.push(`${share.refused} part(s) refused: they do not fit their message`);
    for (const problem of problems) section.append(el("p", { class: "gap", text: problem }));
    for (const line of view.lines) {
      files ||= line.kind === "attachment";
      section.append(lineElement(line, onReply === null ? null : () => onReply(index, line)));
    }
    out.append(section);
  }
  if (files) out.append(el("p", { class: "status", text: NO_FILES }));
  out.append(el("p", { class: "pins", text: NO_PINS }));
  return out;
}
