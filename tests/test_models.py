"""Choosing, saving and building the model, and the plain words shown when it fails."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from strands.models.anthropic import AnthropicModel
from strands.models.bedrock import DEFAULT_BEDROCK_MODEL_ID, BedrockModel
from strands.models.ollama import OllamaModel
from strands.models.openai import OpenAIModel
from strands.types.exceptions import ContextWindowOverflowException, ModelThrottledException

from core.config import Settings
from core.errors import InterpreterError, ModelConfigError
from core.models import (
    ModelChoice,
    build_model,
    describe_choice,
    effective_choice,
    explain_model_error,
    forget_choice,
    how_to_configure,
    load_saved_choice,
    resolve_provider,
    save_choice,
)
from core.models.scripted import ScriptedModel


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS credentials anywhere: the machine's own configuration cannot leak in."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    return monkeypatch


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "steps.json"
    path.write_text(json.dumps([{"text": "hello"}]))
    return path


def test_the_choice_comes_from_the_settings(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        model_provider="openai", model_id="llama3", openai_base_url="http://localhost:8000/v1", openai_api_key="sk-1"
    )
    choice = ModelChoice.from_settings(settings)
    assert (choice.provider, choice.model_id, choice.base_url, choice.api_key) == (
        "openai",
        "llama3",
        "http://localhost:8000/v1",
        "sk-1",
    )
    assert "sk-1" not in repr(choice)
    assert ModelChoice.from_settings(settings, provider="bedrock").api_key == ""
    assert effective_choice(settings) == choice


def test_a_saved_choice_wins_over_the_settings_and_keeps_its_key_private(settings: Settings) -> None:
    assert load_saved_choice(settings) is None
    choice = ModelChoice(provider="anthropic", model_id="claude-x", api_key="secret-key", max_tokens=1000)
    save_choice(settings, choice)

    path = settings.data_dir / "model.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_saved_choice(settings) == choice
    assert effective_choice(settings) == replace(choice, from_page=True)
    assert "api_key" not in choice.to_dict()
    assert "secret-key" not in json.dumps(choice.to_dict())
    assert ModelChoice.from_dict(choice.to_dict()) == ModelChoice(
        provider="anthropic", model_id="claude-x", max_tokens=1000
    )
    assert [p.name for p in path.parent.iterdir()] == ["model.json"]  # no temporary file left behind

    assert forget_choice(settings) is True
    assert effective_choice(settings) == ModelChoice.from_settings(settings)


def test_a_broken_saved_file_is_ignored(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    for content in ("{not json", "[1, 2]", json.dumps({"provider": "skynet"}), json.dumps({"max_tokens": "many"})):
        (settings.data_dir / "model.json").write_text(content)
        assert load_saved_choice(settings) is None
        assert effective_choice(settings) == ModelChoice.from_settings(settings)


def test_auto_without_aws_credentials_means_no_model(no_aws: pytest.MonkeyPatch) -> None:
    choice = ModelChoice(provider="auto")
    assert resolve_provider(choice) == "none"
    assert build_model(choice) is None
    assert describe_choice(choice) == "No model: no AWS credentials were found"


def test_auto_with_aws_credentials_means_bedrock(no_aws: pytest.MonkeyPatch) -> None:
    no_aws.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    no_aws.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    choice = ModelChoice(provider="auto", region="eu-west-1")
    assert resolve_provider(choice) == "bedrock"
    model = build_model(choice)
    assert isinstance(model, BedrockModel)
    assert describe_choice(choice).startswith(f"Amazon Bedrock · {DEFAULT_BEDROCK_MODEL_ID}")


def test_auto_with_credentials_in_the_shared_file_means_bedrock(no_aws: pytest.MonkeyPatch, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
    no_aws.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    assert resolve_provider(ModelChoice(provider="auto")) == "bedrock"


def test_auto_never_asks_the_instance_metadata_service(no_aws: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    class Metadata(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_GET = do_PUT

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        no_aws.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/")
        assert resolve_provider(ModelChoice(provider="auto")) == "none"
    finally:
        server.shutdown()
        server.server_close()
    assert asked == []


def test_other_providers_are_not_resolved(no_aws: pytest.MonkeyPatch) -> None:
    for provider in ("bedrock", "openai", "anthropic", "ollama", "scripted", "none"):
        assert resolve_provider(ModelChoice(provider=provider)) == provider


def test_bedrock_is_built_without_calling_aws(no_aws: pytest.MonkeyPatch) -> None:
    # No credentials at all: building must still work, since nothing is sent until the first question.
    model = build_model(ModelChoice(provider="bedrock", region="us-east-1", max_tokens=777))
    assert isinstance(model, BedrockModel)
    config = model.get_config()
    assert config["model_id"] == DEFAULT_BEDROCK_MODEL_ID
    assert config["max_tokens"] == 777
    assert model.client.meta.region_name == "us-east-1"

    named = build_model(ModelChoice(provider="bedrock", model_id="us.amazon.nova-pro-v1:0", region="us-east-1"))
    assert isinstance(named, BedrockModel)
    assert named.get_config()["model_id"] == "us.amazon.nova-pro-v1:0"


def test_openai_compatible_model_is_built() -> None:
    choice = ModelChoice(provider="openai", base_url="http://127.0.0.1:9/v1", model_id="llama3", max_tokens=512)
    model = build_model(choice)
    assert isinstance(model, OpenAIModel)
    assert model.get_config()["model_id"] == "llama3"
    assert model.get_config()["params"] == {"max_tokens": 512}
    assert model.client_args == {"base_url": "http://127.0.0.1:9/v1", "api_key": "not-needed"}
    assert describe_choice(choice) == "OpenAI-compatible · llama3 at http://127.0.0.1:9/v1"


def test_anthropic_model_is_built() -> None:
    model = build_model(ModelChoice(provider="anthropic", api_key="sk-ant-test", max_tokens=300))
    assert isinstance(model, AnthropicModel)
    assert model.get_config()["model_id"] == "claude-sonnet-4-6"
    assert model.get_config()["max_tokens"] == 300
    assert describe_choice(ModelChoice(provider="anthropic")) == "Anthropic · claude-sonnet-4-6"


def test_ollama_model_is_built() -> None:
    choice = ModelChoice(provider="ollama", model_id="llama3.1", host="http://127.0.0.1:11434")
    model = build_model(choice)
    assert isinstance(model, OllamaModel)
    assert model.host == "http://127.0.0.1:11434"
    assert model.get_config()["model_id"] == "llama3.1"
    assert describe_choice(choice) == "Ollama · llama3.1 at http://127.0.0.1:11434"


def test_scripted_model_is_built_and_labelled_as_such(tmp_path: Path) -> None:
    choice = ModelChoice(provider="scripted", script_file=str(_script(tmp_path)))
    model = build_model(choice)
    assert isinstance(model, ScriptedModel)
    assert model.steps == [{"text": "hello"}]
    assert describe_choice(choice) == "scripted model (steps.json)"


def test_no_model_is_none() -> None:
    assert build_model(ModelChoice(provider="none")) is None


@pytest.mark.parametrize(
    ("choice", "variable"),
    [
        (ModelChoice(provider="openai", model_id="llama3"), "INTERPRETER_OPENAI_BASE_URL"),
        (ModelChoice(provider="openai", base_url="http://localhost:8000/v1"), "INTERPRETER_MODEL_ID"),
        (ModelChoice(provider="anthropic"), "INTERPRETER_ANTHROPIC_API_KEY"),
        (ModelChoice(provider="ollama"), "INTERPRETER_MODEL_ID"),
        (ModelChoice(provider="scripted"), "INTERPRETER_SCRIPTED_MODEL_FILE"),
        (ModelChoice(provider="gpt-9"), "INTERPRETER_MODEL_PROVIDER"),
    ],
)
def test_missing_settings_name_the_variable_to_set(choice: ModelChoice, variable: str) -> None:
    with pytest.raises(ModelConfigError, match=variable):
        build_model(choice)


def test_a_bad_script_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    with pytest.raises(ModelConfigError, match="must be a JSON list"):
        build_model(ModelChoice(provider="scripted", script_file=str(bad)))
    with pytest.raises(ModelConfigError, match=r"missing\.json"):
        build_model(ModelChoice(provider="scripted", script_file=str(tmp_path / "missing.json")))


def test_a_missing_provider_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "strands.models.openai", None)  # what Python does for a missing module
    with pytest.raises(ModelConfigError) as caught:
        build_model(ModelChoice(provider="openai", base_url="http://localhost:8000/v1", model_id="m"))
    assert isinstance(caught.value, InterpreterError)
    assert str(caught.value) == (
        "The OpenAI-compatible provider needs the 'openai' package: .venv/bin/pip install -e '.[openai]'"
    )


def test_how_to_configure_names_every_provider() -> None:
    text = how_to_configure()
    for words in ("Settings", "Amazon Bedrock", "INTERPRETER_OPENAI_BASE_URL", "INTERPRETER_ANTHROPIC_API_KEY"):
        assert words in text
    assert "INTERPRETER_OLLAMA_HOST" in text
    assert "INTERPRETER_SCRIPTED_MODEL_FILE" in text


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "ConverseStream")


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (NoCredentialsError(), "No AWS credentials"),
        (_client_error("AccessDeniedException", "You don't have access to the model"), "IAM permissions"),
        (_client_error("ThrottlingException", "Too many requests"), "too many requests"),
        (_client_error("ValidationException", "Input is too long for requested model."), "too long"),
        (_client_error("ValidationException", "The provided model identifier is invalid."), "model id"),
        (_client_error("ExpiredTokenException", "The security token included in the request is expired"), "expired"),
        (_client_error("ResourceNotFoundException", "Model not found"), "not available"),
        (ContextWindowOverflowException("prompt is too long"), "too long"),
        (ModelThrottledException("slow down"), "too many requests"),
        (EndpointConnectionError(endpoint_url="https://bedrock-runtime.xx.amazonaws.com"), "cannot be reached"),
        (ConnectionRefusedError(111, "Connection refused"), "cannot be reached"),
        (httpx.ConnectError("All connection attempts failed"), "cannot be reached"),
    ],
)
def test_model_errors_are_explained_in_plain_words(error: BaseException, words: str) -> None:
    text = explain_model_error(error)
    assert words.lower() in text.lower()
    assert "Traceback" not in text


def _openai_status_error(kind: type[openai.APIStatusError], status: int, message: str) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:8000/v1/chat/completions")
    response = httpx.Response(status, request=request, json={"error": {"message": message}})
    return kind(message, response=response, body={"error": {"message": message}})


def test_openai_errors_are_explained_in_plain_words() -> None:
    auth = _openai_status_error(openai.AuthenticationError, 401, "Incorrect API key provided")
    assert "API key" in explain_model_error(auth)
    missing = _openai_status_error(openai.NotFoundError, 404, "The model `gpt-9` does not exist")
    assert "model id" in explain_model_error(missing)
    limited = _openai_status_error(openai.RateLimitError, 429, "Rate limit reached")
    assert "too many requests" in explain_model_error(limited)
    bad = _openai_status_error(openai.BadRequestError, 400, "messages: field required")
    assert "refused the request: messages: field required" in explain_model_error(bad)
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    down = openai.APIConnectionError(request=request)
    assert "cannot be reached" in explain_model_error(down)
    assert "127.0.0.1:9" in explain_model_error(down)


def test_a_wrapped_error_is_explained_by_its_cause() -> None:
    try:
        try:
            raise _client_error("ThrottlingException", "Rate exceeded")
        except ClientError as cause:
            raise RuntimeError("event loop failed") from cause
    except RuntimeError as error:
        assert "too many requests" in explain_model_error(error)


def test_unknown_errors_give_type_and_message_only() -> None:
    assert explain_model_error(KeyError("usage")) == "The model failed: KeyError: 'usage'"
