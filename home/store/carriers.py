"""What the store keeps per carrier: poll cursors and how runs ended."""

from __future__ import annotations

import time

from .base import StoreBase
from .rows import RunRow

__all__ = ["CarrierTables"]


class CarrierTables(StoreBase):
    """The cursors and carrier_runs tables."""

    def cursor(self, carrier: str) -> str | None:
        """The saved poll cursor of a carrier."""
        row = self._db.execute("SELECT cursor FROM cursors WHERE carrier = ?", (carrier,)).fetchone()
        return str(row[0]) if row else None

    def record_run(self, carrier: str, error: str | None) -> None:
        """Note how a run of ``carrier`` ended: well, or with this one-line error."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO carrier_runs (carrier) VALUES (?)", (carrier,))
            if error is None:
                db.execute("UPDATE carrier_runs SET ok_at = ? WHERE carrier = ?", (now, carrier))
            else:
                db.execute("UPDATE carrier_runs SET error = ?, error_at = ? WHERE carrier = ?", (error, now, carrier))

    def runs(self) -> dict[str, RunRow]:
        """carrier -> (last good run, last error, when it happened)."""
        rows = self._db.execute("SELECT carrier, ok_at, error, error_at FROM carrier_runs")
        return {r[0]: RunRow(r[1], r[2], r[3]) for r in rows}

    def newest_time(self) -> float | None:
        """The latest time this store wrote anywhere (a received pointer, a post, a cursor)."""
        row = self._db.execute(
            "SELECT max(t) FROM (SELECT max(received_at) AS t FROM pointers UNION ALL SELECT max(posted_at) FROM posts"
            " UNION ALL SELECT max(updated_at) FROM cursors)"
        ).fetchone()
        return float(row[0]) if row[0] is not None else None

    def polled_at(self, carrier: str) -> float | None:
        """When a poll of ``carrier`` last completed (its cursor was saved), if ever."""
        row = self._db.execute("SELECT updated_at FROM cursors WHERE carrier = ?", (carrier,)).fetchone()
        return float(row[0]) if row else None

    def forget_cursor(self, carrier: str) -> None:
        """Drop a carrier's cursor: its next poll starts from the beginning (a carrier
        replaced by one reaching another place)."""
        with self.transaction() as db:
            db.execute("DELETE FROM cursors WHERE carrier = ?", (carrier,))

    def save_cursor(self, carrier: str, cursor: str) -> None:
        """Save a cursor; call only after what it covers is stored."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)", (carrier, cursor, time.time()))
