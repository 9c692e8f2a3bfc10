"""What the engine's Strands agent is made of besides the model: its memory and its history window."""

from __future__ import annotations

from typing import Any

from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.session.file_session_manager import FileSessionManager
from strands.session.session_manager import SessionManager

from core.files.objects import S3_RETRIES
from core.session import Session


class NoticingWindow(SlidingWindowConversationManager):
    """Strands' sliding window, which also says when a context overflow made it drop older messages.

    Args:
        on_overflow: Called after the history was reduced because the model said it was too long.

    """

    def __init__(self, on_overflow: Any) -> None:
        super().__init__()
        self.on_overflow = on_overflow

    def reduce_context(self, agent: Any, e: Exception | None = None, **kwargs: Any) -> None:
        """Reduce the history (Strands then retries the model call once); on an overflow, say so."""
        super().reduce_context(agent, e=e, **kwargs)
        if e is not None:
            self.on_overflow()


def agent_memory(session: Session) -> SessionManager:
    """Strands' session manager for the agent's messages: a folder next to the sandbox, or the S3 bucket."""
    settings = session.settings
    if settings.workspace_backend == "s3":
        from botocore.config import Config
        from strands.session.s3_session_manager import S3SessionManager

        prefix = "/".join(p for p in (settings.s3_prefix.strip("/"), session.user_id, session.conversation_id) if p)
        return S3SessionManager(
            session_id=session.conversation_id,
            bucket=settings.s3_bucket,
            prefix=f"{prefix}/agent",
            boto_client_config=Config(retries=S3_RETRIES),  # type: ignore[arg-type]
        )
    return FileSessionManager(session_id=session.conversation_id, storage_dir=str(session.folder / "agent"))
