"""Plain words for model failures, and recognising a context overflow in any provider's wording."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

OVERFLOW_WORDING = re.compile(
    r"context[ _](length|window|size)|maximum context|exceeds? the (available )?context|prompt is too long"
    r"|input is too long|too many (input )?tokens|max_model_len|exceed(s|ed)? (customer )?model maximum"
    r"|input length and `max_tokens` exceed|num_ctx",
    re.IGNORECASE,
)
"""How providers word a context overflow. Sources: llama.cpp (``tools/server/server-context.cpp``: "request (N
tokens) exceeds the available context size (M tokens), try increasing it"), OpenAI ("maximum context length",
``context_length_exceeded``), vLLM ("exceeds the max_model_len"), Anthropic ("prompt is too long"), Bedrock
("input is too long", "too many input tokens", "model maximum"), Ollama ("context length", ``num_ctx``)."""


THROTTLING = {"ModelThrottledException", "RateLimitError", "ThrottlingException"}


def is_context_overflow(error: BaseException) -> bool:
    """Whether a provider's error says that the request does not fit the model's context window."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "ContextWindowOverflowException" in names:
        return True
    if names & THROTTLING or "please wait" in str(error).lower():  # Bedrock's "Too many tokens, please wait ..."
        return False
    status = getattr(error, "status_code", None)
    if status is not None and not 400 <= int(status) < 500:
        return False
    return bool(OVERFLOW_WORDING.search(f"{error} {getattr(error, 'body', '') or ''}"))


def server_message(body: object, limit: int = 300) -> str:
    """The human part of an error body a server sent, first line only and capped (never a validation dump).

    Handles ``{"error": {"message": ...}}`` (OpenAI, llama.cpp, vLLM, LM Studio), ``{"message": ...}``,
    ``{"error": "..."}`` (Ollama) and FastAPI's ``{"detail": [{"msg": ...}]}`` (llama-cpp-python).
    """
    if isinstance(body, (bytes, str)):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            inner = inner.get("message") or inner.get("detail") or inner.get("msg") or ""
        elif inner is body:
            inner = body.get("message") or body.get("detail") or ""
        body = inner
    if isinstance(body, list):
        body = next((str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in body), "")
    text = (str(body or "").strip().splitlines() or [""])[0]
    return text[:limit] + ("..." if len(text) > limit else "")


_THROTTLED = "The model is receiving too many requests right now (throttled). Wait a moment and try again."
_TOO_LONG = (
    "The conversation is too long for the model's context window. Start a new conversation, or ask for shorter outputs."
)
_OVERLOADED = "The model's service is overloaded right now. Wait a moment and try again."
_FAILED_MID_ANSWER = "The model endpoint failed while answering: {message}. Send your message again to retry."
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


def _said(error: Any) -> str:
    """What the server said in an HTTP error (its body's message), else the error's own short text."""
    return server_message(getattr(error, "body", None)) or _short(getattr(error, "message", "") or error)


def _error_type(error: Any) -> str:
    """The error type an HTTP error's body names (``{"error": {"type": ...}}`` or ``{"type": ...}``), else ""."""
    body = getattr(error, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    return str(inner.get("type") or "") if isinstance(inner, dict) else ""


def _explain_ollama_error(error: Any) -> str:
    """Ollama's ``ResponseError`` (the ``error`` field of its JSON answer, and the HTTP status).

    An error line in the middle of a streamed answer has no status of its own (the package gives -1).
    """
    status, message = getattr(error, "status_code", None), _short(getattr(error, "error", "") or error)
    if not isinstance(status, int) or status < 100:
        return f"Ollama failed while answering: {message}. Send your message again to retry."
    if status == 404:
        return f"Ollama does not have this model: {message}. Pull it with `ollama pull <model id>`."
    return f"Ollama answered with an error (HTTP {status}): {message}."


def _explain_status_error(error: Any) -> str:
    """An HTTP error of an OpenAI-compatible or Anthropic endpoint, with the server's own words only.

    A status below 400 is that of a stream that began well and then carried an error (Anthropic's ``error`` event).
    """
    status = getattr(error, "status_code", "?")
    message = _said(error)
    if isinstance(status, int) and status < 400:
        return _FAILED_MID_ANSWER.format(message=(message or "no details").rstrip("."))
    if status == 400 or status == 422:
        return f"The model endpoint refused the request: {message or 'no reason given'} (HTTP {status})."
    return f"The model endpoint failed: {message or 'no details'} (HTTP {status})."


def _explain_one(error: BaseException) -> str | None:
    names = {cls.__name__ for cls in type(error).__mro__}
    package = type(error).__module__.split(".")[0]
    if is_context_overflow(error):
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
            return f"The model endpoint refused the API key: {_said(error)}. Check the key on the Settings page."
        if "NotFoundError" in names:
            return f"The model endpoint does not know this model or path: {_said(error)}. Check the model id and URL."
        if getattr(error, "status_code", None) == 529 or _error_type(error) == "overloaded_error":
            return _OVERLOADED  # Anthropic's 529, or its overloaded_error event mid-stream
        if "APIStatusError" in names:
            return _explain_status_error(error)
        if "APIError" in names:  # an error event in a stream that had begun (llama.cpp's data: {"error": ...})
            return _FAILED_MID_ANSWER.format(message=(_said(error) or "no details").rstrip("."))
    if package == "ollama" and "ResponseError" in names:
        return _explain_ollama_error(error)
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
