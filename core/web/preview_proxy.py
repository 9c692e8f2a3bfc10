"""The server side of live previews: the app's link that opens one, and the proxy on the preview hosts.

:func:`preview_route` answers the app's own ``/preview/<token>/<port>``: for the owner only (their login cookie,
as downloads check it), it sends the browser with a one-time ticket to the preview host
(:func:`core.web.previews.preview_host`). :class:`PreviewProxy`, an ASGI middleware, answers every request whose
``Host`` is a preview host: it trades the ticket for the host's cookie, refuses anyone without that cookie, and
forwards HTTP requests and WebSocket connections to the port inside the sandbox through a socket connected in the
sandbox's network namespace (``core.sandbox.local.ports``). Nothing from the request chooses where it goes but
the port number in the host name, checked to be a TCP port, inside that conversation's sandbox.

The app's login cookie and the preview's pass are never forwarded; ``Set-Cookie`` loses any ``Domain``, so a
preview's cookies stay on its own host. The app's content policy (:mod:`core.web.content_policy`) is added to
every answer by the middleware around this one, so the previewed page loads nothing from elsewhere. When
nothing listens on the port any more, the answer is a page that says the server inside stopped (HTTP 502).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import h11
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed

from core.web.previews import (
    COOKIE,
    LOGIN_PATH,
    PASS_SECONDS,
    PREVIEWS,
    Previews,
    in_domain,
    parse_host,
    preview_host,
)

Requester = Callable[[Mapping[str, str]], str | None]
"""Who sends a request, from its cookies (``components.auth.requester_id``)."""

USER_COOKIE = b"_streamlit_user"
"""The app's login cookie (``st.login``; split into ``_streamlit_user__1``... when long)."""
MAX_BODY = 64 * 1024 * 1024
"""The largest request body forwarded to a previewed app."""
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"cookie",
    b"origin",
    b"content-length",
}
NOT_YOURS = (
    "This preview is for the person whose conversation it belongs to. Open it with Open preview in the app "
    "(logged in as its owner)."
)
GONE = "This preview has expired or its conversation is gone. Open it again from the app."


def stopped_text(port: int) -> str:
    """What a preview says when nothing in the sandbox listens on its port any more."""
    return (
        f"The app on port {port} in the sandbox has stopped (nothing listens there any more). Start it again in "
        "the chat, then reload this page."
    )


