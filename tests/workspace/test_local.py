from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import FileNotFoundInSandbox
from core.workspace.local import LocalWorkspace
from tests.prerequisites import missing
from tests.workspace.contract import WorkspaceContract


@pytest.fixture
def workspace(tmp_path: Path) -> LocalWorkspace:
    return LocalWorkspace(tmp_path / "session" / "code-interpreter")


class TestLocalWorkspace(WorkspaceContract):
    def test_folder_is_created_and_files_land_in_it(self, workspace: LocalWorkspace) -> None:
        assert workspace.root.is_dir()
        workspace.write("out.txt", b"hi")
        assert (workspace.root / "out.txt").read_bytes() == b"hi"

    def test_failed_write_keeps_old_content_and_leaves_no_temp_file(
        self, workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        workspace.write("data.csv", b"old")

        def broken_replace(src: object, dst: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError, match="No space"):
            workspace.write("data.csv", b"new content")
        monkeypatch.undo()

        assert workspace.read("data.csv") == b"old"
        assert [f.path for f in workspace.list()] == ["data.csv"]
        assert os.listdir(workspace.root) == ["data.csv"]

    def test_hidden_and_folder_entries_are_not_listed(self, workspace: LocalWorkspace) -> None:
        (workspace.root / ".tmp-123").write_bytes(b"half")
        (workspace.root / "sub").mkdir()
        workspace.write("real.txt", b"1")
        assert [f.path for f in workspace.list()] == ["real.txt"]
        with pytest.raises(FileNotFoundInSandbox):
            workspace.read("sub")
        with pytest.raises(FileNotFoundInSandbox):
            workspace.delete("sub")
        assert (workspace.root / "sub").is_dir()

    def test_symlink_to_outside_is_not_followed(self, workspace: LocalWorkspace, tmp_path: Path) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_bytes(b"top secret")
        (workspace.root / "link.txt").symlink_to(secret)
        (workspace.root / "dirlink").symlink_to(tmp_path)

        assert workspace.list() == []
        with pytest.raises(FileNotFoundInSandbox):
            workspace.read("link.txt")
        with pytest.raises(FileNotFoundInSandbox):
            workspace.delete("link.txt")
        with pytest.raises(FileNotFoundInSandbox):
            workspace.read("dirlink")

        workspace.write("link.txt", b"replaced")  # replaces the link itself, not its target
        assert secret.read_bytes() == b"top secret"
        assert not (workspace.root / "link.txt").is_symlink()
        assert workspace.read("link.txt") == b"replaced"

    def test_fifo_in_folder_does_not_hang_read(self, workspace: LocalWorkspace) -> None:
        if not hasattr(os, "mkfifo"):
            missing("no FIFOs on this platform")
        os.mkfifo(workspace.root / "pipe")
        assert workspace.list() == []
        with pytest.raises(FileNotFoundInSandbox):
            workspace.read("pipe")

    def test_two_instances_share_the_folder(self, workspace: LocalWorkspace) -> None:
        workspace.write("a.txt", b"1")
        again = LocalWorkspace(workspace.root)
        assert again.read("a.txt") == b"1"
