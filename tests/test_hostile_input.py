"""Hostile input: every path, name and id a model, a user or sandbox code can hand the engine.

Each refusal must come with a message that says what is wrong, and nothing outside the session's own sandbox
(other sessions, the workspace, the host) may be read, written or removed. Malformed tool calls come back as
error results in plain words, never as an exception out of a tool, never as a hang.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from strands import Agent
from strands.agent.conversation_manager import NullConversationManager

from core.chat.engine import ChatEngine
from core.config import Settings
from core.conversations import ConversationStore
from core.errors import FileNotFoundInSandbox, InvalidPathError, UploadRejected
from core.scripted_model import ScriptedModel
from core.session import Session, open_session
from tests.conftest import make_zip, text_of

MB = 1024 * 1024

# A path given by the model (or typed by a person) and the words its refusal must contain.
HOSTILE_PATHS = [
    ("../escape.txt", "outside the sandbox"),
    ("../../../../../../etc/passwd", "outside the sandbox"),
    ("sub/../../escape.txt", "outside the sandbox"),
    ("..", "outside the sandbox"),
    ("/etc/passwd", "absolute path outside the sandbox"),
    ("/sandbox/../etc/passwd", "absolute path outside the sandbox"),
    ("nul\x00byte.txt", "NUL byte"),
    ("x" * 4097, "the limit is 4096"),
    ("n" * 256, "a file or folder name can have at most 255"),
    ("\u00e9" * 128, "256 bytes long"),  # 128 characters, 256 bytes in UTF-8
    ("d/" * 2040 + "f", "too long for the file system"),  # short enough, but not below the sandbox root
    ("bad\ud800.txt", "characters no file name can hold"),
    ("", "A path is required"),
]

# Odd names that only look like '..' or '/': harmless file names, allowed as long as they stay inside.
LOOK_ALIKES = [
    "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fetc\uff0fpasswd",  # fullwidth full stops and solidus
    "\u2024\u2024/\u2024\u2024/escape.txt",  # one-dot leaders, real slashes
    "%2e%2e/%2e%2e/escape.txt",
    "..\\..\\escape.txt",  # a backslash is an ordinary character on Linux
    "\u2026/escape.txt",  # horizontal ellipsis
]

LEAK_MARKERS = ("Traceback", "Internal error")


@dataclass
class World:
    """A session under attack, a second conversation beside it, and what must never change."""

    session: Session
    other: Session
    tools: dict[str, Any]
    tmp_path: Path

    def outside(self) -> dict[str, Any]:
        """Everything the session's sandbox must not touch: the data folder except the session's own sandbox
        folders (sandbox code may write its root, home and tmp), a host file beside it and /etc."""
        own = self.session.folder
        skip = {own / "sandbox", own / "home", own / "tmp"}
        state: dict[str, Any] = {}
        for folder, dirs, files in os.walk(self.tmp_path):
            dirs[:] = [d for d in dirs if Path(folder) / d not in skip]
            for name in dirs + files:
                path = Path(folder) / name
                if path.is_symlink():
                    state[str(path)] = ("link", os.readlink(path))
                elif path.is_file():
                    state[str(path)] = path.read_bytes()
                else:
                    state[str(path)] = "dir"
        for host_file in ("/etc/passwd", "/etc/hostname"):
            state[host_file] = Path(host_file).read_bytes() if Path(host_file).exists() else None
        state["/etc entries"] = sorted(os.listdir("/etc"))
        return state

    def sandbox_tree(self) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for folder, dirs, files in os.walk(self.session.sandbox.root):
            for name in dirs + files:
                path = Path(folder) / name
                tree[os.path.relpath(path, self.session.sandbox.root)] = (
                    os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
                )
        return tree


@pytest.fixture
def world(make_settings: Callable[..., Settings], open_sessions: Callable[..., Session], tmp_path: Path) -> World:
    settings = make_settings(sandbox_network="none")
    session = open_sessions("target", settings)
    other = open_sessions("victim", settings)
    other.sandbox.write_file("secret.txt", b"the other conversation's secret")
    other.workspace.write("other.txt", b"the other conversation's result")
    session.workspace.write("keep.txt", b"a saved result")
    (tmp_path / "outside.txt").write_bytes(b"next to the data folder")
    return World(session, other, {t.tool_name: t for t in session.tools}, tmp_path.resolve())


def plain(result: dict[str, Any], world: World) -> str:
    """The result's text, checked to be plain words: no traceback, no internal error, no host path."""
    assert isinstance(result, dict) and result["status"] in ("success", "error"), result
    text = text_of(result)
    assert text.strip(), result
    for marker in LEAK_MARKERS:
        assert marker not in text, text[:500]
    assert str(world.tmp_path) not in text, f"a host path leaked: {text[:500]}"
    return text


