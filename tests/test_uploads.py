from __future__ import annotations

import io
import os
import random
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.errors import UploadRejected
from core.files.uploads import describe_tree, extract_zip, save_upload
from tests.conftest import make_zip

MB = 1024 * 1024
LIMITS: dict[str, Any] = {"max_total_bytes": 100 * MB, "max_entries": 1000, "max_ratio": 200.0}


def patch_headers(data: bytes, *, local_offset: int, central_offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field in the (only) local header and the (only) central directory record."""
    patched = bytearray(data)
    local = patched.index(b"PK\x03\x04")
    central = patched.index(b"PK\x01\x02")
    struct.pack_into(fmt, patched, local + local_offset, value)
    struct.pack_into(fmt, patched, central + central_offset, value)
    return bytes(patched)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones too) with its content; ``None`` for folders."""
    result: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            result[os.path.relpath(os.path.join(root, name), folder)] = None
        for name in files:
            path = os.path.join(root, name)
            result[os.path.relpath(path, folder)] = Path(path).read_bytes()
    return result


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    (folder / "data").mkdir(parents=True)
    (folder / "existing.txt").write_bytes(b"keep me")
    (folder / "data" / "old.csv").write_bytes(b"a,b\n")
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]


def assert_refused(data: bytes, dest: Path, match: str, **limits: float) -> UploadRejected:
    before = snapshot(dest)
    with pytest.raises(UploadRejected, match=match) as caught:
        extract_zip(data, dest, archive_name="upload.zip", **{**LIMITS, **limits})
    assert snapshot(dest) == before  # nothing extracted, no staging folder left behind
    return caught.value


# --- archives that are accepted ---------------------------------------------------------------


def test_nested_folders_are_preserved(dest: Path) -> None:
    data = make_zip({"project/src/main.py": b"print(1)\n", "project/README.md": b"# hi", "top.txt": b"t"})
    extracted = extract_zip(data, dest, **LIMITS)
    assert extracted == ["project/README.md", "project/src/main.py", "top.txt"]
    assert (dest / "project" / "src" / "main.py").read_bytes() == b"print(1)\n"
    assert (dest / "existing.txt").read_bytes() == b"keep me"
    assert not [p for p in os.listdir(dest) if p.startswith(".upload")]


def test_binary_content_is_exact(dest: Path) -> None:
    payload = bytes(range(256)) * 1000
    extract_zip(make_zip({"blob.bin": payload}), dest, **LIMITS)
    assert (dest / "blob.bin").read_bytes() == payload


def test_merge_into_existing_folder_overwrites_same_paths(dest: Path) -> None:
    data = make_zip({"data/new.csv": b"x,y\n", "data/old.csv": b"replaced\n", "existing.txt": b"new"})
    extract_zip(data, dest, **LIMITS)
    assert (dest / "data" / "new.csv").read_bytes() == b"x,y\n"
    assert (dest / "data" / "old.csv").read_bytes() == b"replaced\n"
    assert (dest / "existing.txt").read_bytes() == b"new"
    assert sorted(os.listdir(dest)) == ["data", "existing.txt"]


def test_directory_entries_and_dot_segments(dest: Path) -> None:
    extracted = extract_zip(make_zip({"empty/": b"", "./docs/a.txt": b"a"}), dest, **LIMITS)
    assert extracted == ["docs/a.txt"]
    assert (dest / "empty").is_dir()
    assert (dest / "docs" / "a.txt").read_bytes() == b"a"


def test_macos_junk_is_skipped(dest: Path) -> None:
    data = make_zip(
        {
            "photos/cat.jpg": b"jpg",
            "__MACOSX/photos/._cat.jpg": b"resource fork",
            "photos/._cat.jpg": b"resource fork",
            "photos/.DS_Store": b"finder",
        }
    )
    assert extract_zip(data, dest, **LIMITS) == ["photos/cat.jpg"]
    assert not (dest / "__MACOSX").exists()
    assert os.listdir(dest / "photos") == ["cat.jpg"]


