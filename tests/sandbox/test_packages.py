"""Admin packages: a real install from PyPI into the shared read-only layer, and a registry that cannot be reached."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from components.sandbox_panel import headline
from core.config import Settings
from core.errors import InterpreterError
from core.sandbox.local.isolation import LAYER_MOUNT, bubblewrap_works
from core.sandbox.local.packages import PackageLayer, layer_for, layer_key, parse_requirements
from core.sandbox.local.sandbox import LocalSandbox
from core.text import escape_markdown
from tests.prerequisites import missing, requires
from tests.servers import free_port

PACKAGE = "pyjokes==0.8.3"  # tiny, pure Python, no dependencies, not in the app's environment
VERSION = "import pyjokes\nfrom importlib.metadata import version\nprint(version('pyjokes'))"
needs_bwrap = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")


def pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/pyjokes/", timeout=15) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_requirements_are_checked_and_hashed() -> None:
    assert parse_requirements(" yfinance  statsmodels==0.14.4\npandas>=2,<3 ") == (
        "yfinance",
        "statsmodels==0.14.4",
        "pandas>=2,<3",
    )
    with pytest.raises(InterpreterError, match="pip option"):
        parse_requirements("--index-url http://x")
    with pytest.raises(InterpreterError, match="not a requirement"):
        parse_requirements("pandas>=>2")
    assert layer_key(("a",), "") != layer_key(("a", "b"), "") != layer_key(("a", "b"), "http://mirror/simple")


def test_a_bad_setting_is_reported_and_sandboxes_start_without_the_layer(
    make_sandbox: Callable[..., LocalSandbox],
) -> None:
    sandbox = make_sandbox("bad", sandbox_packages="--pre yfinance")
    report = sandbox.isolation_report()
    assert any("pip option" in warning for warning in report.warnings)
    assert sandbox.execute("print(6 * 7)").stdout.strip() == "42"


@needs_bwrap
@pytest.mark.slow
def test_admin_packages_are_installed_once_into_a_read_only_layer(
    make_sandbox: Callable[..., LocalSandbox], make_settings: Callable[..., Settings]
) -> None:
    if not pypi_reachable():
        missing("this machine cannot reach pypi.org")
    started = time.monotonic()
    first = make_sandbox("first", sandbox_packages=PACKAGE)
    install_seconds = time.monotonic() - started
    state = first.isolation.packages
    assert state.state == "ready", state.message
    assert state.installed == ("pyjokes 0.8.3",)
    assert "pyjokes==0.8.3 (installed: pyjokes 0.8.3)" in first.isolation_report().packages

    found = first.execute(f"{VERSION}\nprint(pyjokes.__file__)").stdout.split()
    assert found[0] == "0.8.3" and found[1].startswith(f"{LAYER_MOUNT}/")
    refused = first.execute(f"open('{LAYER_MOUNT}/mine.txt', 'w')")
    assert refused.error is not None and refused.error.name == "OSError"  # read-only
    assert first.run_command("python -c 'import pyjokes; print(pyjokes.get_joke()[:1])'").exit_code == 0

    started = time.monotonic()
    second = make_sandbox("second", sandbox_packages=PACKAGE)  # the same layer, not installed again
    assert time.monotonic() - started < max(install_seconds / 2, 3)
    assert second.isolation.packages.prefix == state.prefix
    assert second.execute(VERSION).stdout.strip() == "0.8.3"

    restarted = PackageLayer(make_settings(sandbox_packages=PACKAGE))  # after an app restart: read from disk
    assert restarted.ensure().prefix == state.prefix

    other = make_sandbox("other")  # no admin packages: nothing mounted
    assert other.execute("import importlib.util\nprint(importlib.util.find_spec('pyjokes'))").stdout.strip() == "None"


@needs_bwrap
@pytest.mark.slow
def test_a_session_pip_install_still_works_and_stays_in_the_session(
    make_sandbox: Callable[..., LocalSandbox],
) -> None:
    if not pypi_reachable():
        missing("this machine cannot reach pypi.org")
    sandbox = make_sandbox("session", sandbox_packages=PACKAGE)
    installed = sandbox.run_command("pip install --no-deps termcolor==3.3.0")
    assert installed.exit_code == 0, installed.stderr
    code = f"import termcolor\nprint(termcolor.__file__.startswith('/home/sandbox/.packages/'))\n{VERSION}"
    assert sandbox.execute(code).stdout.split() == ["True", "0.8.3"]
    assert not list(sandbox.isolation.packages.prefix.glob("**/termcolor*"))  # type: ignore[union-attr]


def isolation_box(report: object) -> None:
    from components.sandbox_panel import render_isolation

    render_isolation(report)


@needs_bwrap
def test_an_unreachable_registry_is_reported_in_plain_words(
    make_sandbox: Callable[..., LocalSandbox], make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = f"http://127.0.0.1:{free_port()}/simple"
    started = time.monotonic()
    sandbox = make_sandbox("offline", sandbox_packages=PACKAGE, package_index_url=index)
    assert time.monotonic() - started < 60
    state = sandbox.isolation.packages
    assert state.state == "failed" and state.prefix is None
    assert state.message.startswith(f"The package registry ({index}) could not be reached: ")
    assert state.message.endswith(
        "Sandboxes start without pyjokes==0.8.3; the install is tried again when a sandbox starts 5 minutes from now "
        "or later."
    )
    assert sandbox.execute("print('still works')").stdout.strip() == "still works"

    layer = layer_for(make_settings(sandbox_packages=PACKAGE, package_index_url=index))
    monkeypatch.setattr(layer, "_install", lambda: pytest.fail("tried again at the next sandbox start"))
    assert layer.ensure() == state

    at = AppTest.from_function(isolation_box, args=(sandbox.isolation_report(),)).run()
    assert any(w.value == escape_markdown(headline(state.message)) for w in at.warning)  # one short line
    assert any(escape_markdown(state.message) in c.value for c in at.caption)  # the whole text in the box
    assert any(escape_markdown("pyjokes==0.8.3 (not installed)") in c.value for c in at.caption)
