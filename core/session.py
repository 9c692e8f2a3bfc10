"""Engine sessions: one conversation's sandbox, workspace and tools.

from core.config import Settings
from core.session import open_session

session = open_session("conv-1", Settings(data_dir=tmp))
tools = {t.tool_name: t for t in session.tools}
tools["execute_code"](code="print(6 * 7)")
session.close()
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path

from strands.types.tools import AgentTool

from core.config import Settings
from core.errors import QuotaExceeded
from core.files.uploads import describe_tree
from core.ids import check_id
from core.sandbox.base import Sandbox
from core.sandbox.local.files import tree_usage
from core.sandbox.local.pool import pool_for
from core.sandbox.local.sandbox import LocalSandbox
from core.sandbox.output import OutputListener
from core.tools import build_tools
from core.types import ExecutionResult, ToolRecord
from core.workspace import NAMESPACE, Workspace
from core.workspace.local import LocalWorkspace

MB = 1024 * 1024
HISTORY_LIMIT = 200
"""The most recent tool calls a session keeps in memory (the transcript keeps them all on disk)."""


def make_sandbox(settings: Settings, folder: Path, name: str, conversation: tuple[str, str] | None = None) -> Sandbox:
    """The sandbox backend the settings choose (cloud packages are imported only when chosen).

    Args:
        settings: The settings.
        folder: The conversation's session folder (local sandboxes live in it).
        name: A name for the sandbox.
        conversation: Its owner and id: an AgentCore session is kept with the conversation for any replica.

    """
    if settings.sandbox_backend == "agentcore":
        from core.sandbox.agentcore.session import AgentCoreSandbox

        return AgentCoreSandbox(settings, name, conversation=conversation)
    pool = pool_for(settings)
    pooled = pool.take(folder) if pool is not None else None
    return pooled or LocalSandbox(settings, folder)


def make_workspace(settings: Settings, folder: Path, user_id: str, conversation_id: str) -> Workspace:
    """The workspace backend the settings choose."""
    if settings.workspace_backend == "s3":
        from core.workspace.s3 import S3Workspace

        return S3Workspace.from_settings(settings, user_id, conversation_id)
    return LocalWorkspace(folder / "workspace" / NAMESPACE)


class Session:
    """A conversation's engine: sandbox, workspace, tools and the record of every tool call.

    Args:
        conversation_id: The conversation's id (letters, digits, ``._-``).
        settings: The app settings.
        user_id: The owner; sessions of different users never share files.

    """

    def __init__(self, conversation_id: str, settings: Settings, user_id: str = "local") -> None:
        self.conversation_id = check_id(conversation_id, "conversation id")
        self.user_id = check_id(user_id, "user id")
        self.settings = settings
        self.folder: Path = settings.sessions_dir / self.user_id / self.conversation_id
        self.sandbox: Sandbox = make_sandbox(
            settings, self.folder, f"{self.user_id}-{self.conversation_id}", (self.user_id, self.conversation_id)
        )
        self.workspace: Workspace = make_workspace(settings, self.folder, self.user_id, self.conversation_id)
        self.history: deque[ToolRecord] = deque(maxlen=HISTORY_LIMIT)
        self.listeners: list[Callable[[ToolRecord], None]] = []
        self.output_listeners: list[OutputListener] = []
        self.tools: list[AgentTool] = build_tools(self)
        life = getattr(self.sandbox, "life", None)
        if life is not None:  # saved variables count against the person's disk quota
            life.budget = self.quota_left
        _OPEN_SESSIONS.add(self)

    def record(self, entry: ToolRecord) -> None:
        """Remember a tool call and tell the listeners (the UI refreshes its side panel)."""
        self.history.append(entry)
        for listener in list(self.listeners):
            listener(entry)

    def publish_output(self, partial: ExecutionResult) -> None:
        """Tell the output listeners what the running step has produced so far (the page shows it live)."""
        for listener in list(self.output_listeners):
            listener(partial)

    def check_user_quota(self, adding_bytes: int = 0, adding_files: int = 1) -> None:
        """Refuse new files when the person's conversations together are over their disk or file limit.

        Raises:
            QuotaExceeded: With what is used, the limit, and what to do.

        """
        used_bytes, used_files = user_usage(self.settings, self.user_id)
        limit_mb, limit_files = self.settings.user_disk_limit_mb, self.settings.user_max_files
        if used_bytes + adding_bytes > limit_mb * MB:
            raise QuotaExceeded(
                f"Your conversations use {used_bytes / MB:,.0f} MB of your {limit_mb:,} MB; this needs "
                f"{adding_bytes / MB:,.1f} MB more. Delete files or old conversations first."
            )
        if used_files + adding_files > limit_files:
            raise QuotaExceeded(
                f"Your conversations hold {used_files:,} files, the most allowed is {limit_files:,}. "
                "Delete files or old conversations first."
            )

    def quota_left(self) -> int:
        """Bytes the person may still store on this machine (their disk quota less what they use)."""
        return max(self.settings.user_disk_limit_mb * MB - user_usage(self.settings, self.user_id)[0], 0)

    def preload(self, name: str, data: bytes) -> list[str]:
        """Put an upload into the sandbox root before the agent runs (a ZIP is extracted, keeping its folders).

        Args:
            name: The uploaded file's name.
            data: Its bytes.

        Returns:
            The sandbox paths that arrived.

        Raises:
            QuotaExceeded: When the person's disk or file quota would be passed.

        """
        self.check_user_quota(adding_bytes=len(data))
        return self.sandbox.preload(name, data)

    def describe_upload(self, name: str, paths: list[str]) -> str:
        """The message that tells the agent what an upload put in the sandbox."""
        return f"The user uploaded {name!r}; it is now in the sandbox root:\n{describe_tree(paths)}"

    def close(self) -> None:
        """Stop the sandbox's processes; files and workspace stay on disk and the session can be opened again."""
        self.sandbox.close()
        _OPEN_SESSIONS.discard(self)

    def discard(self) -> None:
        """Close for good, the conversation being deleted: a cloud sandbox kept for other replicas is stopped too."""
        self.sandbox.discard()
        _OPEN_SESSIONS.discard(self)


