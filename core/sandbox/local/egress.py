"""The egress proxy of the ``allowlist`` network: HTTP and HTTPS ``CONNECT`` by host name, for allowed hosts only.

One proxy serves every sandbox of the app's process, on an event loop in a thread of its own. Each sandbox has a
:class:`EgressGate`: a TCP listener that lives in the sandbox's network namespace (made there and handed to the
app as a file descriptor, see :func:`listen_inside`) and records what the proxy refused for that sandbox. The
proxy itself runs in the app's network namespace: it resolves names itself (:data:`RESOLVE`), checks every address
with :class:`AllowList` and connects only to the addresses it checked, so DNS rebinding cannot slip a private
address past it. Plain HTTP requests are forwarded one per connection (``Connection: close``); ``CONNECT``
tunnels carry bytes as they are (no TLS interception). See ``docs/network.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from core.errors import SandboxError
from core.sandbox.local.allowlist import AllowList, ip_of, normalise_host

PROXY_PORT = 3128
"""The port the proxy listens on inside each sandbox's namespace (on its own loopback interface)."""
_PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
PROXY_ENVIRONMENT = {
    **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"), _PROXY_URL),
    **dict.fromkeys(("NO_PROXY", "no_proxy"), "localhost,127.0.0.1,::1"),
    "NODE_USE_ENV_PROXY": "1",  # Node 24 (and 22.21+) reads the proxy variables only with it
}
"""What sandbox processes find the proxy by: pip, requests, urllib, curl, git, Deno and Node read these."""
MAX_HEADER_BYTES = 64 * 1024
MAX_CONNECTIONS = 128
"""Connections one sandbox may hold through the proxy at once (each costs the app two file descriptors)."""
HEADER_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
LINGER_SECONDS = 60.0
"""How long a connection stays after the sandbox's side ended it while the server's side did not."""
CHUNK = 64 * 1024


def _system_resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system's resolver (IPv4 and IPv6, in the resolver's order)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


RESOLVE: Callable[[str, int], list[str]] = _system_resolve
"""How the proxy resolves names. Tests replace it to map a name to an address of a namespace they made."""
TLS_CONTEXT: Callable[[], ssl.SSLContext] = ssl.create_default_context
"""The certificates the proxy trusts when it sends a request with secret headers on over HTTPS (tests replace it)."""


class EgressGate:
    """One sandbox's door to the proxy: its listener, its open connections, and what was blocked.

    Args:
        proxy: The proxy that serves it.
        allow: The rules.

    """

    def __init__(self, proxy: EgressProxy, allow: AllowList) -> None:
        self.proxy = proxy
        self.allow = allow
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self._blocked: list[str] = []
        self._lock = threading.Lock()

    def block(self, what: str) -> None:
        """Remember that ``what`` (a host, with its port or why) was refused."""
        with self._lock:
            if what not in self._blocked:
                self._blocked.append(what)

    def take_blocked(self) -> list[str]:
        """What was refused since the last call, oldest first."""
        with self._lock:
            blocked, self._blocked = self._blocked, []
        return blocked

    def close(self) -> None:
        """Stop listening and end this sandbox's open connections."""
        self.proxy.call(self._close())

    async def _close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection from the sandbox."""
        task = asyncio.current_task()
        assert task is not None
        if len(self.tasks) >= MAX_CONNECTIONS:
            writer.close()
            return
        self.tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream = await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        finally:
            self.tasks.discard(task)
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> asyncio.StreamWriter | None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEADER_TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await _answer(writer, 400, "not an HTTP proxy request")
            return None
        method, target, version = parts
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            path = ""
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                await _answer(writer, 400, "only http:// URLs and CONNECT are proxied")
                return None
            host, port_text = url.hostname, str(url.port or 80)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        if not port_text.isdigit() or not host:
            await _answer(writer, 400, "no host and port")
            return None
        host, port = normalise_host(host), int(port_text)
        shown = host if port in (80, 443) else f"{host}:{port}"
        if not self.allow.permits(host, port):
            await self._refuse(writer, shown, shown)
            return None
        addresses = await self._addresses(writer, host, port)
        if not addresses:
            return None
        usable = [a for a in addresses if not self.allow.refuses_address(a)] if ip_of(host) is None else addresses
        if not usable:
            await self._refuse(writer, f"{shown} (it resolves to {addresses[0]}, not a public address)", shown)
            return None
        secrets = self.allow.headers_for(host, port) if method != "CONNECT" else {}
        tls = (host, 443 if port == 80 else port) if secrets else None
        upstream_reader, upstream = await self._connect(writer, usable, tls[1] if tls else port, shown, tls)
        if upstream is None:
            return None
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream.write(_forwarded_head(method, path, version, lines[1:], secrets))
        await _pipe(reader, writer, upstream_reader, upstream)
        return upstream

    async def _refuse(self, writer: asyncio.StreamWriter, what: str, shown: str) -> None:
        self.block(what)  # before the answer: once the sandbox sees it, the note is there
        await _answer(writer, 403, f"blocked by the allow-list: {shown}")

    async def _addresses(self, writer: asyncio.StreamWriter, host: str, port: int) -> list[str]:
        if ip_of(host) is not None:
            return [str(ip_of(host))]
        try:
            return await asyncio.get_running_loop().run_in_executor(None, RESOLVE, host, port)
        except OSError as exc:
            await _answer(writer, 502, f"could not resolve {host}: {exc}")
            return []

    async def _connect(
        self, writer: asyncio.StreamWriter, addresses: list[str], port: int, shown: str, tls: tuple[str, int] | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter | None]:
        error: BaseException | None = None
        context = TLS_CONTEXT() if tls else None
        for address in addresses:
            try:
                hostname = tls[0] if tls else None
                opened = asyncio.open_connection(address, port, limit=CHUNK, ssl=context, server_hostname=hostname)
                return await asyncio.wait_for(opened, CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                error = exc
        await _answer(writer, 502, f"could not connect to {shown}: {error or 'no address'}")
        return asyncio.StreamReader(), None


def _forwarded_head(method: str, path: str, version: str, headers: list[str], secrets: dict[str, str]) -> bytes:
    """The request as the server gets it: origin-form, without proxy or hop-by-hop headers, one request only.

    The host's secret headers replace any the sandbox sent under their names.
    """
    dropped = {"proxy-connection", "proxy-authorization", "connection", "keep-alive", *map(str.lower, secrets)}
    kept = [line for line in headers if line and line.split(":", 1)[0].strip().lower() not in dropped]
    added = [f"{name}: {value}" for name, value in secrets.items()]
    lines = [f"{method} {path} {version}", *kept, *added, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    reasons = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    body = (text + "\n").encode()
    head = f"HTTP/1.1 {status} {reasons[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + body)
    with contextlib.suppress(OSError):
        await writer.drain()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def _pipe(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Carry bytes both ways until the server's side ends (or lingers after the sandbox's side ended)."""
    outward = asyncio.ensure_future(_copy(client_reader, server))
    inward = asyncio.ensure_future(_copy(server_reader, client))
    try:
        await asyncio.wait((outward, inward), return_when=asyncio.FIRST_COMPLETED)
        if not inward.done():
            await asyncio.wait((inward,), timeout=LINGER_SECONDS)
    finally:
        for task in (outward, inward):
            task.cancel()
        await asyncio.gather(outward, inward, return_exceptions=True)


