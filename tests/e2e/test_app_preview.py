"""Open preview in Chromium: a real Streamlit app started in a sandbox without network, used through the proxy.

The scripted model starts ``streamlit run`` in the sandbox's background; the page offers Open preview, which opens
the app in a new tab on a host name of its own (``PORT-TOKEN.localhost``), where its page loads and its WebSocket
works (a button click changes the text), under the app's content policy (its scripts cannot reach the app).
The preview tab holds none of the app's cookies; another browser without the ticket gets nothing; once the
server is stopped, the tab and the side panel say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.web.content_policy import PAGE_POLICY
from core.web.previews import COOKIE, parse_host
from tests.e2e.conftest import ARTIFACTS, needs_chromium, send, wait_until_page_idle
from tests.servers import get, running_app

pytestmark = needs_chromium
PORT = 8599
INNER_APP = """import streamlit as st
st.title("Hello from the sandbox")
if st.button("Count"):
    st.session_state.n = st.session_state.get("n", 0) + 1
st.write(f"Clicked {st.session_state.get('n', 0)} times")
"""
START = (
    f"cat > hello_app.py <<'EOF'\n{INNER_APP}EOF\n"
    f"python -m streamlit run hello_app.py --server.port {PORT} --server.address 127.0.0.1 "
    "--server.headless true --browser.gatherUsageStats false"
)
STEPS = [
    {"tool": "execute_command", "input": {"command": START, "background": True}},
    {"text": "Your app runs: open its preview."},
    {"tool": "command_task", "input": {"task_id": "cmd-1", "action": "stop"}},
    {"text": "The app is stopped."},
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with the scripted model above; sandboxes without any network."""
    folder = tmp_path_factory.mktemp("preview")
    script = folder / "steps.json"
    script.write_text(json.dumps(STEPS))
    variables = {
        "INTERPRETER_MODEL_PROVIDER": "scripted",
        "INTERPRETER_SCRIPTED_MODEL_FILE": str(script),
        "INTERPRETER_SANDBOX_NETWORK": "none",
    }
    with running_app(folder / "data", **variables) as (port, _server):
        yield f"http://127.0.0.1:{port}"


def test_a_streamlit_app_in_the_sandbox_opens_in_its_own_origin(browser: Any, app_url: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(app_url)
    send(page, "Write a Streamlit app and run it.")
    wait_until_page_idle(page)
    sidebar = page.locator("[data-testid=stSidebar]")
    link = sidebar.get_by_role("link", name=f"Open preview · port {PORT}")
    expect(link).to_be_visible(timeout=90_000)
    step = page.locator("[data-testid=stExpander]", has_text="Running in the background (cmd-1)")
    expect(step.get_by_role("link", name=f"Open preview · port {PORT}")).to_be_visible()  # the step offers it too

    with context.expect_page() as opened:
        link.click()
    preview = opened.value
    preview.set_default_timeout(60_000)
    expect(preview.get_by_text("Hello from the sandbox")).to_be_visible()
    preview.get_by_role("button", name="Count").click()
    expect(preview.get_by_text("Clicked 1 times")).to_be_visible()  # the app's WebSocket works through the proxy
    preview.screenshot(path=str(ARTIFACTS / "preview-app.png"))

    address = urlsplit(preview.url)
    found = parse_host(address.netloc)
    assert found is not None and found[0] == PORT, preview.url
    assert urlsplit(app_url).hostname != address.hostname  # an origin and a site of its own
    readable = preview.evaluate("document.cookie")  # the inner app's own cookies only (its XSRF cookie)
    app_cookies = context.cookies(app_url)
    assert app_cookies and all(cookie["value"] not in readable for cookie in app_cookies)  # not the app's
    assert COOKIE not in readable  # nor the preview's pass (HttpOnly)

    # The app's content policy holds in the preview: its scripts reach their own origin only, not the app.
    reloaded = preview.reload()
    assert reloaded is not None and reloaded.headers["content-security-policy"] == PAGE_POLICY
    expect(preview.get_by_text("Hello from the sandbox")).to_be_visible()
    reach = "url => fetch(url, {credentials: 'include'}).then(() => 'reached', () => 'blocked')"
    assert preview.evaluate(reach, f"{app_url}/_stcore/health") == "blocked"
    assert preview.evaluate(reach, "/_stcore/health") == "reached"

    stranger = browser.new_context()
    try:
        response = stranger.new_page().goto(preview.url)
        assert response is not None and response.status == 403
        assert "Hello from the sandbox" not in response.text()
    finally:
        stranger.close()

    send(page, "Stop the app.")
    wait_until_page_idle(page)
    expect(sidebar.get_by_text(f"The app on port {PORT} has stopped")).to_be_visible(timeout=30_000)
    preview.reload()
    expect(preview.get_by_text(f"The app on port {PORT} in the sandbox has stopped")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "preview-stopped.png"))
    context.close()


def test_names_below_the_preview_domain_are_never_the_app(app_url: str) -> None:
    """The real server lets ``*.localhost`` through its host guard for previews only: any other name there is 404."""
    port = int(urlsplit(app_url).port or 0)
    assert get(port, "/_stcore/health", host=f"localhost:{port}") == (200, b"ok")
    for host in (f"app.localhost:{port}", f"{PORT}-{'0' * 32}.localhost:{port}", f"{PORT}-x.localhost:{port}"):
        status, body = get(port, "/_stcore/health", host=host)
        assert status == 404 and body != b"ok", host
