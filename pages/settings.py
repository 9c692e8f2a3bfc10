"""Settings: choose the language model that answers in the chat (saved to ``<data_dir>/model.json``).

A stored API key stays bound to its provider and endpoint: changing either drops it unless it is typed again (an
admin may keep it explicitly). With a login, only admins (``INTERPRETER_ADMIN_EMAILS``) change the model; the
others see it read-only. The scripted model's script comes from the environment only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from components.auth import login_configured, may_change_model
from components.mcp_panel import render_mcp_servers
from components.state import app_settings
from core.config import Settings
from core.errors import ModelConfigError
from core.mcp.hub import hub_for
from core.models import (
    DEFAULT_ANTHROPIC_MODEL_ID,
    DEFAULT_BEDROCK_MODEL_ID,
    DEFAULT_OLLAMA_HOST,
    LABELS,
    PROVIDERS,
    TOOL_CHOICES,
    ModelChoice,
    build_model,
    describe_choice,
    effective_choice,
    forget_choice,
    how_to_configure,
    load_saved_choice,
    save_choice,
)
from core.models.check import CheckResult, check_choice
from core.models.choice import short_model_name
from core.text import escape_markdown
from core.web.model_access import bind_api_key, page_providers

UNCHECKED_KEY = "settings_save_unchecked"
CHECK_FAILED_KEY = "settings_check_failed"
USE_LISTED_KEY = "settings_use_listed"
RESET_KEY = "settings_reset"
FORM_KEY_PREFIXES = (*(f"{provider}_" for provider in PROVIDERS), "keep_api_key", "settings_")


def _model_fields(provider: str, defaults: ModelChoice, values: dict[str, Any], settings: Settings) -> None:
    """The inputs of one provider, written into ``values`` (everything but the API key)."""
    if provider in ("auto", "bedrock"):
        values["model_id"] = st.text_input(
            "Model id", defaults.model_id, placeholder=f"empty: {DEFAULT_BEDROCK_MODEL_ID}", key=f"{provider}_model_id"
        )
        values["region"] = st.text_input(
            "AWS region", defaults.region, placeholder="from the AWS configuration", key=f"{provider}_region"
        )
        st.caption("AWS credentials come from the usual AWS sources (AWS_PROFILE, access keys, SSO), not this page.")
    if provider == "openai":
        values["base_url"] = st.text_input(
            "Base URL", defaults.base_url, placeholder="required, e.g. http://localhost:8000/v1", key="openai_base_url"
        )
        values["model_id"] = st.text_input(
            "Model id", defaults.model_id, placeholder="required, e.g. llama3.1", key="openai_model_id"
        )
    if provider == "anthropic":
        values["model_id"] = st.text_input(
            "Model id", defaults.model_id, placeholder=f"empty: {DEFAULT_ANTHROPIC_MODEL_ID}", key="anthropic_model_id"
        )
    if provider == "ollama":
        values["host"] = st.text_input("Ollama host", defaults.host or DEFAULT_OLLAMA_HOST, key="ollama_host")
        values["model_id"] = st.text_input(
            "Model id", defaults.model_id, placeholder="required, e.g. llama3.1", key="ollama_model_id"
        )
    if provider == "scripted":
        values["script_file"] = str(settings.scripted_model_file or "")
        st.caption(f"A {LABELS['scripted']} replays a JSON script of tool calls and texts: it is not a language model.")
        st.caption("Its script is set by INTERPRETER_SCRIPTED_MODEL_FILE in the environment, not on this page.")
    if provider == "none":
        st.caption("Without a model the chat cannot answer; code can still be run directly in the sandbox.")
    if provider not in ("none", "scripted"):
        _request_options(provider, defaults, values)


def _request_options(provider: str, defaults: ModelChoice, values: dict[str, Any]) -> None:
    """Max tokens and temperature for every model; tool_choice and extra body fields for OpenAI-compatible ones."""
    server_default = provider in ("openai", "ollama")
    values["max_tokens"] = int(
        st.number_input(
            "Most tokens in one answer" + (" (0: the server's default)" if server_default else ""),
            min_value=0 if server_default else 256,
            value=defaults.max_tokens if server_default else max(defaults.max_tokens, 256),
            step=256,
            key=f"{provider}_max_tokens",
        )
    )
    temperature = st.number_input(
        "Temperature (empty: the model's default)",
        min_value=0.0,
        max_value=2.0,
        value=defaults.temperature,
        step=0.1,
        key=f"{provider}_temperature",
    )
    values["temperature"] = None if temperature is None else float(temperature)
    if provider == "openai":
        values["tool_choice"] = st.selectbox(
            "tool_choice",
            TOOL_CHOICES,
            index=TOOL_CHOICES.index(defaults.tool_choice) if defaults.tool_choice in TOOL_CHOICES else 0,
            format_func=lambda name: name or "(not sent)",
            key="openai_tool_choice",
            help="Some servers (llama-cpp-python) offer the model no tools unless this is sent.",
        )
        values["extra_body"] = st.text_area(
            "Extra request body fields (JSON object)",
            defaults.extra_body,
            placeholder='{"top_k": 20}',
            key="openai_extra_body",
        )


def _key_fields(provider: str, defaults: ModelChoice, may_keep: bool) -> tuple[str, bool]:
    """The API key input (never prefilled) and, for admins, "keep the stored key" for a new endpoint."""
    if provider not in ("openai", "anthropic"):
        return "", False
    stored = bool(defaults.api_key)
    typed = st.text_input(
        "API key",
        type="password",
        key=f"{provider}_api_key",
        help="Leave empty to keep the stored key for this same endpoint; a new endpoint needs the key again."
        if stored
        else "Saved readable by the app's user only.",
        placeholder="(unchanged)" if stored else "",
    )
    keep = False
    if may_keep and stored and provider == "openai":
        keep = st.checkbox(
            "Keep the stored key for a new base URL",
            key="keep_api_key",
            help="Admins only: the stored key will be sent to the new address.",
        )
    return typed, keep


def _save(
    settings: Settings, provider: str, values: dict[str, Any], defaults: ModelChoice, key: tuple[str, bool]
) -> ModelChoice | None:
    """Check and save the choice; returns the saved choice, or None when it was refused.

    ``key`` is the typed API key and whether an admin keeps the stored one; :func:`bind_api_key` decides.
    """
    wanted = ModelChoice.from_dict({**values, "provider": provider, "api_key": ""})
    decision = bind_api_key(defaults, wanted, *key)
    choice = replace(wanted, api_key=decision.api_key)
    if decision.dropped:
        st.warning("The stored API key was not kept: it belongs to another provider or endpoint. Enter it again.")
    if missing := missing_fields(choice):
        them = "them" if len(missing) > 1 else "it"
        st.error(f"Not saved: fill in the {' and the '.join(missing)}; the {LABELS[provider]} provider needs {them}.")
        return None
    try:
        build_model(choice)
    except ModelConfigError as error:
        st.error(escape_markdown(str(error)))
        return None
    with st.spinner("Trying the endpoint…"):
        check = check_choice(choice)
    unchecked = bool(st.session_state.get(UNCHECKED_KEY))
    if not check.ok and not unchecked:
        st.error(f"Not saved: {escape_markdown(check.problem)}")
        st.session_state[CHECK_FAILED_KEY] = list(check.listed) or True
        return None
    save_choice(settings, choice)
    st.session_state.pop(CHECK_FAILED_KEY, None)
    said = escape_markdown(check.checked if check.ok else _saved_unchecked(check))
    st.success(f"Saved. The chat now uses: {escape_markdown(describe_choice(choice))}. {said}".rstrip(". ") + ".")
    return choice


def _saved_unchecked(check: CheckResult) -> str:
    if check.listed:
        return "saved although the server does not list this model id: the first message will tell if it answers"
    return f"saved without a working check ({check.problem})"


def _offer_after_a_failed_check(provider: str) -> None:
    """After a failed check: the one model the server lists, and saving anyway in words that fit what failed."""
    failed = st.session_state.get(CHECK_FAILED_KEY)
    if not failed:
        return
    listed = failed if isinstance(failed, list) else []
    if provider == "openai" and len(listed) == 1:
        short = short_model_name(str(listed[0]))
        st.button(f"Use the model the server lists: {escape_markdown(short)}", key=USE_LISTED_KEY,
                  on_click=_use_listed_model, args=(short,))  # fmt: skip
    if listed:
        label = "Save anyway: the server answered, it just does not list this model id (some servers answer any id)"
    else:
        label = "Save even if the endpoint does not answer now"
    st.checkbox(label, key=UNCHECKED_KEY)


def _use_listed_model(model_id: str) -> None:
    """Put the listed model's id in the form (a callback: it runs before the form is drawn again)."""
    st.session_state["openai_model_id"] = model_id
    st.session_state.pop(CHECK_FAILED_KEY, None)


def missing_fields(choice: ModelChoice) -> list[str]:
    """The names of the fields a choice needs and lacks, as the form calls them."""
    needed = {
        "openai": [("Base URL", choice.base_url), ("Model id", choice.model_id)],
        "ollama": [("Model id", choice.model_id)],
        "anthropic": [("API key", choice.api_key)],
    }
    return [label for label, value in needed.get(choice.provider, []) if not value.strip()]


def _reset(settings: Settings) -> None:
    """The reset button's callback: forget the saved choice and the form's edits, so it shows the environment's."""
    forget_choice(settings)
    for name in [name for name in st.session_state if str(name).startswith(FORM_KEY_PREFIXES)]:
        del st.session_state[name]
    st.session_state[RESET_KEY] = True


def _editor(settings: Settings, current: ModelChoice) -> ModelChoice:
    """The form; returns the choice in force after this run (saved, reset, or unchanged)."""
    providers = page_providers(settings, current)
    provider: str = st.selectbox(
        "Provider",
        providers,
        index=providers.index(current.provider) if current.provider in providers else 0,
        format_func=lambda name: LABELS.get(name, name),
    )
    defaults = current if provider == current.provider else ModelChoice.from_settings(settings, provider=provider)
    values = defaults.to_dict()
    _model_fields(provider, defaults, values, settings)
    key = _key_fields(provider, defaults, may_keep=login_configured())
    save_column, reset_column = st.columns(2)
    if save_column.button("Save", type="primary"):
        current = _save(settings, provider, values, defaults, key) or current
    reset_column.button("Reset to environment settings", on_click=_reset, args=(settings,))
    if st.session_state.pop(RESET_KEY, False):
        st.success(f"Back to the environment settings: {escape_markdown(describe_choice(current))}")
    _offer_after_a_failed_check(provider)
    return current


settings = app_settings()
current = effective_choice(settings)

st.title("Settings")
st.subheader("Model")
current_box = st.container()
if may_change_model(settings):
    current = _editor(settings, current)
else:
    st.info("Only admins can change the model (INTERPRETER_ADMIN_EMAILS); it applies to everyone.")

with current_box:
    st.markdown(f"**Current model:** {escape_markdown(describe_choice(current))}")
    source = "saved on this page" if load_saved_choice(settings) else "from the environment settings (INTERPRETER_*)"
    st.caption(f"This choice is {source}.")

with st.expander("How to configure each provider"):
    st.markdown(how_to_configure())

st.subheader("MCP tools")
mcp_hub = hub_for(settings)
if mcp_hub is None:
    st.caption("No MCP servers are configured: an admin lists them in INTERPRETER_MCP_SERVERS (see docs/mcp.md).")
else:
    st.caption("The servers of INTERPRETER_MCP_SERVERS (set where the app starts); their tools join the agent's.")
    render_mcp_servers(mcp_hub)