# -- paths given to the tools ------------------------------------------------------------------------------


def test_hostile_paths_are_refused_by_every_file_tool(world: World) -> None:
    before = world.outside()
    files = world.tools["file_operations"]
    for path, words in HOSTILE_PATHS:
        calls = {
            "read": files(operation="read", paths=[path]),
            "write": files(operation="write", content=[{"path": path, "text": "pwned"}]),
            "list": files(operation="list", paths=[path]),
            "remove": files(operation="remove", paths=[path]),
            "push": world.tools["ci_push_to_workspace"](paths=[path]),
        }
        for name, result in calls.items():
            text = plain(result, world)
            assert result["status"] == "error", (name, path[:40], text[:300])
            assert words in text, (name, path[:40], text[:300])
    assert world.outside() == before
    assert world.sandbox_tree() == {}
    assert [f.path for f in world.session.workspace.list()] == ["keep.txt"]


def test_hostile_paths_are_refused_by_the_side_panel_downloads(world: World) -> None:
    before = world.outside()
    for path, words in HOSTILE_PATHS:
        with pytest.raises(InvalidPathError) as refused:
            world.session.sandbox.read_file(path)
        assert words in str(refused.value), (path[:40], str(refused.value))
        with pytest.raises(InvalidPathError):
            world.session.sandbox.list_files(path)
    assert world.outside() == before


def test_hostile_output_filename_is_refused_and_the_run_still_reports(world: World) -> None:
    before = world.outside()
    for path, words in HOSTILE_PATHS[:-1]:  # an empty output_filename means "none"
        result = world.tools["execute_code"](code="print('the code ran')", output_filename=path)
        text = plain(result, world)
        assert "the code ran" in text, text[:300]
        assert "was not saved" in text and words in text, (path[:40], text[-400:])
    assert world.outside() == before
    assert [f.path for f in world.session.workspace.list()] == ["keep.txt"]


def test_look_alike_names_stay_inside(world: World) -> None:
    before = world.outside()
    files = world.tools["file_operations"]
    root = Path(os.path.realpath(world.session.sandbox.root))
    for name in LOOK_ALIKES:
        result = files(operation="write", content=[{"path": name, "text": f"written as {name}"}])
        assert result["status"] == "success", text_of(result)
        host = Path(os.path.realpath(root / name))
        assert host.is_relative_to(root) and host.read_text() == f"written as {name}"
        assert f"written as {name}" in text_of(files(operation="read", paths=[name]))
    pushed = text_of(world.tools["ci_push_to_workspace"](paths=LOOK_ALIKES))
    assert "contains a folder separator" in pushed  # '..\..\escape.txt': a backslash is refused in the workspace
    workspace = world.session.workspace
    assert all("/" not in f.path for f in workspace.list())
    assert workspace.read("\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fetc\uff0fpasswd").startswith(b"written as")
    # Only the workspace (its new flat files) changed outside the sandbox.
    after = world.outside()
    workspace_folder = str(Path(world.session.folder) / "workspace")
    assert {k: v for k, v in after.items() if not k.startswith(workspace_folder)} == {
        k: v for k, v in before.items() if not k.startswith(workspace_folder)
    }


# -- links made by sandbox code ----------------------------------------------------------------------------


