"""The one bearer-token check both transports use (HTTP headers and gRPC metadata)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence


def bearer_ok(values: Sequence[str], token: str | None) -> bool:
    """True when no token is set, or exactly one credential is ``Bearer <token>``.

    The scheme is case-insensitive (RFC 7235). More than one Authorization value is refused:
    a proxy and a client each adding one must not let the first or the last one win.
    """
    if token is None:
        return True
    if len(values) != 1:
        return False
    parts = values[0].split(None, 1)      # scheme, then any run of spaces or tabs
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return False
    return hmac.compare_digest(parts[1].strip().encode(), token.encode())
