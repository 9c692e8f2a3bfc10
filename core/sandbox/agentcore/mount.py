"""Saving to the workspace inside the AgentCore session, when the workspace is mounted there; and what persists.

With ``INTERPRETER_AGENTCORE_WORKSPACE_MOUNT`` the conversation's workspace is a folder of the session's file
system (``{mount}/{user}/{conversation}/code-interpreter``, the objects of the S3 workspace below the app's
prefix), so ``ci_push_to_workspace`` and ``output_filename`` copy there with one ``executeCommand`` instead of
downloading each file to the app and uploading it to S3. The copy goes to a hidden name first and is renamed, so
a reader of the workspace never sees half a file.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass

from core.config import Settings
from core.errors import InterpreterError
from core.sandbox.agentcore.requests import clean_path
from core.sandbox.agentcore.start import WorkspaceMount
from core.sandbox.agentcore.stream import Parsed
from core.workspace.base import validate_name

COPY_MARKER = "__CI_COPIED__"
# Runs inside the session: argv is the workspace folder, then pairs of a sandbox path and a workspace name.
# Prints one JSON list: each item's size, or why it was not copied.
COPY = f"""\
import json, os, shutil, sys
folder, items, done = sys.argv[1], sys.argv[2:], []
for source, name in zip(items[0::2], items[1::2]):
    try:
        if not os.path.isfile(source):
            raise FileNotFoundError("no such file" if not os.path.exists(source) else "it is a folder, not a file")
        os.makedirs(folder, exist_ok=True)
        partial = os.path.join(folder, ".%s.partial-%d" % (name, os.getpid()))
        shutil.copyfile(source, partial)
        os.replace(partial, os.path.join(folder, name))
        done.append({{"size": os.path.getsize(os.path.join(folder, name))}})
    except Exception as error:
        done.append({{"error": getattr(error, "strerror", None) or str(error)}})
print("{COPY_MARKER}" + json.dumps(done))
"""


@dataclass(frozen=True)
class Copied:
    """One file of a copy to the mounted workspace: its workspace name and size, or why it failed."""

    path: str
    name: str
    size: int = 0
    error: str = ""


def copy_plan(paths: list[str]) -> tuple[list[tuple[str, str]], list[Copied]]:
    """The ``(sandbox path, workspace name)`` pairs to copy, and the paths refused before anything runs."""
    plan, refused = [], []
    for path in paths:
        try:
            relative = clean_path(path)
            plan.append((relative, validate_name(posixpath.basename(relative.rstrip("/")))))
        except InterpreterError as error:
            refused.append(Copied(path, "", error=str(error)))
    return plan, refused


def copy_command(folder: str, plan: list[tuple[str, str]]) -> str:
    """The ``executeCommand`` line that copies ``plan`` into ``folder``."""
    return shlex.join(["python3", "-c", COPY, folder, *(item for pair in plan for item in pair)])


def copy_outcome(parsed: Parsed, plan: list[tuple[str, str]]) -> list[Copied]:
    """What the copy command reported, one :class:`Copied` per planned file.

    Raises:
        InterpreterError: When the command did not report (python3 missing, the mount not writable, ...).

    """
    output = parsed.stdout if parsed.stdout is not None else parsed.text
    lines = [line for line in output.splitlines() if line.startswith(COPY_MARKER)]
    if not lines:
        said = (parsed.stderr or parsed.text).strip().splitlines()[-1:] or ["no answer"]
        raise InterpreterError(f"The files could not be copied to the mounted workspace: {said[0]}")
    reports = json.loads(lines[-1][len(COPY_MARKER) :])
    return [
        Copied(path, name, size=int(report.get("size", 0)), error=str(report.get("error", "")))
        for (path, name), report in zip(plan, reports, strict=True)
    ]


def persistence(settings: Settings, mount: WorkspaceMount | None) -> str:
    """What an AgentCore sandbox keeps between calls, said plainly (tool descriptions, the side panel)."""
    runtime = "Node.js" if settings.agentcore_js_runtime == "nodejs" else "Deno"
    kept = (
        f"Kept between calls while the AgentCore session lives (at most {settings.agentcore_session_timeout:,} s "
        f"from its start, or until it is stopped when idle): Python variables and JavaScript/TypeScript ones "
        f"({runtime}), files in the working folder, packages installed with pip, and processes left running "
        "in the background. When it ends, a new session starts without variables, packages or processes; files "
        "this app wrote or uploaded are uploaded again, files made by code are lost unless saved to the workspace."
    )
    if mount is not None:
        kept += f" The workspace is mounted at {mount.path.rstrip('/')}/: files saved there outlive every session."
    return kept
