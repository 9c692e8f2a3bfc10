"""Shared fixtures: settings on a temporary data folder, sandboxes and sessions that are always closed."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import DownloadButton

from components.state import app_settings, engine_registry
from core.chat.transcript import ChatEvent
from core.chat.turn import ActiveTurn
from core.config import Settings
from core.files.downloads import DOWNLOADS
from core.session import Session, open_session
from tests.prerequisites import check_prerequisites

if TYPE_CHECKING:
    from core.chat.engine import ChatEngine
    from tests.hostile import World


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``requires`` (see :mod:`tests.prerequisites`) is skipped, or fails under CI, without it."""
    check_prerequisites(item)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a temporary data folder; no kernel pool unless asked (it starts kernels in the background)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "kernel_pool_size": 0,
            "execution_timeout": 60,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def open_sessions() -> Iterator[Callable[..., Session]]:
    """Open sessions that are closed after the test."""
    opened: list[Session] = []

    def opener(conversation_id: str, settings: Settings, **kwargs: Any) -> Session:
        session = open_session(conversation_id, settings, **kwargs)
        opened.append(session)
        return session

    yield opener
    for session in opened:
        session.close()


@pytest.fixture
def session(open_sessions: Callable[..., Session], settings: Settings) -> Session:
    return open_sessions("conv-1", settings)


@pytest.fixture
def make_engine(settings: Settings, open_sessions: Callable[..., Session]) -> Callable[..., ChatEngine]:
    """An engine of a new conversation: ``model`` a Strands model, a :class:`ModelChoice` to build, or none.

    Keyword arguments override ``settings`` for that engine's session.
    """
    from core.chat.conversations import ConversationStore
    from core.chat.engine import ChatEngine
    from core.models import ModelChoice, build_model

    store = ConversationStore(settings)

    def make(model: Any = None, **overrides: Any) -> ChatEngine:
        session = open_sessions(store.create().id, settings.model_copy(update=overrides))
        built = build_model(model) if isinstance(model, ModelChoice) else model
        engine = ChatEngine(session, built, "test model", store)
        engine.model_choice = model if isinstance(model, ModelChoice) else None  # as components.state does
        return engine

    return make


def tools_by_name(tools: Session | Iterable[Any]) -> dict[str, Any]:
    """Tools (a session's, or any) by name (``execute_code``, ``file_operations``, ...), to call as the agent would."""
    return {t.tool_name: t for t in (tools.tools if isinstance(tools, Session) else tools)}


@pytest.fixture
def tools(session: Session) -> dict[str, Any]:
    return tools_by_name(session)


