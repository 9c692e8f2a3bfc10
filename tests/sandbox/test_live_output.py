"""Output as Jupyter shows it: live while the code runs, in order, progress bars on one line, bounded (real kernels)."""

from __future__ import annotations

import pytest

from core.sandbox.output import OutputCollector, StreamText, apply_carriage_returns
from core.session import Session
from core.types import IMAGE_PNG, STDERR, STDOUT, TABLE_JSON, TEXT_MARKDOWN, ExecutionResult
from tests.conftest import gated_code

MIXED = """import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
print('before the table')
display(pd.DataFrame({'a': [1, 2]}))
print('between')
plt.plot([1, 2, 3])
plt.show()
print('after the chart')
"""


def _kinds(result: ExecutionResult) -> list[str]:
    return [o.mime_type for o in result.outputs]


def test_outputs_keep_the_order_the_code_produced_them(session: Session) -> None:
    result = session.sandbox.execute(MIXED)
    assert _kinds(result) == [STDOUT, TABLE_JSON, STDOUT, IMAGE_PNG, STDOUT]
    texts = [o.data for o in result.outputs if o.mime_type == STDOUT]
    assert texts[0] == "before the table\n" and texts[1].startswith("between")
    assert result.stdout.startswith("before the table\nbetween")  # the model still gets all text at once


def test_output_arrives_while_the_code_still_runs(session: Session) -> None:
    """The code waits (on a gate file) until the listener has seen its first line: only live output ends it."""
    gate = session.sandbox.root / "go"  # type: ignore[attr-defined]

    def listen(partial: ExecutionResult) -> None:
        if any("line 0" in str(o.data) for o in partial.outputs if o.is_stream):
            gate.touch()

    code = f"print('line', 0, flush=True)\n{gated_code()}print('line', 1)"
    result = session.sandbox.execute(code, timeout=60, on_output=listen)
    assert result.stdout == "line 0\nline 1\n" and result.error is None


def test_a_shell_command_streams_too(session: Session) -> None:
    gate = session.sandbox.root / "go"  # type: ignore[attr-defined]

    def listen(partial: ExecutionResult) -> None:
        if any("one" in str(o.data) for o in partial.outputs):
            gate.touch()  # seen while the command waits for it

    command = "echo one; while [ ! -e go ]; do sleep 0.02; done; echo two >&2"
    done = session.sandbox.run_command(command, timeout=60, on_output=listen)
    assert (done.stdout, done.stderr, done.exit_code) == ("one\n", "two\n", 0)
    result = session.sandbox.run_command("echo out; echo err >&2")
    assert sorted(_kinds(result)) == sorted([STDOUT, STDERR])  # two pipes: their relative order is not defined


def test_progress_bars_are_one_updating_line(session: Session) -> None:
    code = (
        "from tqdm import tqdm\nimport time\nfor _ in tqdm(range(50), mininterval=0):\n    pass\n"
        "for i in range(5):\n    print(f'\\rstep {i}', end='', flush=True)\nprint()"
    )
    result = session.sandbox.execute(code)
    stderr = next(str(o.data) for o in result.outputs if o.mime_type == STDERR)
    assert stderr.count("\n") <= 1 and "50/50" in stderr and " 0/50" not in stderr
    assert result.stdout.strip() == "step 4"


def test_a_figure_shows_once_where_it_is_displayed(session: Session) -> None:
    code = "import matplotlib.pyplot as plt\nfigure = plt.figure()\nplt.plot([1, 2])\nprint('x')\nfigure"
    assert _kinds(session.sandbox.execute(code)) == [STDOUT, IMAGE_PNG]


def test_clear_output_and_display_updates_behave_as_in_jupyter(session: Session) -> None:
    code = (
        "from IPython.display import display, clear_output\n"
        "handle = display('first', display_id=True)\nprint('kept')\nhandle.update('second')\n"
    )
    result = session.sandbox.execute(code)
    assert [str(o.data) for o in result.outputs] == ["'second'", "kept\n"]
    code = "from IPython.display import clear_output\nprint('gone')\nclear_output(wait=True)\nprint('shown')"
    result = session.sandbox.execute(code)
    assert [str(o.data) for o in result.outputs] == ["shown\n"]


def test_every_output_kind_is_capped_with_a_note(session: Session) -> None:
    limit = session.settings.max_output_chars
    code = "from IPython.display import Markdown, display\ndisplay(Markdown('x' * 300_000))\n"
    code += "raise ValueError('y' * 300_000)"
    result = session.sandbox.execute(code)
    markdown = next(o for o in result.outputs if o.mime_type == TEXT_MARKDOWN)
    assert len(str(markdown.data)) < 6 * limit and "characters omitted" in str(markdown.data)
    assert result.error is not None and len(result.error.value) < 2 * limit
    assert "characters omitted" in result.error.value
    long_print = session.sandbox.execute("print('z' * 340_000)")
    assert len(long_print.stdout) < 2 * limit  # what the model gets
    assert len(str(long_print.outputs[0].data)) > 300_000  # what the page can show and download


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["a\rb"], "b"),
        (["abc\r", "d"], "dbc"),
        (["10%\r", "20%\r", "30%\n", "done"], "30%\ndone"),
        (["x\r\ny"], "x\ny"),
        (["one\ntwo\rTWO\n"], "one\nTWO\n"),
    ],
)
def test_carriage_returns_rewrite_the_current_line(chunks: list[str], expected: str) -> None:
    stream = StreamText("stdout", 1000)
    for chunk in chunks:
        stream.add(chunk)
    assert stream.text() == expected
    assert apply_carriage_returns("".join(chunks)) == expected


def test_stream_text_keeps_head_and_tail_within_its_limit() -> None:
    stream = StreamText("stdout", 100)
    for number in range(1000):
        stream.add(f"line {number}\n")
    text = stream.text()
    assert text.startswith("line 0\n") and text.endswith("line 999\n")
    assert "characters omitted" in text and len(text) < 200


def test_snapshots_are_throttled_but_the_last_change_is_published() -> None:
    snapshots: list[ExecutionResult] = []
    collector = OutputCollector(1000, snapshots.append)
    for number in range(100):
        collector.stream("stdout", f"{number}\n")
    assert len(snapshots) < 10
    collector.publish()
    assert str(snapshots[-1].outputs[0].data).endswith("99\n")
