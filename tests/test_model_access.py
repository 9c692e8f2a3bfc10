"""A stored API key is bound to its provider and endpoint; admins; the scripted model's script."""

from __future__ import annotations

import json
from pathlib import Path

from core.config import Settings
from core.models import ModelChoice, effective_choice, save_choice
from core.web.model_access import bind_api_key, is_admin, key_endpoint, page_providers

OPERATOR = ModelChoice(provider="openai", base_url="http://127.0.0.1:8000/v1", model_id="m", api_key="sk-operator")


def test_the_key_stays_only_with_its_provider_and_endpoint() -> None:
    same = ModelChoice(provider="openai", base_url="http://127.0.0.1:8000/v1/ ", model_id="other")
    moved = ModelChoice(provider="openai", base_url="http://attacker.example/v1", model_id="m")
    anthropic = ModelChoice(provider="anthropic")

    assert key_endpoint(same) == key_endpoint(OPERATOR)  # a trailing slash or space is the same endpoint
    assert bind_api_key(OPERATOR, same, "").api_key == "sk-operator"
    assert bind_api_key(OPERATOR, moved, "") == bind_api_key(OPERATOR, moved, "", keep_key=False)
    assert (bind_api_key(OPERATOR, moved, "").api_key, bind_api_key(OPERATOR, moved, "").dropped) == ("", True)
    assert bind_api_key(OPERATOR, anthropic, "").api_key == ""  # never to another provider
    assert bind_api_key(OPERATOR, anthropic, "", keep_key=True).api_key == ""


def test_a_typed_key_wins_and_an_admin_may_keep_the_key_for_a_new_url() -> None:
    moved = ModelChoice(provider="openai", base_url="http://127.0.0.1:9000/v1")
    assert bind_api_key(OPERATOR, moved, "sk-typed").api_key == "sk-typed"
    assert bind_api_key(OPERATOR, moved, "", keep_key=True).api_key == "sk-operator"
    assert bind_api_key(ModelChoice(provider="openai"), moved, "").dropped is False  # nothing stored, nothing lost
    assert bind_api_key(OPERATOR, ModelChoice(provider="ollama"), "sk-typed").api_key == ""  # no key there


def test_admins_are_listed_verified_emails(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(admin_emails="Root@Example.com, ops@example.com")
    assert settings.admin_emails == ["Root@Example.com", "ops@example.com"]
    assert is_admin({"email": "root@example.com", "email_verified": True}, settings)
    assert is_admin({"email": "ops@example.com", "email_verified": "true"}, settings)  # as some providers send it
    # A provider that does not say the address is verified may let anyone claim it.
    assert not is_admin({"email": "root@example.com"}, settings)
    for unsure in (None, "", "false", 1, "yes"):
        assert not is_admin({"email": "root@example.com", "email_verified": unsure}, settings), unsure
    assert not is_admin({"email": "ops@example.com", "email_verified": False}, settings)
    assert not is_admin({"email": "mallory@example.com"}, settings)
    assert not is_admin({}, settings)
    assert not is_admin({"email": "root@example.com", "email_verified": True}, make_settings())  # no list


def test_the_scripted_models_script_comes_from_the_settings_only(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "steps.json"
    script.write_text(json.dumps([{"text": "hi"}]))
    plain: Settings = make_settings()
    configured: Settings = make_settings(scripted_model_file=script)
    assert "scripted" not in page_providers(plain, ModelChoice(provider="none"))
    assert "scripted" in page_providers(configured, ModelChoice(provider="none"))

    save_choice(configured, ModelChoice(provider="scripted", script_file="/etc/passwd"))  # a stale or forged file
    assert effective_choice(configured).script_file == str(script)
    assert effective_choice(plain).script_file == ""
