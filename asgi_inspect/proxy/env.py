"""The proxy configured by environment variables.

That is how ``asgi-inspect proxy`` hands its options to the uvicorn child that serves
``asgi_inspect.proxy:proxy_from_env``.
"""

from __future__ import annotations

import os

from asgi_inspect.proxy.app import DEFAULT_TIMEOUT, make_proxy
from asgi_inspect.types import ASGIApp

ENV_UPSTREAM = "ASGI_INSPECT_UPSTREAM"
ENV_REWRITE_HOST = "ASGI_INSPECT_REWRITE_HOST"
ENV_FORWARDED = "ASGI_INSPECT_FORWARDED"
ENV_TIMEOUT = "ASGI_INSPECT_TIMEOUT"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def proxy_from_env() -> ASGIApp:
    """The proxy configured by ``ASGI_INSPECT_UPSTREAM`` and friends (a uvicorn ``--factory``)."""
    upstream = os.environ.get(ENV_UPSTREAM, "")
    if not upstream:
        raise ValueError(f"{ENV_UPSTREAM} is not set: name the upstream, e.g. http://127.0.0.1:3000")
    timeout = os.environ.get(ENV_TIMEOUT, "")
    return make_proxy(upstream, rewrite_host=_env_flag(ENV_REWRITE_HOST, False),
                      forwarded=_env_flag(ENV_FORWARDED, True),
                      timeout=_env_timeout(timeout) if timeout else DEFAULT_TIMEOUT)


def _env_flag(name: str, default: bool) -> bool:
    """A yes/no variable; anything else is a one-line error rather than a silent default."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 or 0 (true/false, yes/no), got {value!r}")


def _env_timeout(value: str) -> float | None:
    """Seconds, or ``none`` for no bound (the CLI's ``--timeout 0``)."""
    if value.strip().lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"{ENV_TIMEOUT} must be a positive number of seconds or 'none', "
                         f"got {value!r}")
    return seconds
