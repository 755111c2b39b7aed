/**
 * What a paste holds: every pointer found in it (sources.ts), opened under the chats typed on the page
 * (the first chat it opens under), split parts joined, each chat's messages in the order
 * they came in the paste. Pure: no DOM (the tests and the view use it alike).
 */
import { PointerError, Reassembler, unseal } from "../core/index.js";
import type { ChatKey, Message, Part } from "../core/index.js";

/** A chat the page can open: its key, and the name it was typed as. */
export interface OpenChat {
  readonly label: string;
  readonly key: ChatKey;
}

/** A message opened from the paste; `order`: where its first pointer came in the paste. */
export interface Opened {
  readonly message: Message;
  readonly order: number;
}

/** One chat's share of a paste. */
export interface ChatPaste {
  readonly chat: OpenChat;
  readonly messages: Opened[]; // in paste order
  damaged: number; // its tag matched, yet it did not open (tampered, forged signature...)
  incomplete: number; // split messages some of whose parts are not in the paste
  refused: number; // parts the joining refused (inconsistent, too large)
}

/** Everything a paste held. */
export interface PasteResult {
  readonly found: number; // distinct pointers found
  readonly chats: ChatPaste[];
  unmatched: number; // open under none of the chats typed
  unreadable: number; // damaged before any chat could be tried (armor, version, size)
}

// Failures that say nothing of the chat: the pointer itself is damaged or from elsewhere.
const BEFORE_ANY_CHAT = new Set(["armor", "noncanonical", "version", "truncated", "oversize"]);

function isPart(item: Message | Part): item is Part {
  return "chunk" in item;
}

/** Opens under the first chat it belongs to: [that chat's index, the item], or why not. */
function openOne(chats: readonly OpenChat[], pointer: string): [number, Message | Part] | "none" | "unreadable" | number {
  for (const [index, chat] of chats.entries()) {
    try {
      return [index, unseal(chat.key, pointer)];
    } catch (error) {
      if (!(error instanceof PointerError)) throw error;
      if (BEFORE_ANY_CHAT.has(error.expect)) return "unreadable";
      if (error.expect !== "no_match") return index; // this chat's, but damaged
    }
  }
  return "none";
}

/** Opens every pointer found in a paste (sources.ts `findAll`) under `chats`. */
export function openPaste(found: readonly string[], chats: readonly OpenChat[]): PasteResult {
  const pointers = [...new Set(found)];
  const result: PasteResult = {
    found: pointers.length,
    chats: chats.map((chat) => ({ chat, messages: [], damaged: 0, incomplete: 0, refused: 0 })),
    unmatched: 0,
    unreadable: 0,
  };
  const joiners = chats.map(() => new Reassembler());
  const firstSeen = chats.map(() => new Map<string, number>()); // message id -> paste position
  const completed = chats.map(() => new Set<string>());
  for (const [order, pointer] of pointers.entries()) {
    const opened = openOne(chats, pointer);
    if (opened === "none") result.unmatched += 1;
    else if (opened === "unreadable") result.unreadable += 1;
    else if (typeof opened === "number") (result.chats[opened] as ChatPaste).damaged += 1;
    else {
      const [index, item] = opened;
      const share = result.chats[index] as ChatPaste;
      const seen = firstSeen[index] as Map<string, number>;
      const id = isPart(item) ? item.messageId : item.id;
      if (!seen.has(id)) seen.set(id, order);
      let message: Message | null;
      try {
        message = (joiners[index] as Reassembler).add(item);
      } catch (error) {
        if (!(error instanceof PointerError)) throw error;
        share.refused += 1;
        continue;
      }
      // Keyed by the item's id: a joined message's own id is not its parts' message id.
      const done = completed[index] as Set<string>;
      if (message !== null && !done.has(id)) {
        done.add(id);
        share.messages.push({ message, order: seen.get(id) ?? order });
      }
    }
  }
  for (const [index, share] of result.chats.entries()) {
    const done = completed[index] as Set<string>;
    share.incomplete = [...(firstSeen[index] as Map<string, number>).keys()].filter((id) => !done.has(id)).length;
    share.messages.sort((a, b) => a.order - b.order);
  }
  return result;
}
