"""The Settings page: choosing, checking and saving the model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.state import app_settings

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "settings.py")


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The app's data folder, empty, with the environment choosing no model."""
    data = tmp_path / "data"
    monkeypatch.setenv("INTERPRETER_DATA_DIR", str(data))
    monkeypatch.setenv("INTERPRETER_MODEL_PROVIDER", "none")
    for name in ("INTERPRETER_OPENAI_BASE_URL", "INTERPRETER_MODEL_ID", "INTERPRETER_SCRIPTED_MODEL_FILE"):
        monkeypatch.delenv(name, raising=False)
    app_settings.clear()
    yield data
    app_settings.clear()


def _page() -> AppTest:
    page = AppTest.from_file(PAGE, default_timeout=30)
    page.run()
    assert not page.exception
    return page


def _shown(page: AppTest) -> str:
    return "\n".join(element.value for element in [*page.markdown, *page.success, *page.error, *page.caption])


def test_saving_the_scripted_model_writes_the_choice_and_shows_its_label(data_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "steps.json"
    script.write_text(json.dumps([{"text": "hi"}]))
    page = _page()
    assert "Current model:** No model" in _shown(page)

    page.selectbox[0].set_value("scripted").run()
    page.text_input(key="scripted_script_file").input(str(script)).run()
    page.button[0].click().run()

    assert not page.exception
    assert not page.error
    saved = json.loads((data_dir / "model.json").read_text())
    assert saved["provider"] == "scripted"
    assert saved["script_file"] == str(script)
    assert "scripted model (steps.json)" in page.success[0].value
    assert page.session_state["model_changed"] is True

    reloaded = _page()  # a fresh visit shows the saved choice
    assert "Current model:** scripted model (steps.json)" in _shown(reloaded)
    assert "saved on this page" in _shown(reloaded)


def test_saving_openai_without_a_base_url_shows_the_error_and_saves_nothing(data_dir: Path) -> None:
    page = _page()
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_model_id").input("llama3").run()
    page.button[0].click().run()

    assert not page.exception
    assert len(page.error) == 1
    assert "INTERPRETER_OPENAI_BASE_URL" in page.error[0].value
    assert not (data_dir / "model.json").exists()
    assert "model_changed" not in page.session_state
    assert "Current model:** No model" in _shown(page)


def test_reset_goes_back_to_the_environment_settings(data_dir: Path) -> None:
    page = _page()
    page.selectbox[0].set_value("ollama").run()
    page.text_input(key="ollama_model_id").input("llama3.1").run()
    page.button[0].click().run()
    assert (data_dir / "model.json").exists()
    assert "Ollama · llama3.1" in _shown(page)

    page.button[1].click().run()

    assert not (data_dir / "model.json").exists()
    assert "Current model:** No model" in _shown(page)
    assert "environment settings" in _shown(page)


def test_an_empty_api_key_field_keeps_the_saved_key(data_dir: Path) -> None:
    page = _page()
    page.selectbox[0].set_value("anthropic").run()
    page.text_input(key="anthropic_api_key").input("sk-ant-first").run()
    page.button[0].click().run()
    assert json.loads((data_dir / "model.json").read_text())["api_key"] == "sk-ant-first"

    page = _page()
    assert page.text_input(key="anthropic_api_key").value == ""  # the key is never sent back to the browser
    page.text_input(key="anthropic_model_id").input("claude-opus-4-1").run()
    page.button[0].click().run()

    saved = json.loads((data_dir / "model.json").read_text())
    assert (saved["model_id"], saved["api_key"]) == ("claude-opus-4-1", "sk-ant-first")
    assert "Anthropic · claude-opus-4-1" in _shown(page)
    assert "sk-ant-first" not in _shown(page)
