"""The chat engine: a Strands agent over a session's tools, turns that stream, direct code runs, and the prompt.

A turn runs in a thread of its own so the UI can follow it, leave it (a page rerun) and come back to it, and
stop it. What the person saw is written to the conversation's transcript as it happens.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from strands import Agent
from strands.hooks import BeforeToolCallEvent
from strands.models import Model
from strands.session.file_session_manager import FileSessionManager
from strands.session.session_manager import SessionManager

from core.conversations import ConversationStore
from core.formatting import describe_execution
from core.models import explain_model_error, how_to_configure
from core.objects import S3_RETRIES
from core.session import Session
from core.transcript import ChatEvent
from core.types import ToolRecord

SYSTEM_PROMPT = """You are a data analyst and programmer with a code interpreter: a sandbox where you run code.

Tools:
- execute_code(code, language, output_filename): run Python (default), JavaScript or TypeScript. Variables persist
  between calls (JavaScript and TypeScript share theirs).
- execute_command(command): run a shell command (ls, pip install, curl, ...).
- file_operations(operation, paths, content): read, write, list or remove files.
- ci_push_to_workspace(paths): save sandbox files to the workspace, where the user can download them.
- workspace_list(), workspace_read(path): look at what was saved.

Use the tools to analyse data, compute, test and prototype. Do not use them to show or explain code, for
simple arithmetic you can do yourself, or for anything that needs no execution.

Rules:
1. Call matplotlib.use('Agg') before importing matplotlib.pyplot: the sandbox has no display. Figures you show
   are captured and shown to the user (and to you) automatically.
2. Use print() for text output: stdout is how results come back.
3. output_filename must match exactly the file name the code saves (plt.savefig, wb.save, df.to_csv).
4. Use execute_command for shell tasks and file_operations for managing files.
5. State persists: keep data in variables across calls instead of reloading it.
6. Files the user uploads are already in the sandbox's working directory: use them directly.
7. Save results the user should keep (charts, tables, reports) with output_filename or ci_push_to_workspace.
"""

FENCED_BLOCK = re.compile(r"^\s*```([A-Za-z]*)[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)
LANGUAGE_ALIASES = {
    "": "python", "python": "python", "py": "python", "python3": "python", "javascript": "javascript",
    "js": "javascript", "typescript": "typescript", "ts": "typescript", "bash": "bash", "sh": "bash", "shell": "bash",
}  # fmt: skip
MAX_CONTEXT_CHARS = 4000


def parse_direct_run(text: str) -> tuple[str, dict[str, Any]] | None:
    """Recognise a message the person wants run as it is, without the model.

    A message that is exactly one fenced code block (python, javascript, typescript or bash) runs that code;
    a message starting with ``!`` runs the rest as a shell command.

    Args:
        text: The chat message.

    Returns:
        The tool name and its input, or ``None`` for an ordinary message.

    """
    stripped = text.strip()
    if stripped.startswith("!") and len(stripped) > 1:
        return "execute_command", {"command": stripped[1:].strip()}
    match = FENCED_BLOCK.match(text)
    if match is None or match.group(1).lower() not in LANGUAGE_ALIASES:
        return None
    language, code = LANGUAGE_ALIASES[match.group(1).lower()], match.group(2)
    if language == "bash":
        return "execute_command", {"command": code}
    return "execute_code", {"code": code, "language": language}


def agent_memory(session: Session) -> SessionManager:
    """Strands' session manager for the agent's messages: a folder next to the sandbox, or the S3 bucket."""
    settings = session.settings
    if settings.workspace_backend == "s3":
        from botocore.config import Config
        from strands.session.s3_session_manager import S3SessionManager

        prefix = "/".join(p for p in (settings.s3_prefix.strip("/"), session.user_id, session.conversation_id) if p)
        return S3SessionManager(
            session_id=session.conversation_id,
            bucket=settings.s3_bucket,
            prefix=f"{prefix}/agent",
            boto_client_config=Config(retries=S3_RETRIES),  # type: ignore[arg-type]
        )
    return FileSessionManager(session_id=session.conversation_id, storage_dir=str(session.folder / "agent"))


@dataclass
class TurnSnapshot:
    """What a turn has produced so far, for the UI to draw."""

    events: list[ChatEvent]
    partial_text: str
    running_tool: tuple[str, dict[str, Any]] | None
    done: bool


@dataclass
class ActiveTurn:
    """One turn in progress: its finished events, the text streaming now and the tool running now."""

    events: list[ChatEvent] = field(default_factory=list)
    partial_text: str = ""
    running_tool: tuple[str, dict[str, Any]] | None = None
    done: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)
    version: int = 0

    def update(self, **changes: Any) -> None:
        """Change fields and wake whoever waits for a change."""
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1
            self.changed.notify_all()

    def wait(self, seen_version: int, timeout: float) -> TurnSnapshot:
        """Wait until something changed after ``seen_version`` (or the timeout) and describe the turn."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen_version or self.done, timeout=timeout)
            return TurnSnapshot(list(self.events), self.partial_text, self.running_tool, self.done)


