"""A fake of AgentCore's data plane (``bedrock-agentcore``) for the AgentCore sandbox tests.

The tests reach it over real HTTP: :meth:`FakeAgentCoreDataPlane.endpoint` serves it
(``tests/sandbox/agentcore_server.py``) and the real boto3 client, inside the real ``CodeInterpreter``, talks
to it through ``endpoint_url``, decoding AWS event-stream frames and raising botocore's own errors.

``FakeAgentCoreDataPlane`` offers the four methods ``CodeInterpreter`` calls: start, get and stop a code
interpreter session, and ``invoke_code_interpreter``. Every request is validated against botocore's service
model: types, required members and unknown members as boto3 does, and what the service checks itself (enums,
string and list lengths, patterns, integer ranges such as ``sessionTimeoutSeconds`` 1 to 28,800), refused with
the modeled ``ValidationException`` (``message``, ``reason`` ``FieldValidationFailed``, ``fieldList``). Each
session runs its code with a real :class:`~core.sandbox.local.sandbox.LocalSandbox` in a folder of its own.

What follows the service model and AWS's documentation: ``InvokeCodeInterpreter`` answers with
``{"sessionId", "stream"}``, an event stream of ``result`` events (``CodeInterpreterResult``: ``content`` of
``ContentBlock``, ``structuredContent`` with ``stdout``, ``stderr``, ``exitCode``, ``executionTime`` in
milliseconds, ``isError``) and exception events whose payload is the modeled exception (a
``validationException`` has its ``reason``; every ``message`` is non-blank). Being a stream, an answer is read
event by event, so the fake answers in several: a run's stdout and stderr in pieces
(``structuredContent.stdout``/``stderr``, empty ``content``), then one event per content block, the last one with
``exitCode``, ``executionTime`` and ``isError``; ``readFiles`` one event per file. ``clearContext`` starts the
run in a fresh interpreter (the variables are gone).

What is the fake's own choice, unverified without AWS (the service model allows it; the real service may choose
otherwise): stdout and a code error's traceback are ``text`` blocks, images ``image`` blocks (bytes), other
displayed values (tables, HTML, Plotly, the last expression) ``resource`` blocks with their MIME type and the
plain-text fallback as the block's ``description``, exactly as ``core/sandbox/agentcore/stream.py`` decodes
them; the tests that rely on it are named ``..._emulator_only``. Files are ``resource`` blocks, folder entries
``resource_link`` blocks. Like AgentCore's ``executeCode`` (as far as is known) it runs no post-run hook:
figures left open stay open.

``StartCodeInterpreterSession`` is idempotent as the model's ``clientToken`` (``idempotencyToken``) promises: the
same token with the same members answers the same session; with other members, the modeled ValidationException
with ``reason`` ``IdempotentParameterMismatchException``. Its ``filesystemConfigurations`` and ``certificates`` are
played by ``tests/sandbox/agentcore_mounts.py`` (file systems registered with :meth:`add_file_system`, secrets read
from :attr:`secrets`), and ``GetCodeInterpreterSession`` echoes them.

Tests can throttle the next calls, put an exception event in the next stream, and expire sessions.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ListShape, Shape, StructureShape
from botocore.validate import ParamValidator

from core.config import Settings
from core.errors import FileNotFoundInSandbox, InterpreterError
from core.sandbox.local.sandbox import LocalSandbox
from core.types import ExecutionResult, guess_mime_type
from tests.sandbox.agentcore_mounts import FakeFileSystem, mount
from tests.sandbox.agentcore_tasks import TaskTools

# The local kernel's prelude shows open figures after each run; AgentCore's executeCode does not.
NO_FIGURE_HOOK = """\
def _fake_no_hook():
    from IPython import get_ipython
    events = get_ipython().events
    for callback in list(events.callbacks["post_execute"]):
        if getattr(callback, "__name__", "") == "flush_figures":
            events.unregister("post_execute", callback)
