"""The wire side of the AgentCore sandbox: how responses and AWS errors are read (requests: ``requests.py``).

``InvokeCodeInterpreter`` answers with ``{"sessionId", "stream"}``; the stream yields events that are either
``{"result": {"content": [ContentBlock], "structuredContent": {...}, "isError": bool}}`` or one of the
exception events (``throttlingException``, ``validationException``, ...). A ContentBlock has a ``type`` of
``text``, ``image`` (``data`` bytes, ``mimeType``), ``resource`` (``resource: {type, uri, mimeType, text|blob}``)
or ``resource_link`` (``name``, ``uri``, ``size``, ``mimeType``, ``description``). Every AWS failure becomes one
of the :class:`~core.errors.CloudError` classes with a plain message.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.errors import (
    AccessDenied,
    CloudError,
    CloudQuotaExceeded,
    CloudRequestInvalid,
    CredentialsMissing,
    FileNotFoundInSandbox,
    InterpreterError,
    SandboxError,
    Throttled,
)
from core.sandbox.output import OutputCollector, strip_ansi
from core.types import (
    JSON,
    PLOTLY_JSON,
    TABLE_JSON,
    ExecutionError,
    ExecutionResult,
    FileInfo,
    RichOutput,
    guess_mime_type,
)

STREAM_EXCEPTIONS = (
    "accessDeniedException",
    "conflictException",
    "internalServerException",
    "resourceNotFoundException",
    "serviceQuotaExceededException",
    "throttlingException",
    "validationException",
)
CREDENTIAL_CODES = {
    "expiredtoken",
    "expiredtokenexception",
    "unrecognizedclientexception",
    "invalidsignatureexception",
    "invalidclienttokenid",
    "missingauthenticationtokenexception",
}
_EXCEPTION_LINE = re.compile(r"^(?:Uncaught )?([A-Za-z_][\w.]*): ?(.*)$")
_FOLDER_WORDS = {"directory", "folder", "dir"}
_NOT_FOUND = re.compile(r"no such file|not found|does not exist|no file|cannot find", re.IGNORECASE)


class StreamException(Exception):
    """An exception event of a response stream; ``code`` as in the service model, e.g. ``throttlingException``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Resource:
    """An embedded file of a result: its URI, MIME type and bytes (text is UTF-8 encoded)."""

    uri: str
    mime_type: str
    data: bytes
    is_text: bool
    description: str = ""


@dataclass
class Parsed:
    """Everything the events of one response carried."""

    texts: list[str] = field(default_factory=list)
    stdout: str | None = None
    stderr: str = ""
    exit_code: int | None = None
    execution_ms: float | None = None
    is_error: bool = False
    images: list[RichOutput] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    task_id: str | None = None
    task_status: str | None = None

    @property
    def text(self) -> str:
        """The text blocks joined, a line break between two only where the first does not end with one."""
        joined = ""
        for text in filter(None, self.texts):
            joined += ("\n" if joined and not joined.endswith("\n") else "") + text
        return joined

    @property
    def message(self) -> str:
        """What an error result says: its text, else its stderr."""
        return (self.text or self.stderr).strip()


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value.encode()
    return b""


def parse_stream(stream: Iterable[dict[str, Any]]) -> Parsed:
    """Read every event of a response stream.

    Args:
        stream: The response's ``stream`` (botocore's EventStream or a list of event dicts).

    Returns:
        What the result events carried, merged.

    Raises:
        StreamException: For an exception event (the first one met).

    """
    parsed = Parsed()
    for event in stream:
        for name in STREAM_EXCEPTIONS:
            if name in event:
                body = event[name] or {}
                raise StreamException(name, str(body.get("message", "")) if isinstance(body, dict) else str(body))
        result = event.get("result")
        if not result:
            continue
        parsed.is_error = parsed.is_error or bool(result.get("isError"))
        structured = result.get("structuredContent") or {}
        if "stdout" in structured:
            parsed.stdout = (parsed.stdout or "") + str(structured["stdout"] or "")
        parsed.stderr += str(structured.get("stderr") or "")
        if structured.get("exitCode") is not None:
            parsed.exit_code = int(structured["exitCode"])
        if structured.get("executionTime") is not None:
            parsed.execution_ms = float(structured["executionTime"])
        if structured.get("taskId"):  # startCommandExecution, getTask, stopTask (ToolResultStructuredContent)
            parsed.task_id = str(structured["taskId"])
        if structured.get("taskStatus"):
            parsed.task_status = str(structured["taskStatus"])
        for block in result.get("content") or []:
            _add_block(parsed, block)
    return parsed


