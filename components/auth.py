"""Optional login with Streamlit's ``st.login`` (OIDC, configured in ``.streamlit/secrets.toml``).

Without an ``[auth]`` section the app is single-user: everything belongs to the user ``local``. With one, a
person must log in, and their conversations, sandboxes and workspaces are kept under an id derived from their
identity provider's subject, so nobody can list, read, download or resume another person's data.
"""

from __future__ import annotations

import hashlib

import streamlit as st

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


def current_user_id() -> str:
    """The id everything of this browser session is stored under (``local`` without login)."""
    if not login_configured():
        return LOCAL_USER
    if not st.user.get("is_logged_in", False):
        raise PermissionError("Not logged in.")
    subject = str(st.user.get("sub") or st.user.get("email") or "")
    if not subject:
        raise PermissionError("The identity provider gave no subject or email for this login.")
    return user_id_for(str(st.user.get("iss") or ""), subject)


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
