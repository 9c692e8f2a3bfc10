"""Trying a model choice before it is saved: does its endpoint answer, and does it offer the model.

Each check is one short, read-only request through the provider's own client package (no tokens are spent):

- OpenAI-compatible: ``GET <base URL>/models`` ("List models" of the OpenAI API; vLLM, LM Studio, llama.cpp and
  Ollama's ``/v1`` answer it too), then the model id is looked for in the list.
- Ollama: ``GET <host>/api/tags`` (Ollama's "List local models"); ``llama3.1`` matches ``llama3.1:latest``.
- Anthropic: ``GET /v1/models/<model id>`` (Anthropic's "Get a model"): 404 for an unknown id, 401 for a bad key.
- Amazon Bedrock: only that AWS credentials are found (locally); the model itself answers at the first message.

Every failure comes back as plain words (:attr:`CheckResult.problem`), never as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.models.choice import (
    DEFAULT_ANTHROPIC_MODEL_ID,
    DEFAULT_OLLAMA_HOST,
    ModelChoice,
    resolve_provider,
    short_model_name,
)

CHECK_TIMEOUT = 5.0
"""Seconds a check waits for the endpoint."""
MAX_LISTED = 8


@dataclass(frozen=True)
class CheckResult:
    """What trying a choice found.

    Attributes:
        problem: What failed, in plain words; empty when the check passed.
        checked: What was checked, said when it passed ("The server at ... offers llama3.1.").
        listed: The ids an endpoint that answered listed, when the chosen one is not among them.

    """

    problem: str = ""
    checked: str = ""
    listed: tuple[str, ...] = ()
    """The model ids the endpoint listed, when it answered with a list that lacks the chosen id."""

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return not self.problem


def url_problem(url: str, what: str, example: str) -> str:
    """Why ``url`` cannot be an endpoint's address (not http(s), no host), or ``""`` when it can."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"The {what} must start with http:// or https:// and name a server, e.g. {example} (not {url!r})."
    return ""


