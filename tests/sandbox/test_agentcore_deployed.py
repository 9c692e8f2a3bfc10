"""AgentCore as it is deployed (issue 22), through the real boto3 client against the emulator over HTTP: the
emulator refuses what the service model refuses; JavaScript and TypeScript run on the configured runtime;
certificates and the mounted workspace are sent on session start and work in the session; a start tried again
makes no second session; the session is kept with the conversation, so a second app replica (sharing moto's S3)
continues it; and each backend says what it keeps between calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from streamlit.testing.v1 import AppTest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.registry import EngineRegistry
from core.config import Settings
from core.errors import CloudError
from core.models.scripted import ScriptedModel
from core.sandbox.agentcore.session import AgentCoreSandbox
from core.sandbox.agentcore.start import RECORD_NAME, client_token
from core.sandbox.local.isolation import bubblewrap_works
from core.session import Session, discard_session
from tests.conftest import BUCKET, finish, text_of, tools_by_name
from tests.prerequisites import requires
from tests.sandbox.agentcore_fake import FakeAgentCoreDataPlane
from tests.sandbox.test_agentcore_fake import agentcore_settings, fake, fake_interpreter, no_aws_network  # noqa: F401
from tests.sandbox.test_ca_bundle import CA_NAME, HTTPS_ROUND_TRIP, authority  # noqa: F401

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")

IDENTIFIER = "aws.codeinterpreter.v1"
FILE_SYSTEM = "arn:aws:s3files:us-east-1:123456789012:file-system/fs-0123456789abcdef0"
ACCESS_POINT = f"{FILE_SYSTEM}/access-point/fsap-0123456789abcdef0"


@pytest.fixture
def emulator(fake: FakeAgentCoreDataPlane) -> FakeAgentCoreDataPlane:  # noqa: F811 (the imported fixture)
    """The emulator of test_agentcore_fake, by the name these tests use."""
    return fake


@pytest.fixture
def make_sandbox(emulator: FakeAgentCoreDataPlane, tmp_path: Path) -> Iterator[Callable[..., AgentCoreSandbox]]:
    made: list[AgentCoreSandbox] = []

    def make(name: str = "conv-1", **overrides: Any) -> AgentCoreSandbox:
        settings = agentcore_settings(tmp_path / "data", **overrides)
        made.append(AgentCoreSandbox(settings, name, interpreter=fake_interpreter(emulator)))
        return made[-1]

    yield make
    for sandbox in made:
        sandbox.close()


@pytest.fixture
def replica(
    emulator: FakeAgentCoreDataPlane, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    """The settings of an app replica: its own data folder, and the S3 bucket (moto's) and AgentCore (the
    emulator) every replica shares; each session it opens makes its own AgentCore client from the environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", emulator.endpoint())
    prefix = f"app-{uuid.uuid4().hex[:8]}"

    def settings(name: str, **overrides: Any) -> Settings:
        values = {"sandbox_backend": "agentcore", "workspace_backend": "s3", "s3_bucket": BUCKET, "s3_prefix": prefix}
        return agentcore_settings(tmp_path / name, **{**values, **overrides})

    return settings


@pytest.fixture
def replicas(replica: Callable[..., Settings], open_sessions: Callable[..., Session]) -> Callable[..., Session]:
    """Open a conversation's session on a replica, as the app does (closed after the test)."""
    return lambda name, conversation_id, **overrides: open_sessions(conversation_id, replica(name, **overrides))


