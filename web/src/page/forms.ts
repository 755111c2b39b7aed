/**
 * The inputs: one card per chat (name and secret, and the salt of an invite: pasting a
 * `pbinvite1.` fills both name and salt) and the reader's identity (username, master
 * phrase, recovery code) to reply. A key lives in the session only while its fields are
 * as they were when it was derived: changing or clearing a field drops it.
 */
import { deriveChatKey, deriveIdentity, readInvite } from "../core/index.js";
import { el } from "./dom.js";
import { fromBase64, Latest } from "./derive.js";
import type { Session } from "./session.js";

function field(label: string, input: HTMLInputElement, hint?: string): HTMLLabelElement {
  return el("label", { class: "field" }, el("span", { text: label }), input, hint && el("small", { text: hint }));
}

// A password field in a form is what browsers and password managers offer to save (a chat
// secret or a master phrase in the browser's password store is on disk): where the browser
// can mask a text field, secrets are text fields masked by CSS, which none of them saves.
const MASKED = typeof CSS !== "undefined" && CSS.supports("-webkit-text-security", "disc");

function input(name: string, type = "text", placeholder = ""): HTMLInputElement {
  const secret = type === "password";
  const attrs: Record<string, string> = {
    type: secret && MASKED ? "text" : type,
    name,
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    placeholder,
    // the password managers' own "leave this field alone" marks (1Password, LastPass, Bitwarden)
    "data-1p-ignore": "true",
    "data-lpignore": "true",
    "data-bwignore": "true",
  };
  if (secret && !MASKED) attrs["autocomplete"] = "new-password"; // the fallback: asks not to fill it
  return el("input", secret ? { class: "secret", attrs } : { attrs });
}

function explain(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let cards = 0;

/** A chat card; `remove` takes it off the page (its key is dropped first). */
export function chatCard(session: Session, remove: (card: HTMLElement) => void): HTMLElement {
  const id = ++cards;
  const invite = input("invite", "text", "pbinvite1.… (optional)");
  const name = input("chat");
  const secret = input("secret", "password");
  const salt = input("salt", "text", "from the invite (optional)");
  const status = el("p", { class: "status", text: "Type the chat's name and secret, then Unlock." });
  const unlock = el("button", { text: "Unlock", attrs: { type: "submit" } });
  const drop = el("button", { class: "quiet", text: "Remove", attrs: { type: "button" } });
  const change = el("button", { class: "quiet change", text: "Change", attrs: { type: "button" } });
  const latest = new Latest();
  const form = el(
    "form",
    { class: "card chat", attrs: { "data-card": String(id) } },
    field("Invite", invite, "Pasting an invite fills the name and salt. It never holds the secret."),
    field("Chat name", name),
    field("Secret", secret),
    field("Salt", salt),
    el("div", { class: "row actions" }, unlock, drop),
    el("div", { class: "row state" }, status, change),
  );
  // Unlocked, the card folds to one line (its name, and Change to unfold it), so on a phone
  // the messages come right after it; any change to a field unfolds it again.
  change.addEventListener("click", () => form.classList.remove("folded"));
  const dropKey = (why: string): void => {
    form.classList.remove("folded");
    latest.cancel();
    session.setChat(id, "", null);
    status.textContent = why;
    status.className = "status";
  };
  invite.addEventListener("input", () => {
    if (invite.value.trim() === "") return;
    try {
      const read = readInvite(invite.value);
      name.value = read.name;
      salt.value = read.salt === undefined ? "" : btoa(String.fromCharCode(...read.salt));
      dropKey("Invite read: now type the secret you were told.");
    } catch (error) {
      status.textContent = `Not an invite: ${explain(error)}`;
      status.className = "status bad";
    }
  });
  for (const each of [name, salt]) each.addEventListener("input", () => dropKey("Changed: Unlock again."));
  secret.addEventListener("input", () =>
    dropKey(secret.value === "" ? "Secret cleared: its key is gone from this page." : "Changed: Unlock again."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void (async () => {
      try {
        const saltBytes = salt.value.trim() === "" ? undefined : fromBase64(salt.value);
        const key = await latest.run(status, () => deriveChatKey(name.value, secret.value, saltBytes));
        if (key === null) return;
        session.setChat(id, name.value, key);
        status.textContent = `Unlocked: ${key.name}`;
        status.className = "status good";
        form.classList.add("folded");
      } catch (error) {
        status.textContent = `Cannot unlock: ${explain(error)}`;
        status.className = "status bad";
      }
    })();
  });
  drop.addEventListener("click", () => {
    dropKey("");
    remove(form);
  });
  return form;
}

/** The reader's identity, needed only to reply. */
export function identityCard(session: Session): HTMLElement {
  const username = input("username");
  const phrase = input("phrase", "password");
  const code = input("recovery", "text", "(optional)");
  const status = el("p", { class: "status", text: "Only needed to reply: your name and master phrase." });
  const latest = new Latest();
  const form = el(
    "form",
    { class: "card identity" },
    field("Your username", username),
    field("Master phrase", phrase),
    field("Recovery code", code, "If your identity has one (pbridge whoami shows which)."),
    el("div", { class: "row" }, el("button", { text: "Unlock to reply", attrs: { type: "submit" } })),
    status,
  );
  for (const each of [username, phrase, code])
    each.addEventListener("input", () => {
      latest.cancel();
      session.setIdentity(null);
      status.textContent = phrase.value === "" ? "No identity on this page." : "Changed: Unlock again.";
      status.className = "status";
    });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void (async () => {
      try {
        const recovery = code.value.trim() === "" ? undefined : code.value;
        const me = await latest.run(status, () => deriveIdentity(username.value, phrase.value, recovery));
        if (me === null) return;
        session.setIdentity(me);
        status.textContent = `Replying as ${me.username} (${me.fingerprint})`;
        status.className = "status good";
      } catch (error) {
        status.textContent = `Cannot unlock: ${explain(error)}`;
        status.className = "status bad";
      }
    })();
  });
  return form;
}
