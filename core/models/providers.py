"""Strands' provider models, adjusted to the servers as they really are.

- Every provider's context overflow, in its own wording (:data:`~core.models.errors.OVERFLOW_WORDING`), becomes
  Strands' ``ContextWindowOverflowException``: the agent's conversation manager then reduces the history and
  retries once.
- OpenAI-compatible endpoints get message content as one string whenever it is only text (llama-cpp-python's
  server refuses an assistant message whose content is a list of parts, and string content is what every
  server accepts), a ``tool_choice`` when tools are offered (llama-cpp-python offers no tools without one), and
  the user's extra body fields through the SDK's ``extra_body``.
- A Stop ends every provider's stream at once, even before the server answers (:mod:`core.models.stopping`).

Provider packages are imported only when their model is built (see :mod:`core.models.build`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from strands.types.exceptions import ContextWindowOverflowException

from core.models.answers import WatchesAnswers
from core.models.errors import is_context_overflow
from core.models.stopping import StopsMidRequest


class RecognisesOverflow:
    """Mixin for a Strands model: any provider error that words a context overflow raises Strands' exception."""

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """The provider's stream, with context overflows (in any wording) raised as Strands recognises them.

        Args:
            *args: As for the provider's ``stream``.
            **kwargs: As for the provider's ``stream``.

        Yields:
            The provider's stream events.

        Raises:
            ContextWindowOverflowException: The request does not fit the model's context window.

        """
        try:
            async for event in super().stream(*args, **kwargs):  # type: ignore[misc]
                yield event
        except ContextWindowOverflowException:
            raise
        except Exception as error:
            if is_context_overflow(error):
                raise ContextWindowOverflowException(str(error)) from error
            raise


def text_only_as_string(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat message whose content parts are all text, with that text as one string."""
    content = message.get("content")
    if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") == "text" for part in content):
        return {**message, "content": "\n".join(str(part.get("text", "")) for part in content)}
    return message


async def keep_complete_tool_calls(events: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """Stream events, passed on as they come, where an answer cut by the token limit keeps its complete tool calls.

    Small local models often repeat a tool call until ``max_tokens`` cuts the last one in half; Strands would
    then drop every call of the answer. Here the end of a tool-use block whose input is not complete JSON waits:
    when the answer then stops at the token limit after complete calls, that block is never closed (Strands
    drops an unclosed block) and the answer ends as a tool use, so the complete calls run.
    """
    tool_input: list[str] | None = None  # the open tool-use block's input so far
    held_stop: Any = None
    complete_calls = 0
    async for event in events:
        if held_stop is not None and "messageStop" not in event:
            yield held_stop
            held_stop = None
        if "contentBlockStart" in event:
            tool_input = [] if "toolUse" in event["contentBlockStart"].get("start", {}) else None
        elif "contentBlockDelta" in event and tool_input is not None:
            tool_input.append(str(event["contentBlockDelta"]["delta"].get("toolUse", {}).get("input", "")))
        elif "contentBlockStop" in event and tool_input is not None:
            parses, tool_input = _parses("".join(tool_input)), None
            complete_calls += parses
            if not parses:
                held_stop = event
                continue
        elif "messageStop" in event:
            cut = event["messageStop"].get("stopReason") == "max_tokens" and complete_calls > 0
            if held_stop is not None and not cut:
                yield held_stop
            held_stop, complete_calls = None, 0
            if cut:
                event = {"messageStop": {**event["messageStop"], "stopReason": "tool_use"}}
        yield event
    if held_stop is not None:
        yield held_stop


def _parses(text: str) -> bool:
    """Whether a tool-use block's streamed input is complete JSON."""
    try:
        json.loads(text or "{}")
    except ValueError:
        return False
    return True


def openai_model_class() -> type[Any]:
    """The OpenAI-compatible model class (imported here: the ``openai`` package is optional)."""
    import openai
    from strands.models.openai import OpenAIModel
    from strands.types.exceptions import ModelThrottledException

    from core.models.openai_stream import translate

    class StreamsToolCalls(OpenAIModel):  # type: ignore[misc]
        """Strands' OpenAI model with tool calls streamed as they are written (see :mod:`core.models.openai_stream`)."""

        async def stream(self, messages: Any, tool_specs: Any = None, system_prompt: Any = None,
                         *, tool_choice: Any = None, **kwargs: Any) -> AsyncGenerator[Any, None]:  # fmt: skip
            """One streamed chat completion, in Strands' stream events."""
            metadata = {"agent_metadata": kwargs["agent_metadata"]} if "agent_metadata" in kwargs else {}
            request = self.format_request(messages, tool_specs, system_prompt, tool_choice, **metadata)
            if not request.get("stream"):
                upstream = super().stream(messages, tool_specs, system_prompt, tool_choice=tool_choice, **metadata)
                async for upstream_event in upstream:
                    yield upstream_event
                return
            async with self._get_client() as client:
                try:
                    async for event in translate(await client.chat.completions.create(**request)):
                        yield event
                except openai.RateLimitError as error:
                    raise ModelThrottledException(str(error)) from error

    class CompatibleOpenAIModel(WatchesAnswers, StopsMidRequest, RecognisesOverflow, StreamsToolCalls):
        """Strands' OpenAI model, sending what llama.cpp, llama-cpp-python, vLLM, LM Studio and Ollama accept.

        Args:
            tool_choice: Sent when tools are offered and Strands chose none ("" sends nothing).
            extra_body: Fields added to every request body.
            **kwargs: As for ``OpenAIModel``.

        """

        def __init__(self, *, tool_choice: str = "auto", extra_body: dict[str, Any] | None = None, **kwargs: Any):
            super().__init__(**kwargs)
            self.default_tool_choice = tool_choice
            self.extra_body = dict(extra_body or {})

        async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
            """Strands' stream, keeping the complete tool calls of an answer the token limit cut short."""
            async for event in keep_complete_tool_calls(super().stream(*args, **kwargs)):
                yield event

        @classmethod
        def format_request_messages(cls, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            """Strands' messages, with text-only content as one string."""
            return [text_only_as_string(message) for message in super().format_request_messages(*args, **kwargs)]

        def format_request(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            """Strands' request, plus ``tool_choice`` and the extra body fields."""
            request = super().format_request(*args, **kwargs)
            if request.get("tools") and "tool_choice" not in request and self.default_tool_choice:
                request["tool_choice"] = self.default_tool_choice
            if self.extra_body:
                request["extra_body"] = {**self.extra_body, **request.get("extra_body", {})}
            return request

    return CompatibleOpenAIModel


def adjusted(model_class: type[Any]) -> type[Any]:
    """A subclass of a Strands model class: overflows recognised in any wording, loops and Stops end the answer."""
    bases = (WatchesAnswers, StopsMidRequest, RecognisesOverflow, model_class)
    return type(model_class.__name__, bases, {"__doc__": model_class.__doc__})
