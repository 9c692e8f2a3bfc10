"""Settings: choose the language model that answers in the chat (saved to ``<data_dir>/model.json``)."""

from __future__ import annotations

import streamlit as st

from components.state import app_settings
from core.errors import ModelConfigError
from core.models import (
    DEFAULT_ANTHROPIC_MODEL_ID,
    DEFAULT_BEDROCK_MODEL_ID,
    DEFAULT_OLLAMA_HOST,
    LABELS,
    PROVIDERS,
    ModelChoice,
    build_model,
    describe_choice,
    effective_choice,
    forget_choice,
    how_to_configure,
    load_saved_choice,
    save_choice,
)

settings = app_settings()
current = effective_choice(settings)

st.title("Settings")
st.subheader("Model")
current_box = st.container()

provider: str = st.selectbox(
    "Provider",
    list(PROVIDERS),
    index=PROVIDERS.index(current.provider),
    format_func=lambda name: LABELS.get(name, name),
)
defaults = current if provider == current.provider else ModelChoice.from_settings(settings, provider=provider)
values = defaults.to_dict()

if provider in ("auto", "bedrock"):
    values["model_id"] = st.text_input(
        "Model id", defaults.model_id, placeholder=DEFAULT_BEDROCK_MODEL_ID, key=f"{provider}_model_id"
    )
    values["region"] = st.text_input(
        "AWS region", defaults.region, placeholder="from the AWS configuration", key=f"{provider}_region"
    )
    st.caption("AWS credentials come from the usual AWS sources (AWS_PROFILE, access keys, SSO), not from this page.")
if provider == "openai":
    values["base_url"] = st.text_input(
        "Base URL", defaults.base_url, placeholder="http://localhost:8000/v1", key="openai_base_url"
    )
    values["model_id"] = st.text_input("Model id", defaults.model_id, placeholder="llama3.1", key="openai_model_id")
if provider == "anthropic":
    values["model_id"] = st.text_input(
        "Model id", defaults.model_id, placeholder=DEFAULT_ANTHROPIC_MODEL_ID, key="anthropic_model_id"
    )
if provider in ("openai", "anthropic"):
    typed_key = st.text_input(
        "API key",
        type="password",
        key=f"{provider}_api_key",
        help="Leave empty to keep the current key." if defaults.api_key else "Saved readable by the app's user only.",
        placeholder="(unchanged)" if defaults.api_key else "",
    )
    values["api_key"] = typed_key or defaults.api_key
if provider == "ollama":
    values["host"] = st.text_input("Ollama host", defaults.host or DEFAULT_OLLAMA_HOST, key="ollama_host")
    values["model_id"] = st.text_input("Model id", defaults.model_id, placeholder="llama3.1", key="ollama_model_id")
if provider == "scripted":
    st.caption(f"A {LABELS['scripted']} replays a JSON script of tool calls and texts: it is not a language model.")
    values["script_file"] = st.text_input("Script file", defaults.script_file, key="scripted_script_file")
if provider == "none":
    st.caption("Without a model the chat cannot answer; code can still be run directly in the sandbox.")
if provider not in ("none", "scripted"):
    values["max_tokens"] = int(
        st.number_input(
            "Most tokens in one answer",
            min_value=256,
            value=defaults.max_tokens,
            step=256,
            key=f"{provider}_max_tokens",
        )
    )

save_column, reset_column = st.columns(2)
if save_column.button("Save", type="primary"):
    choice = ModelChoice.from_dict({**values, "provider": provider, "api_key": values.get("api_key", "")})
    try:
        build_model(choice)
    except ModelConfigError as error:
        st.error(str(error))
    else:
        save_choice(settings, choice)
        st.session_state["model_changed"] = True
        current = choice
        st.success(f"Saved. The chat now uses: {describe_choice(choice)}")
if reset_column.button("Reset to environment settings"):
    if forget_choice(settings):
        st.session_state["model_changed"] = True
    current = effective_choice(settings)
    st.success(f"Back to the environment settings: {describe_choice(current)}")

with current_box:
    st.markdown(f"**Current model:** {describe_choice(current)}")
    source = "saved on this page" if load_saved_choice(settings) else "from the environment settings (INTERPRETER_*)"
    st.caption(f"This choice is {source}.")

with st.expander("How to configure each provider"):
    st.markdown(how_to_configure())