def test_links_made_by_sandbox_code_cannot_reach_outside(world: World) -> None:
    other_root = world.other.sandbox.root
    links = {
        "pw": "/etc/passwd",
        "other_abs": f"{other_root}/secret.txt",
        "other_rel": "../../victim/sandbox/secret.txt",
        "ws": "../workspace/code-interpreter/keep.txt",
        "chain": "self/self/pw",
    }
    folder_links = {
        "otherdir": "../../victim/sandbox",
        "wsdir": "../workspace/code-interpreter",
        "etcdir": "/etc",
        "homedir": "../home",
    }
    script = "ln -s . self && " + " && ".join(f"ln -s '{t}' {n}" for n, t in {**links, **folder_links}.items())
    made = world.tools["execute_command"](command=script)
    assert made["status"] == "success", text_of(made)
    before = world.outside()
    files, push = world.tools["file_operations"], world.tools["ci_push_to_workspace"]

    for name in links:
        for result in (
            files(operation="read", paths=[name]),
            files(operation="write", content=[{"path": name, "text": "pwned"}]),
            push(paths=[name]),
        ):
            assert result["status"] == "error" and "outside the sandbox" in plain(result, world), name
        with pytest.raises(InvalidPathError, match="outside the sandbox"):
            world.session.sandbox.read_file(name)
        saved = text_of(world.tools["execute_code"](code="1", output_filename=name))
        assert "was not saved" in saved and "outside the sandbox" in saved

    for folder in folder_links:
        inside = {"otherdir": "secret.txt", "wsdir": "keep.txt", "etcdir": "passwd", "homedir": "x"}[folder]
        for result in (
            files(operation="list", paths=[folder]),
            files(operation="read", paths=[f"{folder}/{inside}"]),
            files(operation="write", content=[{"path": f"{folder}/planted.txt", "text": "pwned"}]),
            files(operation="remove", paths=[f"{folder}/{inside}"]),
            push(paths=[f"{folder}/{inside}"]),
        ):
            assert result["status"] == "error" and "outside the sandbox" in plain(result, world), folder

    assert world.outside() == before
    # Pushing everything in the root saves nothing through a link.
    everything = push()
    assert "outside the sandbox" in plain(everything, world)
    assert [f.path for f in world.session.workspace.list()] == ["keep.txt"]
    assert world.session.workspace.read("keep.txt") == b"a saved result"

    # Removing a link removes the link, never what it points to.
    removed = files(operation="remove", paths=[*links, *folder_links])
    assert removed["status"] == "success", text_of(removed)
    assert not any(os.path.lexists(world.session.sandbox.root / n) for n in [*links, *folder_links])
    assert world.outside() == before
    assert world.other.sandbox.read_file("secret.txt") == b"the other conversation's secret"


def test_uploads_do_not_follow_links_made_by_sandbox_code(world: World) -> None:
    world.tools["execute_command"](command="ln -s /etc/passwd pw && ln -s ../../victim/sandbox otherdir")
    before = world.outside()
    assert world.session.preload("pw", b"uploaded") == ["pw"]  # replaces the link, not /etc/passwd
    assert not (world.session.sandbox.root / "pw").is_symlink()
    assert world.session.sandbox.read_file("pw") == b"uploaded"
    with pytest.raises(UploadRejected, match="'otherdir'"):
        world.session.preload("plant.zip", make_zip({"otherdir/planted.txt": b"pwned"}))
    assert world.outside() == before
    assert not (world.other.sandbox.root / "planted.txt").exists()


