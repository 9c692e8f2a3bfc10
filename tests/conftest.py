"""Shared fixtures: settings on a temporary data folder, sandboxes and sessions that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.session import Session, open_session


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a temporary data folder; no kernel pool unless asked (it starts kernels in the background)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "kernel_pool_size": 0,
            "execution_timeout": 60,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def open_sessions() -> Iterator[Callable[..., Session]]:
    """Open sessions that are closed after the test."""
    opened: list[Session] = []

    def opener(conversation_id: str, settings: Settings, **kwargs: Any) -> Session:
        session = open_session(conversation_id, settings, **kwargs)
        opened.append(session)
        return session

    yield opener
    for session in opened:
        session.close()


@pytest.fixture
def session(open_sessions: Callable[..., Session], settings: Settings) -> Session:
    return open_sessions("conv-1", settings)


@pytest.fixture
def tools(session: Session) -> dict[str, Any]:
    return {t.tool_name: t for t in session.tools}


def text_of(result: dict[str, Any]) -> str:
    """The text the model receives from a tool result."""
    return "\n".join(block["text"] for block in result["content"] if "text" in block)