class ChatEngine:
    """A conversation's agent and turns.

    Args:
        session: The conversation's engine session (sandbox, workspace, tools).
        model: The model, or ``None`` when none is configured (direct runs still work).
        model_label: How the UI names the model.
        store: The user's conversations (for the transcript and the title).

    """

    def __init__(self, session: Session, model: Model | None, model_label: str, store: ConversationStore) -> None:
        self.session = session
        self.model_label = model_label
        self.store = store
        self.transcript = store.transcript(session.conversation_id)
        self.turn: ActiveTurn | None = None
        self.context_for_agent: list[str] = []
        self.agent: Agent | None = None
        if model is not None:
            self.agent = Agent(
                model=model,
                tools=list[Any](session.tools),
                system_prompt=SYSTEM_PROMPT,
                session_manager=agent_memory(session),
                callback_handler=None,
            )
            self.agent.hooks.add_callback(BeforeToolCallEvent, self._on_tool_start)
        session.listeners.append(self._on_tool_done)

    @property
    def busy(self) -> bool:
        """Whether a turn is running."""
        return self.turn is not None and not self.turn.done

    def add_event(self, event: ChatEvent) -> None:
        """Write an event to the transcript and show it in the running turn, if any."""
        turn = self.turn
        if turn is None or turn.done:
            self.transcript.append(event)
            return
        with turn.changed:  # readers take the transcript and the turn's events under the same lock
            self.transcript.append(event)
            turn.update(events=[*turn.events, event])

    def note_resumed(self) -> None:
        """Say in the chat (and to the agent) that a reopened conversation has new kernels."""
        if any(event.kind == "tool" for event in self.transcript.events()):
            text = "The conversation was reopened: its files are all here, but variables from before were lost."
            self.add_event(ChatEvent(kind="notice", text=text))
            self.tell_agent(f"[Note: {text}]")

    def tell_agent(self, text: str) -> None:
        """Remember something the agent must hear at its next turn (an upload, a direct run)."""
        self.context_for_agent.append(text[:MAX_CONTEXT_CHARS])

    def start_turn(self, text: str) -> ActiveTurn:
        """Start answering a message in a background thread and return the turn to follow."""
        turn = ActiveTurn()
        self.turn = turn
        self.session.sandbox.clear_interrupt()
        self.add_event(ChatEvent(kind="user", text=text))
        self.store.touch(self.session.conversation_id, first_message=text)
        threading.Thread(target=self._run_turn, args=(turn, text), name="chat-turn", daemon=True).start()
        return turn

    def stop(self) -> None:
        """End the running turn: the agent stops and the running code is interrupted; state is kept."""
        if self.agent is not None:
            self.agent.cancel()
        self.session.sandbox.interrupt()

    def _run_turn(self, turn: ActiveTurn, text: str) -> None:
        try:
            direct = parse_direct_run(text)
            if direct is not None:
                self._run_direct(*direct)
            elif self.agent is None:
                self.add_event(ChatEvent(kind="notice", level="warning", text=how_to_configure()))
            else:
                asyncio.run(self._stream(turn, text))
        except Exception as exc:  # the UI shows plain words, never a traceback
            self._flush_text(turn)
            explanation = explain_model_error(exc)
            self.add_event(ChatEvent(kind="notice", level="error", text=explanation))
            self._close_unanswered_message(explanation)
        finally:
            turn.update(done=True, running_tool=None)

    def _close_unanswered_message(self, explanation: str) -> None:
        """Answer a user message the model failed on, so the saved history keeps alternating user/assistant."""
        agent = self.agent
        if agent is None or not agent.messages or agent.messages[-1]["role"] != "user":
            return
        message: Any = {"role": "assistant", "content": [{"text": f"(No answer: {explanation})"}]}
        agent.messages.append(message)
        manager = getattr(agent, "_session_manager", None)
        if manager is not None:
            manager.append_message(message, agent)

    def _run_direct(self, tool_name: str, tool_input: dict[str, Any]) -> None:
        self._direct = True
        try:
            tools: dict[str, Any] = {t.tool_name: t for t in self.session.tools}
            tools[tool_name](**tool_input)
        finally:
            self._direct = False

    async def _stream(self, turn: ActiveTurn, text: str) -> None:
        assert self.agent is not None
        prompt = "\n\n".join([*self.context_for_agent, text])
        self.context_for_agent = []
        result = None
        async for event in self.agent.stream_async(prompt):
            if "data" in event:
                turn.update(partial_text=turn.partial_text + str(event["data"]))
            elif "result" in event:
                result = event["result"]
        self._flush_text(turn)
        if result is not None and getattr(result, "stop_reason", "") == "cancelled":
            self.add_event(ChatEvent(kind="notice", text="Stopped. The sandbox kept its files and variables."))

    def _flush_text(self, turn: ActiveTurn) -> None:
        if turn.partial_text.strip():
            text = turn.partial_text
            turn.update(partial_text="")
            self.add_event(ChatEvent(kind="assistant", text=text))

    def _on_tool_start(self, event: BeforeToolCallEvent) -> None:
        turn = self.turn
        if turn is not None and not turn.done:
            self._flush_text(turn)
            tool_use = event.tool_use
            turn.update(running_tool=(str(tool_use["name"]), dict(tool_use.get("input") or {})))

    _direct = False

    def _on_tool_done(self, record: ToolRecord) -> None:
        source = "direct" if self._direct else "agent"
        self.add_event(ChatEvent(kind="tool", tool=record, source=source))
        if self.turn is not None and not self.turn.done:
            self.turn.update(running_tool=None)
        if source == "direct":
            code = record.input.get("code") or record.input.get("command", "")
            result_text = describe_execution(record.result) if record.result else record.text
            self.tell_agent(f"[The user ran this directly with {record.tool}:]\n{code}\n[Result:]\n{result_text}")

    def close(self) -> None:
        """Stop a running turn and detach from the session."""
        if self.busy:
            self.stop()
        if self._on_tool_done in self.session.listeners:
            self.session.listeners.remove(self._on_tool_done)