def _add_block(parsed: Parsed, block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind == "text":
        parsed.texts.append(str(block.get("text") or ""))
    elif kind == "image":
        mime = block.get("mimeType") or "image/png"
        parsed.images.append(RichOutput(mime_type=mime, data=_bytes(block.get("data")), text=block.get("text") or ""))
    elif kind == "resource":
        resource = block.get("resource") or {}
        is_text = resource.get("text") is not None
        data = str(resource["text"]).encode() if is_text else _bytes(resource.get("blob"))
        mime = resource.get("mimeType") or block.get("mimeType") or ""
        uri = str(resource.get("uri") or block.get("uri") or "")
        parsed.resources.append(Resource(uri, mime, data, is_text, str(block.get("description") or "")))
    elif kind == "resource_link":
        parsed.links.append(block)


def _table_text(table: dict[str, Any], rows: int = 20) -> str:
    names = [f.get("name", "") for f in table.get("schema", {}).get("fields", [])]
    lines = ["\t".join(map(str, names))]
    lines += ["\t".join(str(row.get(n, "")) for n in names) for row in table.get("data", [])[:rows]]
    return "\n".join(lines)


def resource_output(resource: Resource) -> RichOutput:
    """A displayed value carried as a resource block, as a rich output (JSON types parsed)."""
    mime = resource.mime_type or "text/plain"
    if mime in (JSON, TABLE_JSON, PLOTLY_JSON) or mime.endswith("+json"):
        try:
            value = json.loads(resource.data)
            text = resource.description or (_table_text(value) if mime == TABLE_JSON else "")
            return RichOutput(mime_type=mime, data=value, text=text)
        except ValueError:
            pass
    if resource.is_text or mime.startswith("text/"):
        text = resource.data.decode(errors="replace")
        return RichOutput(mime_type=mime, data=text, text=resource.description or text)
    return RichOutput(mime_type=mime, data=resource.data, text=resource.description)


def error_from_text(text: str, language: str) -> ExecutionError:
    """An error result's text as an :class:`ExecutionError` (``name: value`` found in a traceback's lines)."""
    text = strip_ansi(text).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    candidates = [m for m in map(_EXCEPTION_LINE.match, lines) if m]
    if candidates:
        match = candidates[-1] if language == "python" else candidates[0]
        return ExecutionError(name=match.group(1), value=match.group(2), traceback=text)
    return ExecutionError(name="Error", value=lines[-1] if lines else "The code failed.", traceback=text)


def execution_result(parsed: Parsed, *, language: str | None, limit: int, duration: float) -> ExecutionResult:
    """Turn a parsed ``executeCode`` (``language`` set) or ``executeCommand`` response into a result.

    Args:
        parsed: The parsed response.
        language: The code's language, or ``None`` for a command.
        limit: The most characters kept of stdout and of stderr each.
        duration: Seconds the call took.

    Returns:
        The result; a code error becomes ``error``, a failed command a non-zero ``exit_code``.

    """
    collector = OutputCollector(limit)
    text, stderr = parsed.text, parsed.stderr
    stdout = parsed.stdout if parsed.stdout is not None else ("" if parsed.is_error else text)
    if language is None and parsed.is_error and not stderr.strip() and text.strip() != stdout.strip():
        stderr = text
    error_text = parsed.message if parsed.is_error else ""
    if language is not None and error_text and stderr.rstrip().endswith(error_text):
        stderr = stderr.rstrip()[: -len(error_text)]
    collector.stream("stdout", stdout)
    collector.stream("stderr", stderr)
    for output in [*parsed.images, *map(resource_output, parsed.resources)]:
        collector.add_output(output)
    exit_code = None
    if language is None:
        exit_code = parsed.exit_code if parsed.exit_code is not None else int(parsed.is_error)
    elif parsed.is_error:
        collector.error = error_from_text(error_text, language)
    return collector.result(duration, exit_code)


def file_infos(parsed: Parsed, folder: str, modified: dict[str, float], default_time: float) -> list[FileInfo]:
    """The ``resource_link`` blocks of a ``listFiles`` response as file infos under ``folder``."""
    infos = []
    for link in parsed.links:
        name = str(link.get("name") or posixpath.basename(str(link.get("uri", "")).rstrip("/")))
        if not name or name in (".", ".."):
            continue
        path = posixpath.normpath(posixpath.join(folder, name))
        mime = str(link.get("mimeType") or "")
        words = {str(link.get("description") or "").strip().lower(), mime.lower()}
        is_dir = bool(words & _FOLDER_WORDS) or mime == "inode/directory" or str(link.get("uri", "")).endswith("/")
        guessed = guess_mime_type(name)
        if guessed == "application/octet-stream" and mime:
            guessed = mime
        infos.append(
            FileInfo(
                path=path,
                size=0 if is_dir else int(link.get("size") or 0),
                modified=modified.get(path, default_time),
                is_dir=is_dir,
                mime_type="inode/directory" if is_dir else guessed,
            )
        )
    return infos


def error_code(exc: Exception) -> tuple[str, str]:
    """The AWS error code and message of a botocore ``ClientError`` or a stream exception (else empty)."""
    if isinstance(exc, StreamException):
        return exc.code, exc.message
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return str(error.get("Code", "")), str(error.get("Message", ""))
    return "", ""


def file_error(parsed: Parsed, path: str, verb: str) -> InterpreterError:
    """The error for a failed file operation: a missing file, a folder where a file was expected, or other."""
    text = parsed.message
    if "is a directory" in text.lower():
        return FileNotFoundInSandbox(f"No file {path!r} in the sandbox. It is a folder.")
    if _NOT_FOUND.search(text) or not text:
        return FileNotFoundInSandbox(f"No file or folder {path!r} in the sandbox.")
    return SandboxError(f"AgentCore could not {verb} {path!r}: {text}")


def session_gone(code: str, message: str) -> bool:
    """Whether an error says the AgentCore session expired, was stopped or does not exist."""
    code = code.lower()
    if code.startswith("resourcenotfound"):
        return True
    return code.startswith("validation") and "session" in message.lower()


def cloud_error(code: str, message: str, *, action: str, where: str) -> CloudError:
    """The typed error for an AWS error code (either spelling: ``ThrottlingException`` or ``throttlingException``).

    Args:
        code: The error code.
        message: What AWS said.
        action: The API action, e.g. ``InvokeCodeInterpreter``.
        where: The code interpreter and region, for messages.

    Returns:
        The error to raise.

    """
    said = f" AWS said: {message}" if message else ""
    lowered = code.lower()
    if lowered.startswith("accessdenied"):
        return AccessDenied(
            f"The AWS role lacks permission bedrock-agentcore:{action} on {where}. "
            f"Add it to the role's IAM policy.{said}"
        )
    if lowered.startswith(("throttling", "toomanyrequests")):
        return Throttled("AgentCore is throttling requests; try again in a moment.")
    if lowered in CREDENTIAL_CODES:
        return CredentialsMissing(
            "AWS credentials are missing or expired. Sign in again (aws sso login, new keys) and retry." + said
        )
    if lowered.startswith("servicequotaexceeded"):
        return CloudQuotaExceeded(f"An AgentCore service quota is reached ({where}); stop other sessions.{said}")
    if lowered.startswith("validation"):
        return CloudRequestInvalid(f"AgentCore refused the request ({action}) as invalid.{said}")
    if lowered.startswith("conflict"):
        return CloudError(f"AgentCore is busy with another request in this session; try again in a moment.{said}")
    if lowered.startswith("resourcenotfound"):
        return CloudError(f"AgentCore could not find {where}. Check INTERPRETER_AGENTCORE_IDENTIFIER.{said}")
    if lowered.startswith(("internalserver", "serviceunavailable")):
        return CloudError(f"AgentCore had an internal error; try again in a moment.{said}")
    return CloudError(f"AgentCore refused the request ({action}, {code or 'unknown error'}).{said}")


def botocore_error(exc: Exception, *, action: str, where: str) -> CloudError | None:
    """The typed error for a botocore exception or a stream exception event; ``None`` for anything else."""
    from botocore import exceptions as boto

    if isinstance(exc, StreamException | boto.ClientError):
        return cloud_error(*error_code(exc), action=action, where=where)
    credential_errors = (boto.NoCredentialsError, boto.PartialCredentialsError, boto.CredentialRetrievalError)
    if isinstance(exc, credential_errors) or type(exc).__name__ in ("TokenRetrievalError", "SSOTokenLoadError"):
        return CredentialsMissing("AWS credentials are missing or expired. Sign in again (aws sso login, new keys).")
    if isinstance(exc, boto.NoRegionError):
        return CloudError("No AWS region is set for AgentCore. Set INTERPRETER_AGENTCORE_REGION or AWS_REGION.")
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectionError | boto.ReadTimeoutError):
        return CloudError(f"AgentCore could not be reached ({where}); check the network and try again.")
    if isinstance(exc, boto.BotoCoreError):
        return CloudError(f"The AWS request {action} failed: {exc}")
    return None
