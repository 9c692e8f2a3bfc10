"""Trying a model choice before it is saved, with the providers' real client packages against a local server."""

from __future__ import annotations

import time

import pytest

from core.models import ModelChoice
from core.models.check import check_choice
from tests.wire.model_lists import model_list_server


def test_ollama_is_asked_for_its_pulled_models() -> None:
    with model_list_server(["llama3.1:latest", "qwen3:8b"]) as (url, paths):
        assert check_choice(ModelChoice(provider="ollama", host=url, model_id="llama3.1")).ok
        assert check_choice(ModelChoice(provider="ollama", host=url, model_id="qwen3:8b")).ok
        missing = check_choice(ModelChoice(provider="ollama", host=url, model_id="mistral"))
    assert paths == ["/api/tags"] * 3
    assert missing.problem == (
        f"Ollama at {url} has no model 'mistral' (it has: llama3.1:latest, qwen3:8b). Pull it: ollama pull mistral"
    )
    unreachable = check_choice(ModelChoice(provider="ollama", host="http://127.0.0.1:9", model_id="x"))
    assert unreachable.problem.startswith("Nothing answers at http://127.0.0.1:9")


def test_anthropic_is_asked_about_the_model_with_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with model_list_server(["claude-sonnet-4-6"], api_key="sk-ant-right") as (url, paths):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        assert check_choice(ModelChoice(provider="anthropic", api_key="sk-ant-right")).ok  # the default model
        unknown = check_choice(ModelChoice(provider="anthropic", api_key="sk-ant-right", model_id="claude-9"))
        wrong_key = check_choice(ModelChoice(provider="anthropic", api_key="sk-ant-wrong"))
    assert paths == ["/v1/models/claude-sonnet-4-6", "/v1/models/claude-9", "/v1/models/claude-sonnet-4-6"]
    assert unknown.problem == "Anthropic does not know the model 'claude-9'. Check the model id."
    assert wrong_key.problem == "The server refused the API key (HTTP 401). Check the key."


def test_an_openai_compatible_server_that_does_not_answer_in_time() -> None:
    with model_list_server(["gemma"], delay=3) as (url, _):
        started = time.monotonic()
        result = check_choice(ModelChoice(provider="openai", base_url=f"{url}/v1", model_id="gemma"), timeout=0.5)
        assert time.monotonic() - started < 2
    assert (
        result.problem
        == f"{url}/v1/models did not answer within 0.5 seconds. Is the server running and not overloaded?"
    )


def test_a_wrong_key_and_providers_without_an_endpoint() -> None:
    with model_list_server(["gemma"], api_key="sk-right") as (url, _):
        wrong = check_choice(ModelChoice(provider="openai", base_url=f"{url}/v1", model_id="gemma", api_key="sk-x"))
    assert wrong.problem == "The server refused the API key (HTTP 401). Check the key."
    assert check_choice(ModelChoice(provider="none")).ok


def test_a_web_page_or_an_empty_model_list_is_not_taken_for_a_model_server() -> None:
    with model_list_server([], web_page=True) as (url, _):
        page = check_choice(ModelChoice(provider="openai", base_url=url, model_id="gemma"))
        ollama_page = check_choice(ModelChoice(provider="ollama", host=url, model_id="gemma"))
    assert page.problem == (
        f"The server at {url} answered GET {url}/models, but not with a list of models: it is not an "
        f"OpenAI-compatible API at this address. An OpenAI-compatible base URL usually ends in /v1: try {url}/v1."
    )
    assert (
        ollama_page.problem == f"The server at {url} answered GET {url}/api/tags, but not as Ollama does: is it Ollama?"
    )
    with model_list_server([]) as (url, _):
        empty = check_choice(ModelChoice(provider="openai", base_url=f"{url}/v1", model_id="gemma"))
    assert empty.problem.startswith(f"The server at {url}/v1 answered but lists no models, so it cannot serve 'gemma'")
