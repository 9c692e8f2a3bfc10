"""Hostile input: every path, name and id a model, a user or sandbox code can hand the engine.

Each refusal must come with a message that says what is wrong, and nothing outside the session's own sandbox
(other sessions, the workspace, the host) may be read, written or removed. Uploads are in
``test_hostile_uploads.py``, malformed tool calls in ``test_hostile_calls.py``; what they share in ``hostile.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.config import Settings
from core.errors import FileNotFoundInSandbox, InvalidPathError, UploadRejected
from core.models.scripted import ScriptedModel
from core.session import Session, open_session
from tests.conftest import finish, make_zip, text_of
from tests.hostile import HOSTILE_PATHS, LOOK_ALIKES, World, plain

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
    events = finish(engine.start_turn("list the files"))
    steps_shown = [e.tool for e in events if e.kind == "tool" and e.tool is not None]
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
