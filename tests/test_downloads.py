"""Large downloads: offered by the page with a token, written to disk by the server's route, streamed, deleted.

The route is served by real Starlette (its test client speaks HTTP to the ASGI app); the browser tests click the
links on a real server.
"""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.files.archive import zip_workspace
from core.files.downloads import EXPIRED, Downloads, download_path, download_route
from core.workspace.local import LocalWorkspace


def _client(downloads: Downloads, folder: Path, base: str = "") -> TestClient:
    return TestClient(Starlette(routes=[download_route(folder, base, downloads)]))


def _writer(data: bytes) -> Callable[[BinaryIO], None]:
    return lambda target: target.write(data) and None


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


def test_unknown_and_expired_links_say_what_to_do(tmp_path: Path) -> None:
    downloads = Downloads(seconds=0.2)
    token = downloads.offer(("alice", "c1", "workspace"), "x.zip", "application/zip", _writer(b"x"))
    client = _client(downloads, tmp_path)
    assert client.get(download_path("", token)).status_code == 200

    time.sleep(0.3)
    for url in (download_path("", token), "/download/not-a-token"):
        response = client.get(url)
        assert (response.status_code, response.text) == (404, EXPIRED)
    assert client.get("/download/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_one_link_per_person_conversation_and_kind(tmp_path: Path) -> None:
    downloads = Downloads(seconds=0.2)
    first = downloads.offer(("alice", "c1", "workspace"), "a.zip", "application/zip", _writer(b"old"))
    for _ in range(500):  # a page redrawn many times
        again = downloads.offer(("alice", "c1", "workspace"), "a.zip", "application/zip", _writer(b"new"))
    other = downloads.offer(("bob", "c1", "workspace"), "a.zip", "application/zip", _writer(b"bob's"))

    assert again == first and other != first and len(downloads) == 2
    assert _client(downloads, tmp_path).get(download_path("", first)).content == b"new"
    time.sleep(0.3)
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
