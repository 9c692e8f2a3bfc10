"""Conversations, transcripts, workspaces and the agent's memory in S3 (moto's server over real HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import boto3
import pytest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.config import Settings
from core.models.scripted import ScriptedModel
from core.session import Session
from tests.conftest import BUCKET, finish, text_of, tools_by_name


@pytest.fixture
def s3_settings(make_settings: Callable[..., Settings], moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)  # standard boto3 configuration reaches the server
    return make_settings(workspace_backend="s3", s3_bucket=BUCKET, s3_prefix=f"app-{uuid.uuid4().hex[:8]}")


def _keys(moto_url: str, prefix: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=moto_url).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_conversations_and_transcripts_live_in_the_bucket(s3_settings: Settings, moto_url: str) -> None:
    store = ConversationStore(s3_settings, "alice")
    conversation = store.create()
    store.touch(conversation.id, first_message="Revenue by region")
    store.transcript(conversation.id).append(ChatEvent(kind="user", text="Revenue by region"))
    store.transcript(conversation.id).append(ChatEvent(kind="assistant", text="North leads."))

    other_replica = ConversationStore(s3_settings, "alice")
    assert [c.title for c in other_replica.list()] == ["Revenue by region"]
    assert [e.text for e in other_replica.transcript(conversation.id).events()] == ["Revenue by region", "North leads."]
    assert ConversationStore(s3_settings, "bob").list() == []
    prefix = f"{s3_settings.s3_prefix}/alice/{conversation.id}/"
    assert f"{prefix}conversation.json" in _keys(moto_url, prefix)

    other_replica.delete(conversation.id)
    assert _keys(moto_url, prefix) == [] and store.list() == []


def test_session_workspace_and_agent_memory_in_the_bucket(
    s3_settings: Settings, moto_url: str, open_sessions: Callable[..., Session]
) -> None:
    store = ConversationStore(s3_settings)
    conversation = store.create()
    session = open_sessions(conversation.id, s3_settings)
    steps = [{"tool": "execute_code", "input": {"code": "open('r.txt', 'w').write('42')"}}, {"text": "Saved."}]
    engine = ChatEngine(session, ScriptedModel(steps), "scripted model", store)
    finish(engine.start_turn("go"))
    tools = tools_by_name(session)
    assert "Saved 1 file" in text_of(tools["ci_push_to_workspace"](paths=["r.txt"]))

    prefix = f"{s3_settings.s3_prefix}/local/{conversation.id}/"
    keys = _keys(moto_url, prefix)
    assert f"{prefix}code-interpreter/r.txt" in keys
    assert any(key.startswith(f"{prefix}agent/") for key in keys)

    engine.close()
    restored = ChatEngine(session, ScriptedModel([]), "scripted model", store)
    assert restored.agent is not None
    assert [m["role"] for m in restored.agent.messages][:2] == ["user", "assistant"]
