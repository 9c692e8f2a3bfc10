"""The conversations of one user: list, create, rename, delete; each has a folder under ``sessions/<user>/``."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass

from core.chat.direct import parse_direct_run
from core.chat.transcript import ObjectTranscript, Transcript
from core.config import Settings
from core.errors import InvalidPathError
from core.files.objects import BucketStore, FolderStore, ObjectStore
from core.ids import SAFE_ID, check_id
from core.sandbox.local.files import remove_host_tree

DEFAULT_TITLE = "New conversation"
FENCE = re.compile(r"```[A-Za-z]*")
LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript", "typescript": "TypeScript", "r": "R"}
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


def _first_statement(code: str) -> str:
    """The first line of ``code`` that does something (not blank, a comment or an import)."""
    lines = [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith(("#", "//"))]
    doing = [line for line in lines if not line.startswith(("import ", "from "))]
    return (doing or lines or [""])[0]


def title_from(message: str, length: int = 60) -> str:
    """A conversation's title from its first message; code sent to run is named by its language and first statement.

    A Python block whose first statement after its imports is ``answer = 42`` gives ``"Python: answer = 42"``,
    ``"!ls -la"`` gives ``"Shell: ls -la"``; other messages give their words. Titles are cut at ``length``.
    """
    direct = parse_direct_run(message)
    if direct is None:
        words = " ".join(FENCE.sub(" ", message).split())
    elif direct[0] == "execute_command":
        words = "Shell: " + _first_statement(direct[1]["command"])
    else:
        words = f"{LANGUAGE_NAMES[direct[1]['language']]}: {_first_statement(direct[1]['code'])}"
    words = " ".join(words.split()).rstrip(":")
    return words[:length].rstrip() + ("…" if len(words) > length else "")


class ConversationStore:
    """One user's conversations: in ``data_dir`` next to their sandboxes, or in the S3 bucket.

    Args:
        settings: ``workspace_backend`` picks the storage (``s3``: ``s3_bucket`` and ``s3_prefix``).
        user_id: The owner.
        objects: An object store to use instead (tests).

    """

    def __init__(self, settings: Settings, user_id: str = "local", objects: ObjectStore | None = None) -> None:
        self.user_id = check_id(user_id, "user id")
        self.local_folder = settings.sessions_dir / self.user_id
        if objects is not None:
            self.objects = objects
        elif settings.workspace_backend == "s3":
            self.objects = BucketStore(settings.s3_bucket, settings.s3_prefix)
        else:
            self.objects = FolderStore(settings.sessions_dir)
        self.in_bucket = isinstance(self.objects, BucketStore)

    def _key(self, conversation_id: str, name: str) -> str:
        return f"{self.user_id}/{check_id(conversation_id, 'conversation id')}/{name}"

    def get(self, conversation_id: str) -> Conversation | None:
        """The conversation with this id, or ``None`` (also for an invalid id)."""
        try:
            data = self.objects.get(self._key(conversation_id, "conversation.json"))
            return None if data is None else Conversation(**json.loads(data))
        except (InvalidPathError, ValueError, TypeError):
            return None

    def list(self) -> list[Conversation]:
        """Every conversation, most recently used first."""
        found = [self.get(name) for name in self.objects.children(self.user_id) if SAFE_ID.fullmatch(name)]
        return sorted((c for c in found if c is not None), key=lambda c: c.updated, reverse=True)

    def create(self) -> Conversation:
        """A new, empty conversation with an unguessable id."""
        now = time.time()
        conversation = Conversation(id=f"c-{secrets.token_urlsafe(16)}", created=now, updated=now)
        self._save(conversation)
        return conversation

    def _save(self, conversation: Conversation) -> None:
        self.objects.put(self._key(conversation.id, "conversation.json"), json.dumps(asdict(conversation)).encode())

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
        title = title_from(first_message)
        if conversation.title == DEFAULT_TITLE and title:
            conversation.title = title
        self._save(conversation)

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation with its sandbox files, workspace and history (close its session first)."""
        self._require(conversation_id)
        self.objects.delete_tree(f"{self.user_id}/{conversation_id}")
        remove_host_tree(self.local_folder / conversation_id)

    def transcript(self, conversation_id: str) -> Transcript | ObjectTranscript:
        """The chat events of a conversation."""
        if self.in_bucket:
            return ObjectTranscript(self.objects, self._key(conversation_id, "transcript"))
        return Transcript(self.local_folder / check_id(conversation_id, "conversation id") / "transcript.jsonl")

    def _require(self, conversation_id: str) -> Conversation:
        conversation = self.get(conversation_id)
        if conversation is None:
            raise InvalidPathError(f"There is no conversation {str(conversation_id)[:80]!r}.")
        return conversation