_fake_no_hook()
del _fake_no_hook
"""
CLEAR_PYTHON = 'get_ipython().run_line_magic("reset", "-f")'
STREAM_PIECE = 4096
"""The most characters of stdout or stderr one event of the fake carries."""
REQUIRED_ARGUMENTS = {
    "executeCode": ("code",),
    "executeCommand": ("command",),
    "readFiles": ("paths",),
    "writeFiles": ("content",),
    "removeFiles": ("paths",),
    "getTask": ("taskId",),
    "stopTask": ("taskId",),
    "startCommandExecution": ("command",),
}


def validation_error(operation: str, problems: list[tuple[str, str]]) -> ClientError:
    """The modeled ValidationException for ``(field, problem)`` pairs: ``reason`` and ``fieldList`` included."""
    message = "; ".join(f"{name}: {problem}" for name, problem in problems)
    fields = [{"name": name, "message": problem} for name, problem in problems]
    return client_error(
        "ValidationException", message, operation, 400, reason="FieldValidationFailed", fieldList=fields
    )


def exception_body(event: str, message: str) -> dict[str, Any]:
    """The payload of the stream's exception member ``event``: the modeled exception, checked against the model.

    Raises:
        ValueError: For a member the stream does not have, or a blank message where the model wants text.

    """
    model = botocore.session.get_session().get_service_model("bedrock-agentcore")
    stream = model.operation_model("InvokeCodeInterpreter").output_shape.members["stream"]
    assert isinstance(stream, StructureShape)
    shape = stream.members.get(event)
    if shape is None or event == "result":
        raise ValueError(f"{event!r} is not an exception of the InvokeCodeInterpreter stream")
    assert isinstance(shape, StructureShape)
    pattern = shape.members["message"].metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, message):
        raise ValueError(f"{event}'s message must match {pattern} (the service never sends a blank one)")
    body: dict[str, Any] = {"message": message}
    if "reason" in shape.required_members:
        body["reason"] = "FieldValidationFailed"
    return body


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def client_error(code: str, message: str, operation: str, status: int, **extra: Any) -> ClientError:
    """A ``ClientError`` shaped as botocore raises it for a modeled error of this service.

    Args:
        code: The error code, e.g. ``ValidationException``.
        message: What the service says.
        operation: The operation refused.
        status: The modeled HTTP status.
        **extra: The error shape's other members (a ValidationException's ``reason`` and ``fieldList``).

    Returns:
        The error; the HTTP server sends ``message`` and ``extra`` as the error's JSON body.

    """
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        "message": message,
        **extra,
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


@dataclass
class FakeSession:
    """One code interpreter session of the fake."""

    session_id: str
    identifier: str
    name: str
    timeout: int
    folder: Path
    status: str = "READY"
    sandbox: LocalSandbox | None = None
    created: datetime.datetime = field(default_factory=lambda: _now())
    request: dict[str, Any] = field(default_factory=dict)
    """The start request's members (without its token), as GetCodeInterpreterSession echoes some of them."""
    mounts: list[tuple[FakeFileSystem, str]] = field(default_factory=list)
    ca_bundle: Path | None = None

    def local(self, settings: Settings) -> LocalSandbox:
        if self.sandbox is None:
            if self.ca_bundle is not None:  # the certificates of the start request, trusted as the local backend does
                settings = settings.model_copy(update={"ca_bundle": self.ca_bundle})
            self.sandbox = LocalSandbox(settings, self.folder)
            for system, path in self.mounts:
                mount(self.sandbox, system, path)
        return self.sandbox

    def terminate(self) -> None:
        self.status = "TERMINATED"
        if self.sandbox is not None:
            self.sandbox.close()


