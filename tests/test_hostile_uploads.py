"""Hostile uploads: names that try to leave the sandbox, ZIP slips, bombs, links and floods of entries."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import pytest

from core.errors import UploadRejected
from tests.conftest import make_zip
from tests.hostile import MB, World

# -- upload names and archives ---------------------------------------------------------------------------------


def many_entries_zip(count: int) -> bytes:
    """A ZIP of ``count`` empty stored entries, written by hand (zipfile would take seconds for 100,000)."""
    local_parts, central_parts, offset = [], [], 0
    for number in range(count):
        name = str(number).encode()
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
        central_parts.append(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, offset)
            + name
        )
        local_parts.append(local)
        offset += len(local)
    central = b"".join(central_parts)
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, offset + len(central), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, len(central), offset, 0)
    return b"".join(local_parts) + central + zip64_end + locator + end


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil.txt", "folder separator"),
        ("/etc/passwd", "folder separator"),
        ("a/b.csv", "folder separator"),
        ("c\u2024\u2024/x", "folder separator"),
        ("..", "not a file name"),
        (".", "not a file name"),
        ("nul\x00.txt", "control character"),
        ("x" * 4096, "too long"),
        ("\u00e9" * 128, "too long"),
        ("", "no name"),
        (".bashrc", "hidden"),
    ],
)
def test_hostile_upload_names_are_refused(world: World, name: str, words: str) -> None:
    before = world.outside()
    with pytest.raises(UploadRejected, match=words):
        world.session.preload(name, b"data")
    assert world.sandbox_tree() == {}
    assert world.outside() == before


def test_look_alike_upload_names_land_inside_as_one_file(world: World) -> None:
    before = world.outside()
    for name in ("\uff0e\uff0e\uff0fevil.txt", "\u2024\u2024", "%2e%2e"):
        assert world.session.preload(name, b"data") == [name]
    assert world.sandbox_tree() == {"\uff0e\uff0e\uff0fevil.txt": b"data", "\u2024\u2024": b"data", "%2e%2e": b"data"}
    assert world.outside() == before


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"ok.txt": b"fine", "../evil.txt": b"pwned"}, "zip slip"),
        ({"a/b/../../../evil.txt": b"pwned"}, "zip slip"),
        ({"/etc/cron.d/evil": b"pwned"}, "absolute path"),
        ({"..\\..\\evil.txt": b"pwned"}, "zip slip"),
        ({"n" * 300: b"long"}, "could not be unpacked"),
        ({"bomb.bin": bytes(50 * MB)}, "ZIP bomb"),
    ],
)
def test_hostile_archives_are_refused_and_leave_nothing(world: World, entries: dict[str, bytes], words: str) -> None:
    world.session.sandbox.write_file("existing.txt", b"before")
    before, tree = world.outside(), world.sandbox_tree()
    with pytest.raises(UploadRejected, match=words) as refused:
        world.session.preload("upload.zip", make_zip(entries))
    assert "nothing was kept" in str(refused.value).lower()
    assert world.sandbox_tree() == tree
    assert world.outside() == before


def test_archive_entries_with_look_alike_names_stay_inside(world: World) -> None:
    before = world.outside()
    arrived = world.session.preload("odd.zip", make_zip({"\uff0e\uff0e\uff0fevil.txt": b"1", "\u2024\u2024/x": b"2"}))
    assert arrived == ["\u2024\u2024/x", "\uff0e\uff0e\uff0fevil.txt"]
    assert world.sandbox_tree() == {"\u2024\u2024": "dir", "\u2024\u2024/x": b"2", "\uff0e\uff0e\uff0fevil.txt": b"1"}
    assert world.outside() == before


def test_a_zip_inside_a_zip_is_stored_as_a_file(world: World) -> None:
    inner = make_zip({"deeper/secret.txt": b"inner"})
    arrived = world.session.preload("outer.zip", make_zip({"inner.zip": inner, "docs/also.zip": inner}))
    assert arrived == ["docs/also.zip", "inner.zip"]
    assert world.session.sandbox.read_file("inner.zip") == inner
    assert world.sandbox_tree() == {"docs": "dir", "docs/also.zip": inner, "inner.zip": inner}


def test_a_hundred_thousand_entries_are_refused_quickly(world: World) -> None:
    data = many_entries_zip(100_000)
    assert len(zipfile.ZipFile(io.BytesIO(data)).infolist()) == 100_000  # a valid archive
    started = time.monotonic()
    with pytest.raises(UploadRejected, match=r"100,000 entries, more than the limit of 20,000"):
        world.session.preload("many.zip", data)
    assert time.monotonic() - started < 10
    assert world.sandbox_tree() == {}


@pytest.mark.parametrize(
    "data", [b"this is plain text, not an archive", b"", b"PK\x03\x04" + b"\x00" * 100], ids=["text", "empty", "header"]
)
def test_a_file_that_is_not_a_zip_is_refused(world: World, data: bytes) -> None:
    with pytest.raises(UploadRejected, match=r"'fake\.zip' is not a valid ZIP archive"):
        world.session.preload("fake.zip", data)
    assert world.sandbox_tree() == {}


def test_an_empty_zip_adds_nothing_and_says_so(world: World) -> None:
    assert world.session.preload("empty.zip", make_zip({})) == []
    assert world.sandbox_tree() == {}
    assert "(no files)" in world.session.describe_upload("empty.zip", [])
