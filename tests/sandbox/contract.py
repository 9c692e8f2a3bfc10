"""The contract every Sandbox backend keeps. A backend's test module subclasses SandboxContract and
provides a ``sandbox`` fixture (and ``fresh_sandbox`` when it cannot be reused after a crash)."""

from __future__ import annotations

import pytest

from core.errors import FileNotFoundInSandbox, InvalidPathError
from core.sandbox.base import Sandbox
from core.types import IMAGE_PNG, PLOTLY_JSON, TABLE_JSON, StopReason
from tests.conftest import make_zip


class SandboxContract:
    """Behaviour a user relies on, whatever runs the code."""

    def test_is_a_sandbox(self, sandbox: Sandbox) -> None:
        assert isinstance(sandbox, Sandbox)

    # -- Python state and outputs ---------------------------------------------------------------------

    def test_python_variables_persist_between_runs(self, sandbox: Sandbox) -> None:
        assert sandbox.execute("x = 41").ok
        result = sandbox.execute("print(x + 1)")
        assert result.stdout.strip() == "42"

    def test_stdout_and_stderr_are_separate(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("import sys\nprint('to out')\nprint('to err', file=sys.stderr)")
        assert "to out" in result.stdout and "to err" not in result.stdout
        assert "to err" in result.stderr

    def test_exception_comes_back_as_data(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("def f():\n    return 1 / 0\nf()")
        assert not result.ok
        assert result.error is not None
        assert result.error.name == "ZeroDivisionError"
        assert "division by zero" in result.error.value
        assert "f()" in result.error.traceback and "\x1b[" not in result.error.traceback

    def test_last_expression_is_a_result(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("6 * 7")
        assert [o.data for o in result.outputs] == ["42"]

    def test_shown_figure_becomes_an_image_without_savefig(self, sandbox: Sandbox) -> None:
        code = (
            "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
        )
        result = sandbox.execute(code)
        images = [o for o in result.outputs if o.mime_type == IMAGE_PNG]
        assert len(images) == 1
        assert isinstance(images[0].data, bytes) and images[0].data.startswith(b"\x89PNG")

    def test_dataframe_is_a_table(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'n': [1, 2]})")
        tables = [o for o in result.outputs if o.mime_type == TABLE_JSON]
        assert len(tables) == 1
        table = tables[0].data
        assert isinstance(table, dict)
        assert [row["city"] for row in table["data"]] == ["Oslo", "Lima"]

    def test_plotly_figure_is_interactive_json(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("import plotly.express as px\npx.bar(x=['a', 'b'], y=[1, 2]).show()")
        charts = [o for o in result.outputs if o.mime_type == PLOTLY_JSON]
        assert len(charts) == 1 and isinstance(charts[0].data, dict) and "data" in charts[0].data

    def test_html_display(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("from IPython.display import HTML, display\ndisplay(HTML('<b>bold</b>'))")
        assert [(o.mime_type, o.data) for o in result.outputs] == [("text/html", "<b>bold</b>")]

    def test_huge_output_is_truncated_with_head_and_tail(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("print('FIRST'); print('x' * 3_000_000); print('LAST')")
        assert result.stdout.startswith("FIRST") and result.stdout.rstrip().endswith("LAST")
        assert len(result.stdout) < 100_000
        assert any("omitted" in note for note in result.notes)

    def test_timeout_interrupts_and_keeps_state(self, sandbox: Sandbox) -> None:
        sandbox.execute("kept = 'still here'")
        result = sandbox.execute("import time\ntime.sleep(60)", timeout=1.5)
        assert result.stopped is StopReason.TIMEOUT
        assert any("time limit" in note for note in result.notes)
        assert sandbox.execute("print(kept)").stdout.strip() == "still here"

    def test_unknown_language_is_refused(self, sandbox: Sandbox) -> None:
        with pytest.raises(InvalidPathError, match="Unknown language"):
            sandbox.execute("puts 1", language="ruby")

    # -- JavaScript and TypeScript --------------------------------------------------------------------

    def test_javascript_runs_and_keeps_state(self, sandbox: Sandbox) -> None:
        assert sandbox.execute("const numbers = [1, 2, 3];", language="javascript").ok
        result = sandbox.execute("console.log(numbers.map((n) => n * 2).join(','))", language="javascript")
        assert result.ok and result.stdout.strip() == "2,4,6"

    def test_typescript_runs_and_shares_state_with_javascript(self, sandbox: Sandbox) -> None:
        assert sandbox.execute("let total: number = 20;", language="typescript").ok
        assert sandbox.execute("total += 1;", language="javascript").ok
        result = sandbox.execute("console.log(`total=${total}`)", language="typescript")
        assert result.stdout.strip() == "total=21"

    def test_javascript_error_comes_back_as_data(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("throw new Error('boom')", language="javascript")
        assert not result.ok
        assert result.error is not None and result.error.value == "boom"

    def test_javascript_last_expression_is_a_result(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("({ answer: 6 * 7 })", language="javascript")
        assert [o.data for o in result.outputs] == ["{ answer: 42 }"]

    def test_javascript_timeout_is_interrupted(self, sandbox: Sandbox) -> None:
        result = sandbox.execute("while (true) {}", language="javascript", timeout=1)
        assert result.stopped is StopReason.TIMEOUT
        assert sandbox.execute("console.log('alive')", language="javascript").stdout.strip() == "alive"

    def test_javascript_sees_sandbox_files(self, sandbox: Sandbox) -> None:
        sandbox.write_file("numbers.txt", b"1 2 3")
        code = "console.log(Deno.readTextFileSync('numbers.txt'))"
        result = sandbox.execute(code, language="javascript")
        assert result.stdout.strip() == "1 2 3"

    # -- shell --------------------------------------------------------------------------------------

    def test_command_exit_code_and_streams(self, sandbox: Sandbox) -> None:
        result = sandbox.run_command("echo out; echo err >&2; exit 3")
        assert (result.stdout.strip(), result.stderr.strip(), result.exit_code) == ("out", "err", 3)
        assert not result.ok

    def test_command_runs_in_the_sandbox_root(self, sandbox: Sandbox) -> None:
        sandbox.write_file("here.txt", b"x")
        assert "here.txt" in sandbox.run_command("ls").stdout

    def test_command_timeout(self, sandbox: Sandbox) -> None:
        result = sandbox.run_command("sleep 60", timeout=1)
        assert result.stopped is StopReason.TIMEOUT

    def test_files_are_shared_between_python_shell_and_files_api(self, sandbox: Sandbox) -> None:
        sandbox.execute("open('from_python.txt', 'w').write('py')")
        assert sandbox.run_command("cat from_python.txt").stdout == "py"
        sandbox.run_command("mkdir -p out && echo sh > out/from_shell.txt")
        assert sandbox.read_file("out/from_shell.txt") == b"sh\n"

    # -- files --------------------------------------------------------------------------------------

    def test_binary_file_round_trip(self, sandbox: Sandbox) -> None:
        data = bytes(range(256)) * 100
        sandbox.write_file("deep/er/blob.bin", data)
        assert sandbox.read_file("deep/er/blob.bin") == data
        assert sandbox.execute("print(len(open('deep/er/blob.bin', 'rb').read()))").stdout.strip() == "25600"
        with sandbox.open_file("deep/er/blob.bin") as handle:
            assert handle.read(1000) + handle.read() == data

    def test_list_files(self, sandbox: Sandbox) -> None:
        sandbox.write_file("a.csv", b"x,y\n")
        sandbox.write_file("sub/b.txt", b"hello")
        top = {f.path: f for f in sandbox.list_files(".")}
        assert top["a.csv"].size == 4 and top["a.csv"].mime_type == "text/csv"
        assert top["sub"].is_dir
        assert "sub/b.txt" not in top
        assert {f.path for f in sandbox.list_files(".", recursive=True)} >= {"a.csv", "sub", "sub/b.txt"}

    def test_remove_file_and_folder(self, sandbox: Sandbox) -> None:
        sandbox.write_file("gone.txt", b"x")
        sandbox.write_file("folder/inner.txt", b"x")
        sandbox.remove("gone.txt")
        sandbox.remove("folder")
        assert sandbox.list_files(".") == []

    def test_missing_file(self, sandbox: Sandbox) -> None:
        with pytest.raises(FileNotFoundInSandbox):
            sandbox.read_file("nope.txt")
        with pytest.raises(FileNotFoundInSandbox):
            sandbox.open_file("nope.txt")
        with pytest.raises(FileNotFoundInSandbox):
            sandbox.remove("nope.txt")

    @pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "bad\x00name"])
    def test_paths_that_leave_the_sandbox_are_refused(self, sandbox: Sandbox, path: str) -> None:
        with pytest.raises(InvalidPathError):
            sandbox.write_file(path, b"x")
        with pytest.raises(InvalidPathError):
            sandbox.read_file(path)

    def test_symlink_made_by_code_pointing_outside_is_refused(self, sandbox: Sandbox) -> None:
        sandbox.run_command("ln -s /etc/hostname escape && ln -s .. up")
        with pytest.raises(InvalidPathError, match="outside"):
            sandbox.read_file("escape")
        with pytest.raises(InvalidPathError, match="outside"):
            sandbox.open_file("escape")
        with pytest.raises(InvalidPathError):
            sandbox.write_file("up/planted.txt", b"x")

    # -- uploads ------------------------------------------------------------------------------------

    def test_zip_upload_is_extracted_keeping_folders(self, sandbox: Sandbox) -> None:
        arrived = sandbox.preload("data.zip", make_zip({"sales/2024/q1.csv": "region,total\nnorth,10\n"}))
        assert arrived == ["sales/2024/q1.csv"]
        result = sandbox.execute("import pandas as pd\nprint(pd.read_csv('sales/2024/q1.csv').total.sum())")
        assert result.stdout.strip() == "10"

    def test_other_upload_is_copied_as_is(self, sandbox: Sandbox) -> None:
        assert sandbox.preload("notes.txt", b"hello") == ["notes.txt"]
        assert sandbox.read_file("notes.txt") == b"hello"
