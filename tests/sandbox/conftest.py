"""Fixtures of the sandbox tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.config import Settings
from core.sandbox.local.sandbox import LocalSandbox


@pytest.fixture
def make_sandbox(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., LocalSandbox]]:
    made: list[LocalSandbox] = []

    def make(name: str = "s", **overrides: object) -> LocalSandbox:
        settings = make_settings(**overrides)
        sandbox = LocalSandbox(settings, settings.sessions_dir / "local" / name)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.close()