class EgressProxy:
    """The app's one egress proxy: an event loop in a daemon thread serving every sandbox's gate."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="egress-proxy", daemon=True)
        self.thread.start()

    def call(self, coroutine: object) -> object:
        """Run a coroutine on the proxy's loop and return its result (waits at most 10 s)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)  # type: ignore[arg-type]

    def open_gate(self, listener: socket.socket, allow: AllowList) -> EgressGate:
        """Serve connections arriving at ``listener`` (already listening) under ``allow``'s rules."""
        gate = EgressGate(self, allow)

        async def start() -> None:
            gate.server = await asyncio.start_server(gate.handle, sock=listener, limit=MAX_HEADER_BYTES)

        self.call(start())
        return gate


@functools.cache
def egress_proxy() -> EgressProxy:
    """The process's proxy, started at first use."""
    return EgressProxy()


# Run inside the namespace: bring up its loopback, listen on the proxy's port, hand the socket over, exit.
_LISTEN = """
import socket, sys
channel = socket.socket(fileno=int(sys.argv[1]))
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", int(sys.argv[2])))
listener.listen(128)
socket.send_fds(channel, [b"1"], [listener.fileno()])
"""


def listen_inside(enter: list[str], port: int = PROXY_PORT, timeout: float = 10.0) -> socket.socket:
    """A TCP listener on ``127.0.0.1:port`` of the network namespace that ``enter`` (an ``nsenter`` prefix) enters.

    A short-lived helper made inside the namespace binds it and passes it back over a socket pair, so the app's
    process accepts the sandbox's connections without entering the namespace, and no path on disk is involved.

    Raises:
        SandboxError: If the helper fails (its message says why).

    """
    ours, theirs = socket.socketpair()
    script = 'ip link set lo up && exec "$0" -I -S -c "$1" "$2" "$3"'
    command = [*enter, "sh", "-c", script, sys.executable, _LISTEN, str(theirs.fileno()), str(port)]
    try:
        ours.settimeout(timeout)
        with subprocess.Popen(command, pass_fds=(theirs.fileno(),), stderr=subprocess.PIPE) as helper:
            theirs.close()
            try:
                _, fds, _, _ = socket.recv_fds(ours, 16, 1)
            except OSError:
                fds = []
            error = helper.communicate(timeout=timeout)[1].decode(errors="replace").strip()
        if not fds:
            raise SandboxError(f"the egress proxy could not listen in the sandbox's namespace: {error or 'no answer'}")
        return socket.socket(fileno=fds[0])
    finally:
        ours.close()
        theirs.close()