def test_files_with_undecodable_names_do_not_break_the_chat(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings(sandbox_network="none")
    store = ConversationStore(settings)
    session = open_sessions(store.create().id, settings)
    session.sandbox.run_command("printf data > $'bad\\xff.txt' && printf ok > good.txt")
    steps = [
        {"tool": "file_operations", "input": {"operation": "list", "paths": ["."]}},
        {"tool": "ci_push_to_workspace", "input": {}},
        {"text": "done"},
    ]
    engine = ChatEngine(session, ScriptedModel(steps), "test", store)
    turn = engine.start_turn("list the files")
    version = -1
    while not (snapshot := turn.wait(version, 5)).done:
        version = turn.version
    steps_shown = [e.tool for e in snapshot.events if e.kind == "tool" and e.tool is not None]
    assert [t.tool for t in steps_shown] == ["file_operations", "ci_push_to_workspace"]
    assert "bad\\xff.txt" in steps_shown[0].text and "good.txt" in steps_shown[0].text
    assert "cannot be stored" in steps_shown[1].text and "good.txt" in steps_shown[1].text
    assert [e.kind for e in engine.transcript.events()] == ["user", "tool", "tool", "assistant"]
    assert [f.path for f in session.workspace.list()] == ["good.txt"]


# -- workspace names (the side panel's downloads and deletes) -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../keep.txt", "folder separator"),
        ("code-interpreter/../keep.txt", "folder separator"),
        ("/etc/passwd", "absolute path"),
        ("..", "not a file name"),
        (".", "not a file name"),
        ("nul\x00.txt", "control character"),
        ("x" * 256, "too long"),
        ("\u00e9" * 128, "too long"),
        ("c\u2024\u2024/x", "folder separator"),
        ("bad\ud800", "cannot be stored"),
        (".tmp-0123456789abcdef", "hidden"),
    ],
)
def test_hostile_workspace_names_are_refused(world: World, name: str, words: str) -> None:
    before = world.outside()
    workspace = world.session.workspace
    for action in (lambda: workspace.read(name), lambda: workspace.delete(name), lambda: workspace.write(name, b"x")):
        with pytest.raises(InvalidPathError, match=words):
            action()
    result = world.tools["workspace_read"](path=name)
    assert result["status"] == "error" and words in plain(result, world)
    assert world.outside() == before


def test_look_alike_workspace_names_are_plain_missing_files(world: World) -> None:
    for name in ("\uff0e\uff0e\uff0fkeep.txt", "\u2024\u2024keep.txt"):
        with pytest.raises(FileNotFoundInSandbox, match="No file named"):
            world.session.workspace.read(name)
    assert world.session.workspace.read("keep.txt") == b"a saved result"


# -- conversation and user ids ---------------------------------------------------------------------------------

HOSTILE_IDS = [
    "../x",
    "..",
    "/etc",
    "a/b",
    "%2e%2e",
    "nul\x00id",
    "x" * 10_000,
    "c\u2024\u2024/x",
    "\uff0e\uff0e\uff0f",
    "\uff0e\uff0e",
    "",
    " ",
    "abc\n",
]


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_hostile_conversation_ids_are_refused_everywhere(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session], bad: str
) -> None:
    settings = make_settings(sandbox_network="none")
    store = ConversationStore(settings)
    kept = store.create()
    open_sessions(kept.id, settings).sandbox.write_file("kept.txt", b"kept")
    before = sorted(str(p) for p in settings.data_dir.rglob("*"))

    with pytest.raises(InvalidPathError, match="Invalid conversation id"):
        open_session(bad, settings)
    with pytest.raises(InvalidPathError, match="Invalid user id"):
        open_session("fine-id", settings, user_id=bad)
    assert store.get(bad) is None  # the URL's ?c=... is looked up like this: a new conversation is made
    with pytest.raises(InvalidPathError, match="There is no conversation"):
        store.delete(bad)
    with pytest.raises(InvalidPathError, match="There is no conversation"):
        store.rename(bad, "title")
    with pytest.raises(InvalidPathError):
        store.transcript(bad)

    assert sorted(str(p) for p in settings.data_dir.rglob("*")) == before
    assert store.get(kept.id) is not None


@pytest.mark.parametrize("odd", ["a..b", "x.", "A-_.9", "c-" + "z" * 126])
def test_odd_but_valid_ids_stay_inside(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session], odd: str
) -> None:
    settings = make_settings(sandbox_network="none")
    session = open_sessions(odd, settings)
    session.sandbox.write_file("f.txt", b"x")
    assert Path(os.path.realpath(session.sandbox.root)).is_relative_to(settings.sessions_dir / "local")
    assert (settings.sessions_dir / "local" / odd / "sandbox" / "f.txt").read_bytes() == b"x"


