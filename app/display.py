"""What every front-end shows alike: text made safe to show, trust marks, and the notes a
message carries (arrived late, a rotation). The CLI and the console both use these, so a
mark or an escape never differs between them.

Anything a message body or a username contains is escaped before any renderer sees it: a
sender must not be able to restyle the reader's screen (or fake a "verified" mark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .escape import safe_text
from .names import blanks, mark_glyphs, mark_words, spelled
from .trust import Trust

if TYPE_CHECKING:
    from .gaps import Gap
    from .models import Shown
    from .view import MessageView

__all__ = [
    "NAME_WARNING_STYLE",
    "PLAIN_MARKS",
    "REPLAYED_MARK",
    "TRUST_MARKS",
    "TRUST_MEANINGS",
    "file_label",
    "gap_lines",
    "human_size",
    "late_note",
    "name_warning",
    "plain_line",
    "quote_line",
    "replace_command",
    "rotated_line",
    "rotation_warning",
    "safe_text",
    "shown_name",
    "unopened_note",
    "view_body",
]

# What a terminal shows after a sender's name, by trust (text, rich style): the command
# line's coloured output and the console share it. A key verified in person gets a heavy
# tick above the quiet one of trust on first use; a changed key, a leaked old key (two
# different rotations signed by it) and a message under a key its owner replaced get loud
# warnings: each may be someone else; another key under a name whose key was verified in
# person is the loudest of all (the name's owner proved that key theirs).
_VERIFIED_CHANGED = (
    " !!! KEY CHANGED AFTER YOU VERIFIED IT IN PERSON: NOT THE KEY YOU CHECKED; someone else is using this name !!! "
)
TRUST_MARKS: dict[Trust, tuple[str, str]] = {
    Trust.VERIFIED: ("✔ verified", "bold green"),
    Trust.PINNED: ("✓", "green"),
    Trust.NEW: ("(new key)", "yellow"),
    Trust.ROTATED: ("(changed key, signed by the old one)", "cyan"),
    Trust.RETIRED: (  # after a rotation, as loud as a changed key: it may be whoever has the old phrase
        " !! sent with their OLD key after they changed it: someone may hold their old phrase !! ",
        "bold white on red",
    ),
    Trust.CHANGED: (" KEY CHANGED: NOT VERIFIED AS THIS SENDER ", "bold white on red"),
    Trust.VERIFIED_CHANGED: (_VERIFIED_CHANGED, "bold yellow on red"),
    Trust.CONFLICT: (
        " KEY CONFLICT: the old key signed two different rotations: its phrase leaked; verify in person ",
        "bold white on magenta",
    ),
}

# What each mark means, for a legend beside the marks (the console's help): with the marks
# above, the one wording of trust every front-end shows.
TRUST_MEANINGS: dict[Trust, str] = {
    Trust.VERIFIED: "the key you verified in person (pbridge chat verify: a safety code compared)",
    Trust.PINNED: "the key first seen under that name",
    Trust.NEW: "the first message under that name (its key is pinned from now on)",
    Trust.ROTATED: "a key change, signed by the sender's old key",
    Trust.RETIRED: "a key its owner replaced, used after the change: not the owner, unless they say so in person",
    Trust.CHANGED: "another key under a known name, with no signed change: someone else",
    Trust.VERIFIED_CHANGED: "another key under a name whose key you verified in person: someone else, until they "
    "say otherwise in person and you verify again",
    Trust.CONFLICT: "then re-pin the key you verified: pbridge chat trust CHAT NAME --fingerprint ...",
}

# The same in plain output (a rotation notice prints as a line of its own: rotated_line).
PLAIN_MARKS: dict[Trust, str] = {
    Trust.VERIFIED: " ✔ verified",
    Trust.PINNED: "",
    Trust.NEW: " (new key)",
    Trust.RETIRED: " !! sent with their OLD key after they changed it: someone may hold their old phrase !!",
    Trust.CHANGED: " !! KEY CHANGED: NOT VERIFIED AS THIS SENDER !!",
    Trust.VERIFIED_CHANGED: f" !!! {_VERIFIED_CHANGED.strip(' !')} !!!",
    Trust.CONFLICT: (
        " !! KEY CONFLICT: the old key signed two different rotations: its phrase leaked; verify in person !!"
    ),
}


# How a name that looks like another sender's, or holds a trust mark, is flagged: as loud
# as a changed key, since it is the same danger (someone passing for a member).
NAME_WARNING_STYLE = "bold white on red"


def shown_name(username: str) -> str:
    """A sender's name as it is shown: :func:`safe_text`, and a glyph that looks like a
    trust mark written as its escape (``bob \\u2713``), so it cannot pass for the mark, as
    is a character that shows as nothing or a blank (:func:`~.names.blanks`)."""
    text = safe_text(username)
    for glyph in mark_glyphs(username) + blanks(username):
        text = text.replace(glyph, spelled(glyph))
    return text


def name_warning(shown: Shown) -> str | None:
    """What the reader is told about a sender's name, if anything: it looks like another
    sender's of the chat (``Shown.lookalikes``; spelled out, so the two read differently),
    it holds a glyph or the words of a trust mark, or a character that shows as nothing
    or a blank.
    None for an ordinary name."""
    name = shown.message.username
    notes = []
    if shown.lookalikes:
        others = ", ".join(f"'{spelled(other)}'" for other in shown.lookalikes)
        notes.append(f"NAME LOOKS LIKE ANOTHER SENDER'S ({others}): this one is spelled '{spelled(name)}'")
    glyphs = mark_glyphs(name)
    if glyphs:
        notes.append(f"NAME HOLDS A TRUST MARK'S GLYPH ({spelled(glyphs)}): it is part of the name, not a mark")
    words = mark_words(name)
    if words:
        said = ", ".join(f"'{w}'" for w in words)
        notes.append(f"NAME HOLDS A TRUST MARK'S WORDS ({said}): they are part of the name, not a mark")
    hidden = blanks(name)
    if hidden:
        notes.append(f"NAME HOLDS A BLANK OR INVISIBLE CHARACTER ({spelled(hidden)}): shown here as its code")
    return "; ".join(notes) or None


def plain_line(shown: Shown, said: str) -> str:
    """A message as one plain line (what ``read`` prints to a pipe, and the XMPP gateway
    sends): ``[2025-01-02 10:00] bob (new key): text  #1a2b3c4d``, the sender's name, trust
    mark, name warning and ``said`` (its body, or :func:`view_body`'s words) escaped, a
    rotation notice as :func:`rotated_line`."""
    when = shown.message.sent_at.strftime("%Y-%m-%d %H:%M")
    note = late_note(shown)
    when = f"{when}, {note}" if note else when
    warning = name_warning(shown)
    flag = f" !! {warning} !!" if warning else ""
    trust = Trust(shown.trust)
    if trust is Trust.ROTATED:
        replaced = rotation_warning(shown)
        loud = f" !!! {replaced} !!!" if replaced else ""
        return f"[{when}] {rotated_line(shown)}{loud}{flag}  #{shown.message.id[:8]}"
    name, body = shown_name(shown.message.username), safe_text(said, multiline=True)
    return f"[{when}] {name}{PLAIN_MARKS[trust]}{flag}: {body}  #{shown.message.id[:8]}"


def _span(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{int(seconds)} seconds"


def late_note(shown: Shown) -> str | None:
    """What the reader is told when a message's send time is not believable beside its
    arrival (``Shown.arrived_late``): it is shown where it arrived, not where it claims."""
    late = shown.arrived_late
    if late is None:
        return None
    seconds = late.total_seconds()
    if seconds > 0:
        return f"sent {_span(seconds)} before it arrived"
    return f"sent {_span(-seconds)} after it arrived: in the future"


def rotated_line(shown: Shown) -> str:
    """The line an accepted rotation notice shows as (the sender key is the new one)."""
    name = shown_name(shown.message.username)
    # The old key signed the date too (at_ms): shown, so a rotation nobody remembers stands out.
    signed = f" on {shown.notice.at:%Y-%m-%d %H:%M} UTC" if shown.notice is not None else ""
    return f"-- {name} changed key: now {shown.message.fingerprint} (signed by the old key{signed}) --"


def rotation_warning(shown: Shown) -> str | None:
    """What a rotation's line adds when it replaced the key the reader verified in person
    (``Shown.replaced_verified``): the new key is not that one, and is to be verified
    again; None for any other rotation."""
    if not shown.replaced_verified:
        return None
    return (
        "IT REPLACED THE KEY YOU VERIFIED IN PERSON: the new key is not verified; compare the safety code "
        "with them in person again (pbridge chat verify)"
    )


def unopened_note(chat_name: str, waiting: int) -> str:
    """What the reader of a chat that has opened nothing is told while pointers that
    arrived on its carriers wait unopened (:meth:`App.unopened_waiting`): the way out of
    a secret mistyped when joining."""
    return (
        f"chat {chat_name!r} has opened nothing yet, and {waiting} pointer(s) that arrived on its carriers open "
        f"with none of the secrets given: if its secret was mistyped when you joined, {replace_command(chat_name)} "
        "asks for the right one and keeps the chat; if they are another chat's, reading that chat sorts them"
    )


def replace_command(chat_name: str) -> str:
    """The command that corrects a secret mistyped when joining ``chat_name``."""
    import shlex

    return f"pbridge chat join {shlex.quote(chat_name)} --replace-secret"


REPLAYED_MARK = "[replayed: not a new message]"


def view_body(line: MessageView, *, quote: bool = True) -> str:
    """What a line of a chat view (app/view.py) shows after the sender's name, in words
    every front-end uses: the reply's quote, the body, its marks. Not escaped: it holds
    what a sender wrote (pass it through :func:`safe_text` as a message body).
    ``quote=False``: a reply's quote is left out (shown on a line of its own:
    :func:`quote_line`)."""
    parts = []
    if line.forged or (line.note and line.kind in ("edit", "delete")):
        parts.append(f"[{line.note}]")
        if line.kind == "edit":
            parts.append(line.body)
    elif line.deleted:
        parts.append("(deleted by its sender)")
    else:
        if line.kind == "reply" and (quote or line.quote is None):
            parts.append(f'(reply to "{line.quote}")' if line.quote is not None else f"({line.note})")
        if line.kind == "unknown":
            parts.append(f"({line.note})")
        elif line.kind == "attachment":
            parts.append(file_label(line))
            if line.body:
                parts.append(line.body)
        elif line.body or line.kind != "reply":
            parts.append(line.body)
        if line.edited:
            parts.append("(edited)")
    if line.replayed:
        parts.append(REPLAYED_MARK)
    return " ".join(parts)


def quote_line(line: MessageView) -> str | None:
    """``↳ alice: first line of what it answers`` for a reply whose target is shown, else
    None. Not escaped, as :func:`view_body` (the name is passed through :func:`shown_name`)."""
    if line.kind != "reply" or line.quote is None or line.deleted or line.forged:
        return None
    return f"↳ {shown_name(line.quote_from or '')}: {line.quote}"


def file_label(line: MessageView) -> str:
    """``[file: photo.jpg, 2.4 MB, image/jpeg; pbridge save CHAT ID]`` for an attachment
    line (its name is the sender's words: escape it as a body)."""
    from pointerbridge.core.content import Attachment

    content = line.message.content
    if not isinstance(content, Attachment):
        return "[file]"
    return f"[file: {content.name}, {human_size(content.size)}, {content.media_type}]"


def human_size(size: int) -> str:
    """Bytes as people read them: 512 B, 2.4 KB, 5.0 MB (powers of 1000, as file managers do)."""
    if size < 1000:
        return f"{size} B"
    power = min(len(str(size)) - 1, 9) // 3  # 1: KB, 2: MB, 3: GB
    if power < 3 and size / 1000**power >= 999.95:  # would print as 1000.0
        power += 1
    return f"{size / 1000**power:.1f} {('KB', 'MB', 'GB')[power - 1]}"


def gap_lines(gaps: tuple[Gap, ...]) -> list[str]:
    """ "2 messages from bob have not arrived", one line per sender key (summed over its
    streams). Not escaped: it holds the sender's name (use :func:`shown_name` on it first
    as here, then :func:`safe_text` the line as any message)."""
    summed: dict[bytes, tuple[str, int]] = {}
    for gap in gaps:
        summed[gap.sender_key] = (gap.username, summed.get(gap.sender_key, ("", 0))[1] + gap.count)
    out = []
    for name, count in summed.values():
        what = "1 message" if count == 1 else f"{count} messages"
        verb = "has" if count == 1 else "have"
        out.append(f"{what} from {shown_name(name)} {verb} not arrived")
    return out
