"""Each tool called directly, as the agent calls it: what the model receives for good and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from core.session import Session
from tests.conftest import text_of

CHART = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "plt.plot([1, 2, 3])\nplt.savefig('chart.png')\nprint('saved')"
)


def test_the_seven_tools_are_there(tools: dict[str, Any]) -> None:
    assert set(tools) == {
        "execute_code",
        "execute_command",
        "command_task",
        "file_operations",
        "ci_push_to_workspace",
        "workspace_list",
        "workspace_read",
    }


def test_tool_schemas_show_only_the_contract_parameters(tools: dict[str, Any]) -> None:
    properties = tools["execute_code"].tool_spec["inputSchema"]["json"]["properties"]
    assert set(properties) == {"code", "language", "output_filename"}
    command = tools["execute_command"].tool_spec["inputSchema"]["json"]
    assert set(command["properties"]) == {"command", "background"} and command["required"] == ["command"]
    file_ops = tools["file_operations"].tool_spec["inputSchema"]["json"]
    assert set(file_ops["properties"]) == {"operation", "paths", "content"} and file_ops["required"] == ["operation"]


def test_execute_code_keeps_state(tools: dict[str, Any]) -> None:
    assert tools["execute_code"](code="x = 41")["status"] == "success"
    result = tools["execute_code"](code="print(x + 1)")
    assert result["status"] == "success" and "42" in text_of(result)


def test_execute_code_error_is_an_error_result_with_traceback(tools: dict[str, Any]) -> None:
    result = tools["execute_code"](code="undefined_name")
    assert result["status"] == "error"
    assert "NameError" in text_of(result) and "undefined_name" in text_of(result)


def test_output_filename_is_saved_to_the_workspace(tools: dict[str, Any], session: Session) -> None:
    result = tools["execute_code"](code=CHART, output_filename="chart.png")
    assert result["status"] == "success"
    size = len(session.workspace.read("chart.png"))
    assert f"code-interpreter/chart.png ({size:,} bytes)" in text_of(result)


def test_missing_output_filename_gives_a_clear_warning(tools: dict[str, Any], session: Session) -> None:
    result = tools["execute_code"](code="print('no file written')", output_filename="report.pdf")
    assert "Warning: output_filename 'report.pdf' was not saved" in text_of(result)
    assert "exactly this name" in text_of(result)
    assert session.workspace.list() == []


def test_shown_chart_reaches_the_model_as_an_image_block(tools: dict[str, Any]) -> None:
    result = tools["execute_code"](code="import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nplt.show()")
    images = [block["image"] for block in result["content"] if "image" in block]
    assert len(images) == 1 and images[0]["format"] == "png"
    assert images[0]["source"]["bytes"].startswith(b"\x89PNG")


def test_javascript_and_typescript(tools: dict[str, Any]) -> None:
    assert "6" in text_of(tools["execute_code"](code="console.log(2 * 3)", language="javascript"))
    assert "9" in text_of(tools["execute_code"](code="const n: number = 3; console.log(n * n)", language="typescript"))


def test_unknown_language_is_a_clear_error(tools: dict[str, Any]) -> None:
    result = tools["execute_code"](code="1", language="cobol")
    assert result["status"] == "error" and "Unknown language 'cobol'" in text_of(result)


def test_execute_command(tools: dict[str, Any]) -> None:
    result = tools["execute_command"](command="echo hi && exit 4")
    assert result["status"] == "error"
    assert "hi" in text_of(result) and "[exit code] 4" in text_of(result)


def test_file_write_keeps_exact_text(tools: dict[str, Any], session: Session) -> None:
    tricky = 'it\'s "quoted" \\ back\\slash \u00e9\u00e8 \U0001f600\nline2\n'
    result = tools["file_operations"](operation="write", content=[{"path": "out/deep/t.txt", "text": tricky}])
    assert result["status"] == "success"
    assert session.sandbox.read_file("out/deep/t.txt") == tricky.encode("utf-8")
    assert tricky in text_of(tools["file_operations"](operation="read", paths=["out/deep/t.txt"]))


def test_file_read_of_binary_is_described_not_dumped(tools: dict[str, Any], session: Session) -> None:
    session.sandbox.write_file("blob.bin", bytes(range(256)) * 10)
    text = text_of(tools["file_operations"](operation="read", paths=["blob.bin"]))
    assert "binary file" in text and "2,560 bytes" in text and "\x00" not in text


def test_file_list_and_remove(tools: dict[str, Any], session: Session) -> None:
    session.sandbox.write_file("a.csv", b"1,2\n")
    session.sandbox.write_file("folder/b.txt", b"b")
    listing = text_of(tools["file_operations"](operation="list", paths=["."]))
    assert "a.csv" in listing and "folder/" in listing and "4 bytes" in listing
    assert tools["file_operations"](operation="remove", paths=["a.csv", "folder"])["status"] == "success"
    assert session.sandbox.list_files(".") == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"operation": "delete", "paths": ["x"]}, "Unknown operation 'delete'"),
        ({"operation": "read"}, "needs paths"),
        ({"operation": "write"}, "needs content"),
        ({"operation": "write", "content": [{"path": "x"}]}, "needs a 'path' (text) and a 'text'"),
        ({"operation": "read", "paths": ["../../etc/passwd"]}, "outside the sandbox"),
        ({"operation": "read", "paths": ["/etc/passwd"]}, "absolute path outside the sandbox"),
        ({"operation": "read", "paths": ["missing.txt"]}, "No file 'missing.txt'"),
        ({"operation": "read", "paths": 42}, "must be a list"),
    ],
)
def test_file_operations_bad_input_gets_a_clear_error(
    tools: dict[str, Any], arguments: dict[str, Any], message: str
) -> None:
    result = tools["file_operations"](**arguments)
    assert result["status"] == "error"
    assert message in text_of(result)


def test_push_named_files_reports_each(tools: dict[str, Any], session: Session) -> None:
    session.sandbox.write_file("results.json", b'{"a": 1}')
    session.sandbox.write_file("sub/table.csv", b"a\n1\n")
    result = tools["ci_push_to_workspace"](paths=["results.json", "sub/table.csv", "nothere.txt"])
    text = text_of(result)
    assert result["status"] == "error"
    assert "Saved 2 file(s)" in text and "Failed 1" in text and "nothere.txt" in text
    assert [f.path for f in session.workspace.list()] == ["results.json", "table.csv"]


def test_push_without_paths_saves_every_root_file(tools: dict[str, Any], session: Session) -> None:
    session.sandbox.write_file("one.txt", b"1")
    session.sandbox.write_file("two.txt", b"2")
    session.sandbox.write_file("folder/skipped.txt", b"3")
    assert tools["ci_push_to_workspace"]()["status"] == "success"
    assert [f.path for f in session.workspace.list()] == ["one.txt", "two.txt"]


def test_push_with_empty_root_says_so(tools: dict[str, Any]) -> None:
    result = tools["ci_push_to_workspace"]()
    assert result["status"] == "error" and "no files" in text_of(result)


def test_workspace_list_and_read(tools: dict[str, Any], session: Session) -> None:
    assert "(empty)" in text_of(tools["workspace_list"]())
    session.workspace.write("results.json", b'{"total": 7}')
    tools["execute_code"](code=CHART, output_filename="chart.png")
    listing = text_of(tools["workspace_list"]())
    assert "code-interpreter/results.json" in listing and "code-interpreter/chart.png" in listing
    assert '{"total": 7}' in text_of(tools["workspace_read"](path="code-interpreter/results.json"))
    chart = tools["workspace_read"](path="chart.png")
    assert any("image" in block for block in chart["content"])


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b.txt", ".hidden", "x" * 300, "nul\x00"])
def test_workspace_read_refuses_bad_names(tools: dict[str, Any], name: str) -> None:
    result = tools["workspace_read"](path=name)
    assert result["status"] == "error" and text_of(result)


def test_tools_record_history_for_the_ui(tools: dict[str, Any], session: Session) -> None:
    seen = []
    session.listeners.append(seen.append)
    tools["execute_code"](code=CHART, output_filename="chart.png")
    assert [r.tool for r in session.history] == ["execute_code"] and seen == list(session.history)
    record = session.history[0]
    assert record.result is not None and record.result.stdout.strip() == "saved"
    assert record.saved_files == ["chart.png"]
