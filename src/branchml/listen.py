"""Where a local server may listen: loopback by default, shared by the dashboard and the gateway.

A leaf module on purpose: the gateway (extra `gateway`) and the dashboard (extra `ui`) each import
it without pulling in the other's dependencies.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for `localhost` and any loopback address (127.0.0.0/8, ::1); a name is not resolved."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
