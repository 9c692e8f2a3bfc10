"""What the model wrote in its latest answer and why it ended, and an answer stopped when it repeats itself.

Small local models fall into loops: the same sentence, or an imagined tool result, over and over until the
token limit (one turn took 539 s at 7.7 tokens/s). :class:`WatchesAnswers` watches every answer as it streams,
ends it as soon as its tail is one piece repeated, and keeps an :class:`AnswerReport` so the chat can say
why an answer ended: the model's own end, repetition, the answer limit or a full context window.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

REPEATED_SPAN = 1000
"""Characters at the end of an answer that must be one piece repeated (at least four times) to stop it."""
LONGEST_PIECE = 250
"""The longest piece looked for (a few lines of text or one imagined tool result)."""
CHECK_EVERY = 200
"""Characters written between two looks (a look costs a few hundred string comparisons in C)."""


def repeated_piece(written: str) -> str:
    """The piece the end of ``written`` repeats, or "" when it does not end in a loop.

    The end repeats a piece of length ``p`` when its last ``max(REPEATED_SPAN, 3 p)`` characters equal the ones
    ``p`` characters before them: then the piece occurs at least four times in a row.
    """
    for period in range(1, LONGEST_PIECE + 1):
        span = max(REPEATED_SPAN, 3 * period)
        if len(written) < span + period:
            return ""
        if written[-span:] == written[-span - period : -period]:
            return written[-period:]
    return ""


@dataclass
class AnswerReport:
    """The latest answer of a model: what it wrote, how it ended, what it cost.

    Attributes:
        text: The answer's text so far.
        stop_reason: Strands' stop reason (``end_turn``, ``tool_use``, ``max_tokens``...); "" while streaming.
        input_tokens: The prompt's size, when the server said.
        output_tokens: The answer's size, when the server said.
        repeated: The piece the answer kept repeating, when it was stopped for that.

    """

    text: str = ""
    stop_reason: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    repeated: str = ""


class _Watch:
    """Follows one answer's events: the report, and whether its end is a loop."""

    def __init__(self) -> None:
        self.report = AnswerReport()
        self.written: list[str] = []
        self.length = 0
        self.checked_at = 0
        self.in_tool = False
        self.block_open = False

    def see(self, event: dict[str, Any]) -> bool:
        """Note one event; whether the answer now ends in a loop."""
        if "contentBlockStart" in event:
            self.in_tool = "toolUse" in event["contentBlockStart"].get("start", {})
            self.block_open = True
            self._write("\n")
        elif "contentBlockStop" in event:
            self.block_open = False
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"].get("delta", {})
            if "text" in delta:  # Bedrock starts no block for text: its first delta opens one
                self.block_open, self.in_tool = True, False
                self.report.text += str(delta["text"])
            self._write(str(delta.get("text") or delta.get("toolUse", {}).get("input") or ""))
        elif "messageStop" in event:
            self.report.stop_reason = str(event["messageStop"].get("stopReason", ""))
        elif "metadata" in event:
            usage = event["metadata"].get("usage", {})
            self.report.input_tokens = usage.get("inputTokens")
            self.report.output_tokens = usage.get("outputTokens")
        if self.length - self.checked_at < CHECK_EVERY:
            return False
        self.checked_at = self.length
        self.written = ["".join(self.written)[-(3 * LONGEST_PIECE + REPEATED_SPAN) :]]
        self.report.repeated = repeated_piece(self.written[0])
        return bool(self.report.repeated)

    def _write(self, piece: str) -> None:
        self.written.append(piece)
        self.length += len(piece)

    def ending(self) -> list[dict[str, Any]]:
        """The events that end an answer stopped mid-way: a text block is closed, a tool call never is.

        Strands drops a tool-use block that was not closed, so a half-written call never runs.
        """
        closing: list[dict[str, Any]] = [{"contentBlockStop": {}}] if self.block_open and not self.in_tool else []
        self.report.stop_reason = "end_turn"
        return [*closing, {"messageStop": {"stopReason": "end_turn"}}]


class WatchesAnswers:
    """Mixin for a Strands model: :attr:`last_answer` reports each answer; one that loops is stopped early."""

    last_answer: AnswerReport = AnswerReport()

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """The provider's stream, watched, and ended early when the answer repeats itself.

        Args:
            *args: As for the provider's ``stream``.
            **kwargs: As for the provider's ``stream``.

        Yields:
            The provider's stream events (then, for a looping answer, the events that end it).

        """
        watch = _Watch()
        self.last_answer = watch.report
        events = super().stream(*args, **kwargs)  # type: ignore[misc]
        try:
            async for event in events:
                yield event
                if watch.see(event):
                    break
        finally:
            await events.aclose()
        if watch.report.repeated:
            for event in watch.ending():
                yield event
