"""Which language model answers: the choice, where it is saved, building the Strands model, and plain-word errors.

The choice comes from the settings (``INTERPRETER_MODEL_*`` variables) unless one was saved from the Settings page
to ``<data_dir>/model.json``. Provider packages other than boto3 are optional and imported only when chosen.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError
from strands.models import Model
from strands.models.bedrock import DEFAULT_BEDROCK_MODEL_ID

from core.config import Settings
from core.errors import ModelConfigError
from core.scripted_model import LABEL, ScriptedModel, load_script

PROVIDERS = ("auto", "bedrock", "openai", "anthropic", "ollama", "scripted", "none")
LABELS = {
    "auto": "Automatic (Amazon Bedrock when AWS credentials are found)",
    "bedrock": "Amazon Bedrock",
    "openai": "OpenAI-compatible",
    "anthropic": "Anthropic",
    "ollama": "Ollama",
    "scripted": LABEL,
    "none": "No model",
}
DEFAULT_ANTHROPIC_MODEL_ID = "claude-sonnet-4-6"
DEFAULT_OLLAMA_HOST = "http://localhost:11434"
SAVED_FILE = "model.json"
_PACKAGES = {"openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}


@dataclass(frozen=True)
class ModelChoice:
    """Everything needed to build one model (fields as in :class:`~core.config.Settings`; unused ones ignored).

    ``provider`` is one of :data:`PROVIDERS`; an empty ``model_id`` means the provider's default; ``api_key`` (of
    the OpenAI-compatible endpoint or of Anthropic) is never in ``repr()`` nor in ``to_dict()`` by default.
    """

    provider: str = "auto"
    model_id: str = ""
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    region: str = ""
    host: str = ""
    script_file: str = ""
    max_tokens: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings, provider: str | None = None) -> ModelChoice:
        """The choice the settings describe; with ``provider``, the settings' values for that provider instead."""
        provider = provider or settings.model_provider
        keys = {"openai": settings.openai_api_key, "anthropic": settings.anthropic_api_key}
        return cls(
            provider=provider,
            model_id=settings.model_id,
            base_url=settings.openai_base_url,
            api_key=keys[provider].get_secret_value() if provider in keys else "",
            region=settings.aws_region,
            host=settings.ollama_host,
            script_file=str(settings.scripted_model_file or ""),
            max_tokens=settings.model_max_tokens,
        )

    def to_dict(self, include_secrets: bool = False) -> dict[str, Any]:
        """The choice as JSON-ready data; the API key only with ``include_secrets``."""
        data = asdict(self)
        if not include_secrets:
            data.pop("api_key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelChoice:
        """Read :meth:`to_dict`'s output (unknown keys ignored); ValueError when it is not a valid choice."""
        if not isinstance(data, dict):
            raise ValueError("model choice: not a JSON object")
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key, value in values.items():
            if not isinstance(value, int if key == "max_tokens" else str):
                raise ValueError(f"model choice: {key} has the wrong type")
        if values.get("provider", "auto") not in PROVIDERS:
            raise ValueError(f"model choice: unknown provider {values['provider']!r}")
        return cls(**values)


def saved_choice_path(settings: Settings) -> Path:
    """Where the choice made on the Settings page is saved."""
    return settings.data_dir / SAVED_FILE


def load_saved_choice(settings: Settings) -> ModelChoice | None:
    """The choice saved from the Settings page, or None when there is none or it cannot be read."""
    try:
        return ModelChoice.from_dict(json.loads(saved_choice_path(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_choice(settings: Settings, choice: ModelChoice) -> None:
    """Save a choice (with its API key) atomically, readable by the owner only (mode 0600)."""
    path = saved_choice_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".model-", suffix=".json")
    try:
        with os.fdopen(descriptor, "w") as stream:
            os.fchmod(stream.fileno(), 0o600)
            json.dump(choice.to_dict(include_secrets=True), stream, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def forget_choice(settings: Settings) -> bool:
    """Delete the saved choice, so the settings apply again. Returns whether there was one."""
    path = saved_choice_path(settings)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def effective_choice(settings: Settings) -> ModelChoice:
    """The saved choice when there is one, else the settings'.

    A scripted model's script always comes from the settings (``INTERPRETER_SCRIPTED_MODEL_FILE``), never from
    the saved file: the Settings page cannot point the server at a file of its choosing.
    """
    saved = load_saved_choice(settings)
    if saved is None:
        return ModelChoice.from_settings(settings)
    if saved.provider == "scripted":
        return replace(saved, script_file=str(settings.scripted_model_file or ""))
    return saved


def resolve_provider(choice: ModelChoice) -> str:
    """The provider that answers: "auto" becomes "bedrock" when AWS credentials are found, else "none".

    Only local sources are looked at (environment, AWS files, SSO caches, a container's credential variable): the
    EC2 instance metadata service is not asked, so this never makes a network call.
    """
    if choice.provider != "auto":
        return choice.provider
    if os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return "bedrock"
    try:
        session = boto3.Session()
        resolver = session._session.get_component("credential_provider")
        for remote in ("iam-role", "container-role"):
            resolver.remove(remote)
        found = session.get_credentials() is not None
    except (BotoCoreError, ValueError):
        found = False
    return "bedrock" if found else "none"


def _require(value: str, what: str, variable: str) -> None:
    if not value:
        raise ModelConfigError(f"{what}: set {variable} or fill it in on the Settings page.")


def build_model(choice: ModelChoice) -> Model | None:
    """Build the Strands model of a choice, without any network call; None for "none" (or "auto" without AWS).

    Raises:
        ModelConfigError: A required setting or the provider's package is missing; the message says what to do.

    """
    provider = resolve_provider(choice)
    try:
        if provider == "none":
            return None
        if provider == "bedrock":
            from strands.models.bedrock import BedrockModel

            return BedrockModel(
                model_id=choice.model_id or DEFAULT_BEDROCK_MODEL_ID,
                region_name=choice.region or None,
                max_tokens=choice.max_tokens,
            )
        if provider == "openai":
            _require(choice.base_url, "The OpenAI-compatible provider needs a base URL", "INTERPRETER_OPENAI_BASE_URL")
            _require(choice.model_id, "The OpenAI-compatible provider needs a model id", "INTERPRETER_MODEL_ID")
            from strands.models.openai import OpenAIModel

            return OpenAIModel(
                client_args={"base_url": choice.base_url, "api_key": choice.api_key or "not-needed"},
                model_id=choice.model_id,
                params={"max_tokens": choice.max_tokens},
            )
        if provider == "anthropic":
            _require(choice.api_key, "The Anthropic provider needs an API key", "INTERPRETER_ANTHROPIC_API_KEY")
            from strands.models.anthropic import AnthropicModel

            return AnthropicModel(
                client_args={"api_key": choice.api_key},
                model_id=choice.model_id or DEFAULT_ANTHROPIC_MODEL_ID,
                max_tokens=choice.max_tokens,
            )
        if provider == "ollama":
            _require(choice.model_id, "The Ollama provider needs a model id (e.g. llama3.1)", "INTERPRETER_MODEL_ID")
            from strands.models.ollama import OllamaModel

            return OllamaModel(
                choice.host or DEFAULT_OLLAMA_HOST, model_id=choice.model_id, max_tokens=choice.max_tokens
            )
        if provider == "scripted":
            _require(choice.script_file, "The scripted model needs a script file", "INTERPRETER_SCRIPTED_MODEL_FILE")
            try:
                return ScriptedModel(load_script(Path(choice.script_file)))
            except (OSError, ValueError) as error:
                raise ModelConfigError(f"The scripted model's script cannot be used: {error}") from error
    except ImportError as error:
        package = _PACKAGES.get(provider, getattr(error, "name", None) or "?")
        raise ModelConfigError(
            f"The {LABELS[provider]} provider needs the '{package}' package: .venv/bin/pip install -e '.[{package}]'"
        ) from error
    except BotoCoreError as error:
        raise ModelConfigError(f"Amazon Bedrock cannot be set up: {error}") from error
    raise ModelConfigError(
        f"Unknown model provider {provider!r}: set INTERPRETER_MODEL_PROVIDER to one of {PROVIDERS}."
    )


def describe_choice(choice: ModelChoice) -> str:
    """A short label for the UI, e.g. "Amazon Bedrock · global.anthropic.claude-sonnet-4-6"."""
    provider = resolve_provider(choice)
    suffix = " (chosen automatically)" if choice.provider == "auto" else ""
    if provider == "bedrock":
        region = f" in {choice.region}" if choice.region else ""
        return f"Amazon Bedrock · {choice.model_id or DEFAULT_BEDROCK_MODEL_ID}{region}{suffix}"
    if provider == "openai":
        return f"OpenAI-compatible · {choice.model_id or '(no model id)'} at {choice.base_url or '(no base URL)'}"
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

`INTERPRETER_MODEL_MAX_TOKENS` (default 4096) caps one answer for every provider.
"""


_THROTTLED = "The model is receiving too many requests right now (throttled). Wait a moment and try again."
_TOO_LONG = (
    "The conversation is too long for the model's context window. Start a new conversation, or ask for shorter outputs."
)
_UNREACHABLE = (
    "The model endpoint cannot be reached ({detail}). Check that the server is running and that its address "
    "is right on the Settings page."
)


def _short(error: BaseException | str) -> str:
    text = " ".join(str(error).split()).rstrip(".")
    return text[:300] + ("..." if len(text) > 300 else "") if text else type(error).__name__


def _explain_client_error(error: Any) -> str:
    details = error.response.get("Error", {}) if isinstance(getattr(error, "response", None), dict) else {}
    code, message = str(details.get("Code", "")), _short(str(details.get("Message", "")) or error) + "."
    if code in ("ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"):
        return _THROTTLED
    if code == "ValidationException" and any(word in message.lower() for word in ("too long", "context")):
        return _TOO_LONG
    if code == "ValidationException":
        return f"Amazon Bedrock refused the request as invalid: {message} Check the model id and region."
    if code in ("ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException"):
        return "Your AWS credentials have expired or are not valid. Refresh them (e.g. `aws sso login`) and retry."
    if code == "AccessDeniedException":
        return (
            f"AWS refused access to the model: {message} Check that your IAM permissions allow "
            "bedrock:InvokeModelWithResponseStream and that access to this model is enabled in the Bedrock console."
        )
    if code in ("ResourceNotFoundException", "ModelNotReadyException"):
        return (
            f"The model is not available: {message} Check the model id and the region, and that access to the "
            "model is enabled in the Bedrock console."
        )
    return f"Amazon Bedrock returned an error ({code or 'unknown'}): {message}"


def _explain_one(error: BaseException) -> str | None:
    names = {cls.__name__ for cls in type(error).__mro__}
    package = type(error).__module__.split(".")[0]
    if "ContextWindowOverflowException" in names:
        return _TOO_LONG
    if "ModelThrottledException" in names or (package in ("openai", "anthropic") and "RateLimitError" in names):
        return _THROTTLED
    if "MaxTokensReachedException" in names:
        return "The answer reached the token limit (INTERPRETER_MODEL_MAX_TOKENS). Raise it or ask for less."
    if "NoCredentialsError" in names:
        return "No AWS credentials were found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID, or choose another provider."
    if package == "botocore" and "ClientError" in names:
        return _explain_client_error(error)
    if package in ("openai", "anthropic"):
        if "APITimeoutError" in names:
            return "The model endpoint did not answer in time. Check that the server is running and not overloaded."
        if "APIConnectionError" in names:
            url = getattr(getattr(error, "request", None), "url", "")
            return _UNREACHABLE.format(detail=f"{url}: {_short(error.__cause__ or error)}" if url else _short(error))
        if names & {"AuthenticationError", "PermissionDeniedError"}:
            return f"The model endpoint refused the API key: {_short(error)}. Check the key on the Settings page."
        if "NotFoundError" in names:
            return f"The model endpoint does not know this model or path: {_short(error)}. Check the model id and URL."
        if "BadRequestError" in names:
            return f"The model endpoint refused the request: {_short(error)}."
    if package == "ollama" and "ResponseError" in names and getattr(error, "status_code", None) == 404:
        return f"Ollama does not have this model: {_short(error)}. Pull it with `ollama pull <model id>`."
    connection = names & {"ConnectionError", "EndpointConnectionError"}
    if connection or (package == "httpx" and names & {"ConnectError", "ConnectTimeout"}):
        return _UNREACHABLE.format(detail=_short(error))
    return None


def explain_model_error(exc: BaseException) -> str:
    """One or two plain sentences for a model failure (credentials, throttling, too long, endpoint down...).

    The exception's causes are looked at too; unknown failures give their type and message, never a traceback.
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen and len(seen) < 8:
        seen.add(id(error))
        explanation = _explain_one(error)
        if explanation:
            return explanation
        error = error.__cause__ or error.__context__
    return f"The model failed: {type(exc).__name__}: {_short(exc)}"
