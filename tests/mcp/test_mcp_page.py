"""The chat page with MCP servers (AppTest): a call is a step, a waiting call is asked about, the side panel says
each server's state; what a server says is shown literally and its header values never."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from core.text import escape_markdown
from tests.conftest import page_text, run_until_idle, send, wait_for
from tests.mcp.conftest import TOKEN, servers_setting, stdio_server

SHOWN = ("markdown", "code", "info", "caption", "expander", "error", "warning")
HOSTILE = "**not bold** [click](http://evil.example) <img src=x>"


@pytest.fixture
def mcp_app(make_app: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch, http_server: str) -> AppTest:
    servers = {
        "t": stdio_server(),
        "web": {"url": http_server, "headers": {"Authorization": f"Bearer {TOKEN}"}},
        "gone": {"command": "no-such-mcp-program"},
    }
    monkeypatch.setenv("INTERPRETER_MCP_SERVERS", servers_setting(servers))
    monkeypatch.setenv("INTERPRETER_MCP_CONNECT_TIMEOUT", "20")
    steps = [
        {"tool": "t_echo", "input": {"text": HOSTILE}},
        {"text": "Echoed."},
        {"tool": "web_add", "input": {"a": 1, "b": 2}},
    ]
    return make_app(steps)


def test_a_call_is_a_step_and_the_side_panel_shows_each_server(mcp_app: AppTest) -> None:
    app = mcp_app
    app.run()
    send(app, "Echo it.")
    labels = [str(expander.label) for expander in app.expander]
    assert "Called t\\_echo · MCP server t" in labels, labels
    assert HOSTILE in [str(code.value) for code in app.code]  # the result, literally
    assert "Echoed." in page_text(app, "markdown")
    notices = page_text(app, "warning")
    assert "The MCP server 'gone' is not available (the command 'no-such-mcp-program' was not found)" in notices

    side = page_text(app.sidebar, "markdown", "caption", "expander")
    assert "MCP tools: 2 of 3 servers connected" in side
    assert "**t** · connected · 5 tools" in side and "**web** · connected · 5 tools" in side
    assert "**gone** · failed: the command 'no-such-mcp-program' was not found" in side
    assert escape_markdown("**Bold** [link](http://example.com) <b>html</b>") in side  # described literally
    assert TOKEN not in page_text(app, *SHOWN) + side
    assert any(button.key == "mcp_reconnect_gone" for button in app.sidebar.button)


def test_ask_before_running_waits_for_an_mcp_call(mcp_app: AppTest) -> None:
    app = mcp_app
    app.run()
    next(t for t in app.toggle if t.label == "Ask before running code").set_value(True).run()
    send(app, "Echo it.")
    text = page_text(app, *SHOWN)
    assert "the agent wants to call the tool t\\_echo of the MCP server t with these arguments" in text
    assert "Waiting for your approval to run the tool “t_echo”" in page_text(app)  # the side panel's activity
    button = next(b for b in app.button if b.key and b.key.startswith("approve_") and b.key.endswith("_run"))
    run_until_idle(button.click().run())
    assert HOSTILE in [str(code.value) for code in app.code] and "Echoed." in page_text(app, "markdown")


def test_the_settings_page_lists_the_servers(make_app: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPRETER_MCP_SERVERS", servers_setting({"gone": {"command": "no-such-mcp-program"}}))
    app = make_app(script="pages/settings.py")
    app.run()
    wait_for(lambda: "failed" in page_text(app.run(), "markdown"), "the server to fail")
    text = page_text(app, "markdown", "caption", "expander")
    assert "MCP tools: 0 of 1 servers connected" in text
    assert "**gone** · failed: the command 'no-such-mcp-program' was not found" in text