def test_non_text_ids_are_refused_in_plain_words(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(sandbox_network="none")
    store = ConversationStore(settings)
    for bad in (None, 5, ["a"]):
        with pytest.raises(InvalidPathError, match="Invalid conversation id"):
            open_session(bad, settings)  # type: ignore[arg-type]
        assert store.get(bad) is None  # type: ignore[arg-type]
        with pytest.raises(InvalidPathError, match="There is no conversation"):
            store.delete(bad)  # type: ignore[arg-type]


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


# -- malformed tool calls --------------------------------------------------------------------------------------

MALFORMED_CALLS: list[tuple[str, dict[str, Any], str, str]] = [
    ("execute_code", {"code": 123}, "error", "'code' of execute_code must be text"),
    ("execute_code", {}, "error", "execute_code needs the argument 'code'"),
    ("execute_code", {"code": "1", "language": None}, "error", "'language' of execute_code must be text"),
    ("execute_code", {"code": "1", "output_filename": ["a.png"]}, "error", "'output_filename'"),
    ("execute_code", {"source": "print(1)"}, "error", "execute_code has no argument 'source'"),
    ("execute_command", {"command": ["ls", "-la"]}, "error", "'command' of execute_command must be text"),
    ("execute_command", {}, "error", "execute_command needs the argument 'command'"),
    ("file_operations", {"operation": None}, "error", "'operation' of file_operations must be text"),
    ("file_operations", {}, "error", "file_operations needs the argument 'operation'"),
    ("file_operations", {"operation": "chmod", "paths": ["a"]}, "error", "Unknown operation 'chmod'"),
    ("file_operations", {"operation": "list", "path": "."}, "error", "has no argument 'path'"),
    ("file_operations", {"operation": "read", "paths": "missing.txt"}, "error", "No file 'missing.txt'"),
    ("file_operations", {"operation": "read", "paths": [None, 3]}, "error", "Paths must be text, not NoneType"),
    ("file_operations", {"operation": "read", "paths": {"a": 1}}, "error", "Paths must be text, not dict"),
    ("file_operations", {"operation": "read", "paths": 42}, "error", "'paths' must be a list, not int"),
    ("file_operations", {"operation": "write", "content": {"path": "d.txt", "text": "hi"}}, "success", "Wrote d.txt"),
    ("file_operations", {"operation": "write", "content": "d.txt"}, "error", "needs a 'path' (text) and a 'text'"),
    ("file_operations", {"operation": "write", "content": [{"path": "d.txt", "text": 5}]}, "error", "'text' (text)"),
    ("file_operations", {"operation": "write", "content": [{"path": 5, "text": "x"}]}, "error", "'path' (text)"),
    ("file_operations", {"operation": "remove", "paths": []}, "error", "needs paths=[...]"),
    ("ci_push_to_workspace", {"paths": 5}, "error", "'paths' must be a list, not int"),
    ("ci_push_to_workspace", {"paths": "missing.txt"}, "error", "No file 'missing.txt'"),
    ("ci_push_to_workspace", {"path": ["x"]}, "error", "has no argument 'path'"),
    ("workspace_read", {"path": ["keep.txt"]}, "error", "'path' of workspace_read must be text"),
    ("workspace_read", {}, "error", "workspace_read needs the argument 'path'"),
    ("workspace_read", {"path": "nothere.txt"}, "error", "No file named 'nothere.txt'"),
    ("workspace_list", {"path": 7}, "error", "'path' of workspace_list must be text"),
]


def test_malformed_calls_made_directly_get_plain_errors(world: World) -> None:
    before = world.outside()
    for tool, arguments, status, words in MALFORMED_CALLS:
        result = world.tools[tool](**arguments)
        text = plain(result, world)
        assert result["status"] == status and words in text, (tool, arguments, text[:300])
    assert world.outside() == before
    assert len(world.session.history) == len(MALFORMED_CALLS)  # each call is shown in the chat too


def tool_results(agent: Agent) -> list[dict[str, Any]]:
    return [
        block["toolResult"]
        for message in agent.messages
        for block in message["content"]
        if "toolResult" in block  # type: ignore[operator]
    ]


# Strands checks the input against the tool's schema before the tool runs: wrong types and missing arguments
# come back as its validation errors, and unknown arguments are dropped (so those calls run without them).
AGENT_STATUS = {
    ("file_operations", "path"): "success",  # list '.' without the unknown 'path'
    ("ci_push_to_workspace", "path"): "error",  # save every root file: the root is empty
}


@pytest.mark.timeout(120)
def test_malformed_calls_through_the_agent_get_plain_errors(world: World) -> None:
    steps: list[dict[str, Any]] = [{"tool": tool, "input": arguments} for tool, arguments, _, _ in MALFORMED_CALLS]
    steps += [
        {"tool": "no_such_tool", "input": {}},
        {"tool": "execute_code", "input": {"code": "x = 1\n# " + "x" * (5 * MB) + "\nprint('big code ran')"}},
        {"tool": "file_operations", "input": {"operation": "write", "content": [{"path": "d.txt", "text": "d"}]}},
        {"tool": "file_operations", "input": {"operation": "read", "paths": ["d.txt"] * 10_000}},
        {"text": "done"},
    ]
    agent = Agent(
        model=ScriptedModel(steps),
        tools=list(world.session.tools),
        callback_handler=None,
        conversation_manager=NullConversationManager(),  # keep every message to check every result
    )
    answer = agent("go")
    assert "done" in str(answer)
    results = tool_results(agent)
    assert len(results) == len(steps) - 1
    texts = ["\n".join(block.get("text", "") for block in result["content"]) for result in results]
    for step, text in zip(steps, texts, strict=False):
        assert text.strip() and "Traceback" not in text and "Internal error" not in text, (step["tool"], text[:300])
    expected = [
        AGENT_STATUS.get((tool, "path" if "path" in arguments else ""), "error")
        for tool, arguments, _, _ in MALFORMED_CALLS
    ]
    assert [r["status"] for r in results] == [*expected, "error", "success", "success", "success"]
    assert "Validation failed" in texts[0] and "code" in texts[0]  # code=123
    assert "Unknown tool" in texts[-4]
    assert "big code ran" in texts[-3]
    assert len(texts[-1]) < 3 * world.session.settings.max_output_chars and "not read" in texts[-1]


@pytest.mark.timeout(180)
def test_enormous_inputs_give_bounded_answers(world: World) -> None:
    limit = 2 * world.session.settings.max_output_chars + 1000
    tools = world.tools
    result = tools["execute_code"](code="x = 1\n# " + "x" * (5 * MB) + "\nprint('big code ran')")
    assert result["status"] == "success" and "big code ran" in plain(result, world)

    result = tools["execute_command"](command="echo hi # " + "x" * (5 * MB))
    assert result["status"] == "error" and "bytes long; the limit is 100,000" in plain(result, world)

    world.session.sandbox.write_file("big.txt", b"y" * 30_000)
    many = ["big.txt"] * 10_000
    for operation in ("read", "list"):
        result = tools["file_operations"](operation=operation, paths=many)
        text = plain(result, world)
        assert len(text) < limit and ("not read" in text or "not listed" in text), text[-300:]
    result = tools["ci_push_to_workspace"](paths=[f"missing-{i}.txt" for i in range(10_000)])
    text = plain(result, world)
    assert result["status"] == "error" and len(text) < limit and "characters omitted" in text

    written = tools["file_operations"](
        operation="write", content=[{"path": f"many/f{i}.txt", "text": str(i)} for i in range(10_000)]
    )
    assert written["status"] == "success" and len(plain(written, world)) < limit
    assert len(os.listdir(world.session.sandbox.root / "many")) == 10_000
    removed = tools["file_operations"](operation="remove", paths=[f"many/f{i}.txt" for i in range(10_000)])
    assert removed["status"] == "success" and len(plain(removed, world)) < limit
    assert os.listdir(world.session.sandbox.root / "many") == []


def test_tools_never_raise_even_on_internal_failures(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise OSError(28, "No space left on device", str(world.tmp_path / "x"))

    monkeypatch.setattr(world.session.sandbox, "read_file", broken)
    world.session.sandbox.write_file("a.txt", b"a")
    result = world.tools["ci_push_to_workspace"](paths=["a.txt"])
    assert result["status"] == "error" and "No space left on device" in plain(result, world)
