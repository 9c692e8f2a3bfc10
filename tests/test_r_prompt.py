"""The system prompt offers R only where the sandbox runs it."""

from __future__ import annotations

from core.chat.prompt import R_RULE, SYSTEM_PROMPT, system_prompt


def test_the_prompt_offers_r_only_where_the_sandbox_runs_it() -> None:
    assert system_prompt(("python", "javascript", "typescript")) == SYSTEM_PROMPT
    with_r = system_prompt(("python", "javascript", "typescript", "r"))
    assert with_r == SYSTEM_PROMPT + R_RULE and 'language="r"' in with_r
