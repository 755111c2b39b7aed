/**
 * Where pointers come in: a textarea to paste anything into (a chat's text, a mail), and a
 * file dropped on it or chosen (a mail, a Telegram export) read as text in the browser:
 * nothing is uploaded anywhere. What comes in is taken apart (sources.ts: a mail's parts
 * decoded, an export's strings read) and searched once; `changed` gets its pointers.
 */
import { el } from "./dom.js";
import { findAll, searchable } from "./sources.js";

const MAX_FILE_BYTES = 64 * 1024 * 1024; // a chat export is text; far more than that is a mistake
const SHOWN_CHARS = 4 * 1024 * 1024; // a longer file is searched, not put in the box (slow to lay out)

/** The paste area; `changed` gets the pointers of what is pasted each time it changes. */
export function pasteArea(changed: (pointers: string[]) => void): { element: HTMLElement; set: (text: string) => void } {
  const area = el("textarea", {
    attrs: { id: "paste", rows: "6", spellcheck: "false", placeholder: "Paste anything that holds pointers: messages, a mail, a chat export…" },
  });
  const picker = el("input", { attrs: { type: "file", id: "file", accept: ".txt,.eml,.json,.html,.mbox,text/*,application/json" } });
  const note = el("p", { class: "status", text: "Or drop a file here (a mail, a Telegram export): it is read on this page, never uploaded." });
  const zone = el("section", { class: "card paste", attrs: { "aria-label": "Paste" } },
    el("label", { class: "field" }, el("span", { text: "Paste anything" }), area),
    el("label", { class: "file" }, el("span", { text: "Choose a file" }), picker),
    note,
  );
  const said = el("p", { class: "status", attrs: { id: "paste-notes", "aria-live": "polite" } });
  zone.append(said);
  let latest = 0;
  // Taking a mail apart waits for postal-mime: only the latest text's pointers are shown.
  const take = async (text: string, fileName = ""): Promise<void> => {
    const mine = ++latest;
    const searched = await searchable(text, fileName);
    if (mine !== latest) return;
    said.textContent = searched.notes.join(" ");
    changed(findAll(searched.texts));
  };
  let timer: number | undefined;
  area.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void take(area.value), 150); // once typing pauses
  });
  // A paste goes in as one value, not through the editor's insertion, which takes seconds
  // for a chat export of a few hundred kilobytes (measured: 4.4 s for 385 KB); it replaces
  // the selection as the editor's paste would, and is opened at once (no typing pause).
  area.addEventListener("paste", (event) => {
    const text = event.clipboardData?.getData("text/plain") ?? "";
    if (text === "") return; // not text: the browser's own paste
    event.preventDefault();
    const start = area.selectionStart;
    area.value = area.value.slice(0, start) + text + area.value.slice(area.selectionEnd);
    area.selectionStart = area.selectionEnd = start + text.length;
    clearTimeout(timer);
    void take(area.value);
  });
  const readFile = async (file: File): Promise<void> => {
    if (file.size > MAX_FILE_BYTES) {
      note.textContent = `${file.name} is larger than 64 MB: not read.`;
      return;
    }
    note.textContent = `Reading ${file.name}…`;
    const text = await file.text();
    const shown = text.length <= SHOWN_CHARS;
    area.value = shown ? text : "";
    clearTimeout(timer);
    await take(text, file.name);
    // Said once its pointers are on the page (the tests wait for it).
    note.textContent = `Read ${file.name} (${file.size} bytes) on this page${shown ? "" : ": too long to show in the box, searched all the same"}.`;
  };
  picker.addEventListener("change", () => {
    const file = picker.files?.[0];
    if (file !== undefined) void readFile(file);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) void readFile(file);
  });
  return {
    element: zone,
    set: (text: string) => {
      area.value = text;
      void take(text);
    },
  };
}