def _client(emulator: FakeAgentCoreDataPlane, attempts: int = 1) -> Any:
    """The real data-plane client on the emulator, trying each call ``attempts`` times (with the same token)."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    config = Config(retries={"total_max_attempts": attempts})
    return session.client("bedrock-agentcore", endpoint_url=emulator.endpoint(), config=config)


def _refused(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response: dict[str, Any] = raised.value.response  # type: ignore[assignment]
    assert response["Error"]["Code"] == "ValidationException" and response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response


# -- the emulator refuses what the service model refuses ----------------------------------------------------


def test_emulator_refuses_start_arguments_the_model_refuses(emulator: FakeAgentCoreDataPlane) -> None:
    client = _client(emulator)
    start = client.start_code_interpreter_session
    mount = {"accessPointArn": ACCESS_POINT, "fileSystemArn": FILE_SYSTEM, "mountPath": "/tmp/workspace"}
    refused = _refused(lambda: start(codeInterpreterIdentifier=IDENTIFIER,
                                     filesystemConfigurations=[{"s3FilesConfiguration": mount}]))  # fmt: skip
    assert refused["reason"] == "FieldValidationFailed"
    assert [f["name"] for f in refused["fieldList"]] == ["filesystemConfigurations[0].s3FilesConfiguration.mountPath"]
    twice = {**mount, "mountPath": "/mnt/workspace"}
    refused = _refused(lambda: start(codeInterpreterIdentifier=IDENTIFIER, filesystemConfigurations=[
        {"s3FilesConfiguration": twice}, {"s3FilesConfiguration": twice}]))  # fmt: skip
    assert refused["fieldList"][0]["name"] == "filesystemConfigurations"
    secret = {"location": {"secretsManager": {"secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ca"}}}
    refused = _refused(lambda: start(codeInterpreterIdentifier=IDENTIFIER, certificates=[secret] * 201))
    assert refused["fieldList"] == [{"name": "certificates", "message": "must be at most 200 items"}]
    bad = {"location": {"secretsManager": {"secretArn": "not-an-arn"}}}
    refused = _refused(lambda: start(codeInterpreterIdentifier=IDENTIFIER, certificates=[bad]))
    assert refused["fieldList"][0]["name"] == "certificates[0].location.secretsManager.secretArn"
    with pytest.raises(ParamValidationError, match="union"):  # botocore itself refuses a union with two members
        start(codeInterpreterIdentifier=IDENTIFIER, certificates=[{"location": {**secret["location"], "x": 1}}])
    with pytest.raises(ParamValidationError, match="clientToken"):  # 33 characters at least
        start(codeInterpreterIdentifier=IDENTIFIER, clientToken="short")
    assert emulator.sessions == {}


def test_emulator_refuses_an_unknown_runtime_and_a_token_reused_with_other_parameters(
    emulator: FakeAgentCoreDataPlane,
) -> None:
    client = _client(emulator)
    token = client_token("alice/c-1", 1, {})
    first = client.start_code_interpreter_session(codeInterpreterIdentifier=IDENTIFIER, name="a", clientToken=token)
    again = client.start_code_interpreter_session(codeInterpreterIdentifier=IDENTIFIER, name="a", clientToken=token)
    assert again["sessionId"] == first["sessionId"] and len(emulator.sessions) == 1
    refused = _refused(lambda: client.start_code_interpreter_session(
        codeInterpreterIdentifier=IDENTIFIER, name="b", clientToken=token))  # fmt: skip
    assert refused["reason"] == "IdempotentParameterMismatchException" and len(emulator.sessions) == 1
    invoke = client.invoke_code_interpreter
    arguments = {"code": "1", "language": "javascript", "runtime": "bun"}
    refused = _refused(lambda: invoke(codeInterpreterIdentifier=IDENTIFIER, sessionId=first["sessionId"],
                                      name="executeCode", arguments=arguments))  # fmt: skip
    assert refused["fieldList"][0]["name"] == "arguments.runtime"


# -- 2: the JavaScript runtime -----------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["deno", "nodejs"])
def test_javascript_and_typescript_name_the_configured_runtime(
    emulator: FakeAgentCoreDataPlane, make_sandbox: Callable[..., AgentCoreSandbox], runtime: str
) -> None:
    sandbox = make_sandbox(agentcore_js_runtime=runtime)
    assert sandbox.execute("console.log(6 * 7)", language="javascript").stdout == "42\n"
    assert sandbox.execute("const n: number = 1; console.log(n)", language="typescript").stdout == "1\n"
    sandbox.execute("print(1)")
    runs = [
        (a["language"], a.get("runtime")) for a in emulator.invocations("executeCode") if "MPLBACKEND" not in a["code"]
    ]
    assert runs[:4] == [("javascript", runtime), ("typescript", runtime), ("python", None), ("python", None)]
    shown = "Node.js" if runtime == "nodejs" else "Deno"
    assert f"JavaScript/TypeScript ones ({shown})" in sandbox.isolation_report().persists


# -- 3: CA certificates --------------------------------------------------------------------------------------


def test_certificates_are_sent_and_trusted_in_the_session(
    emulator: FakeAgentCoreDataPlane, make_sandbox: Callable[..., AgentCoreSandbox], moto_url: str,
    authority: dict[str, bytes],  # noqa: F811
) -> None:  # fmt: skip
    secrets = boto3.client("secretsmanager", endpoint_url=moto_url)
    emulator.secrets = secrets
    arn = secrets.create_secret(Name=f"proxy-ca-{uuid.uuid4().hex[:6]}", SecretString=authority["ca"].decode())["ARN"]
    sandbox = make_sandbox(agentcore_certificates=[arn])
    for name in ("server.pem", "server.key"):
        sandbox.write_file(name, authority[name.replace(".pem", "").replace("server.key", "key")])
    sandbox.write_file("hello.txt", b"hello over TLS")
    assert '"outcome": "hello over TLS"' in sandbox.execute(HTTPS_ROUND_TRIP).stdout
    (started,) = [params for operation, params in emulator.calls if operation == "StartCodeInterpreterSession"]
    assert started["certificates"] == [{"location": {"secretsManager": {"secretArn": arn}}}]
    echoed = sandbox.interpreter.get_session()
    assert echoed["certificates"] == started["certificates"]


def test_a_certificate_setting_the_service_would_refuse_is_refused_here(
    make_sandbox: Callable[..., AgentCoreSandbox],
) -> None:
    with pytest.raises(CloudError, match=r"INTERPRETER_AGENTCORE_CERTIFICATES: 'ca\.pem' is not a Secrets Manager"):
        make_sandbox(agentcore_certificates=["ca.pem"])


# -- 4: idempotent, shared sessions --------------------------------------------------------------------------


def test_a_start_tried_again_makes_no_second_session(
    emulator: FakeAgentCoreDataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first answer is lost (the service made the session, the app saw a 500): botocore tries again with the
    same token and gets the same session; so does the app when its own first start failed."""
    interpreter = fake_interpreter(emulator)
    interpreter.data_plane_client = _client(emulator, attempts=2)
    original = emulator.start_code_interpreter_session
    lost: list[str] = []

    def answer_lost(**params: Any) -> dict[str, Any]:
        answer = original(**params)
        if len(lost) < 2:
            lost.append(answer["sessionId"])
            from tests.sandbox.agentcore_fake import client_error

            raise client_error("InternalServerException", "Internal failure", "StartCodeInterpreterSession", 500)
        return answer

    monkeypatch.setattr(emulator, "start_code_interpreter_session", answer_lost)
    sandbox = AgentCoreSandbox(agentcore_settings(tmp_path), "c", interpreter=interpreter)
    try:
        with pytest.raises(CloudError, match="internal error"):  # two answers lost: botocore's two attempts fail
            sandbox.execute("x = 1")
        assert sandbox.execute("print('one session')").stdout == "one session\n"  # the app's own retry
    finally:
        sandbox.close()
    tokens = {params["clientToken"] for operation, params in emulator.calls if operation.startswith("Start")}
    assert len(tokens) == 1 and len(emulator.sessions) == 1 and set(lost) == set(emulator.sessions)


