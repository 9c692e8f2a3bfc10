"""What a newcomer trips over (issue 12), on the chat page under AppTest with real sandboxes.

The conversation list, confirmed deletes that say what went, the uploader that empties itself and lists refusals,
"Save to workspace" for sandbox files, and icon buttons with names.
"""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from components.conversations import UNTITLED
from components.side_panel import widget_key
from components.state import engine_registry
from core.chat.engine import ChatEngine
from tests.conftest import make_zip, send


def _engine() -> ChatEngine:
    (engine,) = engine_registry().engines()
    return engine


def _conversation_id(app: AppTest) -> str:
    value = app.query_params["c"]
    return str(value[0] if isinstance(value, list) else value)


def _button(app: AppTest, key: str):  # type: ignore[no-untyped-def]
    return next(b for b in app.button if b.key == key)


def test_the_current_conversation_is_a_selected_item_not_a_second_new_conversation_button(
    make_app: Callable[..., AppTest],
) -> None:
    app = make_app(None)
    app.run()
    labels = [b.label for b in app.sidebar.button]
    assert labels.count("New conversation") == 1, labels  # the action, and no entry named like it
    current = _conversation_id(app)
    assert not [b for b in app.button if b.key == f"conversation_{current}"]  # the current one is no button
    assert any(UNTITLED in str(m.value) for m in app.sidebar.markdown)
    assert not [b for b in app.sidebar.button if b.proto.type == "primary"]


def test_deleting_a_conversation_asks_first_then_says_what_was_deleted(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!echo hello > kept.txt")
    doomed = _conversation_id(app)
    folder = _engine().session.folder
    _button(app, "delete_conversation").click().run()
    assert folder.exists() and _conversation_id(app) == doomed  # nothing is deleted on one click
    (question,) = [w.value for w in app.warning if "cannot be undone" in str(w.value)]
    assert question.startswith("Delete “\\!echo hello \\> kept.txt” with its sandbox files")
    _button(app, "delete_conversation_cancel").click().run()
    assert folder.exists() and not [w for w in app.warning if "cannot be undone" in str(w.value)]

    _button(app, "delete_conversation").click().run()
    _button(app, "delete_conversation_confirm").click().run()
    assert not folder.exists() and _conversation_id(app) != doomed
    assert [t.proto.body for t in app.toast] == ["Deleted “\\!echo hello \\> kept.txt” with its files and results."]


def test_a_sandbox_file_can_be_saved_to_the_workspace_without_a_model(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!mkdir -p out && echo 'a,b' > out/table.csv")
    download_all = next(b for b in app.get("download_button") if b.key == "side_panel_ws_download_all")
    assert download_all.proto.disabled
    app.session_state[widget_key("sb_folder", "out")] = True
    app.run()
    save = _button(app, widget_key("sb_save", "out/table.csv"))
    assert save.label == "Save table.csv to the workspace"
    save.click().run()
    assert _engine().session.workspace.read("table.csv") == b"a,b\n"
    assert [s.value for s in app.success] == ["out/table.csv saved as code-interpreter/table.csv in the workspace."]
    download_all = next(b for b in app.get("download_button") if b.key == "side_panel_ws_download_all")
    assert not download_all.proto.disabled


def test_file_buttons_are_named_after_their_action_and_file(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!echo x > 'notes [draft].txt'")
    labels = {b.key: b.label for b in [*app.button, *app.get("download_button")]}
    path = "notes [draft].txt"
    assert labels[widget_key("sb_delete", path)] == "Delete notes \\[draft\\].txt"
    assert labels[widget_key("sb_download", path)] == "Download notes \\[draft\\].txt"
    assert "Preview notes \\[draft\\].txt" in [p.proto.popover.label for p in app.get("popover")]


def test_the_uploader_empties_itself_and_lists_what_it_refused_and_why(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    uploader = app.sidebar.get("file_uploader")[0]
    assert "up to 200 MB each" in uploader.proto.label
    good = make_zip({"sales/q1.csv": "a,b\n1,2\n"})
    evil = make_zip({"../../evil.txt": "x"})
    uploader.set_value([("sales.zip", good, "application/zip"), ("evil.zip", evil, "application/zip")]).run()

    (fresh,) = app.sidebar.get("file_uploader")
    assert fresh.proto.id != uploader.proto.id  # a new, empty uploader
    assert any("**sales.zip**: 1 file in the sandbox" in str(c.value) for c in app.sidebar.caption)
    (refused,) = [str(e.value) for e in app.sidebar.error]
    assert refused.startswith("**evil.zip** was refused: 'evil.zip' contains an entry named '../../evil.txt'")
    assert (_engine().session.sandbox.root / "sales" / "q1.csv").exists()
    assert any("Upload refused" in str(e.value) for e in app.main.error)  # the chat says it too