def tool_results(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tool results in an agent's messages (``agent.messages``), in order."""
    return [block["toolResult"] for message in messages for block in message["content"] if "toolResult" in block]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Wait until ``condition()`` is true; fail saying ``what`` was awaited if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


def gated_code(gate: str = "go") -> str:
    """Python lines that wait until a file named ``gate`` appears in the sandbox's folder.

    A step that runs them lasts as long as the test needs, however slow the machine: the test writes the file
    (``sandbox.write_file(gate, b"")``) when it has seen what it looks for while the step runs.
    """
    return f"import os, time\nwhile not os.path.exists({gate!r}):\n    time.sleep(0.02)\n"


def wait_until_idle(engine: ChatEngine, timeout: float = 60) -> None:
    """Wait until an engine runs no turn and no queued message waits."""
    wait_for(lambda: not engine.busy, "the engine to become idle", timeout)


PAGE_TEXT = ("markdown", "code", "caption", "info", "success", "warning", "error")


def page_text(page: Any, *kinds: str) -> str:
    """The text an AppTest page (or a part of it, such as ``app.sidebar``) shows, one element a line.

    ``kinds`` names the element types to read (``"markdown"``, ``"caption"``, ``"button"`` for button labels,
    ...), by default every kind that shows text (``PAGE_TEXT``).
    """
    texts = []
    for kind in kinds or PAGE_TEXT:
        texts += [str(element.label if kind in ("button", "expander") else element.value) for element in page.get(kind)]
    return "\n".join(texts)


def text_of(result: dict[str, Any]) -> str:
    """The text the model receives from a tool result."""
    return "\n".join(block["text"] for block in result["content"] if "text" in block)


def make_zip(entries: dict[str, bytes] | dict[str, str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP archive, in memory, holding ``entries`` (name to content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def close_app_engines() -> None:
    """Close the engines (sandboxes) the AppTest runs opened; the next app gets a new registry."""
    engine_registry().close_all()
    engine_registry.clear()


def send(app: AppTest, text: str) -> AppTest:
    """Send a chat message on the page and wait until its turn ended."""
    app.chat_input[0].set_value(text).run()
    return run_until_idle(app)


def link_button(app: AppTest, label: str) -> Any:
    """The one link button labelled ``label`` (its proto: ``label``, ``url``, ``disabled``)."""
    (link,) = [node.proto for node in app.get("link_button") if node.proto.label == label]
    return link


def fetched(url: str) -> bytes:
    """What the server's download route would send for a link the page shows (``.../download/<token>``)."""
    offer = DOWNLOADS.find(url.rsplit("/", 1)[1])
    assert offer is not None, f"{url} is not an offered download"
    target = io.BytesIO()
    offer.write(target)
    return target.getvalue()


class RecordedMediaFiles(MediaFileManager):
    """The media files of one AppTest run, kept reachable after it (AppTest makes a new manager per run)."""

    made: list[RecordedMediaFiles] = []

    def __init__(self, storage: MemoryMediaFileStorage) -> None:
        super().__init__(storage)
        self.storage = storage
        RecordedMediaFiles.made.append(self)


@pytest.fixture
def media_files(monkeypatch: pytest.MonkeyPatch) -> list[RecordedMediaFiles]:
    """The media file managers of the AppTest runs from now on, the last run's last."""
    import streamlit.testing.v1.app_test as app_test

    monkeypatch.setattr(app_test, "MediaFileManager", RecordedMediaFiles)
    monkeypatch.setattr(RecordedMediaFiles, "made", [])
    return RecordedMediaFiles.made


def clicked(button: DownloadButton, media: list[RecordedMediaFiles]) -> bytes:
    """The bytes a browser receives for a download button: its deferred data, made as a click makes it."""
    manager = media[-1]
    url = manager.execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id else button.proto.url
    return bytes(manager.storage.get_file(url.rsplit("/", 1)[-1]).content)


def sandbox_of(app: AppTest) -> Any:
    """The sandbox of the conversation an AppTest page shows."""
    engine = engine_registry().get("local", app.query_params["c"])
    assert engine is not None
    return engine.session.sandbox


def shown(app: AppTest) -> str:
    """The page's text with the titles of its steps and of its status boxes (a background command's)."""
    titles = [str(element.label) for kind in ("expander", "status") for element in app.get(kind)]
    return "\n".join([*titles, page_text(app)])


def shown_until(app: AppTest, condition: Callable[[str], bool], what: str) -> str:
    """Rerun the page (as its fragment would by itself) until what it shows satisfies ``condition``."""
    text = ""

    def looks() -> bool:
        nonlocal text
        app.run()
        text = shown(app)
        return condition(text)

    wait_for(looks, what)
    return text


def run_until_idle(app: AppTest, timeout: float = 90) -> AppTest:
    """Rerun the page until no turn runs, then once more (a browser's fragments would do this by themselves).

    The last run may have drawn the side panel while the turn was still ending; in the browser its own fragment
    redraws it two seconds later, here the extra run does.
    """
    deadline = time.monotonic() + timeout
    while any(button.key == "stop_turn" for button in app.button):
        if time.monotonic() > deadline:
            raise AssertionError("the turn did not end in time")
        time.sleep(0.1)
        app.run()
    return app.run()


def finish(turn: ActiveTurn) -> list[ChatEvent]:
    """Wait for a chat turn to end and return its events."""
    version = -1
    while True:
        snapshot = turn.wait(version, 5)
        version = turn.version
        if snapshot.done:
            return snapshot.events


LOGIN_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "s",
    "client_id": "c",
    "client_secret": "x",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}
"""``st.secrets["auth"]`` of a login (``st.login``) for AppTest; nothing is ever asked of the provider."""


# -- the chat page under AppTest ------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AppTest]]:
    """An AppTest of ``script`` (the chat page by default) with the scripted model's ``steps``, or no model."""
    apps: list[AppTest] = []

    def make(steps: list[dict] | None = None, pool_size: int = 0, script: str = "pages/chat.py") -> AppTest:  # type: ignore[type-arg]
        monkeypatch.setenv("INTERPRETER_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("INTERPRETER_KERNEL_POOL_SIZE", str(pool_size))
        if steps is None:
            monkeypatch.setenv("INTERPRETER_MODEL_PROVIDER", "none")
        else:
            steps_file = tmp_path / "steps.json"
            steps_file.write_text(json.dumps(steps))
            monkeypatch.setenv("INTERPRETER_MODEL_PROVIDER", "scripted")
            monkeypatch.setenv("INTERPRETER_SCRIPTED_MODEL_FILE", str(steps_file))
        app_settings.clear()
        app = AppTest.from_file(str(REPO / script), default_timeout=90)
        apps.append(app)
        return app

    yield make
    close_app_engines()
    app_settings.clear()


LOGIN_ISSUER = "https://idp.example"
"""The issuer of the logins :func:`make_login_app` makes."""


@pytest.fixture
def make_login_app(make_app: Callable[..., AppTest]) -> Callable[[str | None], AppTest]:
    """The whole app (``app.py``) with a login, as ``subject`` (``None``: nobody has logged in)."""

    def make(subject: str | None) -> AppTest:
        app = make_app(script="app.py")
        app.secrets["auth"] = LOGIN_SECRETS
        if subject is not None:
            app.user = {"is_logged_in": True, "sub": subject, "iss": LOGIN_ISSUER, "email": f"{subject}@example.com"}
        return app

    return make


# -- S3 over real HTTP (moto's server) -------------------------------------------------------------------

BUCKET = "workspace-bucket"

AWS_VARIABLES = [
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
]


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Moto's S3 server on a free port of 127.0.0.1, with fake credentials and no AWS configuration files."""
    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as env:
        for name in AWS_VARIABLES:
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", str(empty))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never look for an instance role
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            url = f"http://{host}:{port}"
            boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
            yield url
        finally:
            server.stop()


# -- a session under attack (tests/test_hostile_*.py) ---------------------------------------------------------


@pytest.fixture
def world(make_settings: Callable[..., Settings], open_sessions: Callable[..., Session], tmp_path: Path) -> World:
    """A session with no network, another conversation beside it, and files outside both."""
    from tests.hostile import World  # it uses this module's helpers

    settings = make_settings(sandbox_network="none")
    session = open_sessions("target", settings)
    other = open_sessions("victim", settings)
    other.sandbox.write_file("secret.txt", b"the other conversation's secret")
    other.workspace.write("other.txt", b"the other conversation's result")
    session.workspace.write("keep.txt", b"a saved result")
    (tmp_path / "outside.txt").write_bytes(b"next to the data folder")
    return World(session, other, tools_by_name(session), tmp_path.resolve())