def test_a_conversation_continues_on_another_replica_with_the_same_sandbox(
    emulator: FakeAgentCoreDataPlane,
    replica: Callable[..., Settings],
    replicas: Callable[..., Session],
    moto_url: str,
) -> None:
    store_a = ConversationStore(replica("a"))
    conversation = store_a.create()
    session_a = replicas("a", conversation.id)
    steps = [{"tool": "execute_code", "input": {"code": "x = 41"}}, {"text": "Set."}]
    finish(ChatEngine(session_a, ScriptedModel(steps), "scripted", store_a).start_turn("set x"))
    (started,) = [p for operation, p in emulator.calls if operation == "StartCodeInterpreterSession"]

    store_b = ConversationStore(replica("b"))
    assert store_b.get(conversation.id) is not None  # the conversation is in the shared bucket
    session_b = replicas("b", conversation.id)
    steps = [{"tool": "execute_code", "input": {"code": "print(x + 1)"}}, {"text": "42."}]
    finish(ChatEngine(session_b, ScriptedModel(steps), "scripted", store_b).start_turn("print x + 1"))
    assert session_b.history[-1].result is not None and session_b.history[-1].result.stdout == "42\n"
    assert [operation for operation, _ in emulator.calls].count("StartCodeInterpreterSession") == 1
    assert len(emulator.running()) == 1 and started["clientToken"]
    key = f"{session_a.settings.s3_prefix}/local/{conversation.id}/{RECORD_NAME}"
    assert boto3.client("s3", endpoint_url=moto_url).get_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0

    assert session_a.sandbox.sleep(idle_seconds=1800)  # replica A's idle sweep: B holds the session now
    assert len(emulator.running()) == 1
    assert text_of(tools_by_name(session_b)["execute_code"](code="print(x)")).startswith("[stdout]\n41")
    session_a.close()
    assert len(emulator.running()) == 1  # closing a replica leaves the kept session for the others


