"""A scripted model: replays a fixed list of tool calls and texts. For tests and offline demos.

The script is a list of steps, each ``{"text": "..."}`` or ``{"tool": "<name>", "input": {...}}``. One model
call consumes one step; when the steps run out the model answers ``(script finished)``. A text step may also give
``"after_failure"``: the text said instead when the latest tool call failed (a demo's answer never claims what
its code did not do); the script then starts over, so that a person who fixed the cause (uploaded the file the
answer asked for) and asks again sees the whole demo. Anything shown to a person must label it "scripted model":
it is not a language model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from strands.models import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

T = TypeVar("T", bound=BaseModel)
FINISHED = (
    "(script finished: this scripted model replays a fixed demo and has no more steps; set up a real model on the "
    "Settings page to ask anything)"
)
LABEL = "scripted model"


def load_script(path: Path) -> list[dict[str, Any]]:
    """Read and check a script file.

    Args:
        path: A JSON file holding a list of steps.

    Returns:
        The steps.

    Raises:
        ValueError: When the file is not a list of valid steps; the message names the bad step.

    """
    steps = json.loads(Path(path).read_text())
    if not isinstance(steps, list):
        raise ValueError(f"{path}: a script must be a JSON list of steps.")
    for number, step in enumerate(steps, 1):
        valid_text = (
            isinstance(step, dict)
            and isinstance(step.get("text"), str)
            and isinstance(step.get("after_failure", ""), str)
        )
        valid_tool = (
            isinstance(step, dict) and isinstance(step.get("tool"), str) and isinstance(step.get("input", {}), dict)
        )
        if not (valid_text or valid_tool):
            raise ValueError(f"{path}: step {number} must be {{'text': ...}} or {{'tool': ..., 'input': {{...}}}}.")
    return steps


def _latest_tool_failed(messages: Messages) -> bool:
    """Whether the latest tool result in the conversation reports an error."""
    for message in reversed(messages):
        results = [block["toolResult"] for block in message.get("content", []) if "toolResult" in block]
        if results:
            return any(result.get("status") == "error" for result in results)
    return False


class ScriptedModel(Model):
    """A Strands model that replays steps instead of thinking.

    Args:
        steps: The script; see the module docstring.
        chunk_size: Texts are streamed in chunks of this many characters, like a real model.

    """

    def __init__(self, steps: list[dict[str, Any]], chunk_size: int = 12) -> None:
        self.steps = list(steps)
        self.position = 0
        self.config: dict[str, Any] = {"model_id": LABEL, "chunk_size": chunk_size}

    def update_config(self, **model_config: Any) -> None:
        """Update the configuration."""
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        """The configuration."""
        return self.config

    def structured_output(
        self, output_model: type[T], prompt: Messages, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        """Not supported: a script cannot produce arbitrary structured data."""
        raise ValueError("The scripted model cannot produce structured output.")

    def next_step(self) -> dict[str, Any]:
        """The step the next model call replays."""
        if self.position >= len(self.steps):
            return {"text": FINISHED}
        step = self.steps[self.position]
        self.position += 1
        return step

    async def stream(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[StreamEvent]:
        """Stream the next step as ConverseStream events."""
        step = self.next_step()
        if "after_failure" in step and _latest_tool_failed(messages):
            step = {"text": step["after_failure"]}
            self.position = 0  # asked again, the demo replays from its start
        yield {"messageStart": {"role": "assistant"}}
        if "tool" in step:
            start = {"toolUse": {"toolUseId": f"tool-{uuid.uuid4().hex[:12]}", "name": step["tool"]}}
            yield {"contentBlockStart": {"start": start}}  # type: ignore[typeddict-item]
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(step.get("input", {}))}}}}
            yield {"contentBlockStop": {}}
            stop_reason = "tool_use"
        else:
            text, size = step["text"], int(self.config["chunk_size"])
            for offset in range(0, max(len(text), 1), size):
                yield {"contentBlockDelta": {"delta": {"text": text[offset : offset + size]}}}
            yield {"contentBlockStop": {}}
            stop_reason = "end_turn"
        yield {"messageStop": {"stopReason": stop_reason}}  # type: ignore[typeddict-item]
        yield {
            "metadata": {
                "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
                "metrics": {"latencyMs": 0},
            }
        }
