"""Open preview on the chat page, with a login: offered to the conversation's owner, under their id, only.

The whole app (``app.py``) runs in ``AppTest`` with a login; alice's code starts a web server in her sandbox; her
side panel offers Open preview with a link whose token belongs to her and her conversation; bob, logged in to the
same server, sees no preview, and the app's route turns his login away from alice's link (the route reads the
login cookie the way downloads do; here the test's requester names the person).
"""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from core.sandbox.local.isolation import bubblewrap_works
from core.web.preview_proxy import NOT_YOURS
from core.web.previews import PREVIEWS
from tests.conftest import link_button, send, wait_for
from tests.prerequisites import requires
from tests.test_app_preview import request, serving
from tests.test_multi_user import ALICE_ID, BOB_ID

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")
PORT = 8781
SERVE = f"server = subprocess.Popen([sys.executable, '-m', 'http.server', '{PORT}'])"
START = f"```python\nimport subprocess, sys\n{SERVE}\n```"
LABEL = f"Open preview · port {PORT}"


def _labels(app: AppTest) -> list[str]:
    return [node.proto.label for node in app.get("link_button")]


def test_only_the_owner_is_offered_her_preview(make_login_app: Callable[..., AppTest]) -> None:
    alice = make_login_app("alice").run()
    send(alice, START)
    # The side panel's fragment redraws by itself in a browser; here the page reruns.
    wait_for(lambda: LABEL in _labels(alice.run()), "Open preview in alice's side panel", 60)
    url = link_button(alice, LABEL).url
    token = url.split("/")[2]
    target = PREVIEWS.find(token)
    assert url == f"/preview/{token}/{PORT}"
    assert target is not None and (target.owner, target.conversation) == (ALICE_ID, alice.query_params["c"])

    bob = make_login_app("bob").run()
    assert not [label for label in _labels(bob) if label.startswith("Open preview")]

    people = {"alice": ALICE_ID, "bob": BOB_ID}
    with serving(PREVIEWS, requester=lambda cookies: people.get(cookies.get("who", ""))) as port:
        status, _, body = request(port, url, cookie="who=bob")
        assert status == 403 and body.decode() == NOT_YOURS
        assert request(port, url, cookie="who=alice")[0] == 303