class FakeAgentCoreDataPlane(TaskTools):
    """Stands in for ``CodeInterpreter.data_plane_client``; see the module docstring (background commands:
    ``tests/sandbox/agentcore_tasks.py``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.model = botocore.session.get_session().get_service_model("bedrock-agentcore")
        self.settings = Settings(data_dir=folder, kernel_pool_size=0, execution_timeout=60, max_output_chars=20_000_000)
        self.sessions: dict[str, FakeSession] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._throttled = 0
        self._stream_failure: tuple[str, str] | None = None
        self._server: ExitStack | None = None
        self._endpoint = ""
        self.file_systems: dict[str, FakeFileSystem] = {}
        self.secrets: Any = None
        """A boto3 Secrets Manager client the certificates of a start request are read with."""
        self._tokens: dict[str, str] = {}

    def add_file_system(self, access_point: str, file_system: str, s3: tuple[Any, str, str] | None = None) -> Path:
        """Let sessions mount this access point (S3 Files: ``s3`` is a client, bucket and prefix); its folder."""
        name = access_point.rsplit("/", 1)[-1]
        self.file_systems[access_point] = FakeFileSystem(access_point, file_system, self.folder / "fs" / name, s3)
        return self.file_systems[access_point].folder

    # -- test controls --------------------------------------------------------------------------------

    def throttle(self, calls: int = 1) -> None:
        """Answer the next ``calls`` requests with a ThrottlingException."""
        self._throttled = calls

    def fail_stream(self, event: str, message: str) -> None:
        """Put the exception event ``event`` (e.g. ``accessDeniedException``) in the next invoke's stream."""
        exception_body(event, message)
        self._stream_failure = (event, message)

    def expire(self, session_id: str | None = None) -> None:
        """Terminate a session (all running ones by default), as its timeout would; its files are gone."""
        for session in self.sessions.values():
            if session.status == "READY" and session_id in (None, session.session_id):
                session.terminate()

    def invocations(self, tool: str | None = None) -> list[dict[str, Any]]:
        """The ``arguments`` of every invoke (of one tool when named)."""
        return [
            params.get("arguments", {})
            for operation, params in self.calls
            if operation == "InvokeCodeInterpreter" and tool in (None, params.get("name"))
        ]

    def operations(self) -> list[str]:
        """The operations called, in order."""
        return [operation for operation, _ in self.calls]

    def running(self) -> list[FakeSession]:
        """The sessions that are READY."""
        return [s for s in self.sessions.values() if s.status == "READY"]

    def endpoint(self) -> str:
        """The URL of this fake's data plane over HTTP (``tests/sandbox/agentcore_server.py``), started once."""
        if self._server is None:
            from tests.sandbox.agentcore_server import serve_data_plane

            self._server = ExitStack()
            self._endpoint = self._server.enter_context(serve_data_plane(self))
        return self._endpoint

    def close(self) -> None:
        """Stop every session's local sandbox, and the HTTP server."""
        for session in self.sessions.values():
            session.terminate()
        if self._server is not None:
            self._server.close()
            self._server = None

    # -- validation -----------------------------------------------------------------------------------

    def _accept(self, operation: str, params: dict[str, Any]) -> None:
        self.calls.append((operation, params))
        shape = self.model.operation_model(operation).input_shape
        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
        problems: list[tuple[str, str]] = []
        _check_values(params, shape, "", problems)
        if problems:
            raise validation_error(operation, problems)
        if self._throttled:
            self._throttled -= 1
            raise client_error("ThrottlingException", "Rate exceeded", operation, 429)

    def _session(self, operation: str, params: dict[str, Any], *, running: bool) -> FakeSession:
        session = self.sessions.get(params.get("sessionId") or "")
        if session is None or session.identifier != params["codeInterpreterIdentifier"]:
            raise client_error("ResourceNotFoundException", "Session not found", operation, 404)
        if running and session.status != "READY":
            raise client_error(
                "ResourceNotFoundException", f"Session {session.session_id} is terminated", operation, 404
            )
        return session

    # -- the client's methods -------------------------------------------------------------------------

    def start_code_interpreter_session(self, **params: Any) -> dict[str, Any]:
        operation = "StartCodeInterpreterSession"
        self._accept(operation, params)
        request = {key: value for key, value in params.items() if key not in ("clientToken", "traceId", "traceParent")}
        token = params.get("clientToken", "")  # botocore fills it in when the caller does not (idempotencyToken)
        if token in self._tokens:  # the same start again: the same session, or the modeled mismatch
            session = self.sessions[self._tokens[token]]
            if session.request != request:
                raise client_error(
                    "ValidationException", "The client token was already used with other parameters",
                    operation, 400, reason="IdempotentParameterMismatchException",
                )  # fmt: skip
            return _started(session)
        session_id = secrets.token_hex(13)
        session = FakeSession(
            session_id=session_id,
            identifier=params["codeInterpreterIdentifier"],
            name=params.get("name", ""),
            timeout=params.get("sessionTimeoutSeconds", 900),
            folder=self.folder / "sessions" / "agentcore" / session_id,
            request=request,
        )
        session.mounts = self._mounts(params.get("filesystemConfigurations", []))
        session.ca_bundle = self._certificates(session, params.get("certificates", []))
        self.sessions[session_id] = session
        if token:
            self._tokens[token] = session_id
        return _started(session)

    def _mounts(self, configurations: list[dict[str, Any]]) -> list[tuple[FakeFileSystem, str]]:
        """The file systems of ``ToolsFileSystemConfigurations``, each at its mount path."""
        paths = [next(iter(c.values()))["mountPath"].rstrip("/") for c in configurations]
        doubled = sorted({path for path in paths if paths.count(path) > 1})
        if doubled:  # "Each mount path must be unique across all file system configurations in the session."
            raise validation_error("StartCodeInterpreterSession", [("filesystemConfigurations", f"{doubled} twice")])
        mounts = []
        for configuration in configurations:
            ((_, member),) = configuration.items()
            system = self.file_systems.get(member["accessPointArn"])
            if system is None or system.file_system != member["fileSystemArn"]:
                message = f"Access point {member['accessPointArn']} of {member['fileSystemArn']} not found"
                raise client_error("ResourceNotFoundException", message, "StartCodeInterpreterSession", 404)
            mounts.append((system, member["mountPath"]))
        return mounts

    def _certificates(self, session: FakeSession, certificates: list[dict[str, Any]]) -> Path | None:
        """The PEM root CAs of ``Certificates`` read from Secrets Manager, as one bundle file (or ``None``)."""
        if not certificates:
            return None
        pems = []
        for certificate in certificates:
            arn = certificate["location"]["secretsManager"]["secretArn"]
            try:
                pems.append(self.secrets.get_secret_value(SecretId=arn)["SecretString"])
            except Exception:
                raise client_error(
                    "ResourceNotFoundException", f"Secret {arn} not found", "StartCodeInterpreterSession", 404
                ) from None
        bundle = self.folder / "certificates" / f"{session.session_id}.pem"
        bundle.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_text("\n".join(pems))
        return bundle

    def get_code_interpreter_session(self, **params: Any) -> dict[str, Any]:
        self._accept("GetCodeInterpreterSession", params)
        session = self._session("GetCodeInterpreterSession", params, running=False)
        return {
            "codeInterpreterIdentifier": session.identifier,
            "sessionId": session.session_id,
            "name": session.name,
            "createdAt": session.created,
            "sessionTimeoutSeconds": session.timeout,
            "status": session.status,
            # GetCodeInterpreterSessionResponse echoes these two members of the start request.
            **{k: v for k, v in session.request.items() if k in ("certificates", "filesystemConfigurations")},
        }

    def stop_code_interpreter_session(self, **params: Any) -> dict[str, Any]:
        self._accept("StopCodeInterpreterSession", params)
        session = self._session("StopCodeInterpreterSession", params, running=False)
        session.terminate()
        return {
            "codeInterpreterIdentifier": session.identifier,
            "sessionId": session.session_id,
            "lastUpdatedAt": _now(),
        }

    def invoke_code_interpreter(self, **params: Any) -> dict[str, Any]:
        self._accept("InvokeCodeInterpreter", params)
        session = self._session("InvokeCodeInterpreter", params, running=True)
        name, arguments = params["name"], params.get("arguments", {})
        missing = [key for key in REQUIRED_ARGUMENTS.get(name, ()) if key not in arguments]
        if missing:
            needed = [(f"arguments.{key}", f"{name} needs it") for key in missing]
            raise validation_error("InvokeCodeInterpreter", needed)
        if self._stream_failure is not None:
            (event, message), self._stream_failure = self._stream_failure, None
            return {"sessionId": session.session_id, "stream": [{event: exception_body(event, message)}]}
        handler = getattr(self, f"_tool_{name}", None)
        sandbox = session.local(self.settings)
        for system, _ in session.mounts:
            system.pull()
        events = handler(sandbox, arguments) if handler else [_error(f"{name} is not faked")]
        for system, _ in session.mounts:
            system.push()
        return {"sessionId": session.session_id, "stream": [{"result": event} for event in events]}

    # -- tools ----------------------------------------------------------------------------------------

    def _tool_executeCode(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        language = arguments.get("language", "python")
        if arguments.get("clearContext"):
            _clear_context(sandbox, language)
        if language == "python":
            sandbox.execute(NO_FIGURE_HOOK)
        result = sandbox.execute(arguments["code"], language=language)
        content: list[dict[str, Any]] = []
        for number, output in enumerate(result.outputs):
            if isinstance(output.data, bytes) and output.mime_type.startswith("image/"):
                content.append({"type": "image", "data": output.data, "mimeType": output.mime_type})
                continue
            text = output.data if isinstance(output.data, str) else json.dumps(output.data)
            uri = f"output://{number}"
            block = {
                "type": "resource",
                "resource": {"type": "text", "uri": uri, "mimeType": output.mime_type, "text": text},
            }
            content.append({**block, "description": output.text} if output.text else block)
        stderr, failed = result.stderr, result.error is not None or result.stopped is not None
        if result.error is not None:
            message = result.error.traceback or f"{result.error.name}: {result.error.value}"
            stderr += message
            content.insert(0, {"type": "text", "text": message})
        elif result.stopped is not None:
            content.insert(0, {"type": "text", "text": f"Execution stopped: {result.stopped.value}"})
        elif result.stdout:
            content.insert(0, {"type": "text", "text": result.stdout})
        return _result(content, result, stderr=stderr, exit_code=int(failed), is_error=failed)

    def _tool_executeCommand(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        result = sandbox.run_command(arguments["command"])
        exit_code = result.exit_code if result.exit_code is not None else -1
        content = [{"type": "text", "text": result.stdout or result.stderr}] if result.stdout or result.stderr else []
        failed = exit_code != 0 or result.stopped is not None
        return _result(content, result, stderr=result.stderr, exit_code=exit_code, is_error=failed)

    def _tool_readFiles(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        content, problems = [], []
        for path in arguments["paths"]:
            try:
                data = sandbox.read_file(path)
            except InterpreterError as error:
                problems.append(_problem(path, error))
                continue
            resource: dict[str, Any] = {"uri": f"file:///{path}", "mimeType": guess_mime_type(path)}
            try:
                resource.update(type="text", text=data.decode("utf-8"))
            except UnicodeDecodeError:
                resource.update(type="blob", blob=data)
            content.append({"type": "resource", "resource": resource})
        if problems:
            return [_files_result(content, problems)]
        return [{"content": [block], "isError": False} for block in content] or [{"content": [], "isError": False}]

    def _tool_writeFiles(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        problems = []
        for item in arguments["content"]:
            if ("text" in item) == ("blob" in item):
                problems.append(f"{item['path']}: give exactly one of text and blob")
                continue
            data = item["text"].encode() if "text" in item else bytes(item["blob"])
            try:
                sandbox.write_file(item["path"], data)
            except InterpreterError as error:
                problems.append(_problem(item["path"], error))
        count = len(arguments["content"]) - len(problems)
        return [_files_result([{"type": "text", "text": f"Successfully wrote {count} file(s)"}], problems)]

    def _tool_listFiles(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        folder = arguments.get("directoryPath") or "."
        try:
            entries = sandbox.list_files(folder)
        except InterpreterError as error:
            return [_error(_problem(folder, error))]
        if len(entries) == 1 and not entries[0].is_dir and entries[0].path == folder.strip("/"):
            return [_error(f"Not a directory: {folder}")]
        content = []
        for entry in entries:
            link: dict[str, Any] = {"type": "resource_link", "name": entry.path.rsplit("/", 1)[-1]}
            link["uri"] = f"file:///{entry.path}"
            if entry.is_dir:
                link["description"] = "Directory"
            else:
                link.update(description="File", mimeType=entry.mime_type, size=entry.size)
            content.append(link)
        return [{"content": content, "isError": False}]

    def _tool_removeFiles(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        problems = []
        for path in arguments["paths"]:
            try:
                sandbox.remove(path)
            except InterpreterError as error:
                problems.append(_problem(path, error))
        return [_files_result([{"type": "text", "text": "Removed"}], problems)]


def _check_values(value: Any, shape: Shape, where: str, problems: list[tuple[str, str]]) -> None:
    """What the service checks that botocore's client-side validation does not: enums, maxima, patterns."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _check_values(value[name], member, f"{where}.{name}".lstrip("."), problems)
        return
    if isinstance(shape, ListShape) and isinstance(value, list):
        for number, item in enumerate(value):
            _check_values(item, shape.member, f"{where}[{number}]", problems)
        size, unit = len(value), " items"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        size, unit = value, ""
    elif isinstance(value, str | bytes | bytearray):
        enum, pattern = shape.metadata.get("enum"), shape.metadata.get("pattern")
        if enum and value not in enum:
            problems.append((where, f"{value!r} is not one of {enum}"))
        if pattern and isinstance(value, str) and not re.fullmatch(pattern, value):
            problems.append((where, f"does not match {pattern}"))
        size, unit = len(value), " characters" if isinstance(value, str) else " bytes"
    else:
        return
    if low is not None and size < low:
        problems.append((where, f"must be at least {low}{unit}"))
    if high is not None and size > high:
        problems.append((where, f"must be at most {high}{unit}"))


def _started(session: FakeSession) -> dict[str, Any]:
    """StartCodeInterpreterSessionResponse: its three required members."""
    return {
        "codeInterpreterIdentifier": session.identifier,
        "sessionId": session.session_id,
        "createdAt": session.created,
    }


def _clear_context(sandbox: LocalSandbox, language: str) -> None:
    """``clearContext``: the run starts without the variables of earlier runs of that language."""
    if language == "python":
        sandbox.execute(CLEAR_PYTHON)
        return
    deno = sandbox._kernels.pop("deno", None)  # a new Deno kernel starts empty; Python's is left alone
    if deno is not None:
        deno.shutdown()


def _pieces(text: str) -> list[str]:
    """``text`` cut into pieces of at most :data:`STREAM_PIECE` characters (no piece for empty text)."""
    return [text[start : start + STREAM_PIECE] for start in range(0, len(text), STREAM_PIECE)]


def _problem(path: str, error: Exception) -> str:
    if isinstance(error, FileNotFoundInSandbox):
        return f"No such file or directory: {path!r}"
    return f"Cannot access {path!r}: {error}"


def _error(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _files_result(content: list[dict[str, Any]], problems: list[str]) -> dict[str, Any]:
    if problems:
        return {"content": [*content, {"type": "text", "text": "\n".join(problems)}], "isError": True}
    return {"content": content, "isError": False}


def _result(
    content: list[dict[str, Any]], result: ExecutionResult, *, stderr: str, exit_code: int, is_error: bool
) -> list[dict[str, Any]]:
    """A run's events: stdout and stderr in pieces, then one event per content block, the summary on the last."""
    texts = {"stdout": result.stdout, "stderr": stderr}
    events: list[dict[str, Any]] = [
        {"content": [], "structuredContent": {stream: piece}}
        for stream, text in texts.items()
        for piece in _pieces(text)
    ]
    events += [{"content": [block]} for block in content]
    last = events.pop() if content else {"content": []}
    summary = {stream: "" for stream, text in texts.items() if not text}  # an empty stream is still reported
    summary.update(exitCode=exit_code, executionTime=result.duration * 1000)
    events.append({**last, "structuredContent": {**last.get("structuredContent", {}), **summary}, "isError": is_error})
    return events
