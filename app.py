"""The app: the server that ``streamlit run app.py`` starts, and the frame every page runs in.

``streamlit run`` finds ``app`` below (an ``st.App``) and serves it with the guards of the web layer, set up
before anybody is answered: stored data is made private (umask 077, ``data_dir`` 0700), the server refuses to
listen beyond this machine without a login unless ``INTERPRETER_ALLOW_ANONYMOUS`` allows it, and only allowed host
names are answered, over HTTP and the WebSocket (:mod:`core.web.web_guard`; against DNS rebinding). One route is
added to Streamlit's: ``/download/<token>``, which streams large downloads from disk (:mod:`core.files.downloads`).

Each browser session then runs this file as its main script (``__name__ == "__main__"``, as in ``AppTest``): the
page set-up, the optional login gate, and navigation over the pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
import sys
import threading
from collections.abc import AsyncIterator

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

import components
from components.auth import (
    login_configured,
    render_account,
    render_exposure_warning,
    render_login_gate,
    requester_id,
    server_address,
)
from core.config import Settings
from core.files.downloads import download_route
from core.sandbox.local.isolation import isolation_refusal, note_login_configured
from core.sandbox.local.pool import pool_for
from core.sandbox.local.r_install import r_missing
from core.session import close_all_sessions
from core.web.content_policy import ContentPolicy
from core.web.preview_proxy import PreviewProxy, preview_route
from core.web.privacy import make_data_private
from core.web.web_guard import HostGuard, startup_refusal


def guarded_middleware() -> list[Middleware]:
    """Prepare the server: private data, the start-up refusal (the process exits), and the host-name guard."""
    settings = Settings()
    make_data_private(settings)
    login = login_configured()
    note_login_configured(login)
    refusal = startup_refusal(
        server_address(), login, settings.allow_anonymous, settings.allowed_hosts
    ) or isolation_refusal(settings, login=login)
    if refusal:
        print(refusal, file=sys.stderr)
        raise SystemExit(2)
    warm_up(settings)
    return [
        Middleware(ContentPolicy, base_url_path=st.get_option("server.baseUrlPath")),
        # Preview hosts (PORT-TOKEN.localhost): the proxy answers them, and only them, of that domain.
        Middleware(
            HostGuard,
            allowed=[*settings.allowed_hosts, f"*.{settings.preview_domain}"],
            local_only=not (login or settings.allow_anonymous),  # then a request from elsewhere is refused
        ),
        Middleware(PreviewProxy, domain=settings.preview_domain),
    ]


def warm_up(settings: Settings) -> None:
    """Do before the first visit what it would otherwise wait for: imports, the kernel pool, whether R runs.

    The imports (Strands, pandas, Plotly: about a second on 2 cores) happen here, before the server answers; the
    pool's kernels start in the background.
    """
    if settings.sandbox_backend == "local":  # its kernels start while the modules are imported
        threading.Thread(target=pool_for, args=(settings,), name="kernel-pool-start", daemon=True).start()
        threading.Thread(target=r_missing, name="r-probe", daemon=True).start()  # the tools say whether R runs
    for module in pkgutil.iter_modules(components.__path__):
        importlib.import_module(f"components.{module.name}")
    importlib.import_module("streamlit.emojis")  # read when the page icon is set, the first time


def server_routes() -> list[BaseRoute]:
    """The routes the app adds to Streamlit's: large downloads (``/download/…``) and live previews (``/preview/…``).

    Downloads are written to disk and streamed; a preview link goes to the preview's own host. Both answer only
    the person they were offered to (their login cookie, :func:`requester_id`).
    """
    settings = Settings()
    route = download_route(
        settings.data_dir / "downloads",
        st.get_option("server.baseUrlPath"),
        requester=requester_id,
        disk_bytes=settings.download_disk_mb * 1024 * 1024,
    )
    preview = preview_route(st.get_option("server.baseUrlPath"), requester=requester_id, domain=settings.preview_domain)
    return [route, preview]


@contextlib.asynccontextmanager
async def save_at_shutdown(_app: object) -> AsyncIterator[None]:
    """When the server stops (Ctrl+C, SIGTERM), close every session first: their Python variables are saved.

    The server re-raises the stopping signal after its shutdown, so exit handlers do not run.
    """
    yield
    await asyncio.to_thread(close_all_sessions)


# The side panel's width in pixels on every page: a file's name, its size and four icon buttons fit on a row. It
# can be dragged wider; on a narrow screen it folds away (Streamlit's "auto" state). The style holds it on every
# page: Streamlit applies a page's initial width only to the page first opened (Settings had its default 300 px).
# (Comments, not docstrings: Streamlit shows a bare string of the main script on the page.)
SIDEBAR_WIDTH = 400
SIDEBAR_STYLE = f"""<style>@media (min-width: 1000px) {{
  [data-testid="stSidebar"][data-collapsed="false"] {{ min-width: {SIDEBAR_WIDTH}px !important; }}
}}</style>"""


def frame() -> None:
    """The frame of every page: set-up, login gate, the exposure warning, navigation."""
    st.set_page_config(
        page_title="Code interpreter", page_icon="🧪", layout="wide", initial_sidebar_state=SIDEBAR_WIDTH
    )
    if not render_login_gate():
        st.stop()
    pages = [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]
    navigation = st.navigation(pages)
    with st.sidebar:
        st.html(SIDEBAR_STYLE)
        render_exposure_warning()
        render_account()
    navigation.run()


if __name__ == "__main__":
    frame()
else:  # imported by the server that `streamlit run app.py` starts
    app = st.App(__file__, routes=server_routes(), middleware=guarded_middleware(), lifespan=save_at_shutdown)
