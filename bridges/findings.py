"""What ``pbridge carrier add`` makes of a bridge's doctor findings (:meth:`Bridge.check`
by way of :meth:`Bridge.diagnose`): a failure refuses the carrier, the rest are told."""

from __future__ import annotations

from .base import ConfigurationError, Finding

__all__ = ["told_or_refused"]


def told_or_refused(carrier: str, findings: list[Finding]) -> list[str]:
    """One line per finding for the user, or :class:`ConfigurationError` naming every failure."""
    failed = [f.detail for f in findings if f.status == "fail"]
    if failed:
        raise ConfigurationError(carrier, "; ".join(failed))
    return [f"{f.check}: {f.detail}" for f in findings]
