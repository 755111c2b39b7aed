/**
 * What this page session holds, in memory only: the chats unlocked (keys, never stored),
 * the reader's identity if they gave one, and the pb2 stream this session sends on (a
 * page session is a sending device of its own: a random stream, numbered from 1 per chat).
 * Nothing here is ever written to storage; closing or reloading the page drops it all.
 */
import { newStream } from "../core/index.js";
import type { ChatKey, Identity } from "../core/index.js";
import { hex } from "./dom.js";
import type { OpenChat } from "./opening.js";

export class Session {
  private readonly keys = new Map<number, OpenChat>(); // chat card -> its key
  private readonly seqs = new Map<string, number>(); // chat id (hex) -> last number sent
  identity: Identity | null = null;
  readonly stream: Uint8Array = newStream();
  /** Pointers sealed on this page, shown with the paste (they are this session's messages). */
  readonly sent: string[] = [];
  private readonly listeners: (() => void)[] = [];
  private readonly forgetting: (() => void)[] = [];

  /** Calls `listener` whenever a key, the identity or what was sent changes. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Calls `listener` when every secret is forgotten: what it shows of them must go too. */
  onForget(listener: () => void): void {
    this.forgetting.push(listener);
  }

  changed(): void {
    for (const listener of this.listeners) listener();
  }

  setChat(card: number, label: string, key: ChatKey | null): void {
    if (key === null) this.keys.delete(card);
    else this.keys.set(card, { label, key });
    this.changed();
  }

  setIdentity(identity: Identity | null): void {
    this.identity = identity;
    this.changed();
  }

  /** The chats unlocked, in the order their cards were added. */
  chats(): OpenChat[] {
    return [...this.keys.entries()].sort(([a], [b]) => a - b).map(([, chat]) => chat);
  }

  /** The next number of this session's stream in `chat` (1, 2, 3...). */
  nextSeq(chat: ChatKey): number {
    const id = hex(chat.chatId);
    const seq = (this.seqs.get(id) ?? 0) + 1;
    this.seqs.set(id, seq);
    return seq;
  }

  /** Drops every key and the identity (the fields are cleared by their owners). */
  forget(): void {
    this.keys.clear();
    this.identity = null;
    this.sent.length = 0;
    for (const listener of this.forgetting) listener();
    this.changed();
  }
}