def test_a_session_that_ended_is_started_anew_with_the_next_token(
    emulator: FakeAgentCoreDataPlane, replicas: Callable[..., Session]
) -> None:
    session = replicas("a", "c-ended")
    session.sandbox.execute("x = 1")
    emulator.expire()
    other = replicas("b", "c-ended")
    result = other.sandbox.execute("print('x' in dir())")
    assert result.stdout == "False\n"
    starts = [params for operation, params in emulator.calls if operation == "StartCodeInterpreterSession"]
    assert len(starts) == 2 and starts[0]["clientToken"] != starts[1]["clientToken"]
    assert starts[1]["clientToken"].endswith("-2")
    assert session.sandbox.execute("print('x' in dir())").stdout == "False\n"  # A follows to B's new session
    assert len(emulator.running()) == 1


def test_an_app_restart_reattaches_the_session_it_left(
    emulator: FakeAgentCoreDataPlane, replicas: Callable[..., Session]
) -> None:
    session = replicas("a", "c-restart")
    session.sandbox.execute("kept = 'across restarts'")
    session.close()  # the app stops: the session is left running, kept with the conversation
    reopened = replicas("a", "c-restart")
    assert reopened.sandbox.execute("print(kept)").stdout == "across restarts\n"
    operations = [operation for operation, _ in emulator.calls]
    assert operations.count("StartCodeInterpreterSession") == 1 and "StopCodeInterpreterSession" not in operations


def test_deleting_a_conversation_stops_its_kept_session_on_any_replica(
    emulator: FakeAgentCoreDataPlane, replica: Callable[..., Settings], replicas: Callable[..., Session]
) -> None:
    left = replicas("a", "c-deleted-elsewhere")
    left.sandbox.execute("x = 1")
    left.close()  # kept for the other replicas ...
    assert len(emulator.running()) == 1
    discard_session("c-deleted-elsewhere", replica("b"))  # ... until one deletes the conversation, unopened there
    assert emulator.running() == []

    registry = EngineRegistry(unwatched_turn_timeout=600, idle_timeout=600)
    store = ConversationStore(replica("c"))
    here = store.create().id
    engine = registry.open("local", here, lambda: ChatEngine(replicas("c", here), None, "none", store), max_open=5)
    engine.session.sandbox.execute("x = 1")
    assert len(emulator.running()) == 1
    assert registry.close("local", here, for_good=True)  # the page's Delete, with the engine open on this replica
    assert emulator.running() == []
    registry.close_all()


# -- 1: the mounted workspace --------------------------------------------------------------------------------


