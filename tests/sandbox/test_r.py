"""R as a fourth language: IRkernel in the same bubblewrap sandbox as Python, with charts and tables captured."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from core.sandbox.local import r_install
from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.sandbox import LocalSandbox
from core.session import Session
from core.types import IMAGE_PNG, TABLE_JSON, StopReason
from tests.conftest import text_of, tools_by_name, wait_for
from tests.prerequisites import requires

R_INSTALLED = not r_install.r_missing()
needs_r = requires(R_INSTALLED, "R and IRkernel are not installed (apt-get install r-base-core r-cran-irkernel)")
pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sandbox(make_sandbox: Callable[..., LocalSandbox]) -> Iterator[LocalSandbox]:
    made = make_sandbox("r", execution_timeout=30)
    assert made.isolation.use_bwrap
    yield made


@needs_r
def test_variables_persist_and_errors_come_back_with_their_traceback(sandbox: LocalSandbox) -> None:
    assert sandbox.execute("counts <- c(3, 4)\nf <- function(x) stop('no ', x)", language="r").ok
    result = sandbox.execute("print(sum(counts))\nf('luck')", language="r")
    assert result.stdout.strip() == "[1] 7"
    assert result.error is not None
    assert "no luck" in result.error.value
    assert 'f("luck")' in result.error.traceback
    assert sandbox.running_kernels() == ["r"]  # Python did not start for it


@needs_r
def test_r_runs_inside_the_sandbox(sandbox: LocalSandbox) -> None:
    result = sandbox.execute("cat(getwd(), Sys.getenv('USER'), file.exists('/etc/shadow'), '\\n')", language="r")
    assert result.stdout.split() == ["/sandbox", "sandbox", "FALSE"]


@needs_r
def test_base_plot_and_ggplot_are_captured_as_png(sandbox: LocalSandbox) -> None:
    base = sandbox.execute("plot(1:10, main = 'base')", language="r")
    code = "library(ggplot2)\nggplot(mtcars, aes(wt, mpg)) + geom_point()"
    gg = sandbox.execute(code, language="r")
    for result in (base, gg):
        assert result.error is None, result.error
        images = [output for output in result.outputs if output.mime_type == IMAGE_PNG]
        assert len(images) == 1
        assert isinstance(images[0].data, bytes) and images[0].data.startswith(PNG_MAGIC)


@needs_r
def test_a_data_frame_is_a_table(sandbox: LocalSandbox) -> None:
    result = sandbox.execute("data.frame(city = c('Oslo', NA), people = c(709037.5, 0.000125))", language="r")
    (table,) = result.outputs
    assert table.mime_type == TABLE_JSON
    assert isinstance(table.data, dict)
    assert [field["name"] for field in table.data["schema"]["fields"]] == ["index", "city", "people"]
    assert table.data["data"] == [
        {"index": 1, "city": "Oslo", "people": 709037.5},
        {"index": 2, "city": None, "people": 0.000125},
    ]
    assert "Oslo" in table.text  # what the model reads


@needs_r
def test_timeout_and_stop_interrupt_r_and_keep_its_variables(sandbox: LocalSandbox) -> None:
    sandbox.execute("kept <- 'yes'", language="r")
    timed = sandbox.execute("Sys.sleep(60)", language="r", timeout=1)
    assert timed.stopped is StopReason.TIMEOUT
    outcome: dict[str, object] = {}
    seen: list[str] = []

    def run() -> None:
        code = "cat('looping\\n')\nrepeat { x <- 1 }"
        outcome["result"] = sandbox.execute(code, language="r", on_output=lambda partial: seen.append(partial.stdout))

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    wait_for(lambda: any("looping" in text for text in seen), "the R loop to start")
    sandbox.interrupt()
    runner.join(30)
    sandbox.clear_interrupt()
    assert getattr(outcome.get("result"), "stopped", None) is StopReason.INTERRUPTED
    assert sandbox.execute("cat(kept)", language="r").stdout == "yes"


@needs_r
def test_after_a_sleep_the_next_r_run_says_its_variables_are_gone(sandbox: LocalSandbox) -> None:
    sandbox.execute("x <- 1", language="r")
    assert sandbox.sleep(idle_seconds=600)
    result = sandbox.execute("cat(exists('x'))", language="r")
    assert result.stdout == "FALSE"
    assert any("idle for 10 minutes" in note and "R variables are not kept" in note for note in result.notes)


@needs_r
def test_the_tool_offers_r_where_it_is_installed(session: Session) -> None:
    spec = tools_by_name(session)["execute_code"].tool_spec
    assert "Python, JavaScript, TypeScript or R" in spec["description"]
    assert '"r"' in spec["inputSchema"]["json"]["properties"]["language"]["description"]
    assert "and R ones" in spec["description"] and "JavaScript's and R's are lost" in spec["description"]
    result = tools_by_name(session)["execute_code"](code="summary(c(1, 2, 3))", language="r")
    assert result["status"] == "success"
    assert "Median" in text_of(result)


def test_without_r_the_tool_says_so_and_does_not_offer_it(
    open_sessions: Callable[..., Session], settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(r_install.shutil, "which", lambda name, *args, **kwargs: None)
    r_install.r_missing.cache_clear()
    try:
        session = open_sessions("no-r", settings)
        tools = tools_by_name(session)
        spec = tools["execute_code"].tool_spec
        assert " or R" not in spec["description"] and '"r"' not in str(spec["inputSchema"])
        assert "JavaScript's are lost" in spec["description"] and "R ones" not in spec["description"]
        result = tools["execute_code"](code="1 + 1", language="r")
        assert result["status"] == "error"
        assert text_of(result).startswith("R is not installed on this server")
        assert "apt-get install" in text_of(result)
    finally:
        monkeypatch.undo()
        r_install.r_missing.cache_clear()