_OPEN_SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()


def open_session(conversation_id: str, settings: Settings | None = None, *, user_id: str = "local") -> Session:
    """Open (or reopen) a conversation's engine session.

    Args:
        conversation_id: The conversation's id.
        settings: The settings; read from the environment when omitted.
        user_id: The owner of the conversation.

    Returns:
        The session; close it when the conversation ends.

    """
    settings = settings or Settings()
    open_now = [s for s in list(_OPEN_SESSIONS) if s.user_id == user_id and not s.sandbox.closed]
    if len(open_now) >= settings.user_max_sessions:
        raise QuotaExceeded(
            f"You already have {len(open_now)} sessions open, the most allowed at once "
            f"(INTERPRETER_USER_MAX_SESSIONS={settings.user_max_sessions}). Close another conversation's tab, or "
            "wait until an idle one is shut down."
        )
    session = Session(conversation_id, settings, user_id=user_id)
    _IdleReaper.ensure_running()  # woken too: this session's timeout may end before the reaper's next sweep
    return session


def discard_session(conversation_id: str, settings: Settings, *, user_id: str = "local") -> None:
    """Stop what a deleted conversation left running that no open session holds.

    That is an AgentCore session kept for other replicas; a local sandbox leaves nothing running once closed.
    """
    if settings.sandbox_backend == "agentcore":
        Session(conversation_id, settings, user_id=user_id).discard()


def user_usage(settings: Settings, user_id: str) -> tuple[int, int]:
    """Bytes and files kept on this machine for all of a person's conversations."""
    return tree_usage(settings.sessions_dir / user_id)


class _IdleReaper:
    """Shuts down the kernels of sessions unused for ``idle_timeout`` seconds (their files stay)."""

    _thread: threading.Thread | None = None
    _wake = threading.Event()

    @classmethod
    def ensure_running(cls) -> None:
        """Start the reaper, or wake it to count a new session in."""
        if cls._thread is None or not cls._thread.is_alive():
            cls._thread = threading.Thread(target=cls._loop, name="idle-reaper", daemon=True)
            cls._thread.start()
        cls._wake.set()

    @classmethod
    def _loop(cls) -> None:
        while True:
            cls._wake.clear()
            sweep_idle_sessions()
            cls._wake.wait(next_sweep_in())


def next_sweep_in() -> float:
    """Seconds until the next session can reach its idle timeout (0.5 to 30).

    The reaper wakes then, so a session sleeps when its countdown in the side panel reaches zero. A session
    whose kernels do not run counts its whole timeout: one may start at any moment.
    """
    now = time.monotonic()
    waits = [session.settings.idle_timeout - _idle_for(session, now) for session in list(_OPEN_SESSIONS)]
    return min(max(min(waits, default=30.0), 0.5), 30.0)


def _idle_for(session: Session, now: float) -> float:
    """Seconds the session's kernels have been idle (0 when none runs)."""
    running = getattr(session.sandbox, "running_kernels", lambda: True)()
    return now - session.sandbox.last_used if running else 0.0


def sweep_idle_sessions() -> int:
    """Put every session idle longer than its ``idle_timeout`` to sleep; returns how many were."""
    count = 0
    now = time.monotonic()
    for session in list(_OPEN_SESSIONS):
        idle = now - session.sandbox.last_used
        if idle > session.settings.idle_timeout and session.sandbox.sleep(idle_seconds=idle):
            count += 1
    return count


@atexit.register
def close_all_sessions() -> None:
    """Close every open session (at exit, or when the server shuts down): Python variables are saved first."""
    for session in list(_OPEN_SESSIONS):
        with contextlib.suppress(Exception):  # one broken sandbox must not keep the others from saving
            session.close()
