"""Conversations: create, list, rename, delete; ids are unguessable and checked."""

from __future__ import annotations

import pytest

from core.chat.conversations import DEFAULT_TITLE, ConversationStore, title_from
from core.config import Settings
from core.errors import InvalidPathError


def test_create_list_touch_rename_delete(settings: Settings) -> None:
    store = ConversationStore(settings)
    first, second = store.create(), store.create()
    assert first.id != second.id and len(first.id) > 20
    store.touch(first.id, first_message="Plot the   quarterly revenue by region please")
    assert [c.id for c in store.list()] == [first.id, second.id]
    assert store.get(second.id).title == DEFAULT_TITLE  # type: ignore[union-attr]
    assert store.get(first.id).title == "Plot the quarterly revenue by region please"  # type: ignore[union-attr]
    store.touch(second.id, first_message="```python\nimport time\n# wait\nanswer = 42\ntime.sleep(6)\n```")
    assert store.get(second.id).title == "Python: answer = 42"  # type: ignore[union-attr]
    store.rename(second.id, "Sales")
    assert store.get(second.id).title == "Sales"  # type: ignore[union-attr]
    store.delete(first.id)
    assert [c.id for c in store.list()] == [second.id]


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("!ls -la", "Shell: ls -la"),
        ("```ts\nconst n: number = 1\n```", "TypeScript: const n: number = 1"),
        ("```python\n\n```", "Python"),
        ("word " * 20, "word " * 11 + "word…"),
    ],
)
def test_a_title_names_code_by_its_language_and_first_statement(message: str, title: str) -> None:
    assert title_from(message) == title


def test_bad_ids_and_titles(settings: Settings) -> None:
    store = ConversationStore(settings)
    assert store.get("../../etc") is None
    assert store.get("missing") is None
    conversation = store.create()
    with pytest.raises(InvalidPathError):
        store.rename(conversation.id, "   ")
    with pytest.raises(InvalidPathError):
        store.delete("c-does-not-exist")


def test_users_do_not_see_each_others_conversations(settings: Settings) -> None:
    alice, bob = ConversationStore(settings, "alice"), ConversationStore(settings, "bob")
    conversation = alice.create()
    assert bob.list() == [] and bob.get(conversation.id) is None


def test_the_list_says_when_a_conversation_was_last_used() -> None:
    from datetime import UTC, datetime

    from components.conversations import last_used

    now = datetime(2026, 12, 6, 13, 35, tzinfo=UTC).timestamp()
    at = lambda *when: datetime(*when, tzinfo=UTC).timestamp()  # noqa: E731
    assert last_used(at(2026, 12, 6, 13, 5), now, UTC) == "today 13:05"
    assert last_used(at(2026, 12, 5, 9, 12), now, UTC) == "yesterday 09:12"
    assert last_used(at(2026, 12, 3, 22, 0), now, UTC) == "3 Dec"
    assert last_used(at(2025, 12, 3, 22, 0), now, UTC) == "3 Dec 2025"
