"""Optional login with Streamlit's ``st.login`` (OIDC, configured in ``.streamlit/secrets.toml``).

Without an ``[auth]`` section the app is single-user: everything belongs to the user ``local``. With one, a
person must log in, and their conversations, sandboxes and workspaces are kept under an id derived from their
identity provider's subject, so nobody can list, read, download or resume another person's data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.auth_util import get_cookie_with_chunks
from streamlit.web.server.server_util import get_cookie_secret
from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

from core.config import Settings
from core.web.model_access import is_admin
from core.web.web_guard import exposure_warning

LOCAL_USER = "local"


def login_configured() -> bool:
    """Whether ``secrets.toml`` configures a login (an ``[auth]`` section)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all, or one that cannot be parsed: no login
        return False


def user_id_for(issuer: str, subject: str) -> str:
    """A stable, path-safe id for a person: their provider's issuer and subject, hashed."""
    return "u-" + hashlib.sha256(f"{issuer}|{subject}".encode()).hexdigest()[:32]


def _user_id_of(identity: Mapping[str, Any]) -> str:
    """The id of the person a login's identity claims name (their provider's issuer and subject)."""
    subject = str(identity.get("sub") or identity.get("email") or "")
    if not subject:
        raise PermissionError("The identity provider gave no subject or email for this login.")
    return user_id_for(str(identity.get("iss") or ""), subject)


def current_user_id() -> str:
    """The id everything of this browser session is stored under (``local`` without login)."""
    if not login_configured():
        return LOCAL_USER
    if not st.user.get("is_logged_in", False):
        raise PermissionError("Not logged in.")
    return _user_id_of(st.user)


def _login_cookie(cookies: Mapping[str, str]) -> dict[str, Any]:
    """The identity in a request's ``st.login`` cookie, checked as Streamlit checks it; empty when absent or forged.

    ``st.login`` keeps the identity in the cookie ``_streamlit_user`` (split into chunks when long), signed with
    the ``cookie_secret`` of ``[auth]``; Streamlit's WebSocket reads it the same way.
    """
    secret = get_cookie_secret()

    def verified(name: str) -> bytes | None:
        value = cookies.get(name)
        return None if value is None else decode_signed_value(secret, name, value.encode("latin-1"))

    try:
        payload = json.loads(get_cookie_with_chunks(verified, USER_COOKIE_NAME) or b"{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def requester_id(cookies: Mapping[str, str]) -> str | None:
    """Who sends an HTTP request to the app's own routes, from its cookies (a :data:`core.files.downloads.Requester`).

    Returns:
        ``local`` without a login; with one, the id of the person logged in with this browser, or None when
        nobody is (no cookie, logged out, or a cookie not signed with this app's secret).

    """
    if not login_configured():
        return LOCAL_USER
    identity = _login_cookie(cookies)
    if not identity.get("is_logged_in"):
        return None
    try:
        return _user_id_of(identity)
    except PermissionError:
        return None


def may_change_model(settings: Settings) -> bool:
    """Whether this person may change the model: anyone without login, only admins with one."""
    if not login_configured():
        return True
    if not st.user.get("is_logged_in", False):
        return False
    return is_admin({"email": st.user.get("email"), "email_verified": st.user.get("email_verified")}, settings)


def render_login_gate() -> bool:
    """Ask for a login when one is configured and missing; returns whether the app may be shown."""
    if not login_configured() or st.user.get("is_logged_in", False):
        return True
    st.title("Code interpreter")
    st.write("Log in to see your conversations.")
    st.button("Log in", type="primary", on_click=st.login, icon=":material/login:")
    return False


def render_account() -> None:
    """Who is logged in, with a logout button (nothing without login)."""
    if login_configured() and st.user.get("is_logged_in", False):
        st.caption(f"Logged in as {st.user.get('email') or st.user.get('name') or 'you'}")
        st.button("Log out", on_click=st.logout, icon=":material/logout:", key="logout")


def server_address() -> str:
    """The address the server listens on (Streamlit's ``server.address``; empty: every interface)."""
    return str(st.get_option("server.address") or "")


def render_exposure_warning() -> None:
    """Warn that the app is public while other machines reach it (its address, a proxied name) without a login."""
    warning = exposure_warning(server_address(), login_configured(), Settings().allowed_hosts)
    if warning:
        st.warning(warning, icon=":material/public:")
