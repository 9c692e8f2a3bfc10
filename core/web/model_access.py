"""Who may change the model, and where a stored API key may go.

A key typed on the Settings page is bound to the provider and endpoint it was typed for: a later change of the
provider or of the endpoint (the OpenAI-compatible base URL) drops the key unless it is typed again, so nobody can
send the operator's key to an address of their own by editing the URL. Only an admin may keep a key explicitly
across such a change. With a login, admins are the people listed in ``INTERPRETER_ADMIN_EMAILS`` whose provider
says their e-mail is verified; everybody else sees the model read-only. Without a login there is one person, the one
at the keyboard of a loopback-only server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import Settings
from core.models import PROVIDERS, ModelChoice

KEY_PROVIDERS = ("openai", "anthropic")


def key_endpoint(choice: ModelChoice) -> tuple[str, str]:
    """Where a choice's API key is sent: its provider and, for the OpenAI-compatible one, the base URL.

    The Anthropic API has one fixed endpoint, so only the provider counts there.
    """
    if choice.provider == "openai":
        return choice.provider, choice.base_url.strip().rstrip("/")
    return choice.provider, ""


@dataclass(frozen=True)
class KeyDecision:
    """The key to save with a new choice, and whether a stored key was dropped because its endpoint changed."""

    api_key: str
    dropped: bool = False


def bind_api_key(source: ModelChoice, wanted: ModelChoice, typed_key: str, keep_key: bool = False) -> KeyDecision:
    """The API key a new choice may carry.

    Args:
        source: The choice whose key would be kept (the current one, or the environment's for that provider).
        wanted: The new choice (its provider and endpoint; its own ``api_key`` is ignored).
        typed_key: A key typed for the new choice; it always wins.
        keep_key: An admin's explicit wish to keep ``source``'s key for a new endpoint of the same provider.

    Returns:
        The key to save: the typed one; the stored one when the provider and endpoint are unchanged (or an admin
        keeps it); otherwise none, with ``dropped`` set when a stored key was left behind.

    """
    if wanted.provider not in KEY_PROVIDERS:
        return KeyDecision("")
    if typed_key:
        return KeyDecision(typed_key)
    if not source.api_key:
        return KeyDecision("")
    if key_endpoint(source) == key_endpoint(wanted):
        return KeyDecision(source.api_key)
    if keep_key and source.provider == wanted.provider:
        return KeyDecision(source.api_key)
    return KeyDecision("", dropped=True)


def is_admin(user: dict[str, Any], settings: Settings) -> bool:
    """Whether a logged-in person is an admin: their e-mail is listed and the provider says it is verified.

    Only an ``email_verified`` claim that is true counts (``"true"`` too, as some providers send it): where a
    provider leaves it out, people may have typed any address, an admin's included.
    """
    email = str(user.get("email") or "").strip().lower()
    listed = {address.strip().lower() for address in settings.admin_emails}
    verified = user.get("email_verified")
    return bool(email) and email in listed and (verified is True or str(verified).lower() == "true")


def page_providers(settings: Settings, current: ModelChoice) -> list[str]:
    """The providers the Settings page offers: the scripted model only when the environment names its script."""
    scripted = bool(settings.scripted_model_file) or current.provider == "scripted"
    return [name for name in PROVIDERS if name != "scripted" or scripted]