def _text(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(message, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            with contextlib.suppress(Exception):
                jar.load(value.decode("latin-1"))
    return {name: morsel.value for name, morsel in jar.items()}


def _forwarded_cookie(scope: Scope) -> bytes:
    """The request's cookies minus the preview's pass and the app's login (``_streamlit_user…``).

    Streamlit sets its login cookie for the app's host only, so a browser should never send it to a preview host;
    should one do so all the same, it stays here. The previewed app's own cookies go on.
    """
    kept = [
        part.strip()
        for key, value in scope.get("headers", [])
        if key == b"cookie"
        for part in value.split(b";")
        if part.strip() and not part.strip().startswith((COOKIE.encode(), USER_COOKIE))
    ]
    return b"; ".join(kept)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


_DOMAIN = re.compile(rb";\s*domain=[^;]*", re.IGNORECASE)


def _response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = []
    for key, value in headers:
        name = key.lower()
        if name in (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"trailer"):
            continue
        kept.append((name, _DOMAIN.sub(b"", value) if name == b"set-cookie" else value))
    return kept


def preview_route(
    base_url_path: str = "", previews: Previews = PREVIEWS, *, requester: Requester, domain: str
) -> Route:
    """The app's route ``GET <base>/preview/<token>/<port>``: check the owner, then go to the preview host.

    Args:
        base_url_path: The server's base path (``server.baseUrlPath``).
        previews: The previews to answer from.
        requester: Who sends a request, from its cookies.
        domain: The previews' domain (``INTERPRETER_PREVIEW_DOMAIN``).

    """
    base = base_url_path.strip("/")

    async def open_preview(request: Request) -> Response:
        target = previews.find(request.path_params["token"])
        if target is None:
            return _text(GONE, 404)
        if requester(request.cookies) != target.owner:
            return _text(NOT_YOURS, 403)
        port = int(request.path_params["port"])
        if not 1 <= port <= 65535:
            return _text("Not a TCP port.", 404)
        if port not in await asyncio.to_thread(target.ports.listening):
            return _text(stopped_text(port), 404)
        target.seen.add(port)
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        scheme = forwarded if forwarded in ("http", "https") else request.url.scheme
        host = request.headers.get("host", "")
        server_port = host.rsplit(":", 1)[1] if host.count(":") == 1 else ""
        origin = f"{scheme}://{preview_host(port, target.token, domain)}" + (f":{server_port}" if server_port else "")
        ticket = previews.ticket(target.token, port)
        return RedirectResponse(f"{origin}{LOGIN_PATH}?ticket={ticket}", status_code=303)

    path = f"/{base}/preview/{{token}}/{{port:int}}" if base else "/preview/{token}/{port:int}"
    return Route(path, open_preview, methods=["GET"])


class PreviewProxy:
    """ASGI middleware: requests to a preview host go to the sandbox's server; all others to the app.

    Args:
        app: The application to wrap.
        previews: The previews to answer from.
        domain: The previews' domain (``INTERPRETER_PREVIEW_DOMAIN``).

    """

    def __init__(self, app: ASGIApp, previews: Previews = PREVIEWS, domain: str = "localhost") -> None:
        self.app = app
        self.previews = previews
        self.domain = domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preview host's request, or pass any other on."""
        host = _header(scope, b"host") if scope["type"] in ("http", "websocket") else ""
        parsed = parse_host(host, self.domain) if host else None
        if parsed is None:
            if host and in_domain(host, self.domain):  # the previews' domain serves previews only, never the app
                await self._refuse(scope, receive, send, _text(GONE, 404))
            else:
                await self.app(scope, receive, send)
            return
        port, token = parsed
        websocket = scope["type"] == "websocket"
        if not websocket and scope.get("path") == LOGIN_PATH:
            await self._login(scope, token, port)(scope, receive, send)
            return
        target = self.previews.find(token)
        if target is None or not self.previews.admits(_cookies(scope).get(COOKIE), token):
            await self._refuse(scope, receive, send, _text(NOT_YOURS if target else GONE, 403 if target else 404))
            return
        try:
            upstream = await asyncio.to_thread(target.ports.connect, port)
        except Exception:  # nothing listens there any more, or the sandbox is gone
            target.seen.add(port)
            await self._refuse(scope, receive, send, _text(stopped_text(port), 502))
            return
        assert isinstance(upstream, socket.socket)
        target.seen.add(port)
        if target.keep_awake is not None:
            target.keep_awake()
        if websocket:
            await _forward_websocket(scope, receive, send, upstream, port)
        else:
            await _forward_http(scope, receive, send, upstream, port)

    def _login(self, scope: Scope, token: str, port: int) -> Response:
        ticket = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("ticket") or [""])[0]
        value = self.previews.redeem(ticket, token, port)
        if value is None:
            return _text(GONE, 403)
        response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(COOKIE, value, max_age=int(PASS_SECONDS), httponly=True, samesite="lax")
        return response

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": bytes(response.body).decode()[:120]})
        else:
            await response(scope, receive, send)


def _upstream_headers(scope: Scope, port: int) -> list[tuple[bytes, bytes]]:
    headers = [(key, value) for key, value in scope.get("headers", []) if key.lower() not in HOP_BY_HOP]
    headers.append((b"host", f"127.0.0.1:{port}".encode()))
    if _header(scope, b"origin"):
        headers.append((b"origin", f"http://127.0.0.1:{port}".encode()))
    cookie = _forwarded_cookie(scope)
    return [*headers, (b"cookie", cookie)] if cookie else headers


async def _read_body(receive: Receive) -> bytes | None:
    """The request's whole body, or None when it is larger than :data:`MAX_BODY`."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body"):
            return bytes(body)


async def _forward_http(scope: Scope, receive: Receive, send: Send, upstream: socket.socket, port: int) -> None:
    """Send one request to the sandbox's server over ``upstream`` and stream its answer back."""
    body = await _read_body(receive)
    if body is None:
        await _text("The request is too large for a preview.", 413)(scope, receive, send)
        upstream.close()
        return
    upstream.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=upstream)
    connection = h11.Connection(h11.CLIENT)
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    headers = [*_upstream_headers(scope, port), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))
    started = False
    try:
        writer.write(connection.send(h11.Request(method=scope["method"], target=target, headers=headers)))
        writer.write(connection.send(h11.Data(data=body)) or b"")
        writer.write(connection.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                start: Message = {"type": "http.response.start", "status": event.status_code}
                start["headers"] = _response_headers(list(event.headers))
                await send(start)
                started = True
            elif isinstance(event, h11.Data):
                await send({"type": "http.response.body", "body": bytes(event.data), "more_body": True})
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (OSError, h11.ProtocolError):
        if not started:
            await _text(stopped_text(port), 502)(scope, receive, send)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _forward_websocket(scope: Scope, receive: Receive, send: Send, upstream: socket.socket, port: int) -> None:
    """Connect a WebSocket to the sandbox's server over ``upstream`` and relay messages both ways."""
    await receive()  # websocket.connect
    target = scope.get("raw_path") or scope["path"].encode()
    query = b"?" + scope["query_string"] if scope.get("query_string") else b""
    uri = f"ws://127.0.0.1:{port}{(target + query).decode('latin-1')}"
    cookie = _forwarded_cookie(scope)
    extra = [("Cookie", cookie.decode("latin-1"))] if cookie else []
    subprotocols: Any = list(scope.get("subprotocols") or []) or None
    try:
        inner = await websocket_connect(
            uri,
            sock=upstream,
            subprotocols=subprotocols,
            additional_headers=extra,
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
            max_size=None,
            open_timeout=10,
        )
    except Exception:
        upstream.close()
        await send({"type": "websocket.close", "code": 1011, "reason": stopped_text(port)[:120]})
        return
    await send({"type": "websocket.accept", "subprotocol": inner.subprotocol})

    async def to_sandbox() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            await inner.send(text if isinstance(text, str) else bytes(message.get("bytes") or b""))

    async def to_browser() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in inner:
                key = "text" if isinstance(data, str) else "bytes"
                await send({"type": "websocket.send", key: data})

    tasks = [asyncio.ensure_future(to_sandbox()), asyncio.ensure_future(to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await inner.close()
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1000})
