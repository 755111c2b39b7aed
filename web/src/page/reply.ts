/**
 * The reply box: a message sealed as pb2 under one of the chats unlocked, signed by the
 * identity given, numbered in this page session's own stream, and its pointer(s) shown
 * with a Copy button to paste into the carrier's app.
 */
import { sealContent } from "../core/index.js";
import type { Content } from "../core/index.js";
import { el, safeText, shownName } from "./dom.js";
import type { Session } from "./session.js";
import type { Line } from "./view.js";

/** Copies `text`; where the browser refuses (no clipboard on file:// for some), the text is
 * selected for the reader's own Copy. */
async function copy(text: string, box: HTMLTextAreaElement, status: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = "Copied: paste it into the chat's app.";
  } catch {
    box.focus();
    box.select();
    status.textContent = "Selected: copy it with your device's Copy.";
  }
}

function pointerBox(pointer: string, label: string): HTMLElement {
  const box = el("textarea", { class: "pointer", attrs: { readonly: "", rows: "3", spellcheck: "false" } });
  box.value = pointer;
  const status = el("small", { class: "status" });
  const button = el("button", { class: "copy", text: `Copy ${label}`, attrs: { type: "button" } });
  button.addEventListener("click", () => void copy(pointer, box, status));
  return el("div", { class: "sealed" }, box, el("div", { class: "row" }, button, status));
}

/** The reply box; `changed`: after sealing (the page shows what was sent). */
export function replyBox(session: Session, changed: () => void): { element: HTMLElement; answer: (chat: number, line: Line) => void } {
  const chat = el("select", { attrs: { name: "reply-chat" } });
  const text = el("textarea", { attrs: { id: "reply", rows: "3", placeholder: "Your message" } });
  const answering = el("p", { class: "answering" });
  const status = el("p", { class: "status" });
  const out = el("div", { class: "out" });
  const seal = el("button", { text: "Seal", attrs: { type: "submit" } });
  let target: { chat: number; id: string } | null = null;
  const form = el("form", { class: "card reply-box" },
    el("label", { class: "field" }, el("span", { text: "Chat" }), chat),
    answering,
    el("label", { class: "field" }, el("span", { text: "Message" }), text),
    el("div", { class: "row" }, seal),
    status,
    out,
    el("small", { text: "This page is a sending device of its own: its messages are numbered 1, 2, 3… in a stream of this session." }));
  const refresh = (): void => {
    const chats = session.chats();
    const chosen = chat.value;
    chat.replaceChildren(...chats.map((c, i) => el("option", { text: safeText(c.key.name), attrs: { value: String(i) } })));
    if (chosen !== "" && Number(chosen) < chats.length) chat.value = chosen;
    const ready = chats.length > 0 && session.identity !== null;
    seal.disabled = !ready;
    if (!ready) status.textContent = chats.length === 0 ? "Unlock a chat to reply." : "Unlock your identity to reply.";
    else if (status.textContent?.startsWith("Unlock")) status.textContent = "";
  };
  session.onChange(refresh);
  // A message opened with a forgotten key must not stay on the page: the line being
  // answered is quoted here, and the draft is plaintext too.
  session.onForget(() => {
    target = null;
    answering.textContent = "";
    text.value = "";
    out.replaceChildren();
    status.textContent = "";
  });
  refresh();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const me = session.identity;
    const open = session.chats()[Number(chat.value)];
    if (me === null || open === undefined || text.value === "") return;
    const content: Content = target !== null && target.chat === Number(chat.value)
      ? { kind: "reply", target: target.id, text: text.value }
      : { kind: "text", text: text.value };
    try {
      const pointers = sealContent(open.key, me, content, session.stream, session.nextSeq(open.key));
      out.replaceChildren(...pointers.map((p, i) => pointerBox(p, pointers.length === 1 ? "pointer" : `part ${i + 1} of ${pointers.length}`)));
      status.textContent = pointers.length === 1 ? "Sealed: copy the pointer into the chat." : `Sealed in ${pointers.length} pointers: copy each into the chat.`;
      session.sent.push(...pointers);
      text.value = "";
      target = null;
      answering.textContent = "";
      changed();
    } catch (error) {
      status.textContent = `Cannot seal: ${error instanceof Error ? error.message : String(error)}`;
    }
  });
  return {
    element: form,
    answer: (index: number, line: Line) => {
      target = { chat: index, id: line.message.id };
      chat.value = String(index);
      answering.textContent = `Replying to ${shownName(line.message.username)}: ${safeText(line.body.split("\n", 1)[0] ?? "").slice(0, 80)}`;
      text.focus();
    },
  };
}