def test_extract_into_missing_folder_creates_it(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder"
    assert extract_zip(make_zip({"a.txt": b"1"}), target, **LIMITS) == ["a.txt"]
    assert (target / "a.txt").read_bytes() == b"1"


def test_refused_archive_does_not_create_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "new"
    with pytest.raises(UploadRejected):
        extract_zip(make_zip({"../x": b"1"}), target, **LIMITS)
    assert not target.exists()


def test_small_highly_compressible_files_are_fine(dest: Path) -> None:
    data = make_zip({"zeros.bin": bytes(MB)})  # ratio ~1000 but only 1 MB: not a bomb
    assert extract_zip(data, dest, **LIMITS) == ["zeros.bin"]


# --- archives that are refused -----------------------------------------------------------------


def test_zip_slip_is_refused(dest: Path) -> None:
    error = assert_refused(make_zip({"ok.txt": b"fine", "../evil.txt": b"pwned"}), dest, r"'\.\./evil\.txt'.*\.\.")
    assert "upload.zip" in str(error)
    assert not (dest.parent / "evil.txt").exists()


def test_zip_slip_with_backslashes_is_refused(dest: Path) -> None:
    assert_refused(make_zip({"..\\..\\evil.txt": b"pwned"}), dest, r"\.\.")


def test_nested_zip_slip_is_refused(dest: Path) -> None:
    assert_refused(make_zip({"a/b/../../../evil.txt": b"pwned"}), dest, r"evil\.txt")


@pytest.mark.parametrize("name", ["/etc/x", "C:/Windows/x.dll", "\\server\\share\\x"])
def test_absolute_paths_are_refused(dest: Path, name: str) -> None:
    assert_refused(make_zip({name: b"x"}), dest, "absolute")


def test_symlink_entry_is_refused(dest: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", b"hi")
        link = zipfile.ZipInfo("passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert_refused(buffer.getvalue(), dest, r"'passwd'.*symbolic link")


def test_encrypted_entry_is_refused(dest: Path) -> None:
    # zipfile cannot write encrypted entries: set the "encrypted" flag bit in both headers by hand.
    data = make_zip({"secret.txt": b"classified"})
    flags = zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits
    data = patch_headers(data, local_offset=6, central_offset=8, fmt="<H", value=flags | 0x1)
    assert_refused(data, dest, r"'secret\.txt'.*encrypted")


def test_too_many_entries_is_refused(dest: Path) -> None:
    data = make_zip({f"f{i}.txt": b"x" for i in range(11)})
    assert_refused(data, dest, r"11 entries.*limit of 10.*INTERPRETER_MAX_UNZIP_ENTRIES", max_entries=10)


def test_too_large_total_is_refused(dest: Path) -> None:
    data = make_zip({"a.bin": os.urandom(600_000), "b.bin": os.urandom(600_000)})
    assert_refused(data, dest, r"unpack to 1\.1 MB.*limit of 1 MB.*INTERPRETER_MAX_UNZIP_MB", max_total_bytes=MB)


def test_high_ratio_bomb_is_refused(dest: Path) -> None:
    data = make_zip({"readme.txt": b"hello", "bomb.bin": bytes(50 * MB)})
    assert len(data) < MB
    assert_refused(data, dest, r"ZIP bomb.*'bomb\.bin'.*INTERPRETER_MAX_UNZIP_RATIO")


def test_lying_header_is_refused(dest: Path) -> None:
    # The entry really holds 200 kB but its headers declare 1 kB.
    data = make_zip({"liar.bin": os.urandom(200_000)})
    data = patch_headers(data, local_offset=22, central_offset=24, fmt="<I", value=1000)
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].file_size == 1000
    assert_refused(data, dest, r"damaged|declare")


def test_more_bytes_than_declared_are_caught_while_extracting(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even if the ZIP reader handed over more bytes than the header declares, extraction stops.
    data = make_zip({"first.txt": b"written first", "small.txt": b"12345"})

    def open_too_much(self: zipfile.ZipFile, info: zipfile.ZipInfo, *args: object) -> io.BytesIO:
        return io.BytesIO(b"x" * (info.file_size + 1))

    monkeypatch.setattr(zipfile.ZipFile, "open", open_too_much)
    assert_refused(data, dest, r"more data than its headers declare")


def test_not_a_zip_is_refused(dest: Path) -> None:
    assert_refused(b"this is plain text, not an archive", dest, r"'upload\.zip' is not a valid ZIP archive")


def test_truncated_zip_is_refused(dest: Path) -> None:
    data = make_zip({"a.txt": os.urandom(10_000)})
    assert_refused(data[: len(data) // 2], dest, "not a valid ZIP archive")


def test_file_and_folder_clash_with_existing_is_refused(dest: Path) -> None:
    assert_refused(make_zip({"existing.txt/inner.txt": b"x", "zzz.txt": b"z"}), dest, r"'existing\.txt'")


# --- save_upload ---------------------------------------------------------------------------------


def test_plain_file_is_copied_as_is(dest: Path, settings: Settings) -> None:
    payload = bytes(range(256)) * 10
    assert save_upload("sales 2024.xlsx", payload, dest, settings=settings) == ["sales 2024.xlsx"]
    assert (dest / "sales 2024.xlsx").read_bytes() == payload
    assert not [p for p in os.listdir(dest) if p.startswith(".")]


def test_plain_file_overwrites(dest: Path, settings: Settings) -> None:
    save_upload("existing.txt", b"v2", dest, settings=settings)
    assert (dest / "existing.txt").read_bytes() == b"v2"


def test_zip_upload_is_extracted(dest: Path, settings: Settings) -> None:
    data = make_zip({"set/a.csv": b"1", "set/b.csv": b"2"})
    assert save_upload("DATA.ZIP", data, dest, settings=settings) == ["set/a.csv", "set/b.csv"]
    assert not (dest / "DATA.ZIP").exists()
    assert (dest / "set" / "b.csv").read_bytes() == b"2"


def test_zip_upload_uses_limits_from_settings(dest: Path, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, max_unzip_entries=2)  # type: ignore[call-arg]
    before = snapshot(dest)
    with pytest.raises(UploadRejected, match=r"'many\.zip' has 3 entries"):
        save_upload("many.zip", make_zip({"a": b"", "b": b"", "c": b""}), dest, settings=settings)
    assert snapshot(dest) == before


def test_oversize_upload_is_refused(dest: Path, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, max_upload_mb=1)  # type: ignore[call-arg]
    before = snapshot(dest)
    with pytest.raises(UploadRejected, match=r"'big\.csv' is 2\.0 MB.*1 MB.*INTERPRETER_MAX_UPLOAD_MB"):
        save_upload("big.csv", bytes(2 * MB), dest, settings=settings)
    assert snapshot(dest) == before


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "no name"),
        ("../evil.txt", "separator"),
        ("a/b.csv", "separator"),
        ("C:\\Users\\me\\x.csv", "separator"),
        ("..", "not a file name"),
        (".bashrc", "hidden"),
        ("bad\x00.txt", "control character"),
        ("x" * 300, "too long"),
    ],
)
def test_bad_upload_names_are_refused(dest: Path, settings: Settings, name: str, match: str) -> None:
    before = snapshot(dest)
    with pytest.raises(UploadRejected, match=match):
        save_upload(name, b"data", dest, settings=settings)
    assert snapshot(dest) == before


# --- describe_tree -------------------------------------------------------------------------------


def test_describe_tree_shows_folders_first_with_counts() -> None:
    text = describe_tree(["b.txt", "data/x.csv", "data/raw/y.csv", "a.txt", "docs/readme.md"])
    assert text.splitlines() == [
        "data/ (2 files)",
        "  raw/ (1 file)",
        "    y.csv",
        "  x.csv",
        "docs/ (1 file)",
        "  readme.md",
        "a.txt",
        "b.txt",
    ]


def test_describe_tree_is_cut_with_a_count_of_the_rest() -> None:
    lines = describe_tree([f"f{i:02}.txt" for i in range(40)], limit=30).splitlines()
    assert len(lines) == 31
    assert lines[0] == "f00.txt"
    assert lines[-1] == "... and 10 more"


def test_describe_tree_of_nothing() -> None:
    assert describe_tree([]) == "(no files)"


# --- speed ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_large_archive_extracts_quickly(tmp_path: Path) -> None:
    rng = random.Random(7)
    rows = "".join(f"{rng.randint(0, 10**6)},{rng.random():.6f},item_{rng.randint(0, 999)}\n" for _ in range(1000))
    base = rows.encode()[:20_000]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for i in range(5000):
            archive.writestr(f"part{i % 20}/batch{i % 7}/file{i}.csv", base[i % 997 :] + base[: i % 997])
    data = buffer.getvalue()

    started = os.times()
    extracted = extract_zip(data, tmp_path / "out", max_total_bytes=2048 * MB, max_entries=20_000, max_ratio=200)
    user_cpu = os.times().user - started.user

    assert len(extracted) == 5000
    assert sum(f.stat().st_size for f in (tmp_path / "out").rglob("*.csv")) == 5000 * 20_000
    # Only the time spent in this process's own code is asserted: the kernel's share (creating 5,000
    # files) depends on the disk and the machine, and on a tmpfs the whole extraction takes ~0.4 s.
    assert user_cpu < 2.0, f"extraction used {user_cpu:.2f} s of CPU"
