"""Ask before running code: each code or shell step the agent proposes waits for the person, with Strands' interrupts.

With the conversation's switch on, a ``BeforeToolCallEvent`` hook raises a Strands interrupt for every
``execute_code`` and ``execute_command`` call and every call of an MCP server's tool (``core/mcp/``; its
arguments, as JSON, are what the person may edit): the agent stops with ``stop_reason == "interrupt"``, and the step
waits, its code shown, until the person answers. The answer goes back to the agent as Strands' interrupt
response (``agent.stream_async([{"interruptResponse": ...}])``) and the same hook then lets the step run, runs
the edited code instead, or cancels the call with the person's reason as its result. Strands' session managers
keep the interrupt state with the agent's messages, so a waiting step survives a reload and an app restart; the
switch is kept in the agent's state the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from strands import Agent
from strands.hooks import AfterToolCallEvent, AfterToolsEvent, BeforeToolCallEvent, HookProvider, HookRegistry

from core.chat.transcript import ChatEvent
from core.types import ToolRecord

INTERRUPT_NAME = "ask-before-running"
SWITCH_KEY = "ask_before_running"
ASKED_TOOLS = {"execute_code": "code", "execute_command": "command"}
"""The tools that wait for the person, and the argument that holds their code."""
MAX_REASON_CHARS = 2000
NEW_MESSAGE_REASON = "The user did not answer and sent a new message instead."
Action = Literal["run", "edit", "skip"]


@dataclass(frozen=True)
class PendingStep:
    """A step the agent proposed that waits for the person.

    Attributes:
        interrupt_id: Strands' id of the interrupt (opaque; it answers the step).
        tool: ``execute_code``, ``execute_command`` or an MCP server's tool.
        input: The arguments the agent gave.
        server: The MCP server of an MCP tool (empty for the code tools).

    """

    interrupt_id: str
    tool: str
    input: dict[str, Any]
    server: str = ""

    @property
    def code(self) -> str:
        """The code or command the step would run (an MCP tool's arguments as JSON)."""
        if self.server:
            return json.dumps(self.input, indent=2, ensure_ascii=False)
        return str(self.input.get(ASKED_TOOLS.get(self.tool, "code"), ""))

    @property
    def language(self) -> str:
        """The language of :attr:`code` (``bash`` for a shell command, ``json`` for an MCP tool's arguments)."""
        if self.server:
            return "json"
        return "bash" if self.tool == "execute_command" else str(self.input.get("language") or "python")


@dataclass(frozen=True)
class Answer:
    """What the person decided about a waiting step.

    Attributes:
        action: ``run`` as proposed, ``edit`` (run :attr:`code` instead) or ``skip``.
        code: The edited code, for ``edit``.
        reason: Why it was skipped (the agent receives it), for ``skip``.

    """

    action: Action
    code: str = ""
    reason: str = ""

    def response(self, interrupt_id: str) -> dict[str, Any]:
        """The interrupt response content block that resumes the agent with this answer."""
        value = {"action": self.action, "code": self.code, "reason": self.reason[:MAX_REASON_CHARS]}
        return {"interruptResponse": {"interruptId": interrupt_id, "response": value}}


def skipped_text(reason: str) -> str:
    """What the agent receives for a skipped step."""
    reason = " ".join(reason.split())[:MAX_REASON_CHARS]
    if reason == NEW_MESSAGE_REASON:
        return f"Not run. {reason}"
    return "Not run: the user skipped this step. " + (f"Their reason: {reason}" if reason else "They gave no reason.")


def _edited_input(tool: str, server: str, tool_input: dict[str, Any], code: Any) -> dict[str, Any] | None:
    """The input a step runs with after the person edited it; None when the edit cannot be used."""
    if not isinstance(code, str):
        return None
    if not server:
        return {**tool_input, ASKED_TOOLS[tool]: code}
    try:
        edited = json.loads(code)
    except json.JSONDecodeError:
        return None
    return edited if isinstance(edited, dict) else None


class StepApproval(HookProvider):
    """The hook that makes code and shell steps wait for the person, and what waits now.

    Args:
        add_event: Puts an event in the chat (a skipped step, a note that the person edited the code).

    """

    def __init__(self, add_event: Callable[[ChatEvent], None]) -> None:
        self.add_event = add_event
        self.agent: Agent | None = None
        self._edited: dict[str, str] = {}  # toolUseId to the code the person ran instead
        self._end_turn = False

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        """Ask before each code step; tell the agent about edits; end the turn when a new message came."""
        registry.add_callback(BeforeToolCallEvent, self._before_tool)
        registry.add_callback(AfterToolCallEvent, self._after_tool)
        registry.add_callback(AfterToolsEvent, self._after_tools)

    @property
    def asking(self) -> bool:
        """Whether this conversation asks before running code."""
        return self.agent is not None and bool(self.agent.state.get(SWITCH_KEY))

    def set_asking(self, on: bool) -> None:
        """Turn the switch on or off; it is saved with the agent's state."""
        if self.agent is None:
            return
        self.agent.state.set(SWITCH_KEY, on)
        manager = getattr(self.agent, "_session_manager", None)
        if manager is not None:
            manager.sync_agent(self.agent)

    def pending(self) -> list[PendingStep]:
        """The steps waiting for the person (Strands keeps them in the agent's interrupt state)."""
        state = getattr(self.agent, "_interrupt_state", None)
        if state is None or not state.activated:
            return []
        return [
            PendingStep(
                interrupt.id,
                str(interrupt.reason.get("tool", "")),
                dict(interrupt.reason.get("input") or {}),
                str(interrupt.reason.get("server") or ""),
            )
            for interrupt in state.interrupts.values()
            if interrupt.name == INTERRUPT_NAME and interrupt.response is None and isinstance(interrupt.reason, dict)
        ]

    def skip_all(self) -> list[dict[str, Any]]:
        """Responses that skip every waiting step because a new message came, ending the agent's turn there."""
        responses = [Answer("skip", reason=NEW_MESSAGE_REASON).response(step.interrupt_id) for step in self.pending()]
        self._end_turn = bool(responses)
        return responses

    def _before_tool(self, event: BeforeToolCallEvent) -> None:
        tool = str(event.tool_use["name"])
        server = str(getattr(event.selected_tool, "mcp_server", "") or "")  # an MCP server's tool (core/mcp/)
        if (tool not in ASKED_TOOLS and not server) or not self.asking:
            return
        raw_input = event.tool_use.get("input")
        tool_input = dict(raw_input) if isinstance(raw_input, dict) else {}
        answer = event.interrupt(INTERRUPT_NAME, reason={"tool": tool, "input": tool_input, "server": server})
        action = answer.get("action") if isinstance(answer, dict) else "skip"
        edited = _edited_input(tool, server, tool_input, answer.get("code")) if action == "edit" else None
        if edited is not None:
            event.tool_use = {**event.tool_use, "input": edited}
            self._edited[str(event.tool_use["toolUseId"])] = answer["code"]
            what = "the tool's arguments" if server else "the agent's code"
            self.add_event(ChatEvent(kind="notice", text=f"You edited {what} before running it."))
        elif action != "run":
            reason = str(answer.get("reason", "")) if isinstance(answer, dict) else ""
            if action == "edit":
                reason = "The edited arguments were not a JSON object."
            event.cancel_tool = skipped_text(reason)
            record = ToolRecord(tool=tool, input=tool_input, status="skipped", text=event.cancel_tool, server=server)
            self.add_event(ChatEvent(kind="tool", tool=record))

    def _after_tool(self, event: AfterToolCallEvent) -> None:
        code = self._edited.pop(str(event.tool_use.get("toolUseId")), None)
        if code is not None:
            note = f"[The user edited your code before it ran. This ran instead:]\n{code}\n[Its result:]"
            event.result = {**event.result, "content": [{"text": note}, *event.result.get("content", [])]}

    def _after_tools(self, event: AfterToolsEvent) -> None:
        if self._end_turn:
            self._end_turn = False
            event.end_turn = "(The steps were skipped: the user sent a new message.)"
