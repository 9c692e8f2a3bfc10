"""The content policy of every response: the browser loads nothing from anywhere but the app itself.

Code in a sandbox without a network, or a prompt-injected answer, needs only a URL that the viewer's browser
loads to carry data out: an image, a font, a request, a frame that navigates itself. The app's pages therefore
say, in a ``Content-Security-Policy`` header, that images, media, fonts, connections, frames and workers come
from the app itself only (plus ``data:`` and ``blob:`` URLs, which fetch nothing). Frames made from HTML text
(``srcdoc``, how outputs and ``st.html`` are shown) inherit this policy, and Chromium checks a frame's every
navigation, the ones it starts itself too, against its parent's ``frame-src``.

What Streamlit 1.67's own page needs: one inline script in its ``index.html``, inline styles (its CSS-in-JS),
its WebSocket on the same host (``'self'`` covers ``ws:``/``wss:``), fonts and images from its own ``static/`` and
``data:`` URLs, and workers from ``blob:`` URLs (its GraphViz chart makes one). In Chromium, the chat with a table,
Markdown with math and icons, an HTML output's inline script, a Plotly chart, JSON and a picture, and the
Settings page, report no violation of this policy; nothing needs ``eval``. HTML outputs keep their inline scripts
(they run in sandboxed frames with a stricter policy of their own). Plotly's geographic maps fetch their outlines
from ``cdn.plot.ly`` and map tiles from their providers: under this policy they stay empty.

Files the app sends to be saved (``/download/…``, Streamlit's ``/media/…``) get a policy that lets nothing run or
load, should a browser ever show one: ``default-src 'none'; sandbox``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)
"""The policy of the app's pages and of everything else it answers."""
FILE_POLICY = "default-src 'none'; sandbox"
"""The policy of files sent for saving: nothing in them may run or load."""
FILE_ROUTES = ("/download/", "/media/")
_HEADER = b"content-security-policy"


def policy_for(path: str, base_url_path: str = "") -> str:
    """The content policy of the response to a request for ``path``.

    Args:
        path: The request's path.
        base_url_path: The server's base path (``server.baseUrlPath``), without slashes at its ends.

    Returns:
        :data:`FILE_POLICY` for the file routes, else :data:`PAGE_POLICY`.

    """
    base = f"/{base_url_path.strip('/')}" if base_url_path.strip("/") else ""
    inside = path[len(base) :] if path.startswith(base + "/") else path
    return FILE_POLICY if inside.startswith(FILE_ROUTES) else PAGE_POLICY


class ContentPolicy:
    """ASGI middleware: every HTTP response carries the content policy its path gets (see :func:`policy_for`).

    A policy some route set itself is replaced: there is one policy, and this module holds it.

    Args:
        app: The application to wrap.
        base_url_path: The server's base path (``server.baseUrlPath``).

    """

    def __init__(self, app: ASGIApp, base_url_path: str = "") -> None:
        self.app = app
        self.base_url_path = base_url_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the policy to the response's headers as they are sent."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope.get("path", ""), self.base_url_path).encode("latin-1")

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(key, value) for key, value in message.get("headers", []) if key.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, policy)]}
            await send(message)

        await self.app(scope, receive, send_with_policy)
