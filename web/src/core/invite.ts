/**
 * Reading a chat invite (`pbinvite1.`, app/invite.py, docs/KEYS.md): base64url of a JSON
 * object with the chat's name, its key's random salt (version 2; none: an open chat) and
 * its carriers. The page needs the name and the salt; the secret never travels in one.
 */
import { base64url, decodeUtf8, fromBase64url } from "./bytes.js";
import { InvalidInput } from "./errors.js";
import { collapseWhitespace } from "./normalize.js";

export const INVITE_PREFIX = "pbinvite1.";
const MAX_CHARS = 8192;

/** What an invite carries: the chat's name, its salt (absent: an open chat), and each carrier's type. */
export interface Invite {
  name: string;
  version: 1 | 2;
  salt?: Uint8Array;
  carriers: Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readSalt(text: unknown): Uint8Array {
  if (typeof text !== "string" || text.length < 22 || text.length > 43) throw new InvalidInput("the invite's salt is damaged");
  const salt = fromBase64url(text);
  if (salt === null || salt.length < 16 || salt.length > 32 || base64url(salt) !== text) {
    throw new InvalidInput("the invite's salt is damaged");
  }
  return salt;
}

/** Parse an invite (whitespace anywhere is ignored); InvalidInput if it is not one. */
export function readInvite(text: string): Invite {
  const compact = collapseWhitespace(text).replace(/ /g, "");
  if (!compact.startsWith(INVITE_PREFIX) || compact.length > MAX_CHARS) {
    throw new InvalidInput(`an invite starts with '${INVITE_PREFIX}' and is at most ${MAX_CHARS} characters`);
  }
  const raw = fromBase64url(compact.slice(INVITE_PREFIX.length));
  const json = raw === null ? null : decodeUtf8(raw);
  let data: unknown;
  try {
    data = json === null ? undefined : JSON.parse(json);
  } catch {
    data = undefined;
  }
  if (data === undefined) throw new InvalidInput("the invite is damaged (it does not decode)");
  const version = isObject(data) ? data["v"] : undefined;
  if (!isObject(data) || (version !== 1 && version !== 2) || typeof data["chat"] !== "string") {
    throw new InvalidInput("the invite is damaged or from a newer version");
  }
  const salt = version === 2 ? readSalt(data["salt"]) : undefined;
  const carriers = data["carriers"];
  if (!isObject(carriers) || !Object.values(carriers).every((c) => isObject(c) && typeof c["type"] === "string")) {
    throw new InvalidInput("the invite's carriers are damaged");
  }
  const types: Record<string, string> = {};
  for (const [name, settings] of Object.entries(carriers)) types[name] = (settings as Record<string, string>)["type"] as string;
  return { name: data["chat"], version, ...(salt === undefined ? {} : { salt }), carriers: types };
}
