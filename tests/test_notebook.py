"""Exporting a conversation as a Jupyter notebook: cells and outputs, a real re-run with nbclient, the ZIP."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.notebook import (
    ERROR_TAG,
    export_everything,
    export_file_name,
    notebook_bytes,
    transcript_to_notebook,
)
from core.chat.transcript import ChatEvent
from core.config import Settings
from core.models.scripted import ScriptedModel
from core.session import open_session
from core.types import TABLE_JSON, ExecutionResult, StopReason, ToolRecord
from tests.conftest import finish, make_zip, tools_by_name

CSV = "region,amount\nnorth,10\nsouth,20\neast,30\nwest,40\n"
LOAD = "import pandas as pd\nsales = pd.read_csv('sales/q1.csv')\nprint('total', sales['amount'].sum())"
CHART = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots()\nax.bar(sales['region'], sales['amount'])\nfig.savefig('chart.png')\nplt.show()"
)
TABLE = "sales.sort_values('amount', ascending=False).reset_index(drop=True)"
SCRIPT: list[dict[str, Any]] = [
    {"tool": "execute_code", "input": {"code": LOAD}},
    {"tool": "execute_code", "input": {"code": CHART, "output_filename": "chart.png"}},
    {"tool": "execute_code", "input": {"code": TABLE}},
    {"tool": "execute_command", "input": {"command": "wc -l sales/q1.csv && echo shell done"}},
    {"tool": "execute_code", "input": {"code": "console.log(['a', 'b'].join('+'))", "language": "javascript"}},
    {"tool": "execute_code", "input": {"code": "ratio = 1 / 0"}},
    {"tool": "execute_command", "input": {"command": "ls no-such-folder"}},
    {
        "tool": "file_operations",
        "input": {"operation": "write", "content": [{"path": "out/notes.txt", "text": "a\nb"}]},
    },
    {"tool": "ci_push_to_workspace", "input": {"paths": ["out/notes.txt"]}},
    {"tool": "execute_code", "input": {"code": "print(open('out/notes.txt').read().split())"}},
    {"text": "Total sales are **100**; dividing by zero failed."},
]


def sales_zip() -> bytes:
    return make_zip({"sales/q1.csv": CSV})


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChatEngine, list[str]]]:
    """The scripted conversation (built once: the tests only read it), with the upload's sandbox paths."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("notebook") / "data", kernel_pool_size=0, execution_timeout=60)
    store = ConversationStore(settings)
    conversation = store.create()
    session = open_session(conversation.id, settings)
    engine = ChatEngine(session, ScriptedModel(SCRIPT), "test", store)
    try:
        uploaded = session.preload("sales.zip", sales_zip())
        engine.add_event(ChatEvent(kind="notice", text=":material/attach_file: **sales.zip** is in the sandbox."))
        finish(engine.start_turn("Analyse the sales"))
        finish(engine.start_turn("```python\nprint(len(sales))\n```"))
        yield engine, uploaded
    finally:
        engine.close()
        session.close()


def kinds(nb: NotebookNode) -> list[str]:
    return [cell.cell_type for cell in nb.cells]


