"""The Settings page: choosing, checking and saving the model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from components.state import app_settings
from tests.conftest import LOGIN_SECRETS, page_text
from tests.wire.model_lists import model_list_server

MODELS = ["llama3", "gemma", "llama3.1:latest", "claude-opus-4-1", "claude-sonnet-4-6"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A local server that lists models as OpenAI-compatible servers, Ollama and Anthropic do (Save tries it)."""
    with model_list_server(MODELS) as (url, _):
        yield url


@pytest.fixture(scope="module")
def other_endpoint() -> Iterator[str]:
    """A second such server: another endpoint."""
    with model_list_server(MODELS) as (url, _):
        yield url


PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "settings.py")


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> Iterator[Path]:
    """The app's data folder, empty, with the environment choosing no model; Anthropic is the local endpoint."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", endpoint)
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
    """What the page shows, as read (Markdown escapes removed)."""
    return re.sub(r"\\(.)", r"\1", page_text(page, "markdown", "success", "error", "warning", "info", "caption"))


def test_the_scripted_model_uses_the_environments_script_only(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "scripted" not in _page().selectbox[0].options  # no script configured: not offered

    script = tmp_path / "steps.json"
    script.write_text(json.dumps([{"text": "hi"}]))
    monkeypatch.setenv("INTERPRETER_SCRIPTED_MODEL_FILE", str(script))
    app_settings.clear()
    page = _page()
    assert "Current model:** No model" in _shown(page)

    page.selectbox[0].set_value("scripted").run()
    assert [field.key for field in page.text_input] == []  # no field to point the server at another file
    page.button[0].click().run()

    assert not page.exception
    assert not page.error
    saved = json.loads((data_dir / "model.json").read_text())
    assert saved["provider"] == "scripted"
    assert saved["script_file"] == str(script)
    assert "scripted model (steps.json)" in page.success[0].value

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
    assert "INTERPRETER_OPENAI_BASE_URL" in _shown(page)
    assert not (data_dir / "model.json").exists()
    assert "Current model:** No model" in _shown(page)


def test_reset_goes_back_to_the_environment_settings(data_dir: Path, endpoint: str) -> None:
    page = _page()
    page.selectbox[0].set_value("ollama").run()
    page.text_input(key="ollama_host").input(endpoint).run()
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


def _saved(data_dir: Path) -> dict[str, Any]:
    return json.loads((data_dir / "model.json").read_text())  # type: ignore[no-any-return]


def _save_openai(page: AppTest, base_url: str, key: str = "") -> AppTest:
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_base_url").input(base_url).run()
    page.text_input(key="openai_model_id").input("llama3").run()
    if key:
        page.text_input(key="openai_api_key").input(key).run()
    return _click_save(page)


def _click_save(page: AppTest) -> AppTest:
    (save,) = [button for button in page.button if button.label == "Save"]
    save.click().run()
    assert not page.exception
    return page


def test_a_new_base_url_drops_the_stored_key_unless_it_is_typed_again(
    data_dir: Path, endpoint: str, other_endpoint: str
) -> None:
    _save_openai(_page(), f"{endpoint}/v1", key="sk-operator")
    assert _saved(data_dir)["api_key"] == "sk-operator"

    page = _page()
    assert [box.label for box in page.checkbox] == []  # without login nobody may keep a key for a new URL
    page.text_input(key="openai_base_url").input(f"{other_endpoint}/v1").run()  # say, an attacker's server
    _click_save(page)

    assert (_saved(data_dir)["base_url"], _saved(data_dir)["api_key"]) == (f"{other_endpoint}/v1", "")
    assert "The stored API key was not kept" in _shown(page)

    page = _page()
    page.text_input(key="openai_base_url").input(f"{endpoint}/v1").run()
    page.text_input(key="openai_api_key").input("sk-new").run()
    _click_save(page)
    assert (_saved(data_dir)["base_url"], _saved(data_dir)["api_key"]) == (f"{endpoint}/v1", "sk-new")


def test_the_environments_key_does_not_follow_a_new_base_url(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str, other_endpoint: str
) -> None:
    monkeypatch.setenv("INTERPRETER_OPENAI_BASE_URL", f"{endpoint}/v1")
    monkeypatch.setenv("INTERPRETER_OPENAI_API_KEY", "sk-from-env")
    app_settings.clear()
    page = _page()
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_model_id").input("llama3").run()
    _click_save(page)
    assert _saved(data_dir)["api_key"] == "sk-from-env"  # its own endpoint: kept

    _save_openai(_page(), f"{other_endpoint}/v1")
    assert _saved(data_dir)["api_key"] == ""


def _login_page(email: str, verified: bool = True) -> AppTest:
    page = AppTest.from_file(PAGE, default_timeout=30)
    page.secrets["auth"] = LOGIN_SECRETS
    page.user = {"is_logged_in": True, "sub": email, "iss": "https://idp.example", "email": email}
    page.user["email_verified"] = verified
    page.run()
    assert not page.exception
    return page


def test_with_login_only_admins_change_the_model_and_may_keep_a_key(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str, other_endpoint: str
) -> None:
    monkeypatch.setenv("INTERPRETER_ADMIN_EMAILS", "root@example.com, ops@example.com")
    app_settings.clear()
    for visitor in (_login_page("mallory@example.com"), _login_page("root@example.com", verified=False)):
        assert not visitor.selectbox and not visitor.text_input and not visitor.button
        assert "Only admins can change the model" in _shown(visitor)
        assert "Current model:** No model" in _shown(visitor)

    admin = _login_page("ROOT@example.com")
    _save_openai(admin, f"{endpoint}/v1", key="sk-operator")
    admin = _login_page("root@example.com")
    admin.text_input(key="openai_base_url").input(f"{other_endpoint}/v1").run()
    admin.checkbox(key="keep_api_key").check().run()
    _click_save(admin)
    assert (_saved(data_dir)["base_url"], _saved(data_dir)["api_key"]) == (f"{other_endpoint}/v1", "sk-operator")


def test_openai_request_options_are_saved_and_bad_extra_fields_are_refused(data_dir: Path, endpoint: str) -> None:
    page = _page()
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_base_url").input(f"{endpoint}/v1").run()
    page.text_input(key="openai_model_id").input("gemma").run()
    page.number_input(key="openai_max_tokens").set_value(0).run()
    page.number_input(key="openai_temperature").set_value(0.3).run()
    page.selectbox(key="openai_tool_choice").set_value("required").run()
    page.text_area(key="openai_extra_body").input("[1, 2]").run()
    _click_save(page)
    assert "must be a JSON object" in _shown(page)
    assert not (data_dir / "model.json").exists()

    page.text_area(key="openai_extra_body").input('{"top_k": 20}').run()
    _click_save(page)
    saved = _saved(data_dir)
    assert (saved["max_tokens"], saved["temperature"], saved["tool_choice"]) == (0, 0.3, "required")
    assert saved["extra_body"] == '{"top_k": 20}'


def test_save_tries_the_endpoint_and_says_what_failed(data_dir: Path, endpoint: str) -> None:
    page = _page()
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_model_id").input("llama3").run()
    failures = {
        "http://127.0.0.1:9/v1": "Nothing answers at http://127.0.0.1:9/v1/models",
        "htp:/nonsense": "The base URL must start with http:// or https:// and name a server",
        endpoint: f"has no {endpoint}/models (HTTP 404). An OpenAI-compatible base URL usually ends in /v1",
    }
    for base_url, explanation in failures.items():
        page.text_input(key="openai_base_url").input(base_url).run()
        _click_save(page)
        assert explanation in _shown(page), base_url
        assert not (data_dir / "model.json").exists()
    page.text_input(key="openai_base_url").input(f"{endpoint}/v1").run()
    page.text_input(key="openai_model_id").input("llama-4").run()
    _click_save(page)
    assert f"answered, but does not list the model 'llama-4'; it lists: {', '.join(MODELS)}." in _shown(page)
    assert not (data_dir / "model.json").exists()

    save_anyway = page.checkbox(key="settings_save_unchecked")  # offered once a check failed
    assert save_anyway.label.startswith("Save anyway: the server answered, it just does not list this model id")
    save_anyway.check().run()
    _click_save(page)
    assert _saved(data_dir)["model_id"] == "llama-4"
    assert "saved although the server does not list this model id" in _shown(page)
    page.text_input(key="openai_model_id").input("gemma").run()
    _click_save(page)
    assert f"The server at {endpoint}/v1 answered and offers 'gemma'." in _shown(page)


def test_a_web_page_at_the_base_url_is_explained_not_saved(data_dir: Path) -> None:
    page = _page()
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_model_id").input("llama3").run()
    with model_list_server([], web_page=True) as (url, _):
        page.text_input(key="openai_base_url").input(url).run()
        _click_save(page)
    assert f"answered GET {url}/models, but not with a list of models" in _shown(page)
    assert "AttributeError" not in _shown(page) and not (data_dir / "model.json").exists()


def test_an_empty_model_id_is_asked_for_on_this_page(data_dir: Path, endpoint: str) -> None:
    page = _page()
    page.selectbox[0].set_value("ollama").run()
    assert page.text_input(key="ollama_model_id").placeholder == "required, e.g. llama3.1"  # not like a value
    _click_save(page)
    (error,) = [e.value for e in page.error]
    assert error == "Not saved: fill in the Model id; the Ollama provider needs it."
    page.selectbox[0].set_value("anthropic").run()
    assert page.text_input(key="anthropic_model_id").placeholder == "empty: claude-sonnet-4-6"


def test_after_a_reset_the_form_shows_the_environments_values(
    data_dir: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERPRETER_MODEL_PROVIDER", "openai")
    monkeypatch.setenv("INTERPRETER_OPENAI_BASE_URL", f"{endpoint}/v1")
    monkeypatch.setenv("INTERPRETER_MODEL_ID", "llama3")
    app_settings.clear()
    page = _page()
    page.text_input(key="openai_model_id").input("gemma").run()
    _click_save(page)
    assert _saved(data_dir)["model_id"] == "gemma"
    (reset,) = [button for button in page.button if button.label == "Reset to environment settings"]
    reset.click().run()
    assert not (data_dir / "model.json").exists()
    assert page.text_input(key="openai_model_id").value == "llama3"
    assert "Back to the environment settings: OpenAI-compatible · llama3" in _shown(page)


def test_the_one_model_a_llama_server_lists_is_offered_by_its_short_name(data_dir: Path) -> None:
    """llama.cpp's server lists its model by the file's path and answers to any id."""
    with model_list_server(["/srv/models/gemma-3-270m-it-Q8_0.gguf"]) as (url, _):
        page = _page()
        page.selectbox[0].set_value("openai").run()
        page.text_input(key="openai_base_url").input(f"{url}/v1").run()
        page.text_input(key="openai_model_id").input("gemma3-270m").run()
        _click_save(page)
        assert "does not list the model 'gemma3-270m'; it lists: gemma-3-270m-it-Q8_0." in _shown(page)
        assert "/srv/models" not in _shown(page)

        page.button(key="settings_use_listed").click().run()
        assert page.text_input(key="openai_model_id").value == "gemma-3-270m-it-Q8_0"
        _click_save(page)

    assert _saved(data_dir)["model_id"] == "gemma-3-270m-it-Q8_0"
    assert f"The server at {url}/v1 answered and offers 'gemma-3-270m-it-Q8_0'." in _shown(page)


def test_an_endpoint_that_does_not_answer_offers_saving_in_its_own_words(data_dir: Path) -> None:
    page = _page()
    page.selectbox[0].set_value("openai").run()
    page.text_input(key="openai_base_url").input("http://127.0.0.1:9/v1").run()
    page.text_input(key="openai_model_id").input("llama3").run()
    _click_save(page)
    assert page.checkbox(key="settings_save_unchecked").label == "Save even if the endpoint does not answer now"
    assert not [b for b in page.button if b.key == "settings_use_listed"]
