"""The background commands of a conversation, live: each one's output so far and a Stop that ends it.

A command the agent started with ``execute_command(background=true)`` runs on after its step and after the
turn; this fragment shows it below the chat while it runs (redrawn every second), and for a while after it ended.
"""

from __future__ import annotations

import time
from typing import Literal

import streamlit as st

from components.app_preview import render_step_previews
from components.fragments import steady_fragment
from components.results import render_result
from components.state import first_delivery
from core.errors import InterpreterError
from core.sandbox.base import Sandbox
from core.sandbox.tasks import CommandTask, TaskState
from core.text import escape_markdown

RUNNING_REFRESH_SECONDS = 1.0
IDLE_REFRESH_SECONDS = 2.0
RECENT_SECONDS = 600.0
"""A finished background command stays shown this long after it ended."""
ENDED_WORDS = {
    TaskState.COMPLETED: "finished",
    TaskState.FAILED: "failed",
    TaskState.STOPPED: "was stopped",
}


def _stop(sandbox: Sandbox, task_id: str) -> None:
    """The Stop button's callback: end the command (its whole process tree)."""
    if first_delivery("stop_task", task_id):
        try:
            sandbox.stop_task(task_id)
        except InterpreterError as error:
            st.toast(escape_markdown(str(error)), icon=":material/error:")


def shown_tasks(sandbox: Sandbox, now: float | None = None) -> list[CommandTask]:
    """The background commands worth showing: running ones, and those that ended in the last few minutes."""
    now = time.time() if now is None else now
    try:
        tasks = sandbox.tasks()
    except InterpreterError:  # an AgentCore sandbox that cannot be reached now: nothing to show
        return []
    return [task for task in tasks if task.ended is None or now - task.ended < RECENT_SECONDS]


def _title(task: CommandTask) -> str:
    command = task.command if len(task.command) <= 80 else task.command[:79] + "…"
    seconds = f"{task.seconds:,.0f} s"
    if task.running:
        return f"Running in the background ({task.task_id}): {command} … {seconds}"
    code = f", exit code {task.result.exit_code}" if task.result.exit_code is not None else ""
    return f"Background command {task.task_id} {ENDED_WORDS[task.state]} after {seconds}{code}: {command}"


def render_task(sandbox: Sandbox, task: CommandTask) -> None:
    """One background command: its state, its output so far, and a Stop button while it runs."""
    state: Literal["running", "complete", "error"] = (
        "running" if task.running else "complete" if task.state is TaskState.COMPLETED else "error"
    )
    with st.status(escape_markdown(_title(task)), state=state, expanded=task.running).container():
        if task.result.stdout or task.result.stderr or task.result.notes:
            render_result(task.result)
        else:
            st.caption("No output yet." if task.running else "No output.")
        if task.running:
            render_step_previews(sandbox)  # a web app this command serves: Open preview
            st.button(
                "Stop command",  # not just "Stop": the running turn's Stop can show at the same time
                key=f"stop_task_{task.task_id}",
                icon=":material/stop_circle:",
                on_click=_stop,
                args=(sandbox, task.task_id),
            )


def background_tasks(sandbox: Sandbox) -> None:
    """The fragment's body: every background command worth showing (nothing when there is none)."""
    for task in shown_tasks(sandbox):
        render_task(sandbox, task)


def render_background_tasks(sandbox: Sandbox) -> None:
    """Show the background commands below the chat, redrawn alone every second or two while there are any."""
    shown = shown_tasks(sandbox)
    running = any(task.running for task in shown)
    # With nothing to show, no timer: a command starts in a turn, and a turn's end redraws the whole page.
    refresh = RUNNING_REFRESH_SECONDS if running else IDLE_REFRESH_SECONDS if shown else None
    steady_fragment("background-tasks", background_tasks, refresh, sandbox)
