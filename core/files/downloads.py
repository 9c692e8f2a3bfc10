"""Downloads too large to build in memory: a link whose file is written to disk when it is fetched, then streamed.

A page offers a download (:meth:`Downloads.offer`) with a function that writes the file, and shows a link with
the offer's token. The server's route (:func:`download_route`) looks the token up, writes the file into a private
folder under ``data_dir``, streams it and deletes it. The token is random, names nothing on the server, and
expires (:data:`OFFER_SECONDS`) unless the page is shown again. One token is kept per person, conversation and
kind of download, so pages redrawn many times do not pile up offers.

The link alone is not enough where people log in: the route asks who sends the request (a :data:`Requester`, which
reads the login cookie) and answers only the person the offer was made for. Each person has one download prepared
at a time and at most :data:`IN_FLIGHT` prepared or being sent (another click is told so), and the files of all
downloads being prepared or sent take at most a set amount of disk together (:class:`DiskAllowance`): a write past
it fails and the part-written file is deleted. A download whose reader stops reading for :data:`STALL_SECONDS` is
ended and its file deleted, so nobody can hold the disk everyone shares by opening links and reading nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

OFFER_SECONDS = 12 * 3600
"""How long a download link works after the page last showed it (a tab may stay open, unredrawn, for hours)."""

STALE_SECONDS = 3600
"""Files older than this in the downloads folder were left by a broken connection (an open one reads on)."""

DISK_BYTES = 20480 * 1024 * 1024
"""Disk the files of downloads being prepared or sent may take together, unless the route is told otherwise."""

IN_FLIGHT = 2
"""Downloads one person may have prepared or being sent at once."""

STALL_SECONDS = 60.0
"""A download whose reader took nothing for this long is ended (its file deleted, its disk given back)."""

ROUTE = "/download/{token}"
EXPIRED = "This download link has expired. Reload the app's page and click the download again."
NOT_YOURS = "This download is for the person it was offered to. Log in to the app and click the download again."
BUSY = "A download of yours is already being prepared. When it has started, click this one again."
TOO_MANY = f"{IN_FLIGHT} downloads of yours are already in progress. When one has finished, click this one again."
NO_ROOM = (
    "This download does not fit in the disk space allowed for downloads being prepared at once "
    "(INTERPRETER_DOWNLOAD_DISK_MB). Try again when others have finished, or download fewer files at a time."
)

Writer = Callable[[BinaryIO], None]
"""Writes a download's whole content into an open file."""

Requester = Callable[[Mapping[str, str]], str | None]
"""Who sends a request, from its cookies: the id everything of theirs is kept under, or None when nobody known."""


@dataclass
class Offer:
    """One download a page offers: to whom, its name and type, how to write it, and until when the link works."""

    token: str
    owner: str
    file_name: str
    mime: str
    write: Writer
    expires: float


class Downloads:
    """The server's offered downloads, by token (thread-safe)."""

    def __init__(self, seconds: float = OFFER_SECONDS) -> None:
        self.seconds = seconds
        self._by_token: dict[str, Offer] = {}
        self._by_key: dict[tuple[str, ...], str] = {}
        self._lock = threading.Lock()

    def offer(self, key: tuple[str, ...], file_name: str, mime: str, write: Writer) -> str:
        """Offer a download and return its token; the same ``key`` keeps its token and gets the new writer.

        Args:
            key: Who and what it is for, e.g. ``(user, conversation, "workspace")``: its first item is the person
                the link is for (the id their data is kept under).
            file_name: The name the browser saves it under.
            mime: Its media type.
            write: Writes its content when the link is fetched.

        Returns:
            The token for :func:`download_path`.

        """
        now = time.monotonic()
        with self._lock:
            self._forget_expired(now)
            token = self._by_key.get(key) or secrets.token_urlsafe(24)
            self._by_key[key] = token
            self._by_token[token] = Offer(token, key[0], file_name, mime, write, now + self.seconds)
            return token

    def find(self, token: str) -> Offer | None:
        """The offer of a token, if it has not expired."""
        with self._lock:
            offer = self._by_token.get(token)
            return offer if offer is not None and offer.expires > time.monotonic() else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)

    def _forget_expired(self, now: float) -> None:
        expired = {token for token, offer in self._by_token.items() if offer.expires <= now}
        for token in expired:
            del self._by_token[token]
        self._by_key = {key: token for key, token in self._by_key.items() if token not in expired}


DOWNLOADS = Downloads()
"""The offers of this server process."""


def download_path(base_url_path: str, token: str) -> str:
    """The link of an offer, below the server's base path (``server.baseUrlPath``)."""
    base = base_url_path.strip("/")
    return f"/{base}/download/{token}" if base else f"/download/{token}"


class NoRoom(OSError):
    """A download would take more disk than its allowance has left."""


class DiskAllowance:
    """Disk the files of downloads being prepared or sent may take together, in bytes (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> None:
        """Take ``size`` bytes, or raise :class:`NoRoom` when fewer are left."""
        with self._lock:
            if self.used + size > self.limit:
                raise NoRoom(NO_ROOM)
            self.used += size

    def give_back(self, size: int) -> None:
        """Return bytes taken earlier (their file was deleted)."""
        with self._lock:
            self.used -= size


class _AllowedFile(io.FileIO):
    """A file written to disk whose growth is taken from a :class:`DiskAllowance` before it is written."""

    def __init__(self, handle: int, allowance: DiskAllowance) -> None:
        super().__init__(handle, "wb")
        self.allowance = allowance
        self.taken = 0

    def write(self, data: ReadableBuffer, /) -> int:
        """Write ``data`` where the file stands, taking from the allowance what makes the file longer."""
        end = self.tell() + memoryview(data).nbytes
        if end > self.taken:
            self.allowance.take(end - self.taken)
            self.taken = end
        return super().write(data)


@dataclass(frozen=True)
class BuiltFile:
    """An offer's content written to disk, and the disk it took from the allowance."""

    path: Path
    taken: int


