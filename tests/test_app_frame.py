"""The warning the frame shows on every page while the app is served anonymously beyond this machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import LOGIN_SECRETS


def warning_script() -> None:
    from components.auth import render_exposure_warning

    render_exposure_warning()


@pytest.fixture
def restore_address() -> Iterator[None]:
    previous = config.get_option("server.address")
    yield
    config.set_option("server.address", previous)


def warnings_when_served_on(address: str, login: bool = False) -> list[str]:
    config.set_option("server.address", address)
    app = AppTest.from_function(warning_script, default_timeout=30)
    if login:
        app.secrets["auth"] = LOGIN_SECRETS
        app.user = {"is_logged_in": True, "sub": "a", "email": "a@example.com"}
    app.run()
    assert not app.exception
    return [warning.value for warning in app.warning]


def test_anonymous_access_from_the_network_is_shown(restore_address: None) -> None:
    for address in ("0.0.0.0", "", "192.168.1.5"):
        (warning,) = warnings_when_served_on(address)
        assert "without a login" in warning and "INTERPRETER_ALLOW_ANONYMOUS" in warning
        assert "anyone who can reach it can run code here and read every conversation" in warning


def test_no_warning_on_loopback_or_with_a_login(restore_address: None) -> None:
    assert warnings_when_served_on("127.0.0.1") == []
    assert warnings_when_served_on("localhost") == []
    assert warnings_when_served_on("0.0.0.0", login=True) == []
