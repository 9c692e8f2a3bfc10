"""The web layer's rules: loopback addresses, the start-up refusal, allowed host names, and the ASGI guard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.web.web_guard import (
    HostGuard,
    exposure_warning,
    from_elsewhere,
    host_allowed,
    is_loopback,
    startup_refusal,
)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["", "0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "unix://x"])
def test_addresses_that_reach_other_machines(address: str) -> None:
    assert not is_loopback(address)


def test_a_network_address_needs_a_login_or_explicit_anonymous_access() -> None:
    refusal = startup_refusal("0.0.0.0", login=False, allow_anonymous=False)
    assert refusal is not None and "INTERPRETER_ALLOW_ANONYMOUS=true" in refusal
    assert "every interface" in str(startup_refusal("", login=False, allow_anonymous=False))
    assert startup_refusal("0.0.0.0", login=True, allow_anonymous=False) is None
    assert startup_refusal("0.0.0.0", login=False, allow_anonymous=True) is None
    assert startup_refusal("127.0.0.1", login=False, allow_anonymous=False) is None
    assert exposure_warning("0.0.0.0", login=False) is not None
    assert exposure_warning("0.0.0.0", login=True) is None
    assert exposure_warning("127.0.0.1", login=False) is None


def test_a_public_host_name_is_exposure_even_on_a_loopback_address() -> None:
    """A reverse proxy on this machine forwards a public name to 127.0.0.1: strangers reach the app."""
    proxied = ["localhost", "code.example.org"]
    refusal = startup_refusal("127.0.0.1", login=False, allow_anonymous=False, allowed_hosts=proxied)
    assert refusal is not None and "code.example.org" in refusal and "localhost," not in refusal
    assert "INTERPRETER_ALLOWED_HOSTS" in refusal and "INTERPRETER_ALLOW_ANONYMOUS=true" in refusal
    assert startup_refusal("127.0.0.1", login=True, allow_anonymous=False, allowed_hosts=proxied) is None
    assert startup_refusal("127.0.0.1", login=False, allow_anonymous=True, allowed_hosts=proxied) is None
    for hosts in (["*"], ["*.example.org"], ["192.168.1.5"]):
        assert startup_refusal("127.0.0.1", login=False, allow_anonymous=False, allowed_hosts=hosts), hosts
    loopback = ["localhost", "LOCALHOST.", "127.0.0.1", "::1", "[::1]", "dev.localhost"]
    assert startup_refusal("127.0.0.1", login=False, allow_anonymous=False, allowed_hosts=loopback) is None

    warning = exposure_warning("127.0.0.1", login=False, allowed_hosts=proxied)
    assert warning is not None and "code.example.org" in warning and "without a login" in warning
    assert exposure_warning("127.0.0.1", login=True, allowed_hosts=proxied) is None
    assert exposure_warning("127.0.0.1", login=False, allowed_hosts=loopback) is None


@pytest.mark.parametrize(
    "header",
    ["127.0.0.1:8501", "localhost:8501", "LOCALHOST.", "[::1]:8501", "192.168.1.5:8501", "app.example.com",
     "x.apps.example.org:443"],
)  # fmt: skip
def test_allowed_hosts(header: str) -> None:
    assert host_allowed(header, ["app.example.com", "*.apps.example.org"])


@pytest.mark.parametrize(
    "header",
    [None, "", "evil.example", "evil.example:8501", "localhost.evil.example", "127.0.0.1.nip.io",
     "app.example.com.evil", "apps.example.org", "user@localhost", "localhost:99999", "localhost/path", "local host"],
)  # fmt: skip
def test_refused_hosts(header: str | None) -> None:
    assert not host_allowed(header, ["app.example.com", "*.apps.example.org"])


def test_a_star_allows_every_host() -> None:
    assert host_allowed("anything.example", ["*"])


def _call(guard: HostGuard, kind: str, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": f"{kind}.request" if kind == "http" else "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(guard({"type": kind, "headers": headers}, receive, send))
    return sent


def test_the_guard_answers_only_allowed_hosts() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    guard = HostGuard(app, allowed=["app.example.com"])
    assert _call(guard, "http", [(b"host", b"app.example.com")]) == [] and reached == ["http"]
    refused = _call(guard, "http", [(b"host", b"evil.example")])
    assert refused[0]["status"] == 400 and b"INTERPRETER_ALLOWED_HOSTS" in refused[1]["body"]
    assert _call(guard, "websocket", [(b"host", b"evil.example")]) == [{"type": "websocket.close", "code": 1008}]
    assert _call(guard, "http", [(b"host", b"localhost"), (b"host", b"evil.example")])[0]["status"] == 400
    assert _call(guard, "websocket", []) == [{"type": "websocket.close", "code": 1008}]
    assert reached == ["http"]


@pytest.mark.parametrize(
    ("headers", "host", "said"),
    [
        ([(b"x-forwarded-for", b"198.51.100.7")], "127.0.0.1:8501", "a proxy passed it on: x-forwarded-for"),
        ([(b"forwarded", b"for=x"), (b"x-real-ip", b"x")], "localhost", "a proxy passed it on: forwarded, x-real-ip"),
        ([], "203.0.113.5:8501", "it was addressed to 203.0.113.5"),
        ([], "[2001:db8::1]:8501", "it was addressed to 2001:db8::1"),
        ([], "127.0.0.1:8501", None),
        ([], "[::1]", None),
        ([], "localhost", None),
        ([], "4242-abc.localhost", None),  # a live preview's own host
    ],
)
def test_what_shows_a_request_came_from_elsewhere(headers: list[tuple[bytes, bytes]], host: str, said: str) -> None:
    assert from_elsewhere(headers, host) == said
