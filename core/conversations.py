"""The conversations of one user: list, create, rename, delete; each has a folder under ``sessions/<user>/``."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.config import Settings
from core.errors import InvalidPathError
from core.session import check_id
from core.transcript import Transcript
from core.workspace.local import atomic_write

DEFAULT_TITLE = "New conversation"
FENCE = re.compile(r"```[A-Za-z]*")
MAX_TITLE_LENGTH = 100


@dataclass
class Conversation:
    """A conversation's metadata.

    Attributes:
        id: The unguessable id (also in the URL).
        title: What the list shows.
        created: Seconds since the epoch.
        updated: Seconds since the epoch of the last message.

    """

    id: str
    title: str = DEFAULT_TITLE
    created: float = 0.0
    updated: float = 0.0


class ConversationStore:
    """One user's conversations, kept next to their sandboxes and workspaces.

    Args:
        settings: Supplies ``data_dir``.
        user_id: The owner.

    """

    def __init__(self, settings: Settings, user_id: str = "local") -> None:
        self.folder = settings.sessions_dir / check_id(user_id, "user id")

    def _meta_path(self, conversation_id: str) -> Path:
        return self.folder / check_id(conversation_id, "conversation id") / "conversation.json"

    def get(self, conversation_id: str) -> Conversation | None:
        """The conversation with this id, or ``None`` (also for an invalid id)."""
        try:
            path = self._meta_path(conversation_id)
            return Conversation(**json.loads(path.read_text()))
        except (InvalidPathError, OSError, ValueError, TypeError):
            return None

    def list(self) -> list[Conversation]:
        """Every conversation, most recently used first."""
        if not self.folder.exists():
            return []
        found = [self.get(p.name) for p in self.folder.iterdir() if (p / "conversation.json").exists()]
        return sorted((c for c in found if c is not None), key=lambda c: c.updated, reverse=True)

    def create(self) -> Conversation:
        """A new, empty conversation with an unguessable id."""
        now = time.time()
        conversation = Conversation(id=f"c-{secrets.token_urlsafe(16)}", created=now, updated=now)
        self._save(conversation)
        return conversation

    def _save(self, conversation: Conversation) -> None:
        path = self._meta_path(conversation.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(asdict(conversation)).encode())

    def rename(self, conversation_id: str, title: str) -> Conversation:
        """Give a conversation a new title (1 to 100 characters)."""
        title = " ".join(title.split())
        if not title or len(title) > MAX_TITLE_LENGTH:
            raise InvalidPathError(f"A title needs 1 to {MAX_TITLE_LENGTH} characters.")
        conversation = self._require(conversation_id)
        conversation.title = title
        self._save(conversation)
        return conversation

    def touch(self, conversation_id: str, first_message: str = "") -> None:
        """Mark a conversation as just used; an untitled one is named after its first message."""
        conversation = self._require(conversation_id)
        conversation.updated = time.time()
        words = " ".join(FENCE.sub(" ", first_message).split())
        if conversation.title == DEFAULT_TITLE and words:
            conversation.title = words[:60] + ("…" if len(words) > 60 else "")
        self._save(conversation)

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation with its sandbox files, workspace and history (close its session first)."""
        self._require(conversation_id)
        shutil.rmtree(self.folder / conversation_id)

    def transcript(self, conversation_id: str) -> Transcript:
        """The chat events of a conversation."""
        return Transcript(self.folder / check_id(conversation_id, "conversation id") / "transcript.jsonl")

    def _require(self, conversation_id: str) -> Conversation:
        conversation = self.get(conversation_id)
        if conversation is None:
            raise InvalidPathError(f"There is no conversation {conversation_id[:80]!r}.")
        return conversation
