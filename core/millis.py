"""Times as the formats carry them: milliseconds since 1970-01-01 UTC (SPEC §5, docs/KEYS.md).

Read exactly, in integers: ``datetime.fromtimestamp(ms / 1000)`` goes through a float and
reads some times after about 2100 one millisecond early, where the browser page (issue 22)
reads them exactly; a rotation's time is signed, so it must also survive the round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["datetime_of_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_of_ms(ms: int) -> datetime:
    """Milliseconds since 1970 (UTC) as an aware datetime, exactly."""
    return _EPOCH + timedelta(milliseconds=ms)
