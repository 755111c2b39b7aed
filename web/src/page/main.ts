/** The page: the core's API on `window.pointerbridge` (what the tests drive), and the UI. */
import * as core from "../core/index.js";
import { el, hex } from "./dom.js";
import { chatCard, identityCard } from "./forms.js";
import { openPaste } from "./opening.js";
import { pasteArea } from "./paste.js";
import { renderResults } from "./render.js";
import { findAll } from "./sources.js";
import { replyBox } from "./reply.js";
import { Session } from "./session.js";

declare global {
  interface Window {
    pointerbridge: typeof core;
  }
}

Object.defineProperty(window, "pointerbridge", { value: Object.freeze({ ...core }), enumerable: true });

function start(root: HTMLElement): void {
  const session = new Session();
  let pasted: string[] = []; // the pointers found in what is pasted
  const results = el("div", { class: "card messages", attrs: { id: "messages", "aria-live": "polite" } });
  const reply = replyBox(session, () => show());
  const show = (): void => {
    const found = [...pasted, ...findAll(session.sent)];
    const me = session.identity;
    const pins = new Map(me === null ? [] : [[me.username, hex(me.publicKey)]]);
    if (session.chats().length === 0) results.replaceChildren(el("p", { class: "status", text: "Unlock a chat to open the pointers pasted." }));
    else results.replaceChildren(renderResults(openPaste(found, session.chats()), pins, reply.answer));
  };
  const chats = el("div", { class: "chats" });
  const addChat = (): void => {
    chats.append(chatCard(session, (card) => card.remove()));
  };
  addChat();
  const another = el("button", { class: "quiet", text: "+ Another chat", attrs: { type: "button", id: "add-chat" } });
  another.addEventListener("click", addChat);
  const paste = pasteArea((pointers) => {
    pasted = pointers;
    show();
  });
  const forget = el("button", { class: "quiet", text: "Forget all secrets", attrs: { type: "button", id: "forget" } });
  forget.addEventListener("click", () => {
    // Each field's owner hears it cleared and drops its key, as when a person clears it.
    for (const field of root.querySelectorAll<HTMLInputElement>("input.secret, input[name=recovery]")) {
      field.value = "";
      field.dispatchEvent(new Event("input"));
    }
    session.forget();
  });
  session.onChange(show);
  root.replaceChildren(
    el("header", {},
      el("h1", { text: "Pointer Bridge" }),
      el("p", { text: "Opens and writes pointers in this browser. Nothing leaves this page and nothing is stored: close it and every secret is gone." })),
    el("div", { class: "layout" },
      el("div", { class: "side" },
        el("h2", { text: "Chats" }), chats, el("div", { class: "row" }, another, forget),
        el("h2", { text: "Paste" }), paste.element),
      el("div", { class: "main" },
        el("h2", { text: "Messages" }), results,
        el("h2", { text: "Reply" }), identityCard(session), reply.element)),
  );
  show();
}

const root = document.getElementById("app");
if (root !== null) start(root);
