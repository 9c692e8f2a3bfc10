"""The load tests' marker. The short form runs with the normal suite; the soak only with INTERPRETER_SOAK_MINUTES."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "load: many sessions at once (short form in the suite; soak with INTERPRETER_SOAK_MINUTES=30)"
    )
