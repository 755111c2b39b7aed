"""What the gateway reads from the user's client beyond plain messages (gateway/stanzas.py),
every id and range checked, and the ids it remembers (gateway/ids.py): hostile stanzas as
XML, no server needed (tests/test_gateway_xmpp.py runs the XEPs end to end)."""

from __future__ import annotations

import pytest
from pointerbridge.core.errors import InvalidInputError
from pointerbridge.gateway.ids import MAX_ID, IdMap, message_id, xmpp_id
from pointerbridge.gateway.stanzas import MAX_BODY, Incoming, read_incoming
from slixmpp.xmlstream import ET

BODY = "> bob:\n> the tulips\nlovely"  # the quote is the first 20 characters
REPLY = "<reply xmlns='urn:xmpp:reply:0' id='m1'/>"


def _read(inner: str, body: str = BODY, attributes: str = "id='c1'") -> Incoming:
    xml = ET.fromstring(f"<message xmlns='jabber:client' {attributes}>{inner}</message>")
    return read_incoming(xml, body)


def _fallback(ranges: str, namespace: str = "urn:xmpp:fallback:0", of: str = "urn:xmpp:reply:0") -> str:
    return f"<fallback xmlns='{namespace}' for='{of}'>{ranges}</fallback>"


@pytest.mark.parametrize(
    ("fallback", "text"),
    [
        (_fallback("<body start='0' end='20'/>"), "lovely"),
        (_fallback("<body start='0' end='20'/>", namespace="urn:xmpp:feature-fallback:0"), "lovely"),
        (_fallback("<body start='0' end='7'/><body start='7' end='20'/>"), "lovely"),
        (_fallback(""), ""),  # no range: the whole body is the quote
        (_fallback("<body start='0' end='99'/>"), BODY),  # past the end: nothing taken out
        (_fallback("<body start='9' end='3'/>"), BODY),
        (_fallback("<body start='-1' end='20'/>"), BODY),
        (_fallback("<body start='0' end='２０'/>"), BODY),  # not ASCII digits
        (_fallback("<body start='0' end='20'/>", of="urn:xmpp:message-retract:1"), BODY),  # not the reply's
        ("", BODY),
    ],
)
def test_a_replys_quote_is_taken_out_by_its_range_only_when_the_range_fits(fallback: str, text: str) -> None:
    assert _read(REPLY + fallback) == Incoming("reply", text, "m1", ("c1",))


def test_each_form_names_what_it_changes_and_the_stanzas_own_ids() -> None:
    origin = "<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"
    assert _read(origin, "hi") == Incoming("text", "hi", None, ("c1", "o1"))
    assert _read("<origin-id xmlns='urn:xmpp:sid:0' id='c1'/>", "hi").ids == ("c1",)
    corrected = _read("<replace xmlns='urn:xmpp:message-correct:0' id='m2'/>", "fixed")
    assert corrected == Incoming("edit", "fixed", "m2", ("c1",))
    assert _read("<retract xmlns='urn:xmpp:message-retract:1' id='m3'/>", "fallback") == Incoming(
        "delete", "", "m3", ("c1",)
    )
    older = "<apply-to xmlns='urn:xmpp:fasten:0' id='m4'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to>"
    assert _read(older, "fallback") == Incoming("delete", "", "m4", ("c1",))
    fastened_other = "<apply-to xmlns='urn:xmpp:fasten:0' id='m4'><other xmlns='urn:x'/></apply-to>"
    assert _read(fastened_other, "hi").kind == "text"
    # A correction of a reply keeps only the new words.
    both = "<replace xmlns='urn:xmpp:message-correct:0' id='m5'/>" + REPLY + _fallback("<body start='0' end='20'/>")
    assert _read(both) == Incoming("edit", "lovely", "m5", ("c1",))


@pytest.mark.parametrize(
    ("inner", "attributes", "said"),
    [
        (
            "<replace xmlns='urn:xmpp:message-correct:0'/>",
            "id='c1'",
            "the correction your client sent names no message",
        ),
        ("<reply xmlns='urn:xmpp:reply:0' id=''/>", "id='c1'", "the reply your client sent names no message"),
        (f"<replace xmlns='urn:xmpp:message-correct:0' id='{'x' * (MAX_ID + 1)}'/>", "id='c1'", "the correction id"),
        ("<retract xmlns='urn:xmpp:message-retract:1' id='a&#10;b'/>", "id='c1'", "the retraction id"),
        ("", f"id='{'y' * (MAX_ID + 1)}'", "the message id"),
        ("<origin-id xmlns='urn:xmpp:sid:0' id='a&#9;b'/>", "id='c1'", "the origin id"),
    ],
)
def test_ids_a_client_gives_are_checked_before_use(inner: str, attributes: str, said: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        _read(inner, "hi", attributes)
    assert str(refused.value).startswith(said)


def test_a_body_over_the_bound_is_refused() -> None:
    assert _read("", "x" * MAX_BODY).text == "x" * MAX_BODY
    with pytest.raises(InvalidInputError, match=f"a message of {MAX_BODY + 1} characters"):
        _read("", "x" * (MAX_BODY + 1))


def test_the_id_map_is_bounded_per_chat_and_knows_the_gateways_own_ids() -> None:
    ids = IdMap(kept=3)
    pb2 = [f"{n:032x}" for n in range(5)]
    ids.add(1, ("c0", "o0"), pb2[0])
    ids.add(1, ("c1",), pb2[1])
    assert ids.pb2(1, "o0") == pb2[0] and ids.xmpp(1, pb2[0]) == "c0"
    assert ids.pb2(2, "c1") is None  # another chat's
    ids.add(1, ("c2",), pb2[2])  # four ids: the oldest (c0) forgotten
    assert ids.pb2(1, "c0") is None and ids.pb2(1, "o0") == pb2[0] and ids.xmpp(1, pb2[0]) is None
    ids.add(1, ("c1",), pb2[3])  # a client reusing an id: it names the newer message only
    assert ids.pb2(1, "c1") == pb2[3] and ids.xmpp(1, pb2[1]) is None and ids.xmpp(1, pb2[3]) == "c1"
    ids.add(1, ("c4",), pb2[4])
    assert [ids.pb2(1, one) for one in ("o0", "c2", "c1", "c4")] == [None, pb2[2], pb2[3], pb2[4]]
    # What the gateway sent carries its pb2 id: known in any run, without the map.
    assert ids.pb2(7, xmpp_id(pb2[0])) == pb2[0] == message_id(xmpp_id(pb2[0]))
    assert message_id("pb-" + "A" * 32) is None and message_id("pb-" + "0" * 31) is None
