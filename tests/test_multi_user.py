"""With login configured, each person sees only their own conversations, files and workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import page_text, send

# The folder names a person's files live under, worked out once by hand (not with the app's own ``user_id_for``):
# "u-" and the first 32 hex digits of SHA-256 over "https://idp.example|alice" (the logins' issuer, then the
# subject). A changed id would orphan every stored conversation, so a change here must be deliberate.
ALICE_ID = "u-8844f38bbb223c85782d86fb1620b14b"
BOB_ID = "u-d7f515905b4ae086ee0fd87edc2603ec"


def test_login_is_required_when_configured(make_login_app: Callable[..., AppTest]) -> None:
    app = make_login_app(None).run()
    assert [b.label for b in app.button] == ["Log in"]
    assert not app.chat_input


def test_people_cannot_see_or_resume_each_others_conversations(
    make_login_app: Callable[..., AppTest], tmp_path: Path
) -> None:
    alice = make_login_app("alice").run()
    assert "Logged in as alice@example.com" in page_text(alice, "markdown", "code", "caption", "button")
    send(alice, "!echo alices-secret > secret.txt && cat secret.txt")
    assert "alices-secret" in page_text(alice, "markdown", "code", "caption", "button")
    alice_conversation = alice.query_params["c"]
    sessions = tmp_path / "data" / "sessions"
    assert (sessions / ALICE_ID / alice_conversation / "sandbox" / "secret.txt").read_text() == "alices-secret\n"

    bob = make_login_app("bob")
    bob.query_params["c"] = alice_conversation  # a guessed or leaked link
    bob.run()
    assert bob.query_params["c"] != alice_conversation
    assert "alices-secret" not in page_text(bob, "markdown", "code", "caption", "button")
    send(bob, "!ls; cat secret.txt")
    assert "alices-secret" not in page_text(bob, "markdown", "code", "caption", "button")
    assert (sessions / BOB_ID / bob.query_params["c"]).is_dir()
    assert not (sessions / BOB_ID / alice_conversation).exists()
    assert {ALICE_ID, BOB_ID} <= {folder.name for folder in sessions.iterdir()}
