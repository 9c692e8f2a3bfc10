"""The wire side of the AgentCore sandbox: what requests carry and how responses and AWS errors are read.

Requests carry relative paths (checked by :func:`clean_path`), ``writeFiles`` entries (text or blob), and the
small Python programs run inside the session (figures, ZIP extraction), kept here with the ZIP check that
precedes an upload.

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
import contextlib
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.config import Settings
from core.errors import (
    AccessDenied,
    CloudError,
    CloudQuotaExceeded,
    CloudRequestInvalid,
    CredentialsMissing,
    FileNotFoundInSandbox,
    InterpreterError,
    InvalidPathError,
    QuotaExceeded,
    SandboxError,
    Throttled,
    UploadRejected,
)
from core.files.uploads import check_entries, shown_name
from core.sandbox.output import OutputCollector, strip_ansi
from core.sandbox.paths import check_path_text
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


def is_internal(path: str) -> bool:
    """Whether a path is the sandbox's own working file (figures being collected, an upload being unpacked)."""
    return path == FIGURES_DIR or path.startswith((FIGURES_DIR + "/", ".upload-"))


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


# -- what is sent ------------------------------------------------------------------------------------------

MB = 1024 * 1024
INLINE_LIMIT = 100_000_000
"""The largest file one request carries (``Body`` max in the service model)."""
FIGURES_DIR = ".figures"
FIGURES_MARKER = "__CI_FIGURES__"
# Runs once per AgentCore session before the first Python run: figures render off-screen.
PRELUDE = """\
import os as _ci_os, sys as _ci_sys
_ci_os.environ["MPLBACKEND"] = "Agg"
if "matplotlib" in _ci_sys.modules:
    _ci_sys.modules["matplotlib"].use("Agg")
del _ci_os, _ci_sys
"""
# Runs after each Python run (executeCode is not known to run IPython's post-run hooks): open figures are
# saved to .figures/ and closed, and their paths printed. Costs nothing more when matplotlib was not imported.
FIGURES = f"""\
def _ci_figures():
    import json, os, sys
    plt, paths = sys.modules.get("matplotlib.pyplot"), []
    for number in plt.get_fignums() if plt is not None else []:
        figure, path = plt.figure(number), f"{FIGURES_DIR}/fig-{{number}}.png"
        try:
            os.makedirs("{FIGURES_DIR}", exist_ok=True)
            figure.savefig(path, format="png", bbox_inches="tight")
            paths.append(path)
        except Exception as exc:
            print(f"Could not render figure {{number}}: {{exc}}", file=sys.stderr)
        finally:
            plt.close(figure)
    print("{FIGURES_MARKER}" + json.dumps(paths))
_ci_figures()
del _ci_figures
"""
# Unpacks a checked ZIP inside the sandbox: into a staging folder first, then moved into place (folders
# merged); on any failure the staging folder is removed. Real byte counts are checked against the headers.
UNZIP = """\
import json, os, shutil, sys, zipfile
archive, plan_file, staging = sys.argv[1:4]
def fail(message):
    print(message, file=sys.stderr)
    sys.exit(3)
def plan_moves(source, target, moves):
    for name in sorted(os.listdir(source)):
        s, t = os.path.join(source, name), os.path.join(target, name)
        t_dir = os.path.isdir(t) and not os.path.islink(t)
        if os.path.isdir(s) and t_dir:
            plan_moves(s, t, moves)
        elif os.path.isdir(s) and os.path.lexists(t):
            fail("has a folder %r but a file of that name is already there. Rename one of them" % name)
        elif t_dir:
            fail("has a file %r but a folder of that name is already there. Rename one of them" % name)
        else:
            moves.append((s, t))
try:
    plan = json.load(open(plan_file))
    os.mkdir(staging)
    for folder in plan["dirs"]:
        os.makedirs(os.path.join(staging, folder), exist_ok=True)
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        for index, path, size in plan["files"]:
            written = 0
            with z.open(infos[index]) as source, open(os.path.join(staging, path), "wb") as sink:
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > size:
                        fail("holds more data than its headers declare (entry %r): it is damaged or forged" % path)
                    sink.write(chunk)
    moves = []
    plan_moves(staging, ".", moves)
    for source, target in moves:
        os.replace(source, target)
except SystemExit:
    raise
except Exception as error:
    fail("could not be unpacked: %s" % error)
finally:
    shutil.rmtree(staging, ignore_errors=True)
    for leftover in (archive, plan_file):
        if os.path.exists(leftover):
            os.remove(leftover)
"""


def clean_path(path: str) -> str:
    """Check a sandbox path and normalise it (relative, POSIX); refuse absolute paths, escapes and NUL."""
    check_path_text(path)
    if path.startswith("/"):
        raise InvalidPathError(f"{path!r} is an absolute path. Use a path relative to the sandbox's working folder.")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise InvalidPathError(f"{path!r} leads outside the sandbox, which is not allowed.")
    return normal


def content_entry(path: str, data: bytes) -> dict[str, Any]:
    """A ``writeFiles`` entry: text when the bytes are UTF-8 without NUL, else a blob."""
    if b"\x00" not in data:
        with contextlib.suppress(UnicodeDecodeError):
            return {"path": path, "text": data.decode("utf-8")}
    return {"path": path, "blob": data}


def check_inline(path: str, data: bytes) -> None:
    """Refuse a file too large to travel inline in one request."""
    if len(data) > INLINE_LIMIT:
        raise QuotaExceeded(
            f"{path!r} is {len(data) / MB:,.1f} MB; AgentCore takes files of at most {INLINE_LIMIT / MB:,.0f} MB "
            "in one request, so it cannot be sent. Split or compress it first."
        )


def zip_plan(name: str, data: bytes, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """Check a ZIP upload with the local rules (zip slip, links, encryption, bombs) before anything is sent.

    Returns:
        The extraction plan for the sandbox (folders; entry index, path and size of each file) and the files'
        paths, sorted.

    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as error:  # any failure to parse untrusted bytes means "not a ZIP archive"
        raise UploadRejected(f"{shown_name(name)} is not a valid ZIP archive ({error}). Nothing was kept.") from None
    with archive:
        infos = archive.infolist()
        entries = check_entries(
            infos, shown_name(name), settings.max_unzip_mb * MB, settings.max_unzip_entries, settings.max_unzip_ratio
        )
    index = {id(info): number for number, info in enumerate(infos)}
    files = [[index[id(info)], "/".join(parts), info.file_size] for parts, info in entries.items() if info is not None]
    folders = {parts for parts, info in entries.items() if info is None}
    folders |= {parts[:-1] for parts, info in entries.items() if info is not None and len(parts) > 1}
    return {"dirs": sorted("/".join(p) for p in folders), "files": files}, sorted(str(f[1]) for f in files)
