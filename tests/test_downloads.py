"""Large downloads: offered by the page with a token, written to disk by the server's route, streamed, deleted.

The route is served by real Starlette (its test client speaks HTTP to the ASGI app), and by uvicorn on 127.0.0.1 where
requests run side by side; ``tests/test_web_server.py`` fetches a link of the real app with and without its login.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import stat
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.files.archive import zip_workspace
from core.files.downloads import BUSY, EXPIRED, NOT_YOURS, TOO_MANY, Downloads, download_path, download_route
from core.workspace.local import LocalWorkspace
from tests.conftest import wait_for
from tests.servers import serving_asgi


def _client(downloads: Downloads, folder: Path, base: str = "") -> TestClient:
    return TestClient(Starlette(routes=[download_route(folder, base, downloads)]))


def _writer(data: bytes) -> Callable[[BinaryIO], None]:
    return lambda target: target.write(data) and None


class Clock:
    """The downloads module's clock, moved on by the test: an offer expires when the test says, however slow the
    machine (``monotonic`` is the test's; ``time`` stays the real one)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        """The test's time."""
        return self.now

    def time(self) -> float:
        """The real wall clock."""
        return time.time()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock that stands still until the test moves it."""
    from core.files import downloads

    moved = Clock()
    monkeypatch.setattr(downloads, "time", moved)
    return moved


def test_a_workspace_zip_is_streamed_from_a_private_file_that_is_then_deleted(tmp_path: Path) -> None:
    workspace = LocalWorkspace(tmp_path / "ws")
    workspace.write("data.csv", b"a,b\n1,2\n")
    downloads, folder, seen = Downloads(), tmp_path / "downloads", []

    def write(target: BinaryIO) -> None:
        seen.append(stat.S_IMODE(os.fstat(target.fileno()).st_mode))
        zip_workspace(workspace, target)

    token = downloads.offer(("alice", "c1", "workspace"), 'Sales "Q1" €.zip', "application/zip", write)
    response = _client(downloads, folder).get(download_path("", token))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == "attachment; filename*=utf-8''Sales%20%22Q1%22%20%E2%82%AC.zip"
    assert response.headers["cache-control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("data.csv") == b"a,b\n1,2\n"
    assert seen == [0o600] and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert list(folder.iterdir()) == []


def test_unknown_and_expired_links_say_what_to_do(tmp_path: Path, clock: Clock) -> None:
    downloads = Downloads(seconds=60)
    token = downloads.offer(("alice", "c1", "workspace"), "x.zip", "application/zip", _writer(b"x"))
    client = _client(downloads, tmp_path)
    clock.now += 59
    assert client.get(download_path("", token)).status_code == 200

    clock.now += 1
    for url in (download_path("", token), "/download/not-a-token"):
        response = client.get(url)
        assert (response.status_code, response.text) == (404, EXPIRED)
    assert client.get("/download/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_one_link_per_person_conversation_and_kind(tmp_path: Path, clock: Clock) -> None:
    downloads = Downloads(seconds=60)
    first = downloads.offer(("alice", "c1", "workspace"), "a.zip", "application/zip", _writer(b"old"))
    for _ in range(500):  # a page redrawn many times
        again = downloads.offer(("alice", "c1", "workspace"), "a.zip", "application/zip", _writer(b"new"))
    other = downloads.offer(("bob", "c1", "workspace"), "a.zip", "application/zip", _writer(b"bob's"))

    assert again == first and other != first and len(downloads) == 2
    assert _client(downloads, tmp_path).get(download_path("", first)).content == b"new"
    clock.now += 60
    downloads.offer(("carol", "c9", "everything"), "c.zip", "application/zip", _writer(b"c"))
    assert len(downloads) == 1  # expired offers are forgotten


def test_a_failing_download_explains_itself_and_leaves_no_file(tmp_path: Path) -> None:
    def broken(target: BinaryIO) -> None:
        target.write(b"half")
        raise OSError("No space left on device\nmore detail")

    downloads = Downloads()
    token = downloads.offer(("alice", "c1", "workspace"), "x.zip", "application/zip", broken)
    response = _client(downloads, tmp_path / "downloads").get(download_path("", token))

    assert (response.status_code, response.text) == (500, "The download could not be prepared: No space left on device")
    assert list((tmp_path / "downloads").iterdir()) == []


@pytest.mark.parametrize(("base", "expected"), [("", "/download/t"), ("/", "/download/t"), ("/ci/", "/ci/download/t")])
def test_links_sit_below_the_servers_base_path(tmp_path: Path, base: str, expected: str) -> None:
    assert download_path(base, "t") == expected
    downloads = Downloads()
    token = downloads.offer(("a", "c", "k"), "x.txt", "text/plain", _writer(b"hello"))
    assert _client(downloads, tmp_path, base).get(download_path(base, token)).content == b"hello"


@contextmanager
def serving(downloads: Downloads, folder: Path, **options: object) -> Iterator[int]:
    """The download route on a real HTTP server (uvicorn on 127.0.0.1, in a thread): its port."""
    route = download_route(folder, "", downloads, **options)  # type: ignore[arg-type]
    with serving_asgi(Starlette(routes=[route])) as port:
        yield port


def fetch(port: int, token: str, who: str = "") -> tuple[int, bytes]:
    """GET an offer's link as the person ``who`` (a cookie the test's requester reads; empty: no cookie)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", download_path("", token), headers={"Cookie": f"who={who}"} if who else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def by_cookie(cookies: Mapping[str, str]) -> str | None:
    """The test's stand-in for the login cookie's verified identity."""
    return cookies.get("who")


class Held:
    """A writer that writes ``data`` and then waits, building, until the test lets it finish."""

    def __init__(self, data: bytes) -> None:
        self.data, self.building, self.release = data, threading.Event(), threading.Event()

    def __call__(self, target: BinaryIO) -> None:
        target.write(self.data)
        target.flush()
        self.building.set()
        assert self.release.wait(30)


def test_with_a_login_a_link_answers_only_the_person_it_was_offered_to(tmp_path: Path) -> None:
    downloads = Downloads()
    token = downloads.offer(("alice", "c1", "workspace"), "a.zip", "application/zip", _writer(b"alice's"))
    with serving(downloads, tmp_path / "downloads", requester=by_cookie) as port:
        assert fetch(port, token, "alice") == (200, b"alice's")
        for who in ("", "bob", "alice2"):  # logged out, someone else
            assert fetch(port, token, who) == (403, NOT_YOURS.encode()), who
        assert fetch(port, "not-a-token", "alice") == (404, EXPIRED.encode())


def test_one_download_at_a_time_is_prepared_per_person(tmp_path: Path) -> None:
    downloads, held = Downloads(), Held(b"big")
    first = downloads.offer(("alice", "c1", "everything"), "a.zip", "application/zip", held)
    second = downloads.offer(("alice", "c2", "everything"), "b.zip", "application/zip", _writer(b"second"))
    bobs = downloads.offer(("bob", "c1", "everything"), "c.zip", "application/zip", _writer(b"bob's"))
    with serving(downloads, tmp_path / "downloads", requester=by_cookie) as port, ThreadPoolExecutor(1) as pool:
        preparing: Future[tuple[int, bytes]] = pool.submit(fetch, port, first, "alice")
        assert held.building.wait(30)
        assert fetch(port, second, "alice") == (429, BUSY.encode())
        assert fetch(port, first, "alice") == (429, BUSY.encode())  # clicked twice
        assert fetch(port, bobs, "bob") == (200, b"bob's")  # others are not held up
        held.release.set()
        assert preparing.result(30) == (200, b"big")
        assert fetch(port, second, "alice") == (200, b"second")
    assert list((tmp_path / "downloads").iterdir()) == []


def test_downloads_being_prepared_take_at_most_the_disk_allowed(tmp_path: Path) -> None:
    downloads, folder, held = Downloads(), tmp_path / "downloads", Held(b"a" * 600)
    first = downloads.offer(("alice", "c1", "everything"), "a.zip", "application/zip", held)
    bobs = downloads.offer(("bob", "c1", "everything"), "b.zip", "application/zip", _writer(b"b" * 600))
    huge = downloads.offer(("carol", "c1", "everything"), "c.zip", "application/zip", _writer(b"c" * 1001))
    with serving(downloads, folder, requester=by_cookie, disk_bytes=1000) as port, ThreadPoolExecutor(1) as pool:
        preparing = pool.submit(fetch, port, first, "alice")
        assert held.building.wait(30)
        status, body = fetch(port, bobs, "bob")
        assert status == 507 and b"INTERPRETER_DOWNLOAD_DISK_MB" in body, body
        assert len(list(folder.iterdir())) == 1  # bob's part-written file is gone at once
        held.release.set()
        assert preparing.result(30) == (200, b"a" * 600)
        answers: list[tuple[int, bytes]] = []  # the space comes back just after alice's last byte: ask until it has
        wait_for(lambda: answers.append(fetch(port, bobs, "bob")) or answers[-1][0] != 507, "the space given back")
        assert answers[-1] == (200, b"b" * 600)
        assert fetch(port, huge, "carol")[0] == 507  # larger than the whole allowance
    assert list(folder.iterdir()) == []


def test_a_broken_connection_leaves_no_file_and_gives_the_disk_back(tmp_path: Path) -> None:
    downloads, folder, size = Downloads(), tmp_path / "downloads", 8 * 1024 * 1024
    token = downloads.offer(("alice", "c1", "everything"), "a.zip", "application/zip", _writer(b"a" * size))
    with serving(downloads, folder, requester=by_cookie, disk_bytes=size + 1) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", download_path("", token), headers={"Cookie": "who=alice"})
        response = connection.getresponse()
        assert response.status == 200 and len(response.read(1024)) == 1024
        connection.close()  # the browser's download was cancelled
        wait_for(lambda: not list(folder.iterdir()), "the file of the broken download to go", 30)
        assert fetch(port, token, "alice") == (200, b"a" * size)  # all its disk was given back


@contextmanager
def stalled(port: int, token: str, who: str) -> Iterator[socket.socket]:
    """A download that was asked for, has started to arrive, and is then never read (a tiny receive buffer)."""
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        reader.connect(("127.0.0.1", port))
        reader.sendall(
            f"GET {download_path('', token)} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: who={who}\r\n\r\n".encode()
        )
        reader.settimeout(30)
        assert reader.recv(12, socket.MSG_PEEK) == b"HTTP/1.1 200"  # it was prepared: its answer has begun
        yield reader
    finally:
        reader.close()


def test_a_person_who_stops_reading_cannot_hold_the_disk_everyone_shares(tmp_path: Path) -> None:
    downloads, folder, size = Downloads(), tmp_path / "downloads", 24 * 1024 * 1024
    alices = [downloads.offer(("alice", f"c{n}", "everything"), "a.zip", "application/zip", _writer(b"a" * size))
              for n in range(3)]  # fmt: skip
    bobs = downloads.offer(("bob", "c1", "everything"), "b.zip", "application/zip", _writer(b"b" * size))
    options = {"requester": by_cookie, "disk_bytes": 2 * size + 1, "stall_seconds": 2.0}
    with serving(downloads, folder, **options) as port, stalled(port, alices[0], "alice"):
        with stalled(port, alices[1], "alice"):
            assert fetch(port, alices[2], "alice") == (429, TOO_MANY.encode())  # two in flight already
            answers: list[tuple[int, bytes]] = []  # bob finds the disk full until alice's stalled sends are ended
            wait_for(lambda: answers.append(fetch(port, bobs, "bob")) or answers[-1][0] == 200, "room for bob", 60)
            assert answers[-1] == (200, b"b" * size)
            wait_for(lambda: not list(folder.iterdir()), "every file of the stalled downloads to go", 30)
        assert fetch(port, alices[2], "alice") == (200, b"a" * size)  # hers count no more
