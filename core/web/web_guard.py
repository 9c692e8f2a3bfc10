"""The web server's guards: who may reach it (bind address, anonymous access) and under which host names.

- :func:`startup_refusal` says why the server must not start: other machines reach it and nobody has to log in,
  unless ``INTERPRETER_ALLOW_ANONYMOUS`` says that is wanted. Other machines reach it when it listens on any
  address but loopback, or when ``INTERPRETER_ALLOWED_HOSTS`` names a host that is not this machine: a reverse
  proxy on this machine (``deploy/nginx.conf``) forwards that name to 127.0.0.1.
- :class:`HostGuard` is an ASGI middleware that answers only requests (HTTP and WebSocket) whose ``Host`` is an
  allowed name: loopback names, IP addresses, and ``INTERPRETER_ALLOWED_HOSTS``. This defeats DNS rebinding, where
  a web page on a domain of the attacker's, rebound to 127.0.0.1, drives the app: the browser then sends the
  attacker's domain as ``Host``. An IP address as ``Host`` cannot come from a rebound name.
- Where the app serves this machine only (no login, no ``INTERPRETER_ALLOW_ANONYMOUS``), the guard also refuses
  what only arrives from elsewhere: a request a proxy forwarded (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``)
  or one addressed to an IP address that is not loopback. A proxy on this machine that passes on the visitor's
  ``Host`` as an address, or rewrites it to 127.0.0.1, would otherwise open the app to whoever reaches the proxy.

Nothing here imports Streamlit; ``app.py`` installs the guard in the server it builds.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")
"""Headers a reverse proxy adds to what it passes on: the request came from another machine."""
FORWARDED_REFUSAL = (
    "This app serves this machine only: it has no login, and this request came from elsewhere ({how}). To serve "
    "others, configure a login ([auth] in .streamlit/secrets.toml), or set INTERPRETER_ALLOW_ANONYMOUS=true if "
    "anonymous access from the network is really wanted.\n"
)
ALLOW_ANONYMOUS_VARIABLE = "INTERPRETER_ALLOW_ANONYMOUS"
ALLOWED_HOSTS_VARIABLE = "INTERPRETER_ALLOWED_HOSTS"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(address: str) -> bool:
    """Whether a bind address reaches this machine only (``127.0.0.1``, ``::1``, ``localhost``).

    An empty address, ``0.0.0.0`` and ``::`` listen on every interface, so they are not loopback.
    """
    address = address.strip().strip("[]").lower()
    if address in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _is_loopback_name(pattern: str) -> bool:
    """Whether an allowed host name reaches only this machine (``localhost``, ``*.localhost``, a loopback IP)."""
    name = pattern.strip().lower().rstrip(".").removeprefix("*.")
    return is_loopback(name) or name.endswith(".localhost")


def exposure(address: str, allowed_hosts: Iterable[str] = ()) -> str | None:
    """How other machines reach the server, in words, or None when only this machine does.

    Args:
        address: The address the server listens on (Streamlit's ``server.address``; empty: every interface).
        allowed_hosts: ``INTERPRETER_ALLOWED_HOSTS``: names other than loopback ones arrive through a proxy.

    """
    public = [host.strip() for host in allowed_hosts if host.strip() and not _is_loopback_name(host)]
    if not is_loopback(address):
        return f"listens on {address or 'every interface'}"
    if public:
        return f"answers to {', '.join(public)} ({ALLOWED_HOSTS_VARIABLE}, through a proxy)"
    return None


def startup_refusal(address: str, login: bool, allow_anonymous: bool, allowed_hosts: Iterable[str] = ()) -> str | None:
    """Why the server must not start, or None when it may.

    Args:
        address: The address the server listens on (Streamlit's ``server.address``; empty: every interface).
        login: Whether people must log in (an ``[auth]`` section in ``secrets.toml``).
        allow_anonymous: The operator's explicit consent to anonymous access from other machines.
        allowed_hosts: ``INTERPRETER_ALLOWED_HOSTS``; a name that is not this machine's counts as exposure.

    """
    reached = exposure(address, allowed_hosts)
    if login or allow_anonymous or reached is None:
        return None
    return (
        f"Refusing to start: the server {reached} without a login, so anyone who can reach it could run code and "
        "read every conversation. Configure a login ([auth] in .streamlit/secrets.toml), serve this machine only "
        "(listen on 127.0.0.1, the default of INTERPRETER_ADDRESS and --server.address, and name no other host in "
        f"{ALLOWED_HOSTS_VARIABLE}), or set "
        f"{ALLOW_ANONYMOUS_VARIABLE}=true if anonymous access from the network is really wanted."
    )


def exposure_warning(address: str, login: bool, allowed_hosts: Iterable[str] = ()) -> str | None:
    """The warning to show while other machines reach the app and nobody has to log in, else None."""
    reached = exposure(address, allowed_hosts)
    if login or reached is None:
        return None
    return (
        f"This app is public: it {reached} without a login ({ALLOW_ANONYMOUS_VARIABLE} is on), so anyone who can "
        "reach it can run code here and read every conversation."
    )


def host_name(header: str) -> str | None:
    """The host name of a ``Host`` header (lower case, no port, no trailing dot), or None when it is malformed."""
    try:
        parts = urlsplit(f"//{header.strip()}")
        name, _ = parts.hostname, parts.port  # reading the port checks it
    except ValueError:
        return None
    if not name or parts.username is not None or parts.password is not None or parts.path or parts.query:
        return None
    return name.lower().rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(header: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request with this ``Host`` header may be answered.

    Args:
        header: The ``Host`` header as sent (``127.0.0.1:8501``, ``[::1]:8501``, ``app.example.com``).
        allowed: Extra allowed names besides loopback names and IP addresses: exact names, ``*.example.com`` for
            any subdomain, or ``*`` for any host (turns the check off).

    """
    name = host_name(header) if header else None
    if name is None:
        return False
    if name in LOOPBACK_NAMES or _is_ip(name):
        return True
    for pattern in (p.strip().lower().rstrip(".") for p in allowed):
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def from_elsewhere(headers: Iterable[tuple[bytes, bytes]], host: str | None) -> str | None:
    """How a request shows that it came from another machine, in words, or None when nothing shows it.

    Args:
        headers: The request's headers (lower-case names, as ASGI gives them).
        host: The request's ``Host`` header.

    """
    forwarded = sorted({key.decode("latin-1") for key, _ in headers if key in FORWARDING_HEADERS})
    if forwarded:
        return f"a proxy passed it on: {', '.join(forwarded)}"
    name = host_name(host) if host else None
    if name is not None and _is_ip(name) and not ipaddress.ip_address(name).is_loopback:
        return f"it was addressed to {name}"
    return None


class HostGuard:
    """ASGI middleware: requests and WebSocket handshakes with a ``Host`` that is not allowed are refused.

    HTTP gets ``400 Host not allowed``; a WebSocket is closed before it is accepted (the client sees HTTP 403).
    With ``local_only`` (the app serves this machine only), requests that came from elsewhere (see
    :func:`from_elsewhere`) get ``403`` saying why.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = (), *, local_only: bool = False) -> None:
        self.app = app
        self.allowed = tuple(allowed)
        self.local_only = local_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass allowed requests on; refuse the others."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        hosts = [value for key, value in headers if key == b"host"]
        header = hosts[0].decode("latin-1") if len(hosts) == 1 else None
        elsewhere = from_elsewhere(headers, header) if self.local_only else None
        if elsewhere is None and host_allowed(header, self.allowed):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif elsewhere is not None:
            await _refuse(send, 403, FORWARDED_REFUSAL.format(how=elsewhere).encode())
        else:
            await _refuse(send, 400, b"Host not allowed. Add it to " + ALLOWED_HOSTS_VARIABLE.encode() + b".\n")


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
