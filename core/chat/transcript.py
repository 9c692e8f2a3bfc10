"""What the chat shows, event by event, stored as JSON lines so a conversation renders again after a restart.

The agent's own memory is kept by Strands' session manager; the transcript keeps what the person saw:
their messages, the answers, every tool step with its rich outputs, and notices.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.files.objects import ObjectStore
from core.types import ExecutionError, ExecutionResult, RichOutput, StopReason, ToolRecord

EventKind = Literal["user", "assistant", "tool", "notice"]
SESSION_NOTICE = "session"
"""The ``source`` of notices about the sandbox's life (a reopened conversation, a restored sandbox): the chat shows
them, exports leave them out, and one is not repeated while nothing happened after it."""


@dataclass
class ChatEvent:
    """One thing in the chat.

    Attributes:
        kind: ``user``, ``assistant`` (text), ``tool`` (a tool step) or ``notice`` (from the app).
        text: The message, answer or notice text.
        tool: The tool step, for ``tool`` events.
        level: For notices: ``info``, ``warning`` or ``error``.
        source: Who ran a tool step: ``agent`` or ``direct`` (the person, without the model); for notices,
            :data:`SESSION_NOTICE` marks one about the sandbox's life.
        created: Seconds since the epoch.

    """

    kind: EventKind
    text: str = ""
    tool: ToolRecord | None = None
    level: str = "info"
    source: str = "agent"
    created: float = field(default_factory=time.time)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _result_from_dict(data: dict[str, Any]) -> ExecutionResult:
    error = data.get("error")
    return ExecutionResult(
        stdout=data.get("stdout", ""),
        stderr=data.get("stderr", ""),
        exit_code=data.get("exit_code"),
        error=ExecutionError(**error) if error else None,
        outputs=[RichOutput(**o) for o in data.get("outputs", [])],
        duration=data.get("duration", 0.0),
        stopped=StopReason(data["stopped"]) if data.get("stopped") else None,
        notes=list(data.get("notes", [])),
    )


def event_to_json(event: ChatEvent) -> str:
    """One JSON line for an event (bytes become base64)."""
    return json.dumps(_encode(asdict(event)), default=str)  # ASCII-escaped: lone surrogates survive too


def event_from_json(line: str) -> ChatEvent:
    """The event a JSON line holds."""
    data = _decode(json.loads(line))
    tool = data.pop("tool", None)
    if tool is not None:
        result = tool.pop("result", None)
        tool = ToolRecord(**tool, result=_result_from_dict(result) if result else None)
    return ChatEvent(**data, tool=tool)


def last_events(events: list[ChatEvent], count: int) -> tuple[list[ChatEvent], int]:
    """The last ``count`` of ``events`` and how many came before them."""
    start = max(len(events) - count, 0)
    return events[start:], start


class Transcript:
    """The chat events of one conversation, appended to a JSON-lines file.

    The file is read once; later reads come from memory, so showing a long conversation again costs nothing
    per event already read (the chat engine owns one transcript per conversation and appends through it).

    Args:
        path: The file (created on the first append).

    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: list[ChatEvent] | None = None
        self._lock = threading.Lock()

    def append(self, event: ChatEvent) -> None:
        """Add an event at the end."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(event_to_json(event) + "\n")
            if self._cache is not None:
                self._cache.append(event)

    def exists(self) -> bool:
        """Whether anything was said in the conversation."""
        return self.path.exists()

    def __len__(self) -> int:
        """How many events there are."""
        return len(self._events())

    def events(self) -> list[ChatEvent]:
        """Every event, oldest first; a damaged line is skipped rather than losing the rest."""
        return list(self._events())

    def tail(self, count: int) -> tuple[list[ChatEvent], int]:
        """The last ``count`` events and how many came before them."""
        return last_events(self._events(), count)

    def _events(self) -> list[ChatEvent]:
        with self._lock:
            if self._cache is None:
                self._cache = self._read()
            return self._cache

    def _read(self) -> list[ChatEvent]:
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(event_from_json(line))
            except (ValueError, TypeError, KeyError):
                continue
        return events


class ObjectTranscript:
    """The chat events of one conversation as one object each in an object store (S3 has no append).

    Events are read once (in parallel) and then kept in memory: a conversation is served by one replica at a
    time (sticky sessions), which appends through this object.

    Args:
        objects: The store.
        prefix: Where the events live.

    """

    def __init__(self, objects: ObjectStore, prefix: str) -> None:
        self.objects = objects
        self.prefix = prefix
        self._cache: list[ChatEvent] | None = None

    def exists(self) -> bool:
        """Whether anything was said in the conversation."""
        return bool(self._cache) or bool(self.objects.children(self.prefix))

    def events(self) -> list[ChatEvent]:
        """Every event, oldest first."""
        if self._cache is None:
            keys = self.objects.keys(self.prefix)
            with ThreadPoolExecutor(max_workers=8) as pool:
                blobs = list(pool.map(self.objects.get, keys))
            self._cache = []
            for blob in blobs:
                with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                    self._cache.append(event_from_json(blob.decode("utf-8")))  # type: ignore[union-attr]
        return list(self._cache)

    def __len__(self) -> int:
        """How many events there are."""
        return len(self.events())

    def tail(self, count: int) -> tuple[list[ChatEvent], int]:
        """The last ``count`` events and how many came before them."""
        return last_events(self.events(), count)

    def append(self, event: ChatEvent) -> None:
        """Add an event at the end."""
        events = self.events()
        self.objects.put(f"{self.prefix}/{len(events):08d}.json", event_to_json(event).encode("utf-8"))
        assert self._cache is not None
        self._cache.append(event)