def code_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def stdout(cell: NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_conversation_becomes_cells_with_outputs(conversation: tuple[ChatEngine, list[str]]) -> None:
    engine, _ = conversation
    nb = transcript_to_notebook(engine.transcript.events(), title="Sales analysis")
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.language_info.name == "python"
    assert nb.metadata.code_interpreter.title == "Sales analysis" and nb.metadata.code_interpreter.exported
    assert kinds(nb) == [
        "markdown",  # title
        "markdown",  # the upload notice
        "markdown",  # You: Analyse the sales
        "code",  # load
        "code",  # chart
        "markdown",  # saved to the workspace
        "code",  # table
        "code",  # %%bash wc
        "markdown",  # JavaScript, not re-run
        "code",  # 1 / 0
        "code",  # %%bash ls (fails)
        "code",  # file write
        "markdown",  # pushed to the workspace
        "code",  # read the notes
        "markdown",  # the answer
        "markdown",  # You ran the step below directly
        "code",  # print(len(sales))
    ]
    title, notice, user = (cell.source for cell in nb.cells[:3])
    assert title == "# Sales analysis" and notice == "***sales.zip** is in the sandbox.*"
    assert user == "> **You:** Analyse the sales"
    load, chart, table, wc, error, ls, write, notes, direct = code_cells(nb)
    assert [cell.execution_count for cell in code_cells(nb)] == list(range(1, 10))
    assert load.source == LOAD and stdout(load) == "total 100\n"
    image = next(o for o in chart.outputs if o.output_type == "display_data")
    assert base64.b64decode(image.data["image/png"]).startswith(b"\x89PNG") and image.data["text/plain"]
    assert "`code-interpreter/chart.png`" in nb.cells[5].source
    (frame,) = table.outputs
    assert frame.output_type == "display_data" and frame.data[TABLE_JSON]["data"][0]["amount"] == 40
    assert "<table" in frame.data["text/html"] and "west" in frame.data["text/html"]
    assert "west" in frame.data["text/plain"]
    assert wc.source.startswith("%%bash\nwc -l") and stdout(wc) == "5 sales/q1.csv\nshell done\n"
    javascript = nb.cells[8].source
    assert "Deno" in javascript and "```javascript\nconsole.log" in javascript
    assert "```\na+b\n```" in javascript
    (failure,) = error.outputs
    assert failure.output_type == "error" and failure.ename == "ZeroDivisionError" and failure.traceback
    assert error.metadata.tags == [ERROR_TAG] and ls.metadata.tags == [ERROR_TAG]
    assert ls.outputs[-1].ename == "CalledProcessError" and "no-such-folder" in ls.outputs[0].text
    assert "tags" not in load.metadata
    assert write.source.splitlines()[-1] == "Path('out/notes.txt').write_text('a\\nb', encoding='utf-8')"
    assert "`code-interpreter/notes.txt`" in nb.cells[12].source
    assert stdout(notes) == "['a', 'b']\n"
    assert nb.cells[14].source.startswith("Total sales") and "directly" in nb.cells[15].source
    assert stdout(direct) == "4\n"
    assert json.loads(notebook_bytes(nb))["nbformat"] == 4


def test_exported_notebook_reruns_top_to_bottom(conversation: tuple[ChatEngine, list[str]], tmp_path: Path) -> None:
    engine, uploaded = conversation
    original = nbformat.reads(notebook_bytes(transcript_to_notebook(engine.transcript.events())), as_version=4)
    run_dir = tmp_path / "rerun"
    for path in uploaded:  # the uploads only, not what the code wrote
        (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / path).write_bytes(engine.session.sandbox.read_file(path))
    rerun = nbformat.reads(nbformat.writes(original), as_version=4)
    NotebookClient(rerun, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}).execute()
    cells, before = code_cells(rerun), code_cells(original)
    assert all(cell.execution_count is not None for cell in cells)  # every cell ran, past the failing ones
    _load, _chart, table, _wc, error, ls, _write, _notes, _direct = cells
    for index in (0, 3, 7, 8):  # the deterministic printed outputs are the same
        assert stdout(cells[index]) == stdout(before[index]) != ""
    (result,) = [o for o in table.outputs if o.output_type == "execute_result"]
    assert result.data["text/plain"] == before[2].outputs[0].data["text/plain"]
    assert [o.ename for o in error.outputs if o.output_type == "error"] == ["ZeroDivisionError"]
    assert [o.ename for o in ls.outputs if o.output_type == "error"] == ["CalledProcessError"]
    assert (run_dir / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert (run_dir / "out" / "notes.txt").read_text() == "a\nb"


def test_export_everything_holds_the_notebook_and_the_workspace(conversation: tuple[ChatEngine, list[str]]) -> None:
    engine, _ = conversation
    workspace = engine.session.workspace
    target = io.BytesIO()
    export_everything(engine.transcript.events(), workspace, target, title="Sales analysis")
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        assert names == ["conversation.ipynb", "workspace/chart.png", "workspace/notes.txt"]
        for info in workspace.list():
            assert archive.read(f"workspace/{info.path}") == workspace.read(info.path)
        nb = nbformat.reads(archive.read("conversation.ipynb").decode(), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].source == "# Sales analysis"


def record(tool: str, tool_input: dict[str, Any], result: ExecutionResult | None, text: str = "") -> ChatEvent:
    status = "success" if result is not None and result.ok else "error"
    return ChatEvent(kind="tool", tool=ToolRecord(tool=tool, input=tool_input, status=status, text=text, result=result))


def test_steps_that_cannot_rerun_become_notes() -> None:
    events = [
        record("execute_code", {"code": "never()"}, None, "Not run: the user pressed Stop."),
        record(
            "execute_code",
            {"code": "import time\ntime.sleep(600)"},
            ExecutionResult(stdout="started\n", stopped=StopReason.INTERRUPTED, notes=["The run was stopped."]),
        ),
        record("execute_code", {"code": "const s: string = '```'", "language": "typescript"}, ExecutionResult("ok\n")),
        record("workspace_read", {"path": "code-interpreter/a.csv"}, None, "Workspace file not found"),
        ChatEvent(kind="notice", level="warning", text="Stopped.\n\n```text\nkept\n```"),
    ]
    nb = transcript_to_notebook(events)
    nbformat.validate(nb)
    assert kinds(nb) == ["markdown"] * 5
    stop, stopped, typescript, read, notice = (cell.source for cell in nb.cells)
    assert stop.startswith("*Not run: the user pressed Stop.*") and "```python\nnever()\n```" in stop
    assert "does not re-run" in stopped and "```\nstarted\n```" in stopped
    assert (
        "TypeScript ran in Deno" in typescript
        and "````typescript\nconst s: string = '```'\n````" in typescript
        and "```\nok\n```" in typescript
    )
    assert read == "*Read `code-interpreter/a.csv` from the workspace failed: Workspace file not found*"
    assert notice == "*Stopped.*\n\n```text\nkept\n```"


def test_links_to_sandbox_files_become_text_in_the_notebook() -> None:
    answer = "See [the data](sandbox:/mnt/data/x.csv), ![chart](/mnt/data/c.png) and [docs](https://pandas.pydata.org)."
    (cell,) = transcript_to_notebook([ChatEvent(kind="assistant", text=answer)]).cells
    assert cell.source == (
        "See the data (sandbox:/mnt/data/x.csv), chart (/mnt/data/c.png) and [docs](https://pandas.pydata.org)."
    )


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Sales analysis", "sales-analysis.ipynb"),
        ("Café: ünïcode / ?!", "cafe-unicode.ipynb"),
        ("???", "conversation.ipynb"),
    ],
)
def test_export_file_names_are_safe(title: str, expected: str) -> None:
    assert export_file_name(title, ".ipynb") == expected


def test_a_step_s_outputs_keep_their_order_in_the_notebook(settings: Settings) -> None:
    session = open_session("ordered", settings)
    try:
        code = "import pandas as pd\nprint('before')\ndisplay(pd.DataFrame({'a': [1]}))\nprint('after')"
        tools_by_name(session)["execute_code"](code=code)
        record = session.history[-1]
    finally:
        session.close()
    notebook = transcript_to_notebook([ChatEvent(kind="tool", tool=record, source="direct")])
    outputs = notebook.cells[0].outputs
    kinds = [o.get("text", "").strip() or next(iter(o.get("data", {})), "") for o in outputs]
    assert kinds == ["before", TABLE_JSON, "after"]
