"""The settings every carrier reached over a network has (a pydantic model: the bridges
that use it load pydantic anyway; ``pointerbridge.bridges.base`` gives it by name)."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .proxy import parse_proxy

__all__ = ["NetworkSettings", "loopback", "on_this_machine"]


class NetworkSettings(BaseModel):
    """Settings every carrier reached over a network has: a request timeout, the longest
    rate-limit wait honoured inside one run, and exactly one credential source, named by
    ``credential_fields`` (an environment variable's name, or a 0600 file); and optionally
    a SOCKS5 ``proxy`` that all of the carrier's traffic goes through (bridges/proxy.py)."""

    model_config = ConfigDict(extra="forbid")
    credential_fields: ClassVar[tuple[str, str]]

    timeout: float = Field(default=30.0, gt=0, le=300)  # seconds per request
    max_retry_wait: float = Field(default=10.0, ge=0, le=120)  # longest 429 wait honoured inside one run
    proxy: str | None = None  # socks5h://HOST:PORT: every connection and name lookup through it

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return None if value is None else parse_proxy(value).url

    @model_validator(mode="after")
    def _one_credential(self) -> NetworkSettings:
        env, file = self.credential_fields
        if (getattr(self, env) is None) == (getattr(self, file) is None):
            raise ValueError(f"give exactly one of {env} and {file}")
        return self


def loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address): the only
    place a carrier may be reached without TLS (tests, a local relay)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def on_this_machine(host: str, proxy: str | None) -> bool:
    """Whether a connection to ``host`` stays on this machine: ``host`` is a loopback
    name, and no proxy on another machine stands between (through a proxy, 127.0.0.1 is
    the proxy's own machine)."""
    return loopback(host) and (proxy is None or loopback(parse_proxy(proxy).host))
