"""A turn in progress, as the page follows it: finished events, the text streaming now, and the live step.

The live step is the tool call happening now: first while the model is still writing its input (the code
appears as it streams), then while it runs (its output appears as the code produces it).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from core.chat.transcript import ChatEvent
from core.types import ExecutionResult

StepPhase = Literal["writing", "running"]
_Shown = TypeVar("_Shown")
_PARTIAL_STRING = re.compile(r'"(code|command|language)"\s*:\s*"')


@dataclass(frozen=True)
class LiveStep:
    """The tool call happening now.

    Attributes:
        tool: The tool's name.
        input: Its arguments (while ``writing``, what the model has written so far).
        phase: ``writing`` (the model streams the call) or ``running`` (the tool runs).
        started: ``time.monotonic()`` when the phase began.
        result: What the running code has produced so far.

    """

    tool: str
    input: dict[str, Any]
    phase: StepPhase = "running"
    started: float = field(default_factory=time.monotonic)
    result: ExecutionResult | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the phase began."""
        return time.monotonic() - self.started


def _decode_partial_string(rest: str) -> str:
    """The JSON string value that starts ``rest`` (after its opening quote), even if it is not finished yet."""
    end, escaped = len(rest), False
    for position, character in enumerate(rest):
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == '"':
            end = position
            break
    body = rest[:end]
    for trim in range(7):  # an escape sequence cut in the middle (\, \u12) is left out until it is complete
        try:
            return str(json.loads(f'"{body[: len(body) - trim]}"'))
        except ValueError:
            continue
    return ""


def partial_tool_input(raw: str) -> dict[str, Any]:
    """What can be read of a tool call's JSON input while the model is still writing it.

    Args:
        raw: The input JSON text streamed so far.

    Returns:
        The complete input when ``raw`` parses; else the ``code``, ``command`` and ``language`` strings
        written so far.

    """
    try:
        value = json.loads(raw)
        return value if isinstance(value, dict) else {}
    except ValueError:
        pass
    found: dict[str, Any] = {}
    for match in _PARTIAL_STRING.finditer(raw):
        found.setdefault(match.group(1), _decode_partial_string(raw[match.end() :]))
    return found


@dataclass
class TurnSnapshot:
    """What a turn has produced so far, for the page to draw."""

    events: list[ChatEvent]
    partial_text: str
    live_step: LiveStep | None
    done: bool
    version: int


@dataclass
class ActiveTurn:
    """One turn in progress: its finished events, the text streaming now and the live step.

    Attributes:
        text: The message the turn answers.
        number: Which turn of the engine this is (1, 2, ...).
        resume: Instead of a message: the person's answers to steps that waited for them (Strands' interrupt
            responses), with which the agent carries on.
        events: The events the turn finished so far (also in the transcript).
        partial_text: Answer text still streaming.
        live_step: The tool call happening now.
        done: Whether the turn ended.
        started: ``time.monotonic()`` at its start.
        stop_requested: Set by Stop; the agent's invocation for this turn watches it (Strands' ``cancel_signal``),
            so a Stop meant for this turn never reaches the next one.

    """

    text: str = ""
    number: int = 0
    resume: list[dict[str, Any]] | None = None
    events: list[ChatEvent] = field(default_factory=list)
    partial_text: str = ""
    live_step: LiveStep | None = None
    done: bool = False
    started: float = field(default_factory=time.monotonic)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    version: int = 0

    def update(self, **changes: Any) -> None:
        """Change fields and wake whoever waits for a change."""
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1
            self.changed.notify_all()

    def show_output(self, partial: ExecutionResult) -> None:
        """Show what the running step has produced so far."""
        with self.changed:
            if self.live_step is not None and not self.done:
                self.update(live_step=replace(self.live_step, result=partial))

    def wait(self, seen_version: int, timeout: float) -> TurnSnapshot:
        """Wait until something changed after ``seen_version`` (or the timeout) and describe the turn."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen_version or self.done, timeout=timeout)
            return self.snapshot()

    def wait_done(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the turn to end; returns whether it did."""
        with self.changed:
            return self.changed.wait_for(lambda: self.done, timeout=timeout)

    def snapshot(self) -> TurnSnapshot:
        """The turn now."""
        with self.changed:
            return TurnSnapshot(list(self.events), self.partial_text, self.live_step, self.done, self.version)

    def text_growth(self, shown: str, *, every: float, quiet_for: float, longest: float) -> Iterator[str]:
        """The answer text each time it has grown past ``shown``, at most once every ``every`` seconds.

        For a page that updates one text element instead of redrawing the turn. It ends when only text no longer
        streams (the turn ended, a step started, the text was taken into an event), when nothing came for
        ``quiet_for`` seconds, or after ``longest`` seconds: then the page redraws the turn as a whole.
        """

        def still_text() -> str | None:
            text = self.partial_text
            return text if not self.done and self.live_step is None and text.startswith(shown) else None

        return self._growth(still_text, shown, every=every, quiet_for=quiet_for, longest=longest)

    def step_growth(self, shown: LiveStep, *, every: float, quiet_for: float, longest: float) -> Iterator[LiveStep]:
        """The live step each time the model has written more of it, at most once every ``every`` seconds.

        Like :meth:`text_growth`, for the code of a tool call being written: it ends when the step is no longer
        being written (it runs, or another step or text began), or on a pause or after ``longest`` seconds.
        """

        def still_writing() -> LiveStep | None:
            step = self.live_step
            same = step is not None and step.phase == "writing" and step.started == shown.started
            return step if same and not self.done else None

        return self._growth(still_writing, shown, every=every, quiet_for=quiet_for, longest=longest)

    def _growth(
        self, current: Callable[[], _Shown | None], shown: _Shown, *, every: float, quiet_for: float, longest: float
    ) -> Iterator[_Shown]:
        """What ``current`` reads each time it differs from ``shown``, until it reads None, a pause or a deadline."""
        deadline = last_change = time.monotonic()
        deadline += longest
        while time.monotonic() < deadline:
            with self.changed:  # at most once every ``every`` seconds, unless what is shown ends sooner
                self.changed.wait_for(lambda: current() is None, timeout=every)
                now = current()
            if now is None:
                return
            if now != shown:
                shown, last_change = now, time.monotonic()
                yield now
            elif time.monotonic() - last_change > quiet_for:
                return
