"""The listener's pauses between reconnections (app/listen.py's Backoff) over a long outage."""

from __future__ import annotations

from pointerbridge.app.listen import Backoff


def test_the_pauses_stay_within_the_cap_after_thousands_of_failures() -> None:
    backoff = Backoff(first=1.0, cap=60.0)
    pauses = [backoff.next() for _ in range(3000)]  # a day and more of an outage at a minute a try
    assert pauses[0] <= 1.0 and all(30.0 <= p <= 60.0 for p in pauses[10:])
    backoff.reset()
    assert backoff.next() <= 1.0