def _listed(names: list[str]) -> str:
    names = [short_model_name(name) for name in names]
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _http_failure(error: Any, url: str, timeout: float) -> str:
    """Plain words for a failed request of the OpenAI or Anthropic client (both raise the same shapes)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "APITimeoutError" in names:
        return f"{url} did not answer within {timeout:g} seconds. Is the server running and not overloaded?"
    if "APIConnectionError" in names:
        cause = error.__cause__ or error
        return f"Nothing answers at {url} ({' '.join(str(cause).split())[:200] or type(cause).__name__})."
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return f"The server refused the API key (HTTP {status}). Check the key."
    message = " ".join(str(getattr(error, "message", "") or error).split())[:300]
    return f"The server answered HTTP {status or '?'} to GET {url}: {message}"


def check_openai(choice: ModelChoice, timeout: float = CHECK_TIMEOUT) -> CheckResult:
    """List the models of an OpenAI-compatible endpoint and look for the chosen one."""
    import openai

    base = choice.base_url.strip().rstrip("/")
    if problem := url_problem(base, "base URL", "http://localhost:8000/v1"):
        return CheckResult(problem)
    url = f"{base}/models"
    client = openai.OpenAI(base_url=base, api_key=choice.api_key or "not-needed", timeout=timeout, max_retries=0)
    hint = f" An OpenAI-compatible base URL usually ends in /v1: try {base}/v1." if not base.endswith("/v1") else ""
    try:
        ids = [str(model.id) for model in client.models.list()]
    except openai.NotFoundError:
        return CheckResult(f"The server at {base} has no {url} (HTTP 404).{hint}")
    except openai.APIError as error:
        return CheckResult(_http_failure(error, url, timeout))
    except (AttributeError, TypeError, ValueError):  # an answer that is not a model list: a web page, other JSON
        return CheckResult(
            f"The server at {base} answered GET {url}, but not with a list of models: it is not an "
            f"OpenAI-compatible API at this address.{hint}"
        )
    if not ids:
        return CheckResult(
            f"The server at {base} answered but lists no models, so it cannot serve {choice.model_id!r} now. "
            "Load the model on the server (LM Studio: load it; llama.cpp, vLLM: start the server with it)."
        )
    if choice.model_id not in ids and choice.model_id not in {short_model_name(i) for i in ids}:
        return CheckResult(
            f"The server at {base} answered, but does not list the model {choice.model_id!r}; it lists: "
            f"{_listed(ids)}.",
            listed=tuple(ids),
        )
    return CheckResult(checked=f"The server at {base} answered and offers {choice.model_id!r}.")


def check_ollama(choice: ModelChoice, timeout: float = CHECK_TIMEOUT) -> CheckResult:
    """List the models Ollama has pulled and look for the chosen one."""
    import httpx
    import ollama

    host = (choice.host or DEFAULT_OLLAMA_HOST).strip().rstrip("/")
    if problem := url_problem(host, "Ollama host", DEFAULT_OLLAMA_HOST):
        return CheckResult(problem)
    try:
        names = [model.model or "" for model in ollama.Client(host=host, timeout=timeout).list().models]
    except ollama.ResponseError as error:
        return CheckResult(f"Ollama at {host} answered HTTP {error.status_code}: {' '.join(str(error.error).split())}")
    except (httpx.HTTPError, ConnectionError) as error:
        return CheckResult(f"Nothing answers at {host} ({' '.join(str(error).split())[:200]}). Is Ollama running?")
    except (AttributeError, TypeError, ValueError):  # a web page or other JSON: not Ollama's API
        return CheckResult(f"The server at {host} answered GET {host}/api/tags, but not as Ollama does: is it Ollama?")
    wanted = choice.model_id if ":" in choice.model_id else f"{choice.model_id}:latest"
    if choice.model_id not in names and wanted not in names:
        pulled = f"it has: {_listed(names)}" if names else "it has no models yet"
        return CheckResult(
            f"Ollama at {host} has no model {choice.model_id!r} ({pulled}). Pull it: ollama pull {choice.model_id}"
        )
    return CheckResult(checked=f"Ollama at {host} answered and has {choice.model_id!r}.")


def check_anthropic(choice: ModelChoice, timeout: float = CHECK_TIMEOUT) -> CheckResult:
    """Ask Anthropic about the chosen model with the given key."""
    import anthropic

    model_id = choice.model_id or DEFAULT_ANTHROPIC_MODEL_ID
    client = anthropic.Anthropic(api_key=choice.api_key, timeout=timeout, max_retries=0)
    url = f"{str(client.base_url).rstrip('/')}/v1/models/{model_id}"
    try:
        client.models.retrieve(model_id)
    except anthropic.NotFoundError:
        return CheckResult(f"Anthropic does not know the model {model_id!r}. Check the model id.")
    except anthropic.APIError as error:
        return CheckResult(_http_failure(error, url, timeout))
    return CheckResult(checked=f"Anthropic answered and knows {model_id!r}.")


def check_bedrock(choice: ModelChoice) -> CheckResult:
    """Amazon Bedrock: only whether AWS credentials are found (the model answers at the first message)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        found = boto3.Session().get_credentials() is not None
    except (BotoCoreError, ValueError):
        found = False
    if not found:
        return CheckResult(
            "No AWS credentials were found (AWS_PROFILE, access keys or SSO). Set them, then save again."
        )
    return CheckResult(checked="AWS credentials were found; the model is tried at the first message.")


def check_choice(choice: ModelChoice, timeout: float = CHECK_TIMEOUT) -> CheckResult:
    """Try a choice's endpoint with one short request (see the module's docstring); never raises.

    Args:
        choice: The choice about to be saved (:func:`core.models.build_model` accepted it).
        timeout: Seconds to wait for the endpoint.

    """
    provider = resolve_provider(choice)
    try:
        if provider == "openai":
            return check_openai(choice, timeout)
        if provider == "ollama":
            return check_ollama(choice, timeout)
        if provider == "anthropic":
            return check_anthropic(choice, timeout)
        if provider == "bedrock":
            return check_bedrock(choice)
    except Exception as error:  # a check must explain, whatever a client raises
        return CheckResult(f"The check failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}")
    return CheckResult()
