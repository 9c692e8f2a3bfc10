"""What the chat says about a kernel's variables when it stops and starts again: one place for the wording.

Every notice about kept or lost variables is worded here, so the texts stay true and consistent: Python
variables are saved when a kernel is stopped on purpose and come back in the next kernel; JavaScript and
TypeScript variables and those of AgentCore sessions are not kept; a crash loses them.
"""

from __future__ import annotations

from core.text import escape_markdown
from core.types import VariablesReport

MAX_NAMES_SHOWN = 12


def _name(name: str) -> str:
    """A variable's name as code; anything else the sandbox reported (it is untrusted) shown literally."""
    return f"`{name}`" if name.isidentifier() else escape_markdown(name)


def _names(names: list[str]) -> str:
    shown = ", ".join(_name(name) for name in names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return shown + (f" and {more:,} more" if more > 0 else "")


def not_kept_sentence(report: VariablesReport) -> str:
    """Which names could not be kept and why, or nothing when all were kept."""
    if not report.lost:
        return ""
    items = list(report.lost.items())
    shown = "; ".join(f"{_name(name)} ({escape_markdown(reason)})" for name, reason in items[:MAX_NAMES_SHOWN])
    more = len(items) - MAX_NAMES_SHOWN
    return f"Not kept: {shown}" + (f"; and {more:,} more" if more > 0 else "") + "."


def variables_sentence(report: VariablesReport | None, *, restored: bool) -> str:
    """What became of the Python variables: restored (or saved) names, names not kept, or why none were.

    Args:
        report: What saving or restoring reported; ``None`` when there was nothing saved.
        restored: Whether the report is of a restore (else of a save).

    """
    if report is None:
        return "Python variables from before were not saved, so they are gone."
    if report.problem:
        verb = "restored" if restored else "saved"
        return f"Python variables from before could not be {verb}: {escape_markdown(report.problem)}."
    parts = []
    if report.kept:
        verb = "are back" if restored else "were saved and come back at the next Python run"
        parts.append(f"Python variables {verb}: {_names(report.kept)}.")
    parts.append(not_kept_sentence(report))
    return " ".join(part for part in parts if part)


def kernel_stopped_note(kind: str, *, idle_seconds: float | None, report: VariablesReport | None) -> str:
    """The note on the next run after a kernel was stopped on purpose (idleness or the sandbox being closed).

    Args:
        kind: ``python``, ``deno`` or ``r``.
        idle_seconds: How long the session was idle, when that was the reason.
        report: For Python: what restoring the saved variables reported.

    """
    label = {"python": "Python", "r": "R"}.get(kind, "JavaScript/TypeScript")
    if idle_seconds is not None:
        minutes = max(round(idle_seconds / 60), 1)
        why = f"This session was idle for {minutes} minute{'s' * (minutes != 1)}, so its {label} kernel was shut down"
        head = f"{why} to free memory; files were kept."
    else:
        head = f"A new {label} kernel was started; files were kept."
    if kind == "r":
        return f"{head} R variables are not kept when the R kernel stops."
    if kind != "python":
        return f"{head} JavaScript and TypeScript variables are not kept when their kernel stops."
    return f"{head} {variables_sentence(report, restored=True)}"


def reopened_notice(saved: VariablesReport | None, *, keeps_variables: bool) -> str:
    """What the chat says when a conversation is opened again in a new sandbox.

    Args:
        saved: The summary of the Python variables saved when it was last closed, if any.
        keeps_variables: Whether the sandbox backend keeps variables at all (AgentCore does not).

    Returns:
        The notice, or ``""`` when there is nothing true to say (no variables existed).

    """
    head = "The conversation was reopened: its files are all here."
    if not keeps_variables:
        return f"{head} Variables are not kept on this sandbox backend (AgentCore): they are gone."
    if saved is None:
        return f"{head} Variables from before were not saved, so they are gone."
    if not saved.kept and not saved.lost and not saved.problem:
        return ""
    return f"{head} {variables_sentence(saved, restored=False)}"


def sandbox_restored_notice(report: VariablesReport | None) -> str:
    """What the chat says after "Restore sandbox" started a new kernel."""
    return f"The sandbox was restored: a new kernel with your files. {variables_sentence(report, restored=True)}"


def asleep_caption(saved: VariablesReport | None) -> str:
    """The side panel's line about an asleep sandbox: whether its variables wait to come back."""
    if saved is not None and saved.kept:
        count = len(saved.kept)
        variables = "1 Python variable comes" if count == 1 else f"{count:,} Python variables come"
        return f"The sandbox is asleep: files are kept, and {variables} back on restore."
    return "The sandbox is asleep: files are kept; no Python variables were saved."
