"""A contract every Workspace backend must honour.

A concrete test module subclasses ``WorkspaceContract`` and provides a ``workspace`` fixture that
returns a fresh, empty backend instance.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from core.errors import FileNotFoundInSandbox, InvalidPathError
from core.workspace import Workspace

BAD_NAMES = [
    pytest.param("..", id="dotdot"),
    pytest.param(".", id="dot"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("a/b.txt", id="slash"),
    pytest.param("a\\b.txt", id="backslash"),
    pytest.param("../escape.txt", id="parent"),
    pytest.param("code-interpreter/../x.txt", id="prefix-then-parent"),
    pytest.param("bad\x00name.txt", id="nul"),
    pytest.param("line\nbreak.txt", id="newline"),
    pytest.param(".hidden", id="hidden"),
    pytest.param("x" * 256, id="256-chars"),
    pytest.param("", id="empty"),
    pytest.param("code-interpreter/", id="prefix-only"),
]


class WorkspaceContract:
    """Behaviour shared by every backend; needs a ``workspace`` fixture."""

    def test_is_a_workspace(self, workspace: Workspace) -> None:
        assert isinstance(workspace, Workspace)

    def test_new_workspace_is_empty(self, workspace: Workspace) -> None:
        assert workspace.list() == []

    def test_write_then_list_shows_name_size_and_mime(self, workspace: Workspace) -> None:
        info = workspace.write("report.csv", b"a,b\n1,2\n")
        assert (info.path, info.size, info.is_dir, info.mime_type) == ("report.csv", 8, False, "text/csv")
        [listed] = workspace.list()
        assert (listed.path, listed.size, listed.is_dir, listed.mime_type) == (
            "report.csv",
            8,
            False,
            "text/csv",
        )
        assert listed.modified > 0

    def test_mime_types_are_guessed_from_names(self, workspace: Workspace) -> None:
        workspace.write("chart.png", b"\x89PNG")
        workspace.write("notes.md", b"# hi")
        workspace.write("blob", b"?")
        mimes = {info.path: info.mime_type for info in workspace.list()}
        assert mimes == {
            "blob": "application/octet-stream",
            "chart.png": "image/png",
            "notes.md": "text/markdown",
        }

    def test_read_returns_exact_bytes(self, workspace: Workspace) -> None:
        data = bytes(range(256)) * 4 + b"\r\n\x00\xff"
        workspace.write("all-bytes.bin", data)
        assert workspace.read("all-bytes.bin") == data

    def test_open_reads_the_exact_bytes_a_piece_at_a_time(self, workspace: Workspace) -> None:
        data = os.urandom(3 * 1024 * 1024 + 5)
        workspace.write("big.bin", data)
        with contextlib.closing(workspace.open("big.bin")) as source:
            pieces = list(iter(lambda: source.read(1024 * 1024), b""))
        assert b"".join(pieces) == data and len(pieces) == 4
        with pytest.raises(FileNotFoundInSandbox, match=r"nope\.bin"):
            workspace.open("nope.bin")

    def test_empty_file(self, workspace: Workspace) -> None:
        assert workspace.write("empty.txt", b"").size == 0
        assert workspace.read("empty.txt") == b""

    def test_overwrite_replaces_content(self, workspace: Workspace) -> None:
        workspace.write("x.txt", b"a much longer first version")
        info = workspace.write("x.txt", b"short")
        assert info.size == 5
        assert workspace.read("x.txt") == b"short"
        assert [f.path for f in workspace.list()] == ["x.txt"]

    def test_delete_removes_the_file(self, workspace: Workspace) -> None:
        workspace.write("keep.txt", b"1")
        workspace.write("gone.txt", b"2")
        workspace.delete("gone.txt")
        assert [f.path for f in workspace.list()] == ["keep.txt"]
        with pytest.raises(FileNotFoundInSandbox):
            workspace.read("gone.txt")

    def test_missing_file_errors_name_the_file(self, workspace: Workspace) -> None:
        with pytest.raises(FileNotFoundInSandbox, match=r"nope\.txt"):
            workspace.read("nope.txt")
        with pytest.raises(FileNotFoundInSandbox, match=r"nope\.txt"):
            workspace.delete("nope.txt")

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_bad_names_are_refused_and_nothing_is_written(self, workspace: Workspace, name: str) -> None:
        with pytest.raises(InvalidPathError) as caught:
            workspace.write(name, b"data")
        assert str(caught.value)  # a message for the user
        with pytest.raises(InvalidPathError):
            workspace.read(name)
        with pytest.raises(InvalidPathError):
            workspace.delete(name)
        assert workspace.list() == []

    def test_refusal_messages_say_what_to_do(self, workspace: Workspace) -> None:
        with pytest.raises(InvalidPathError, match=r"'data/x\.csv'.*no folders.*'x\.csv'"):
            workspace.write("data/x.csv", b"")
        with pytest.raises(InvalidPathError, match=r"'\.env'.*hidden"):
            workspace.write(".env", b"")
        with pytest.raises(InvalidPathError, match=r"too long.*255"):
            workspace.write("y" * 300, b"")

    def test_longest_allowed_name_works(self, workspace: Workspace) -> None:
        name = "n" * 251 + ".txt"
        workspace.write(name, b"ok")
        assert workspace.read(name) == b"ok"

    def test_namespace_prefix_is_accepted_and_stripped(self, workspace: Workspace) -> None:
        info = workspace.write("code-interpreter/x.txt", b"hello")
        assert info.path == "x.txt"
        assert workspace.read("x.txt") == b"hello"
        assert workspace.read("code-interpreter/x.txt") == b"hello"
        assert [f.path for f in workspace.list()] == ["x.txt"]
        workspace.delete("code-interpreter/x.txt")
        assert workspace.list() == []

    def test_list_is_sorted_by_name(self, workspace: Workspace) -> None:
        for name in ["b.txt", "a.txt", "c.txt", "B.txt", "10.txt", "2.txt"]:
            workspace.write(name, b"x")
        names = [f.path for f in workspace.list()]
        assert names == sorted(names)
        assert set(names) == {"b.txt", "a.txt", "c.txt", "B.txt", "10.txt", "2.txt"}

    def test_unicode_names(self, workspace: Workspace) -> None:
        names = ["résumé 2024.csv", "数据.xlsx", "emoji 🎉.txt"]
        for index, name in enumerate(names):
            workspace.write(name, f"content {index}".encode())
        assert [f.path for f in workspace.list()] == sorted(names)
        assert workspace.read("résumé 2024.csv") == b"content 0"
        assert workspace.list()[0].mime_type  # guessed from the accented name
