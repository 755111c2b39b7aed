/**
 * Joining the parts of split messages (SPEC §8; core/reassembly.py): in any order, exact
 * duplicates ignored, and a message refused for good once one of its indexes came with two
 * different data (its sender gave one message two texts).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, fromHex, toHex } from "./bytes.js";
import { PointerError } from "./errors.js";
import { fingerprint } from "./keys.js";
import { normalizeChatName } from "./normalize.js";
import { FORMATS, MAX_MESSAGE_BYTES, MAX_PARTS, type Message, type Part, isPart, messageId, readBody } from "./pointer.js";

// What an incomplete message is charged besides its data: a bound on memory, not bytes alone.
const PART_OVERHEAD = 128;
const MESSAGE_OVERHEAD = 1024;

interface Pending {
  first: Part;
  pieces: Map<number, Uint8Array>;
  size: number;
  cost: number;
}

function siblings(item: Part): string {
  const stream = item.stream === undefined ? "-" : toHex(item.stream);
  return JSON.stringify([item.count, item.sentAtMs, item.username, stream, item.seq ?? null, item.version]);
}

function digest(data: Uint8Array): string {
  return toHex(sha256(data).subarray(0, 16));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Joins the parts of split messages into whole messages. */
export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  private readonly refused = new Set<string>();
  private readonly joined = new Map<string, { first: Part; digests: Map<number, string> }>();
  private pendingBytes = 0;

  /** Hold at most `maxPendingBytes` of incomplete messages. */
  constructor(private readonly maxPendingBytes = 4 * MAX_MESSAGE_BYTES) {}

  private static key(item: Part): string {
    return JSON.stringify([normalizeChatName(item.chat), toHex(item.senderKey), item.messageId]);
  }

  /** Whether the message `item` belongs to was refused for good. */
  refuses(item: Part): boolean {
    return this.refused.has(Reassembler.key(item));
  }

  /** What the incomplete messages are charged against the bound (their data and overheads). */
  get heldBytes(): number {
    return this.pendingBytes;
  }

  /** How many messages are waiting for more parts. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Take an unsealed pointer; a message once it is complete, else null. Throws PointerError (malformed, oversize). */
  add(item: Message | Part): Message | null {
    if (!isPart(item)) return item;
    const malformed = (message: string): never => {
      throw new PointerError("malformed", message);
    };
    if (!(item.index >= 0 && item.index < item.count && item.count <= MAX_PARTS)) {
      malformed(`part ${item.index} of ${item.count} is impossible`);
    }
    const key = Reassembler.key(item);
    if (this.refused.has(key)) malformed(`message ${item.messageId} was refused: two parts ${item.index} differ`);
    const joined = this.joined.get(key);
    if (joined !== undefined) {
      if (siblings(item) !== siblings(joined.first)) malformed(`part ${item.index} of message ${item.messageId} does not match its siblings`);
      if (joined.digests.get(item.index) === digest(item.chunk)) return null; // a copy of a part of a joined message
      this.joined.delete(key);
      this.refused.add(key);
      malformed(`two parts ${item.index} of message ${item.messageId} differ`);
    }
    let entry = this.pending.get(key);
    if (entry !== undefined) {
      if (siblings(item) !== siblings(entry.first)) malformed(`part ${item.index} of message ${item.messageId} does not match its siblings`);
      const known = entry.pieces.get(item.index);
      if (known !== undefined) {
        if (sameBytes(known, item.chunk)) return null; // the same part again (carriers echo, members repost)
        this.pending.delete(key);
        this.pendingBytes -= entry.cost;
        this.refused.add(key);
        malformed(`two parts ${item.index} of message ${item.messageId} differ`);
      }
    }
    const cost = item.chunk.length + PART_OVERHEAD + (entry ? 0 : MESSAGE_OVERHEAD);
    if (this.pendingBytes + cost > this.maxPendingBytes) {
      throw new PointerError("oversize", `incomplete messages exceed ${this.maxPendingBytes} bytes`);
    }
    if ((entry ? entry.size : 0) + item.chunk.length > MAX_MESSAGE_BYTES) {
      throw new PointerError("oversize", `message ${item.messageId} grows beyond ${MAX_MESSAGE_BYTES} bytes`);
    }
    if (entry === undefined) {
      entry = { first: item, pieces: new Map(), size: 0, cost: 0 };
      this.pending.set(key, entry);
    }
    entry.pieces.set(item.index, item.chunk);
    entry.size += item.chunk.length;
    entry.cost += cost;
    this.pendingBytes += cost;
    if (entry.pieces.size < item.count) return null;
    this.pending.delete(key);
    this.pendingBytes -= entry.cost;
    const { first, pieces: byIndex } = entry;
    const pieces = Array.from({ length: first.count }, (_, i) => byIndex.get(i) as Uint8Array);
    this.joined.set(key, { first, digests: new Map(pieces.map((piece, i) => [i, digest(piece)])) });
    const fmt = FORMATS[String(first.version) as "1" | "2"];
    const record = concatBytes(...pieces);
    const { content, body } = readBody(fmt, record);
    const numbering = first.stream !== undefined && first.seq !== undefined ? { stream: first.stream, seq: first.seq } : {};
    return {
      version: first.version,
      chat: first.chat,
      username: first.username,
      senderKey: first.senderKey,
      fingerprint: fingerprint(first.senderKey),
      sentAtMs: first.sentAtMs,
      body,
      id: messageId(fmt, first.senderKey, fromHex(first.messageId)),
      content,
      ...numbering,
      ...(first.version === 2 ? { record } : {}),
    };
  }
}
