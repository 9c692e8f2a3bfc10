"""Downloads too large to build in memory: a link whose file is written to disk when it is fetched, then streamed.

A page offers a download (:meth:`Downloads.offer`) with a function that writes the file, and shows a link with
the offer's token. The server's route (:func:`download_route`) looks the token up, writes the file into a private
folder under ``data_dir``, streams it and deletes it. The token is the only thing a browser sends: it is random,
names nothing on the server, and expires (:data:`OFFER_SECONDS`) unless the page is shown again. One token is
kept per person, conversation and kind of download, so pages redrawn many times do not pile up offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

OFFER_SECONDS = 12 * 3600
"""How long a download link works after the page last showed it (a tab may stay open, unredrawn, for hours)."""

STALE_SECONDS = 3600
"""Files older than this in the downloads folder were left by a broken connection (an open one reads on)."""

ROUTE = "/download/{token}"
EXPIRED = "This download link has expired. Reload the app's page and click the download again."

Writer = Callable[[BinaryIO], None]
"""Writes a download's whole content into an open file."""


@dataclass
class Offer:
    """One download a page offers: its name and type, how to write it, and until when the link works."""

    token: str
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
            key: Who and what it is for, e.g. ``(user, conversation, "workspace")``.
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
            self._by_token[token] = Offer(token, file_name, mime, write, now + self.seconds)
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


def build_file(offer: Offer, folder: Path) -> Path:
    """Write an offer's content into a new private file in ``folder`` (left-over files of earlier runs are removed)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _remove_stale(folder)
    handle, name = tempfile.mkstemp(prefix="download-", dir=folder)  # 0600
    try:
        with os.fdopen(handle, "wb") as target:
            offer.write(target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _remove_stale(folder: Path) -> None:
    """Delete files a broken connection left behind."""
    cutoff = time.time() - STALE_SECONDS
    for path in folder.glob("download-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def download_route(folder: Path, base_url_path: str = "", downloads: Downloads = DOWNLOADS) -> Route:
    """The server route that answers download links: the file is written to ``folder``, streamed, deleted.

    Args:
        folder: Where files are written while they are sent (private to the app's user).
        base_url_path: The server's base path (``server.baseUrlPath``).
        downloads: The offers to answer from.

    Returns:
        A Starlette route for ``GET <base>/download/<token>``.

    """

    async def serve(request: Request) -> Response:
        offer = downloads.find(request.path_params["token"])
        if offer is None:
            return PlainTextResponse(EXPIRED, status_code=404, headers={"Cache-Control": "no-store"})
        try:
            path = await asyncio.to_thread(build_file, offer, folder)
        except Exception as error:  # the person sees one line, never a traceback
            reason = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
            return PlainTextResponse(f"The download could not be prepared: {reason}", status_code=500)
        return FileResponse(
            path,
            media_type=offer.mime,
            filename=offer.file_name,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            background=BackgroundTask(path.unlink, missing_ok=True),
        )

    return Route(download_path(base_url_path, "{token}"), serve, methods=["GET"])
