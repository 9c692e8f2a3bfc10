"""Why an answer ended early, in words that say what to do: a loop, the answer limit, a full context window.

The model's stream reports what it wrote and how it ended (:class:`~core.models.answers.AnswerReport`); the
model choice says where the answer limit was set (the Settings page or ``INTERPRETER_MODEL_MAX_TOKENS``).
"""

from __future__ import annotations

from typing import Any

from core.models.answers import AnswerReport

FULL_CONTEXT_SHARE = 0.9
"""An answer cut below this share of the answer limit was cut by the context window, not by the limit."""


def how_to_change_the_limit(choice: Any) -> str:
    """Where the person changes the answer limit of ``choice`` (a ModelChoice, or None when unknown)."""
    if getattr(choice, "from_page", False):
        return "Raise Max tokens on the Settings page"
    return "Raise INTERPRETER_MODEL_MAX_TOKENS (or set Max tokens on the Settings page)"


def token_limit_words(report: AnswerReport | None, choice: Any) -> str:
    """What to say when an answer stopped at a token limit, telling the answer limit from a full context window.

    Args:
        report: The cut answer's report (its size when the server said it), if the model keeps one.
        choice: The model choice (its ``max_tokens`` and where it was set), if known.

    Returns:
        One or two sentences: which limit was reached and what to do.

    """
    limit = int(getattr(choice, "max_tokens", 0) or 0)
    written = report.output_tokens if report is not None else None
    if limit and written is not None and written < FULL_CONTEXT_SHARE * limit:
        prompt = f" after a conversation of {report.input_tokens:,} tokens" if report and report.input_tokens else ""
        return (
            f"The model's context window filled up: the answer stopped after {written:,} tokens{prompt}. "
            "Start a new conversation, or give the model server a larger context (llama-server: --ctx-size)."
        )
    if not limit:
        return (
            "The answer was cut off by a token limit: the model server's own answer limit or its context window. "
            "Set Max tokens on the Settings page, or ask for less in one step."
        )
    change = how_to_change_the_limit(choice)
    return f"The answer reached its limit of {limit:,} tokens. {change}, or ask for less in one step."


def repetition_words(report: AnswerReport) -> str:
    """What to say when an answer was stopped because the model kept repeating itself."""
    piece = " ".join(report.repeated.split())[:60]
    return (
        f"The model kept repeating itself (“{piece}”), so its answer was stopped early. "
        "Ask again in other words; if it happens often, try a larger model or another temperature (Settings)."
    )


def cut_code_markdown(tool_input: dict[str, Any]) -> str:
    """What a cut tool call had written, as a fenced block that its own backticks cannot close."""
    code = str(tool_input.get("code") or tool_input.get("command") or "")
    if not code.strip():
        return ""
    fence = "`" * max(3, _longest_backtick_run(code) + 1)
    language = str(tool_input.get("language") or ("bash" if "command" in tool_input else "python"))
    language = language if language.isalpha() and len(language) <= 20 else ""
    return f"The model was writing this when it was cut off (not run):\n\n{fence}{language}\n{code}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest
