"""Building the Strands model of a choice (no network call), its label, and how to configure each provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from botocore.exceptions import BotoCoreError
from strands.models import Model
from strands.models.bedrock import DEFAULT_BEDROCK_MODEL_ID

from core.errors import ModelConfigError
from core.models.choice import (
    DEFAULT_ANTHROPIC_MODEL_ID,
    DEFAULT_OLLAMA_HOST,
    LABELS,
    PROVIDERS,
    ModelChoice,
    resolve_provider,
    short_model_name,
)
from core.models.providers import adjusted, openai_model_class
from core.models.scripted import LABEL, ScriptedModel, load_script

_PACKAGES = {"openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}


def _require(value: str, what: str, variable: str) -> None:
    if not value:
        raise ModelConfigError(f"{what}: set {variable} or fill it in on the Settings page.")


def _extra_body(choice: ModelChoice) -> dict[str, Any]:
    if not choice.extra_body.strip():
        return {}
    try:
        extra = json.loads(choice.extra_body)
    except ValueError as error:
        raise ModelConfigError(f"The extra request body fields are not valid JSON: {error}") from error
    if not isinstance(extra, dict):
        raise ModelConfigError('The extra request body fields must be a JSON object, e.g. {"top_k": 20}.')
    return extra


def _sampling(choice: ModelChoice, max_tokens_name: str = "max_tokens") -> dict[str, Any]:
    """``max_tokens`` (unless 0: the server's default) and ``temperature`` (unless unset)."""
    options: dict[str, Any] = {max_tokens_name: choice.max_tokens} if choice.max_tokens else {}
    if choice.temperature is not None:
        options["temperature"] = choice.temperature
    return options


def _bedrock(choice: ModelChoice) -> Model:
    from strands.models.bedrock import BedrockModel

    model_class = adjusted(BedrockModel)
    return cast(
        Model,
        model_class(
            model_id=choice.model_id or DEFAULT_BEDROCK_MODEL_ID,
            region_name=choice.region or None,
            **_sampling(replace(choice, max_tokens=choice.max_tokens or 4096)),
        ),
    )


def _openai(choice: ModelChoice) -> Model:
    _require(choice.base_url, "The OpenAI-compatible provider needs a base URL", "INTERPRETER_OPENAI_BASE_URL")
    _require(choice.model_id, "The OpenAI-compatible provider needs a model id", "INTERPRETER_MODEL_ID")
    return cast(
        Model,
        openai_model_class()(
            client_args={"base_url": choice.base_url, "api_key": choice.api_key or "not-needed"},
            model_id=choice.model_id,
            params=_sampling(choice),
            tool_choice=choice.tool_choice,
            extra_body=_extra_body(choice),
        ),
    )


def _anthropic(choice: ModelChoice) -> Model:
    _require(choice.api_key, "The Anthropic provider needs an API key", "INTERPRETER_ANTHROPIC_API_KEY")
    from strands.models.anthropic import AnthropicModel

    temperature = {"temperature": choice.temperature} if choice.temperature is not None else {}
    return cast(
        Model,
        adjusted(AnthropicModel)(
            client_args={"api_key": choice.api_key},
            model_id=choice.model_id or DEFAULT_ANTHROPIC_MODEL_ID,
            max_tokens=choice.max_tokens or 4096,
            params=temperature,
        ),
    )


def _ollama(choice: ModelChoice) -> Model:
    _require(choice.model_id, "The Ollama provider needs a model id (e.g. llama3.1)", "INTERPRETER_MODEL_ID")
    from strands.models.ollama import OllamaModel

    return cast(
        Model,
        adjusted(OllamaModel)(choice.host or DEFAULT_OLLAMA_HOST, model_id=choice.model_id, **_sampling(choice)),
    )


def _scripted(choice: ModelChoice) -> Model:
    _require(choice.script_file, "The scripted model needs a script file", "INTERPRETER_SCRIPTED_MODEL_FILE")
    try:
        return ScriptedModel(load_script(Path(choice.script_file)))
    except (OSError, ValueError) as error:
        raise ModelConfigError(f"The scripted model's script cannot be used: {error}") from error


_BUILDERS: dict[str, Callable[[ModelChoice], Model]] = {
    "bedrock": _bedrock,
    "openai": _openai,
    "anthropic": _anthropic,
    "ollama": _ollama,
    "scripted": _scripted,
}


def build_model(choice: ModelChoice) -> Model | None:
    """Build the Strands model of a choice, without any network call; None for "none" (or "auto" without AWS).

    Raises:
        ModelConfigError: A required setting or the provider's package is missing; the message says what to do.

    """
    provider = resolve_provider(choice)
    if provider == "none":
        return None
    if provider not in _BUILDERS:
        raise ModelConfigError(
            f"Unknown model provider {provider!r}: set INTERPRETER_MODEL_PROVIDER to one of {PROVIDERS}."
        )
    try:
        return _BUILDERS[provider](choice)
    except ImportError as error:
        package = _PACKAGES.get(provider, getattr(error, "name", None) or "?")
        raise ModelConfigError(
            f"The {LABELS[provider]} provider needs the '{package}' package: .venv/bin/pip install -e '.[{package}]'"
        ) from error
    except BotoCoreError as error:
        raise ModelConfigError(f"Amazon Bedrock cannot be set up: {error}") from error


def describe_choice(choice: ModelChoice) -> str:
    """A short label for the UI, e.g. "Amazon Bedrock · global.anthropic.claude-sonnet-4-6"."""
    provider = resolve_provider(choice)
    suffix = " (chosen automatically)" if choice.provider == "auto" else ""
    if provider == "bedrock":
        region = f" in {choice.region}" if choice.region else ""
        return f"Amazon Bedrock · {choice.model_id or DEFAULT_BEDROCK_MODEL_ID}{region}{suffix}"
    if provider == "openai":
        model = short_model_name(choice.model_id) or "(no model id)"
        return f"OpenAI-compatible · {model} at {choice.base_url or '(no base URL)'}"
    if provider == "anthropic":
        return f"Anthropic · {choice.model_id or DEFAULT_ANTHROPIC_MODEL_ID}"
    if provider == "ollama":
        return f"Ollama · {choice.model_id or '(no model id)'} at {choice.host or DEFAULT_OLLAMA_HOST}"
    if provider == "scripted":
        return f"{LABEL} ({Path(choice.script_file).name if choice.script_file else 'no script file'})"
    if provider == "none" and choice.provider == "auto":
        return "No model: no AWS credentials were found"
    return LABELS.get(provider, provider)


def how_to_configure() -> str:
    """Markdown telling a person how to configure each provider; shown when no model is configured."""
    return """No language model is configured, so the chat cannot answer yet. Choose one on the **Settings** page, or
set environment variables (or lines in `.env`) and restart the app:

- **Amazon Bedrock**: `INTERPRETER_MODEL_PROVIDER=bedrock` (or leave it `auto`) with AWS credentials
  (`AWS_PROFILE`, or `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`); optionally `INTERPRETER_AWS_REGION` and
  `INTERPRETER_MODEL_ID` (default `global.anthropic.claude-sonnet-4-6`). Enable model access in the Bedrock console.
- **OpenAI-compatible** (OpenAI, vLLM, LM Studio, llama.cpp server...): `INTERPRETER_MODEL_PROVIDER=openai`,
  `INTERPRETER_OPENAI_BASE_URL` (e.g. `http://localhost:8000/v1`), `INTERPRETER_MODEL_ID` and, if the endpoint
  wants one, `INTERPRETER_OPENAI_API_KEY`. Needs `.venv/bin/pip install -e '.[openai]'`.
- **Anthropic**: `INTERPRETER_MODEL_PROVIDER=anthropic`, `INTERPRETER_ANTHROPIC_API_KEY`, optionally
  `INTERPRETER_MODEL_ID` (default `claude-sonnet-4-6`). Needs `.venv/bin/pip install -e '.[anthropic]'`.
- **Ollama**: `INTERPRETER_MODEL_PROVIDER=ollama`, `INTERPRETER_MODEL_ID` (e.g. `llama3.1`, pulled with
  `ollama pull`), optionally `INTERPRETER_OLLAMA_HOST` (default `http://localhost:11434`).
  Needs `.venv/bin/pip install -e '.[ollama]'`.
- **Scripted model** (tests and demos, not a language model): `INTERPRETER_MODEL_PROVIDER=scripted` and
  `INTERPRETER_SCRIPTED_MODEL_FILE` pointing to a JSON list of steps.

`INTERPRETER_MODEL_MAX_TOKENS` (default 4096; 0 leaves it to an OpenAI-compatible or Ollama server) caps one
answer, `INTERPRETER_MODEL_TEMPERATURE` sets the temperature, `INTERPRETER_MODEL_TOOL_CHOICE` (default `auto`) and
`INTERPRETER_OPENAI_EXTRA_BODY` (a JSON object, e.g. `{"top_k": 20}`) tune OpenAI-compatible requests, and
`INTERPRETER_MAX_TOOL_CALLS_PER_TURN` (default 25) ends a turn that calls tools without end.
"""
