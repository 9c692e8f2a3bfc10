"""Output as Jupyter shows it: live while the code runs, in order, progress bars on one line, bounded (real kernels)."""

from __future__ import annotations

import time

import pytest

from core.sandbox.output import OutputCollector, StreamText, apply_carriage_returns
from core.session import Session
from core.types import IMAGE_PNG, STDERR, STDOUT, TABLE_JSON, TEXT_MARKDOWN, ExecutionResult

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
    session.sandbox.execute("pass")  # the kernel is started
    seen: list[tuple[float, str]] = []
    started = time.monotonic()

    def listen(partial: ExecutionResult) -> None:
        seen.append((time.monotonic() - started, "".join(str(o.data) for o in partial.outputs if o.is_stream)))

    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(1)"
    result = session.sandbox.execute(code, on_output=listen)
    first = next(at for at, text in seen if "line 0" in text)
    assert first < 1.0, f"the first line was shown after {first:.2f} s"
    assert first < result.duration - 1.5  # long before the run ended
    assert "line 2" in result.stdout


def test_a_shell_command_streams_too(session: Session) -> None:
    session.sandbox.run_command("true")
    seen: list[float] = []
    started = time.monotonic()

    def listen(partial: ExecutionResult) -> None:
        if any("one" in str(o.data) for o in partial.outputs):
            seen.append(time.monotonic() - started)

    done = session.sandbox.run_command("echo one; sleep 1.5; echo two >&2", on_output=listen)
    assert seen and seen[0] < done.duration - 1.0  # shown while the command still slept
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
