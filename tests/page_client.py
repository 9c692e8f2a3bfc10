"""A browser's part of Streamlit's protocol, enough to run the app's page once on a real server and read it.

The page runs as it would for a browser tab: the WebSocket carries the cookies (a login made with ``st.login``
is a signed ``_streamlit_user`` cookie), the XSRF token and the ``Origin``; one ``rerun_script`` message asks for
the page, and the elements arrive as protobuf ``ForwardMsg`` deltas until the run has finished.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.web.server.starlette.starlette_app_utils import create_signed_value, generate_xsrf_token_string
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME, XSRF_COOKIE_NAME
from websockets.sync.client import connect


def login_cookie(secret: str, origin: str, **claims: Any) -> dict[str, str]:
    """The cookie ``st.login`` leaves after a login with these identity claims (signed with ``cookie_secret``)."""
    payload = dict(claims, origin=origin, is_logged_in=True, provider="default")
    return {USER_COOKIE_NAME: create_signed_value(secret, USER_COOKIE_NAME, json.dumps(payload)).decode()}


def cookie_header(cookies: dict[str, str]) -> str:
    """A ``Cookie`` request header carrying ``cookies``."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def run_page(port: int, cookies: dict[str, str] | None = None, timeout: float = 60) -> list[Any]:
    """Run the app's default page once for a tab with ``cookies``; the elements it drew (protobuf ``Element``)."""
    origin = f"http://127.0.0.1:{port}"
    xsrf = generate_xsrf_token_string()
    header = cookie_header({**(cookies or {}), XSRF_COOKIE_NAME: xsrf})
    elements: list[Any] = []
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock,
        connect(
            f"ws://127.0.0.1:{port}/_stcore/stream",
            sock=sock,
            subprotocols=["streamlit", xsrf],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": header},
            open_timeout=timeout,
        ) as ws,
    ):
        request = BackMsg()
        request.rerun_script.query_string = ""
        ws.send(request.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=timeout))
            if message.WhichOneof("type") == "script_finished":
                return elements
            if message.WhichOneof("type") == "delta" and message.delta.WhichOneof("type") == "new_element":
                elements.append(message.delta.new_element)


def texts(elements: list[Any]) -> list[str]:
    """The text of the page's Markdown, captions and alerts (warnings, errors, notes)."""
    found = []
    for element in elements:
        kind = element.WhichOneof("type")
        if kind in ("markdown", "alert"):
            found.append(getattr(element, kind).body)
    return found


def link_urls(elements: list[Any], label: str) -> list[str]:
    """The addresses of the link buttons labelled ``label``."""
    return [
        e.link_button.url for e in elements if e.WhichOneof("type") == "link_button" and e.link_button.label == label
    ]