def build_file(offer: Offer, folder: Path, allowance: DiskAllowance | None = None) -> BuiltFile:
    """Write an offer's content into a new private file in ``folder`` (left-over files of earlier runs are removed).

    Args:
        offer: What to write.
        folder: Where (made private to the app's user).
        allowance: The disk downloads may take; a write past it raises :class:`NoRoom`. None: no limit.

    Returns:
        The file, which the caller deletes (and whose bytes it gives back to ``allowance``).

    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _remove_stale(folder)
    handle, name = tempfile.mkstemp(prefix="download-", dir=folder)  # 0600
    raw = _AllowedFile(handle, allowance or DiskAllowance(1 << 62))
    try:
        with io.BufferedWriter(raw) as target:
            offer.write(target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raw.allowance.give_back(raw.taken)
        raise
    return BuiltFile(Path(name), raw.taken)


def _remove_stale(folder: Path) -> None:
    """Delete files a broken connection left behind."""
    cutoff = time.time() - STALE_SECONDS
    for path in folder.glob("download-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


class _InFlight:
    """Each person's downloads now: whether one is being prepared, and how many are prepared or being sent."""

    def __init__(self) -> None:
        self._preparing: set[str] = set()
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def start(self, owner: str) -> str | None:
        """Note that ``owner``'s download is being prepared; the refusal to send instead, when it may not be."""
        with self._lock:
            if owner in self._preparing:
                return BUSY
            if self._count.get(owner, 0) >= IN_FLIGHT:
                return TOO_MANY
            self._preparing.add(owner)
            self._count[owner] = self._count.get(owner, 0) + 1
            return None

    def prepared(self, owner: str) -> None:
        """Note that ``owner``'s download is ready to send (or failed): another may be prepared."""
        with self._lock:
            self._preparing.discard(owner)

    def finish(self, owner: str) -> None:
        """Note that one of ``owner``'s downloads ended (sent, broken off, or failed)."""
        with self._lock:
            left = self._count.get(owner, 0) - 1
            if left > 0:
                self._count[owner] = left
            else:
                self._count.pop(owner, None)


class _SentFile(FileResponse):
    """A built file sent once, then deleted and its disk given back, however the sending ends.

    A reader that takes nothing for ``stall_seconds`` (the server's write waits that long) ends the sending.
    """

    def __init__(
        self, built: BuiltFile, offer: Offer, allowance: DiskAllowance, done: Callable[[], None], stall_seconds: float
    ) -> None:
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        super().__init__(built.path, media_type=offer.mime, filename=offer.file_name, headers=headers)
        self.built, self.allowance, self.done, self.stall_seconds = built, allowance, done, stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the file; delete it afterwards, also when the connection broke or its reader stalled."""

        async def send_or_give_up(message: Message) -> None:
            await asyncio.wait_for(send(message), self.stall_seconds)

        try:
            await super().__call__(scope, receive, send_or_give_up)
        except TimeoutError:
            pass  # the server closes a connection whose response was not completed
        finally:
            self.built.path.unlink(missing_ok=True)
            self.allowance.give_back(self.built.taken)
            self.done()


def _text(message: str, status: int) -> Response:
    return PlainTextResponse(message, status_code=status, headers={"Cache-Control": "no-store"})


def _failure(error: Exception) -> Response:
    """The answer to a download that could not be written: one line, never a traceback."""
    if isinstance(error, NoRoom):
        return _text(NO_ROOM, 507)
    reason = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    return _text(f"The download could not be prepared: {reason}", 500)


def download_route(
    folder: Path,
    base_url_path: str = "",
    downloads: Downloads = DOWNLOADS,
    *,
    requester: Requester | None = None,
    disk_bytes: int = DISK_BYTES,
    stall_seconds: float = STALL_SECONDS,
) -> Route:
    """The server route that answers download links: the file is written to ``folder``, streamed, deleted.

    Args:
        folder: Where files are written while they are sent (private to the app's user).
        base_url_path: The server's base path (``server.baseUrlPath``).
        downloads: The offers to answer from.
        requester: Who sends a request; then only the person an offer was made for gets it. None: whoever holds
            the link (a server without logins, where everybody is the one person).
        disk_bytes: Disk the files of downloads being prepared or sent may take together.
        stall_seconds: How long a reader may take nothing before its download is ended.

    Returns:
        A Starlette route for ``GET <base>/download/<token>``.

    """
    allowance, in_flight = DiskAllowance(disk_bytes), _InFlight()

    async def serve(request: Request) -> Response:
        offer = downloads.find(request.path_params["token"])
        if offer is None:
            return _text(EXPIRED, 404)
        if requester is not None and requester(request.cookies) != offer.owner:
            return _text(NOT_YOURS, 403)
        refusal = in_flight.start(offer.owner)
        if refusal is not None:
            return _text(refusal, 429)
        try:
            built = await asyncio.to_thread(build_file, offer, folder, allowance)
        except Exception as error:
            in_flight.finish(offer.owner)
            return _failure(error)
        finally:
            in_flight.prepared(offer.owner)
        return _SentFile(built, offer, allowance, partial(in_flight.finish, offer.owner), stall_seconds)

    return Route(download_path(base_url_path, "{token}"), serve, methods=["GET"])
