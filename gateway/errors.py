"""The gateway's own failures, each with its exit code (71-73)."""

from __future__ import annotations

from pointerbridge.core.errors import PointerBridgeError

__all__ = ["ComponentSecretError", "GatewayRefusedError", "GatewayUnreachableError"]


class GatewayRefusedError(PointerBridgeError):
    """The XMPP server refused the component: a wrong component secret, a domain it does
    not serve as a component, or another component holding that domain."""

    exit_code = 71


class GatewayUnreachableError(PointerBridgeError):
    """The XMPP server's component port could not be reached (nothing listens, a timeout)."""

    exit_code = 72


class ComponentSecretError(PointerBridgeError):
    """The component secret's reference does not give a usable secret: the variable is
    unset or empty, the file is missing, unreadable, empty, or readable by others."""

    exit_code = 73
