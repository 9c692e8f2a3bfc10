"""The open chat engines of this server process: one per person and conversation, shared by every tab.

Engines belong to the server, not to a browser tab, so a turn keeps running when its tab reloads, closes or
loses its connection, and a reopened tab finds it running. Two tabs on one conversation share its engine, so
a conversation never runs two turns at once. A sweeper stops turns nobody has watched for a while and closes
engines nobody has used for ``idle_timeout`` seconds (their files stay on disk).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from core.chat.engine import ChatEngine
from core.errors import QuotaExceeded

logger = logging.getLogger(__name__)
SWEEP_SECONDS = 5.0


class EngineRegistry:
    """Chat engines by person and conversation.

    Args:
        unwatched_turn_timeout: Seconds a turn may run with no page showing it.
        idle_timeout: Seconds after which an engine that is neither busy nor shown is closed.
        sweep_seconds: Seconds between two sweeps of the sweeper thread.

    """

    def __init__(
        self, unwatched_turn_timeout: float, idle_timeout: float, sweep_seconds: float = SWEEP_SECONDS
    ) -> None:
        self.unwatched_turn_timeout = unwatched_turn_timeout
        self.idle_timeout = idle_timeout
        self.sweep_seconds = sweep_seconds
        self._engines: dict[tuple[str, str], ChatEngine] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_forever, name="engine-sweeper", daemon=True)
        self._sweeper.start()

    def get(self, user_id: str, conversation_id: str) -> ChatEngine | None:
        """The open engine of a conversation, if there is one."""
        with self._lock:
            engine = self._engines.get((user_id, conversation_id))
            return engine if engine is not None and not engine.session.sandbox.closed else None

    def open(self, user_id: str, conversation_id: str, factory: Callable[[], ChatEngine], max_open: int) -> ChatEngine:
        """The conversation's engine, opened with ``factory`` when none is open.

        To stay within the person's ``max_open`` sessions, the engines they used least recently (and that run
        nothing) are closed first.

        Raises:
            QuotaExceeded: When all of the person's open engines are busy.

        """
        with self._lock:
            existing = self.get(user_id, conversation_id)
            if existing is not None:
                existing.watched()
                return existing
            self._make_room(user_id, max_open)
            engine = factory()
            self._engines[(user_id, conversation_id)] = engine
            return engine

    def _make_room(self, user_id: str, max_open: int) -> None:
        mine = sorted(
            ((key, engine) for key, engine in self._engines.items() if key[0] == user_id),
            key=lambda item: item[1].watched_at,
        )
        for key, engine in mine[: max(len(mine) - max_open + 1, 0)]:
            if not engine.busy:
                self.close(*key)
        still_open = sum(1 for key in self._engines if key[0] == user_id)
        if still_open >= max_open:
            raise QuotaExceeded(
                f"You have {still_open} conversations running at once, the most allowed "
                f"(INTERPRETER_USER_MAX_SESSIONS={max_open}). Wait for one to finish, or stop it."
            )

    def replace(self, user_id: str, conversation_id: str, engine: ChatEngine) -> ChatEngine:
        """Put a rebuilt engine (a new model over the same session) in place of the open one."""
        with self._lock:
            self._engines[(user_id, conversation_id)] = engine
        return engine

    def close(self, user_id: str, conversation_id: str, *, for_good: bool = False) -> bool:
        """Close a conversation's engine and its session (its files stay); returns whether one was open.

        ``for_good`` (the conversation is deleted) also stops a cloud sandbox kept for other replicas.
        """
        with self._lock:
            engine = self._engines.pop((user_id, conversation_id), None)
        if engine is None:
            return False
        engine.close()
        if for_good:
            engine.session.discard()
        else:
            engine.session.close()
        return True

    def engines(self, user_id: str | None = None) -> list[ChatEngine]:
        """The open engines (of one person, if given)."""
        with self._lock:
            return [engine for key, engine in self._engines.items() if user_id in (None, key[0])]

    def sweep(self) -> None:
        """Stop turns nobody watches and close engines nobody used for ``idle_timeout`` seconds."""
        now = time.monotonic()
        with self._lock:
            items = list(self._engines.items())
        for key, engine in items:
            engine.stop_if_unwatched(self.unwatched_turn_timeout)
            if engine.session.sandbox.closed or (not engine.busy and now - engine.watched_at > self.idle_timeout):
                self.close(*key)

    def _sweep_forever(self) -> None:
        while not self._closed.wait(self.sweep_seconds):
            try:
                self.sweep()
            except Exception:  # the sweeper must outlive one bad engine
                logger.exception("Sweeping chat engines failed")

    def close_all(self) -> None:
        """Close every engine and stop the sweeper (at shutdown)."""
        self._closed.set()
        with self._lock:
            keys = list(self._engines)
        for key in keys:
            with contextlib.suppress(Exception):
                self.close(*key)
