"""The chat engine: a Strands agent over a session's tools, turns that stream, direct code runs, and the prompt.

A turn runs in a thread of its own so the UI can follow it, leave it (a page rerun) and come back to it, and
stop it. What the person saw is written to the conversation's transcript as it happens.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

from strands import Agent
from strands.hooks import BeforeToolCallEvent
from strands.models import Model

from core.chat.agent_parts import NoticingWindow, agent_memory
from core.chat.approval import Answer, StepApproval
from core.chat.conversations import ConversationStore
from core.chat.direct import parse_direct_run
from core.chat.endings import cut_code_markdown, repetition_words, token_limit_words
from core.chat.formatting import describe_execution
from core.chat.notices import reopened_notice
from core.chat.prompt import system_prompt
from core.chat.transcript import SESSION_NOTICE, ChatEvent
from core.chat.turn import ActiveTurn, LiveStep, partial_tool_input
from core.mcp.hub import McpTools, hub_for
from core.models import explain_model_error, how_to_configure
from core.models.answers import AnswerReport
from core.session import Session
from core.types import ExecutionResult, ToolRecord

MAX_CONTEXT_CHARS = 4000


class ChatEngine:
    """A conversation's agent and turns.

    Turns run one at a time in a worker thread of the engine, not of a page: a reload, a closed tab or a lost
    connection does not stop them. A message sent while a turn runs waits in :attr:`queued` and runs next.

    Args:
        session: The conversation's engine session (sandbox, workspace, tools).
        model: The model, or ``None`` when none is configured (direct runs still work).
        model_label: How the UI names the model.
        store: The user's conversations (for the transcript and the title).
        model_error: Why the configured model could not be set up, if it could not.

    """

    def __init__(
        self,
        session: Session,
        model: Model | None,
        model_label: str,
        store: ConversationStore,
        model_error: str = "",
    ) -> None:
        self.session = session
        self.model_label = model_label
        self.model_error = model_error
        self.store = store
        self.transcript = store.transcript(session.conversation_id)
        self.turn: ActiveTurn | None = None
        self.queued: list[str] = []
        self.turns_started = 0
        self.context_for_agent: list[str] = []
        self.watched_at = time.monotonic()
        self.model_choice: object = None
        """The model settings this engine was built with (compared to spot a change on the Settings page)."""
        self._lock = threading.Lock()
        self._direct = False
        self._tool_calls = 0
        self._limit_reached = False
        self.agent: Agent | None = None
        self.approval = StepApproval(self.add_event)
        if model is not None:
            hub = hub_for(session.settings)  # MCP servers an admin chose: their tools join at each turn's start
            mcp: list[Any] = [McpTools(hub, session, self._mcp_notice)] if hub is not None else []
            self.agent = Agent(
                model=model,
                hooks=[self.approval, *mcp],  # before _on_tool_start: a step the person edits is shown edited
                tools=list[Any](session.tools),
                system_prompt=system_prompt(getattr(session.sandbox, "languages", ())),
                session_manager=agent_memory(session),
                conversation_manager=NoticingWindow(self._on_history_reduced),
                callback_handler=None,
            )
            self.agent.hooks.add_callback(BeforeToolCallEvent, self._on_tool_start)
            self.approval.agent = self.agent
        session.listeners.append(self._on_tool_done)
        session.output_listeners.append(self._on_output)

    @property
    def busy(self) -> bool:
        """Whether a turn is running (or queued messages wait for one)."""
        turn = self.turn
        return (turn is not None and not turn.done) or bool(self.queued)

    def watched(self) -> None:
        """Note that a page shows this conversation now (turns nobody watches end after a while)."""
        self.watched_at = time.monotonic()

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
        """Say in the chat (and to the agent) what a reopened conversation kept: files, and which variables.

        Said once: not again while nothing happened in the conversation since the last such notice.
        """
        events = self.transcript.events()
        if events and events[-1].source == SESSION_NOTICE:
            return
        if any(event.kind == "tool" and event.tool and event.tool.tool == "execute_code" for event in events):
            store = getattr(self.session.sandbox, "variables", None)
            text = reopened_notice(store.waiting() if store else None, keeps_variables=store is not None)
            if not text:
                return
            self.add_event(ChatEvent(kind="notice", text=text, source=SESSION_NOTICE))
            self.tell_agent(f"[Note: {text}]")

    def tell_agent(self, text: str) -> None:
        """Remember something the agent must hear at its next turn (an upload, a direct run)."""
        self.context_for_agent.append(text[:MAX_CONTEXT_CHARS])

    def submit(self, text: str) -> bool:
        """Answer a message: at once, or after the running turn (then it waits in :attr:`queued`).

        Returns:
            Whether the message was queued behind a running turn.

        """
        with self._lock:
            skipped = [] if self.busy else self.approval.skip_all()  # steps waiting for the person are skipped
            if self.busy or skipped:
                self.queued.append(text)
                if skipped:
                    self._start(ActiveTurn(resume=skipped))
                return True
            self._begin(text)
            return False

    def answer_step(self, interrupt_id: str, answer: Answer) -> bool:
        """Run, edit then run, or skip a step that waits for the person; the agent carries on in a new turn.

        Returns:
            Whether the answer was taken (not when the step no longer waits, say answered in another tab).

        """
        with self._lock:
            if self.busy or interrupt_id not in {step.interrupt_id for step in self.approval.pending()}:
                return False
            self._start(ActiveTurn(resume=[answer.response(interrupt_id)]))
            return True

    def start_turn(self, text: str) -> ActiveTurn:
        """Answer a message now, or after the running turn; returns the turn to follow (the running one)."""
        self.submit(text)
        assert self.turn is not None
        return self.turn

    def cancel_queued(self, index: int) -> None:
        """Take back a queued message (nothing happens if it already started)."""
        with self._lock:
            if 0 <= index < len(self.queued):
                del self.queued[index]

    def _begin(self, text: str) -> None:
        """Start a turn in a new worker thread (the caller holds the lock)."""
        self._start(self._next_turn(text))

    def _start(self, turn: ActiveTurn) -> None:
        """Run ``turn`` (and then the queue) in a new worker thread (the caller holds the lock)."""
        self.turn = turn
        self.session.sandbox.clear_interrupt()
        threading.Thread(target=self._work, args=(turn,), name="chat-turn", daemon=True).start()

    def _work(self, turn: ActiveTurn) -> None:
        """Run a turn, then the queued messages one by one."""
        while True:
            self._run_turn(turn, turn.text)
            with self._lock:
                if not self.queued or self.session.sandbox.closed:
                    return
                turn = self._next_turn(self.queued.pop(0))

    def _next_turn(self, text: str) -> ActiveTurn:
        """Make ``text`` the running turn: it enters the transcript (the caller holds the lock)."""
        self.turns_started += 1
        turn = ActiveTurn(text=text, number=self.turns_started)
        self.turn = turn
        self.session.sandbox.clear_interrupt()
        self.add_event(ChatEvent(kind="user", text=text))
        self.store.touch(self.session.conversation_id, first_message=text)
        return turn

    def stop(self) -> None:
        """End the running turn: the agent stops and the running code is interrupted; state is kept.

        Not ``agent.cancel()``: with no invocation running (a direct run, or a turn that just ended) Strands keeps
        that cancel for the next invocation, and the next question was answered "Stopped." at once.
        """
        turn = self.turn
        if turn is not None and not turn.done:
            turn.stop_requested.set()
        self.session.sandbox.interrupt()

    @property
    def stopping(self) -> bool:
        """Whether Stop was pressed for the running turn, which has not ended yet."""
        turn = self.turn
        return turn is not None and not turn.done and turn.stop_requested.is_set()

    def stop_if_unwatched(self, timeout: float) -> bool:
        """Stop the running turn (and drop the queue) when no page has shown it for ``timeout`` seconds."""
        if not self.busy or time.monotonic() - self.watched_at <= timeout:
            return False
        with self._lock:
            dropped, self.queued = len(self.queued), []
        minutes = max(round(timeout / 60), 1)
        text = f"Stopped: nobody had this conversation open for {minutes} minute{'s' * (minutes != 1)}."
        if dropped:
            text += f" {dropped} queued message{'s were' if dropped != 1 else ' was'} not sent."
        self.stop()
        self.add_event(ChatEvent(kind="notice", level="warning", text=text))
        return True

    def _run_turn(self, turn: ActiveTurn, text: str) -> None:
        try:
            direct = parse_direct_run(text)
            if direct is not None:
                self._run_direct(*direct)
            elif self.agent is None:
                self.add_event(ChatEvent(kind="notice", level="warning", text=how_to_configure()))
            else:
                asyncio.run(self._stream(turn, turn.resume or text))
        except Exception as exc:  # the UI shows plain words, never a traceback
            self._flush_text(turn)
            explanation = self._explain(exc, turn)
            self.add_event(ChatEvent(kind="notice", level="error", text=explanation))
            self._close_unanswered_message(explanation)
        finally:
            turn.update(done=True, live_step=None)

    def _last_answer(self) -> AnswerReport | None:
        report = getattr(self.agent.model, "last_answer", None) if self.agent is not None else None
        return report if isinstance(report, AnswerReport) else None

    def _say_if_the_answer_looped(self) -> None:
        report = self._last_answer()
        if report is not None and report.repeated:
            self.add_event(ChatEvent(kind="notice", level="warning", text=repetition_words(report)))

    def _explain(self, error: Exception, turn: ActiveTurn) -> str:
        """Plain words for a failed turn; an answer cut by a token limit also shows the code it was writing."""
        if "MaxTokensReachedException" not in {cls.__name__ for cls in type(error).__mro__}:
            return explain_model_error(error)
        step = turn.live_step
        if step is not None and step.phase == "writing" and (written := cut_code_markdown(step.input)):
            self.add_event(ChatEvent(kind="assistant", text=written))
        return token_limit_words(self._last_answer(), self.model_choice)

    def _close_unanswered_message(self, explanation: str) -> None:
        """Answer a user message the model failed on, so the saved history keeps alternating user/assistant."""
        agent = self.agent
        if agent is None or not agent.messages or agent.messages[-1]["role"] != "user":
            return
        # A placeholder keeps user/assistant alternating; the error's words stay out of the model's memory.
        message: Any = {"role": "assistant", "content": [{"text": "(no answer)"}]}
        agent.messages.append(message)
        manager = getattr(agent, "_session_manager", None)
        if manager is not None:
            manager.append_message(message, agent)

    def _run_direct(self, tool_name: str, tool_input: dict[str, Any]) -> None:
        self._direct = True
        turn = self.turn
        if turn is not None:
            turn.update(live_step=LiveStep(tool_name, tool_input))
        try:
            tools: dict[str, Any] = {t.tool_name: t for t in self.session.tools}
            tools[tool_name](**tool_input)
        finally:
            self._direct = False

    async def _stream(self, turn: ActiveTurn, text: str | list[dict[str, Any]]) -> None:
        assert self.agent is not None
        prompt: Any = text  # the person's answers to waiting steps go as they are
        if isinstance(text, str):
            prompt, self.context_for_agent = "\n\n".join([*self.context_for_agent, text]), []
        self._tool_calls, self._limit_reached, said = 0, False, not isinstance(text, str)  # answers need no text
        result = None
        async for event in self.agent.stream_async(prompt, cancel_signal=turn.stop_requested):
            if "data" in event:
                said = said or bool(str(event["data"]).strip())
                turn.update(partial_text=turn.partial_text + str(event["data"]))
            elif "current_tool_use" in event:
                self._show_tool_call_being_written(turn, event["current_tool_use"])
            elif "messageStop" in event.get("event", {}):
                self._say_if_the_answer_looped()
            elif "result" in event:
                result = event["result"]
        self._flush_text(turn)
        self._say_how_the_turn_ended(result, said)

    def _say_how_the_turn_ended(self, result: Any, said: bool) -> None:
        """A notice for a stopped turn, one that hit the tool-call limit, or an empty answer."""
        if self._limit_reached:
            limit = self.session.settings.max_tool_calls_per_turn
            text = f"Stopped after {limit} tool calls, the most one turn may make (a setting: max_tool_calls_per_turn)."
            self.add_event(ChatEvent(kind="notice", level="warning", text=text))
            self.tell_agent(f"[Note: your previous turn was ended after {limit} tool calls, the most a turn may make.]")
        elif result is not None and getattr(result, "stop_reason", "") == "cancelled":
            self.add_event(ChatEvent(kind="notice", text="Stopped. The sandbox kept its files and variables."))
        elif not said and self._tool_calls == 0:
            self.add_event(ChatEvent(kind="notice", level="warning", text="The model returned an empty answer."))

    def _mcp_notice(self, text: str) -> None:
        self.add_event(ChatEvent(kind="notice", level="warning", text=text))

    def _on_history_reduced(self) -> None:
        text = "The conversation was too long for the model: its oldest messages were set aside and it tried again."
        self.add_event(ChatEvent(kind="notice", text=text))

    def _show_tool_call_being_written(self, turn: ActiveTurn, tool_use: dict[str, Any]) -> None:
        """Show a tool call while the model writes it, its code growing as the input streams."""
        self._flush_text(turn)
        raw = tool_use.get("input")
        tool_input = partial_tool_input(raw) if isinstance(raw, str) else dict(raw or {})
        step = turn.live_step
        name = str(tool_use.get("name", ""))
        if step is None or step.phase != "writing" or step.tool != name:
            step = LiveStep(name, tool_input, phase="writing")
        turn.update(live_step=replace(step, input=tool_input))

    def _flush_text(self, turn: ActiveTurn) -> None:
        if turn.partial_text.strip():
            text = turn.partial_text
            turn.update(partial_text="")
            self.add_event(ChatEvent(kind="assistant", text=text))

    def _on_tool_start(self, event: BeforeToolCallEvent) -> None:
        if event.cancel_tool:
            return  # the person skipped it
        self._tool_calls += 1
        limit = self.session.settings.max_tool_calls_per_turn
        if self._tool_calls > limit:
            event.cancel_tool = f"Not run: this turn reached its limit of {limit} tool calls."
            self._limit_reached = True
            if self.agent is not None:
                self.agent.cancel()
            return
        turn = self.turn
        if turn is not None and not turn.done:
            self._flush_text(turn)
            tool_use = event.tool_use
            turn.update(live_step=LiveStep(str(tool_use["name"]), dict(tool_use.get("input") or {})))

    def _on_output(self, partial: ExecutionResult) -> None:
        turn = self.turn
        if turn is not None:
            turn.show_output(partial)

    def _on_tool_done(self, record: ToolRecord) -> None:
        source = "direct" if self._direct else "agent"
        self.add_event(ChatEvent(kind="tool", tool=record, source=source))
        if self.turn is not None and not self.turn.done:
            self.turn.update(live_step=None)
        if source == "direct":
            code = record.input.get("code") or record.input.get("command", "")
            result_text = describe_execution(record.result) if record.result else record.text
            self.tell_agent(f"[The user ran this directly with {record.tool}:]\n{code}\n[Result:]\n{result_text}")

    def close(self) -> None:
        """Stop a running turn, drop the queue and detach from the session."""
        with self._lock:
            self.queued = []
        if self.busy:
            self.stop()
        if self._on_tool_done in self.session.listeners:
            self.session.listeners.remove(self._on_tool_done)
        if self._on_output in self.session.output_listeners:
            self.session.output_listeners.remove(self._on_output)
