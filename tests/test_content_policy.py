"""The content policy of every response, and the frame that holds untrusted HTML (the browser test proves both)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from components.frames import HOLDER_POLICY, SANDBOX, sandboxed_html
from core.web.content_policy import FILE_POLICY, PAGE_POLICY, ContentPolicy, policy_for


@pytest.mark.parametrize(
    ("path", "base", "policy"),
    [
        ("/", "", PAGE_POLICY),
        ("/settings", "", PAGE_POLICY),
        ("/_stcore/stream", "", PAGE_POLICY),
        ("/download/abc", "", FILE_POLICY),
        ("/media/abc.png", "", FILE_POLICY),
        ("/app/download/abc", "app", FILE_POLICY),
        ("/app/media/abc.png", "/app/", FILE_POLICY),
        ("/app/", "app", PAGE_POLICY),
        ("/downloads", "", PAGE_POLICY),
    ],
)
def test_files_sent_for_saving_get_the_strict_policy_and_everything_else_the_page_policy(
    path: str, base: str, policy: str
) -> None:
    assert policy_for(path, base) == policy


def test_the_page_policy_loads_nothing_from_elsewhere() -> None:
    directives = dict(directive.split(" ", 1) for directive in PAGE_POLICY.split("; "))
    for name in ("default-src", "img-src", "media-src", "font-src", "connect-src", "frame-src", "worker-src"):
        assert directives[name].split()[0] == "'self'", name
        assert set(directives[name].split()) <= {"'self'", "data:", "blob:"}, name
    assert directives["object-src"] == "'none'"


def _page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("page", headers={"Content-Security-Policy": "img-src *"})


def test_the_middleware_sets_the_policy_on_every_response_and_replaces_one_a_route_set() -> None:
    routes = [Route("/", _page), Route("/app/download/{token}", _page)]
    client = TestClient(ContentPolicy(Starlette(routes=routes), base_url_path="app"))

    page, file, missing = client.get("/"), client.get("/app/download/x"), client.get("/nowhere")

    assert page.headers.get_list("content-security-policy") == [PAGE_POLICY]
    assert file.headers.get_list("content-security-policy") == [FILE_POLICY]
    assert missing.status_code == 404 and missing.headers["content-security-policy"] == PAGE_POLICY


def test_an_html_output_is_held_in_a_frame_that_may_not_navigate_or_open_windows() -> None:
    held = sandboxed_html("<p>hi</p>")

    assert f'<meta http-equiv="Content-Security-Policy" content="{HOLDER_POLICY}">' in held
    assert HOLDER_POLICY == "frame-src 'none'"
    assert f'<iframe sandbox="{SANDBOX}"' in held
    assert set(SANDBOX.split()) == {"allow-scripts", "allow-downloads"}  # no popups, forms, same origin, top
