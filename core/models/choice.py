"""Which language model answers: the choice, its request options, where it is saved, and which provider answers.

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

from core.config import Settings
from core.models.scripted import LABEL

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
TOOL_CHOICES = ("auto", "required", "none", "")
"""``tool_choice`` values sent to an OpenAI-compatible endpoint ("" sends none: the server's default)."""
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {"max_tokens": int, "temperature": (int, float, type(None))}


@dataclass(frozen=True)
class ModelChoice:
    """Everything needed to build one model (fields as in :class:`~core.config.Settings`; unused ones ignored).

    ``provider`` is one of :data:`PROVIDERS`; an empty ``model_id`` means the provider's default; ``api_key`` (of
    the OpenAI-compatible endpoint or of Anthropic) is never in ``repr()`` nor in ``to_dict()`` by default.
    Request options: ``max_tokens`` (0: the server's default, for OpenAI-compatible endpoints and Ollama),
    ``temperature`` (None: the model's default), ``tool_choice`` (OpenAI-compatible, one of :data:`TOOL_CHOICES`)
    and ``extra_body`` (OpenAI-compatible: a JSON object whose fields are added to every request body).
    """

    provider: str = "auto"
    model_id: str = ""
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    region: str = ""
    host: str = ""
    script_file: str = ""
    max_tokens: int = 4096
    temperature: float | None = None
    tool_choice: str = "auto"
    extra_body: str = ""
    from_page: bool = False
    """Whether the choice was saved from the Settings page (else it is the settings' environment variables)."""

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
            temperature=settings.model_temperature,
            tool_choice=settings.model_tool_choice,
            extra_body=settings.openai_extra_body,
        )

    def to_dict(self, include_secrets: bool = False) -> dict[str, Any]:
        """The choice as JSON-ready data; the API key only with ``include_secrets``."""
        data = asdict(self)
        data.pop("from_page")
        if not include_secrets:
            data.pop("api_key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelChoice:
        """Read :meth:`to_dict`'s output (unknown keys ignored); ValueError when it is not a valid choice."""
        if not isinstance(data, dict):
            raise ValueError("model choice: not a JSON object")
        known = {f.name for f in fields(cls)} - {"from_page"}
        values = {key: value for key, value in data.items() if key in known}
        for key, value in values.items():
            if not isinstance(value, _FIELD_TYPES.get(key, str)) or isinstance(value, bool):
                raise ValueError(f"model choice: {key} has the wrong type")
        if values.get("tool_choice", "auto") not in TOOL_CHOICES:
            raise ValueError(f"model choice: unknown tool_choice {values['tool_choice']!r}")
        if values.get("provider", "auto") not in PROVIDERS:
            raise ValueError(f"model choice: unknown provider {values['provider']!r}")
        return cls(**values)


def short_model_name(model_id: str) -> str:
    """How a listed model is shown: llama.cpp's server lists its model by file path, shown by the file's name.

    ``/models/gemma-3-270m-it-Q8_0.gguf`` is shown as ``gemma-3-270m-it-Q8_0``; ids that are not paths
    (``llama3.1``, ``Qwen/Qwen2.5-7B-Instruct``) are shown as they are.
    """
    if not (model_id.startswith(("/", "~", "./")) or "\\" in model_id or model_id.lower().endswith(".gguf")):
        return model_id
    name = model_id.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


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
        return replace(saved, script_file=str(settings.scripted_model_file or ""), from_page=True)
    return replace(saved, from_page=True)


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