def test_workspace_mount_copies_inside_the_session_and_the_side_panel_reads_s3(
    emulator: FakeAgentCoreDataPlane, replicas: Callable[..., Session], moto_url: str
) -> None:
    session = replicas("a", "c-mounted", agentcore_workspace_mount=ACCESS_POINT)
    prefix = session.settings.s3_prefix
    emulator.add_file_system(ACCESS_POINT, FILE_SYSTEM, (boto3.client("s3", endpoint_url=moto_url), BUCKET, prefix))
    tools = tools_by_name(session)
    code = "open('chart.csv', 'w').write('a,b\\n1,2\\n')\nopen('notes.txt', 'w').write('n')"
    saved = text_of(tools["execute_code"](code=code, output_filename="chart.csv"))
    assert "Saved to workspace: chart.csv -> code-interpreter/chart.csv (8 bytes)" in saved
    pushed = text_of(tools["ci_push_to_workspace"](paths=["notes.txt", "missing.txt"]))
    assert "notes.txt -> code-interpreter/notes.txt (1 bytes)" in pushed and "missing.txt: no such file" in pushed

    (started,) = [params for operation, params in emulator.calls if operation == "StartCodeInterpreterSession"]
    assert started["filesystemConfigurations"] == [
        {"s3FilesConfiguration": {"accessPointArn": ACCESS_POINT, "fileSystemArn": FILE_SYSTEM,
                                  "mountPath": "/mnt/workspace"}}]  # fmt: skip
    assert emulator.invocations("readFiles") == []  # nothing was downloaded to the app
    folder = "/mnt/workspace/local/c-mounted/code-interpreter"
    assert any(folder in a["command"] for a in emulator.invocations("executeCommand"))
    assert {f.path for f in session.workspace.list()} == {"chart.csv", "notes.txt"}  # read through S3
    assert session.workspace.read("chart.csv") == b"a,b\n1,2\n"
    assert "chart.csv" in text_of(tools["workspace_list"]())

    emulator.expire()  # a new session mounts the same file system: the saved files are there
    listed = session.sandbox.run_command(f"ls {folder}").stdout.split()
    assert listed == ["chart.csv", "notes.txt"]
    description = next(t.tool_spec["description"] for t in session.tools if t.tool_name == "execute_code")
    assert "The workspace is mounted at /mnt/workspace/" in description


def test_without_the_mount_files_are_copied_through_the_app(
    emulator: FakeAgentCoreDataPlane, replicas: Callable[..., Session]
) -> None:
    session = replicas("a", "c-copied")
    tools = tools_by_name(session)
    tools["execute_code"](code="open('r.txt', 'w').write('42')")
    assert "r.txt -> code-interpreter/r.txt (2 bytes)" in text_of(tools["ci_push_to_workspace"](paths=["r.txt"]))
    assert emulator.invocations("readFiles")[-1]["paths"] == ["r.txt"]
    assert "filesystemConfigurations" not in emulator.calls[0][1]


def test_a_mount_setting_that_cannot_work_is_refused(make_sandbox: Callable[..., AgentCoreSandbox]) -> None:
    with pytest.raises(CloudError, match="needs INTERPRETER_WORKSPACE_BACKEND=s3"):
        make_sandbox(agentcore_workspace_mount=ACCESS_POINT)
    efs = "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-0123456789abcdef0"
    with pytest.raises(CloudError, match="INTERPRETER_AGENTCORE_WORKSPACE_FILESYSTEM"):
        make_sandbox(agentcore_workspace_mount=efs, workspace_backend="s3", s3_bucket=BUCKET)


# -- 6: what survives, per backend ---------------------------------------------------------------------------


def _described(tools: list[Any], name: str) -> str:
    return str(next(t.tool_spec["description"] for t in tools if t.tool_name == name))


def test_each_backend_says_what_it_keeps_in_the_tools_and_the_side_panel(
    replicas: Callable[..., Session], open_sessions: Callable[..., Session], make_settings: Callable[..., Settings]
) -> None:
    cloud = replicas("a", "c-said")
    local = open_sessions("c-local", make_settings())
    said = {
        cloud: ["while the AgentCore session lives", "processes left running in the background", "(Deno)"],
        local: ["one Deno kernel for both", "Python's are then saved and restored", "end when that command ends"],
    }
    for session, phrases in said.items():
        persists = session.sandbox.isolation_report().persists
        assert all(phrase in persists for phrase in phrases), persists
        for name in ("execute_code", "execute_command"):
            assert _described(session.tools, name).endswith(persists)

    def panel(report: object) -> None:  # the page runs this function's source alone: names are imported inside
        from components.sandbox_panel import render_isolation
        from core.sandbox.local.isolation import IsolationReport

        assert isinstance(report, IsolationReport)
        render_isolation(report)

    page = AppTest.from_function(panel, args=(cloud.sandbox.isolation_report(),)).run()
    assert any("while the AgentCore session lives" in caption.value for caption in page.caption)
