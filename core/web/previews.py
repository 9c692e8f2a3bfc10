"""Live previews of web apps that sandbox code serves: who may open which, and under which host name.

A conversation whose sandbox can be reached (:class:`PortSource`) gets one unguessable token
(:meth:`Previews.offer`). A preview of port ``P`` is served on a host name of its own,
``P-<token>.<domain>`` (:func:`preview_host`; ``domain`` is ``localhost`` unless ``INTERPRETER_PREVIEW_DOMAIN``
names one), so the previewed app's scripts run in an origin and a site of their own: they cannot read the app's
cookies, nor send requests that carry them, and two previews are kept apart too.

That host has no login cookie, so the app's own origin vouches for the owner: its route ``/preview/<token>/<P>``
checks the login (as downloads do) and sends the browser, with a one-time ticket that lives
:data:`TICKET_SECONDS`, to the preview host, which trades the ticket for a cookie of its own (:data:`COOKIE`,
``HttpOnly``). Every request to the preview host needs that cookie, issued for this token to this owner.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

TICKET_SECONDS = 60.0
"""How long the ticket of an Open preview click may take to reach the preview host."""
PASS_SECONDS = 12 * 3600.0
"""How long a preview host's cookie works (a preview tab may stay open long)."""
COOKIE = "__interpreter_preview"
"""The preview host's own cookie: proof that its owner came through the app's login."""
LOGIN_PATH = "/.preview-login"
"""The preview host's path that trades a ticket for :data:`COOKIE`."""
_LABEL = re.compile(r"^([0-9]{1,5})-([0-9a-f]{32})$")


class PortSource(Protocol):
    """A sandbox's servers: the ports listening in it, and connections to them (``SandboxPorts``)."""

    def listening(self) -> list[int]:
        """The ports listening now, sorted."""
        ...

    def connect(self, port: int) -> object:
        """A connected socket to ``port`` inside the sandbox."""
        ...


@dataclass
class Target:
    """One conversation's previews: its owner, its sandbox's ports, the ports seen listening so far.

    ``keep_awake`` is called on each forwarded request, so the sandbox does not fall asleep while its app is used.
    """

    token: str
    owner: str
    conversation: str
    ports: PortSource
    seen: set[int] = field(default_factory=set)
    keep_awake: Callable[[], None] | None = None


def preview_host(port: int, token: str, domain: str = "localhost") -> str:
    """The host name (without port) a preview of ``port`` is served on."""
    return f"{port}-{token}.{domain.strip('.').lower()}"


def _name(host: str) -> str:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name.strip().lower().rstrip(".")


def in_domain(host: str, domain: str = "localhost") -> bool:
    """Whether a ``Host`` header names a host below the previews' domain (a preview host or not)."""
    return _name(host).endswith("." + domain.strip(".").lower())


def parse_host(host: str, domain: str = "localhost") -> tuple[int, str] | None:
    """The port and token of a preview host name (a ``Host`` header, maybe with a port), or None for any other.

    Args:
        host: The request's ``Host``.
        domain: The previews' domain.

    """
    name = _name(host)
    suffix = "." + domain.strip(".").lower()
    if not name.endswith(suffix):
        return None
    match = _LABEL.match(name[: -len(suffix)])
    if match is None or not 1 <= int(match.group(1)) <= 65535:
        return None
    return int(match.group(1)), match.group(2)


class Previews:
    """The server's previews: a token per conversation, tickets, and the preview hosts' cookies (thread-safe)."""

    def __init__(self) -> None:
        self._targets: dict[str, Target] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._tickets: dict[str, tuple[str, int, float]] = {}
        self._passes: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def offer(self, owner: str, conversation: str, ports: PortSource) -> Target:
        """The preview target of a conversation (its token stays while the server runs; its ports follow the sandbox).

        Args:
            owner: The person the conversation belongs to (the id their data is kept under).
            conversation: The conversation's id.
            ports: Its sandbox's servers.

        """
        with self._lock:
            token = self._by_key.get((owner, conversation))
            target = self._targets.get(token) if token else None
            if target is None:
                token = secrets.token_hex(16)
                target = Target(token, owner, conversation, ports)
                self._by_key[(owner, conversation)], self._targets[token] = token, target
            target.ports = ports
            return target

    def find(self, token: str) -> Target | None:
        """The target of a token."""
        with self._lock:
            return self._targets.get(token)

    def target_of(self, ports: PortSource) -> Target | None:
        """The target already offered for a sandbox's ports (None before its conversation's page offered one)."""
        with self._lock:
            return next((target for target in self._targets.values() if target.ports is ports), None)

    def forget(self, owner: str, conversation: str) -> None:
        """Drop a conversation's previews (it was deleted): its token and cookies stop working."""
        with self._lock:
            token = self._by_key.pop((owner, conversation), None)
            if token:
                self._targets.pop(token, None)
                self._passes = {key: value for key, value in self._passes.items() if value[0] != token}

    def ticket(self, token: str, port: int) -> str:
        """A one-time ticket for the preview host of ``port`` (after the app checked the owner's login)."""
        now = time.monotonic()
        with self._lock:
            self._tickets = {key: value for key, value in self._tickets.items() if value[2] > now}
            ticket = secrets.token_urlsafe(24)
            self._tickets[ticket] = (token, port, now + TICKET_SECONDS)
            return ticket

    def redeem(self, ticket: str, token: str, port: int) -> str | None:
        """Trade a ticket, once, for the value of :data:`COOKIE` on that preview host; None when it is no good."""
        now = time.monotonic()
        with self._lock:
            found = self._tickets.pop(ticket, None)
            if found is None or found[:2] != (token, port) or found[2] <= now or token not in self._targets:
                return None
            self._passes = {key: kept for key, kept in self._passes.items() if kept[1] > now}  # expired ones go
            value = secrets.token_urlsafe(24)
            self._passes[value] = (token, now + PASS_SECONDS)
            return value

    def admits(self, cookie: str | None, token: str) -> bool:
        """Whether a preview host's cookie was issued for this token and still works."""
        if not cookie:
            return False
        with self._lock:
            found = self._passes.get(cookie)
            return found is not None and found[0] == token and found[1] > time.monotonic() and token in self._targets


PREVIEWS = Previews()
"""The previews of this server process."""


def preview_path(base_url_path: str, token: str, port: int | str) -> str:
    """The app's own link that opens a preview (it checks the login, then goes to the preview host)."""
    base = base_url_path.strip("/")
    return f"/{base}/preview/{token}/{port}" if base else f"/preview/{token}/{port}"
