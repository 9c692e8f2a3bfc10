"""A Strands agent driven by the scripted model uses the tools and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from strands import Agent

from core.models.scripted import FINISHED, ScriptedModel, load_script
from core.session import Session
from tests.conftest import tool_results


def _agent(session: Session, steps: list[dict]) -> Agent:  # type: ignore[type-arg]
    return Agent(model=ScriptedModel(steps), tools=session.tools, callback_handler=None)


def test_agent_runs_code_over_several_turns_and_answers(session: Session) -> None:
    agent = _agent(
        session,
        [
            {
                "tool": "execute_code",
                "input": {"code": "import pandas as pd\ndf = pd.DataFrame({'v': [1, 2, 3]})"},
            },
            {"tool": "execute_code", "input": {"code": "print(df.v.sum())"}},
            {"text": "The sum is 6."},
        ],
    )
    answer = agent("Sum the values")
    assert str(answer).strip() == "The sum is 6."
    results = tool_results(agent.messages)
    assert [r["status"] for r in results] == ["success", "success"]
    assert "6" in results[1]["content"][0]["text"]


def test_agent_sees_its_chart_as_an_image_and_saves_it(session: Session) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.savefig('trend.png')"
    agent = _agent(
        session,
        [
            {"tool": "execute_code", "input": {"code": code, "output_filename": "trend.png"}},
            {"tool": "workspace_list", "input": {}},
            {"text": "Saved trend.png."},
        ],
    )
    agent("Plot it")
    chart_result, listing = tool_results(agent.messages)
    assert any("image" in block for block in chart_result["content"])
    assert "code-interpreter/trend.png" in listing["content"][0]["text"]
    assert session.workspace.read("trend.png").startswith(b"\x89PNG")


def test_bad_tool_input_from_the_model_is_an_error_result_not_a_crash(session: Session) -> None:
    agent = _agent(
        session,
        [
            {"tool": "file_operations", "input": {"operation": "explode"}},
            {"tool": "execute_code", "input": {"language": "python"}},
            {"text": "Sorry."},
        ],
    )
    assert str(agent("Do it")).strip() == "Sorry."
    first, second = tool_results(agent.messages)
    assert first["status"] == "error" and "Unknown operation" in first["content"][0]["text"]
    assert second["status"] == "error"


def test_script_runs_out_politely(session: Session) -> None:
    agent = _agent(session, [])
    assert str(agent("Hello")).strip() == FINISHED


def test_a_failure_answer_starts_the_script_over_so_asking_again_replays_it(session: Session) -> None:
    steps = [
        {"tool": "execute_code", "input": {"code": "print(open('data.csv').read())"}},
        {"text": "It holds a,b.", "after_failure": "data.csv is missing: upload it, then ask again."},
    ]
    agent = _agent(session, steps)
    assert str(agent("What is in data.csv?")).strip() == "data.csv is missing: upload it, then ask again."
    session.sandbox.write_file("data.csv", b"a,b")
    assert str(agent("What is in data.csv?")).strip() == "It holds a,b."
    assert str(agent("And now?")).strip() == FINISHED  # a successful run does not start over


def test_script_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"text": "hi"}, {"tool": "execute_code", "input": {"code": "1"}}]))
    assert len(load_script(good)) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"text": "hi"}, {"oops": 1}]))
    with pytest.raises(ValueError, match="step 2"):
        load_script(bad)
