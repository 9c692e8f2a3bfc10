"""An OpenAI-compatible chat stream whose tool calls reach Strands piece by piece, as the server sends them.

Strands' ``OpenAIModel.stream`` (1.x) collects every ``tool_calls`` delta until the answer ends and only then
emits the calls, so a person watching sees nothing while a local model spends a minute writing code. Here
each delta is passed on when it arrives, in Strands' stream event shapes (``contentBlockStart`` with
``toolUse`` name and id, ``contentBlockDelta`` with ``toolUse.input``, ``contentBlockStop``).

Wire format (OpenAI API reference, "Chat Completions: streaming"; llama.cpp's server and vLLM send the same):
each chunk's ``choices[0].delta`` carries ``content``, ``reasoning_content`` (or ``reasoning``) or
``tool_calls``; a tool call's first delta has its ``index``, ``id`` and ``function.name``, the following ones
``function.arguments`` pieces with the same ``index``; calls arrive one after another in index order; the last
choice has a ``finish_reason``, and a usage chunk may follow when ``stream_options.include_usage`` was asked.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

STOP_REASONS = {"tool_calls": "tool_use", "length": "max_tokens", "content_filter": "content_filtered"}
"""OpenAI's finish reasons as Strands names them (anything else ends the turn)."""


@dataclass
class _PendingCall:
    """A tool call whose name has not arrived yet (Strands needs the name when the block starts)."""

    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class ChunkTranslator:
    """Turns OpenAI stream deltas into Strands stream events as they come, tool calls included.

    The open block is text, reasoning or one tool call (``open_block`` holds ``"text"``, ``"reasoning"`` or
    the call's index); a delta of another kind closes it first.
    """

    open_block: str | int | None = None
    pending: dict[int, _PendingCall] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)

    def text(self, kind: str, piece: str) -> Iterator[dict[str, Any]]:
        """Events for a piece of answer text (``kind`` ``text``) or of reasoning (``reasoning``)."""
        if self.open_block != kind:
            yield from self._close()
            self.open_block = kind
            yield {"contentBlockStart": {"start": {}}}
        delta = {"text": piece} if kind == "text" else {"reasoningContent": {"text": piece}}
        yield {"contentBlockDelta": {"delta": delta}}

    def tool_call(self, delta: Any) -> Iterator[dict[str, Any]]:
        """Events for one ``tool_calls`` delta: its block starts once its name is known, then grows."""
        index = int(getattr(delta, "index", None) or 0)
        function = getattr(delta, "function", None)
        arguments = str(getattr(function, "arguments", None) or "")
        if index == self.open_block:
            if arguments:
                yield _input(arguments)
            return
        if index in self.finished:  # not in OpenAI's protocol: a call continued after the next one began
            logger.warning("tool call %s continued after the next call began; the late piece is dropped", index)
            return
        call = self.pending.setdefault(index, _PendingCall())
        call.call_id = call.call_id or str(getattr(delta, "id", None) or "")
        call.name = call.name or str(getattr(function, "name", None) or "")
        call.arguments.append(arguments)
        if call.name:
            yield from self._start_call(index)

    def finish(self) -> Iterator[dict[str, Any]]:
        """Events that close the answer's open block and start any call still waiting for its name."""
        for index in list(self.pending):
            yield from self._start_call(index)
        yield from self._close()

    def _start_call(self, index: int) -> Iterator[dict[str, Any]]:
        yield from self._close()
        call = self.pending.pop(index)
        self.open_block = index
        yield {"contentBlockStart": {"start": {"toolUse": {"name": call.name, "toolUseId": call.call_id}}}}
        if "".join(call.arguments):
            yield _input("".join(call.arguments))

    def _close(self) -> Iterator[dict[str, Any]]:
        if self.open_block is None:
            return
        if isinstance(self.open_block, int):
            self.finished.add(self.open_block)
        self.open_block = None
        yield {"contentBlockStop": {}}


def _input(piece: str) -> dict[str, Any]:
    return {"contentBlockDelta": {"delta": {"toolUse": {"input": piece}}}}


def _reasoning(delta: Any) -> str:
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def events_of_chunk(chunk: Any, translator: ChunkTranslator) -> Iterator[dict[str, Any]]:
    """The Strands events of one ``chat.completion.chunk`` (none for a chunk without choices)."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return
    delta = choices[0].delta
    if reasoning := _reasoning(delta):
        yield from translator.text("reasoning", reasoning)
    if delta.content:
        yield from translator.text("text", delta.content)
    for tool_delta in delta.tool_calls or []:
        yield from translator.tool_call(tool_delta)


def usage_event(usage: Any) -> dict[str, Any]:
    """Strands' ``metadata`` event for a usage chunk."""
    totals = {
        "inputTokens": usage.prompt_tokens,
        "outputTokens": usage.completion_tokens,
        "totalTokens": usage.total_tokens,
    }
    return {"metadata": {"usage": totals, "metrics": {"latencyMs": 0}}}


async def translate(response: Any) -> AsyncGenerator[dict[str, Any], None]:
    """Strands' stream events for an OpenAI streaming response, each piece passed on as it arrives.

    Args:
        response: The SDK's async stream of ``ChatCompletionChunk``.

    Yields:
        ``messageStart``, content block events, ``messageStop`` and, when the server sends usage, ``metadata``.

    """
    yield {"messageStart": {"role": "assistant"}}
    translator = ChunkTranslator()
    finish_reason = ""
    last = None
    async for chunk in response:
        last = chunk
        for event in events_of_chunk(chunk, translator):
            yield event
        choices = getattr(chunk, "choices", None)
        if choices and choices[0].finish_reason:
            finish_reason = choices[0].finish_reason
            break
    for event in translator.finish():
        yield event
    yield {"messageStop": {"stopReason": STOP_REASONS.get(finish_reason, "end_turn")}}
    async for chunk in response:  # only the usage chunk is of use after the finish reason
        last = chunk
    if last is not None and getattr(last, "usage", None):
        yield usage_event(last.usage)
