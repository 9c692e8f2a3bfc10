"""A conversation as a Jupyter notebook (nbformat v4), alone or in one ZIP with the workspace's files.

The chat becomes Markdown cells and every Python or shell step a code cell with its outputs, so the notebook
re-runs top to bottom in Jupyter given the same files. R steps become ``%%R`` cells (rpy2's magic, loaded by a
cell before the first of them), with the outputs the R kernel gave. Steps that cannot be re-run there (JavaScript and
TypeScript ran in Deno; stopped runs; steps that never ran) become Markdown notes that show the code. Cells
whose run raised are tagged ``raises-exception``, so a re-run (Jupyter, nbclient) carries on past them.
"""

from __future__ import annotations

import base64
import contextlib
import platform
import re
import subprocess
import unicodedata
import zipfile
from datetime import UTC, datetime
from typing import Any, BinaryIO

import nbformat
import pandas as pd
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from core.chat.transcript import SESSION_NOTICE, ChatEvent
from core.files.archive import add_workspace
from core.files.outputs import link_answer
from core.text import fence
from core.types import PLOTLY_JSON, STDERR, STOP_EXPLANATIONS, TABLE_JSON, ExecutionResult, RichOutput, ToolRecord
from core.workspace.base import Workspace

NOTEBOOK_NAME = "conversation.ipynb"
ERROR_TAG = "raises-exception"
SKIPPED_TAG = "skipped"
DENO_LANGUAGES = {"javascript": "JavaScript", "typescript": "TypeScript"}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py", "pygments_lexer": "ipython3"}
MATERIAL_ICON = re.compile(r":material/[a-z0-9_]+:\s*")
LEGACY_SESSION_NOTICES = ("The conversation was reopened:", "The sandbox was restored:")
TEXT_FALLBACKS = {PLOTLY_JSON: "<Plotly figure>", "image/png": "<Figure>", "image/jpeg": "<Figure>"}
R_SETUP = "# R cells (%%R) run through rpy2 (pip install rpy2) in this Python notebook\n%load_ext rpy2.ipython"
R_TAG = "r"
NOTEBOOK_MCP_CHARS = 20_000
"""The most of an MCP tool's result (untrusted text) a notebook keeps."""


def is_session_notice(event: ChatEvent) -> bool:
    """Whether a notice is about the sandbox's life (reopened, restored), which the notebook leaves out.

    Transcripts written before such notices were marked are recognised by their wording.
    """
    return event.source == SESSION_NOTICE or event.text.startswith(LEGACY_SESSION_NOTICES)


def export_file_name(title: str, suffix: str) -> str:
    """A safe file name from a conversation's title: ``"Sales analysis"`` gives ``sales-analysis.ipynb``."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].rstrip("-")
    return f"{slug or 'conversation'}{suffix}"


def _fence(text: str, language: str = "") -> str:
    """``text`` as a fenced Markdown block, with a fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def _italic(text: str) -> str:
    """Each line in italics, except blank lines and fenced blocks; Streamlit's ``:material/...:`` icons go."""
    lines, fenced = [], False
    for line in MATERIAL_ICON.sub("", text).splitlines():
        stripped = line.strip()
        fenced ^= stripped.startswith("```")
        lines.append(line if fenced or stripped.startswith("```") or not stripped else f"*{stripped}*")
    return "\n".join(lines)


def _table_html(table: dict[str, Any]) -> str:
    """The HTML table pandas draws for a Jupyter table-schema output (its primary key becomes the index)."""
    frame = pd.DataFrame(table.get("data", []))
    keys = [key for key in table.get("schema", {}).get("primaryKey") or [] if key in frame.columns]
    if keys:
        frame = frame.set_index(keys)
        if keys == ["index"]:  # pandas names an unnamed index "index" in table JSON
            frame.index.name = None
    return str(frame.to_html())


def _rich_output(output: RichOutput, count: int) -> NotebookNode:
    """One rich output as a ``display_data`` (or, for plain text results, ``execute_result``) output."""
    if output.mime_type == "text/plain":
        return new_output("execute_result", data={"text/plain": str(output.data)}, execution_count=count)
    value = output.data
    if isinstance(value, bytes):
        value = base64.b64encode(value).decode("ascii")
    data: dict[str, Any] = {output.mime_type: value}
    if output.mime_type == TABLE_JSON and isinstance(output.data, dict):
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):  # else JSON and text only
            data["text/html"] = _table_html(output.data)
    text = output.text or TEXT_FALLBACKS.get(output.mime_type, "")
    if text:
        data["text/plain"] = text
    return new_output("display_data", data=data)


def _outputs(result: ExecutionResult, count: int, command: str | None) -> list[NotebookNode]:
    """What a run produced as notebook outputs, in the order it produced them, then the error."""
    outputs = [
        new_output("stream", name=name, text=text)
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr))
        if text and not any(output.is_stream for output in result.outputs)  # kept before outputs were ordered
    ]
    for output in result.outputs:
        if output.is_stream:
            outputs.append(
                new_output("stream", name="stderr" if output.mime_type == STDERR else "stdout", text=output.data)
            )
        else:
            outputs.append(_rich_output(output, count))
    if result.error is not None:
        traceback = result.error.traceback.splitlines() or [f"{result.error.name}: {result.error.value}"]
        outputs.append(new_output("error", ename=result.error.name, evalue=result.error.value, traceback=traceback))
    elif command is not None and result.exit_code not in (None, 0):  # what IPython's %%bash raises then
        failure = str(subprocess.CalledProcessError(result.exit_code, command))
        outputs.append(new_output("error", ename="CalledProcessError", evalue=failure, traceback=[failure]))
    return outputs


def _markdown_step(note: str, code: str, language: str, result: ExecutionResult | None) -> str:
    """A step that is not re-run: a note, its code, and what it printed."""
    parts = [_italic(note), _fence(code, language)]
    if result is not None:
        parts += [_fence(text) for text in (result.stdout, result.stderr) if text]
        if result.error is not None:
            parts.append(_fence(f"{result.error.name}: {result.error.value}"))
        parts += [_italic(remark) for remark in result.notes]
    return "\n\n".join(parts)


class _Cells:
    """The cells made so far, numbering code cells as Jupyter would."""

    def __init__(self) -> None:
        self.cells: list[NotebookNode] = []
        self.count = 0
        self.r_ready = False

    def markdown(self, text: str) -> None:
        self.cells.append(new_markdown_cell(text))

    def code(self, source: str, result: ExecutionResult | None = None, command: str | None = None) -> None:
        self.count += 1
        outputs = _outputs(result, self.count, command) if result is not None else []
        cell = new_code_cell(source, execution_count=self.count, outputs=outputs)
        if any(output.output_type == "error" for output in outputs):
            cell.metadata["tags"] = [ERROR_TAG]
        self.cells.append(cell)


def _run_step(record: ToolRecord, cells: _Cells) -> None:
    """An ``execute_code`` or ``execute_command`` step."""
    result = record.result
    if record.tool == "execute_command":
        code, language = str(record.input.get("command", "")), "bash"
    else:
        code, language = str(record.input.get("code", "")), str(record.input.get("language") or "python").lower()
    if record.status == "skipped":  # the person chose not to run it (ask before running)
        cells.markdown(_markdown_step(f"**Skipped** by the user. {record.text.strip()}", code, language, None))
        cells.cells[-1].metadata["tags"] = [SKIPPED_TAG]
        return
    if result is None:
        cells.markdown(_markdown_step(record.text.strip() or "This step did not run.", code, language, None))
        return
    if result.stopped is not None:
        note = f"{STOP_EXPLANATIONS[result.stopped]} This notebook does not re-run it."
        cells.markdown(_markdown_step(note, code, language, result))
    elif language in DENO_LANGUAGES:
        note = f"This {DENO_LANGUAGES[language]} ran in Deno; Jupyter does not re-run it."
        cells.markdown(_markdown_step(note, code, language, result))
    elif language == "bash":
        cells.code(f"%%bash\n{code}", result, command=code)
    elif language == "python":
        cells.code(code, result)
    elif language == "r":
        if not cells.r_ready:  # once, before the first R cell: the magic that runs %%R cells
            cells.code(R_SETUP)
            cells.r_ready = True
        cells.code(f"%%R\n{code}", result)
        cells.cells[-1].metadata["tags"] = [*cells.cells[-1].metadata.get("tags", []), R_TAG]
    else:
        cells.markdown(_markdown_step(f"This step ran {language}; Jupyter does not re-run it.", code, "", result))
    if result.stopped is None:
        notes = [_italic(note) for note in result.notes]
        if record.saved_files:
            names = ", ".join(f"`code-interpreter/{name}`" for name in record.saved_files)
            notes.append(f"*Saved to the workspace: {names}*")
        if notes:
            cells.markdown("\n\n".join(notes))


def _other_step(record: ToolRecord, cells: _Cells) -> None:
    """File operations and workspace tools: a file write re-creates its files, the rest is one line of Markdown."""
    args, failed = record.input, record.status != "success"
    operation, content = args.get("operation", "?"), args.get("content")
    entries = [content] if isinstance(content, dict) else content if isinstance(content, list) else []
    valid = bool(entries) and all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("text"), str) for e in entries
    )
    if record.tool == "file_operations" and operation == "write" and valid and not failed:
        lines = ["from pathlib import Path", ""]
        for entry in entries:
            path = repr(entry["path"])
            lines += [
                f"Path({path}).parent.mkdir(parents=True, exist_ok=True)",
                f"Path({path}).write_text({entry['text']!r}, encoding='utf-8')",
            ]
        cells.code("\n".join(lines))
        return
    if record.tool == "file_operations":
        paths = args.get("paths") or [e.get("path") for e in entries if isinstance(e, dict)]
        paths = [paths] if isinstance(paths, str) else paths if isinstance(paths, list) else []
        shown = ", ".join(f"`{path}`" for path in paths)
        line = f"File operation `{operation}`" + (f" on {shown}" if shown else "")
    elif record.tool == "ci_push_to_workspace":
        names = ", ".join(f"`code-interpreter/{name}`" for name in record.saved_files)
        line = f"Saved to the workspace: {names}" if names else "Saving to the workspace"
    elif record.tool == "workspace_list":
        line = "Listed the workspace"
    elif record.tool == "workspace_read":
        line = f"Read `{args.get('path', '?')}` from the workspace"
    elif record.server:  # an MCP server's tool: its result, untrusted, in a fenced block
        said = "failed" if failed else "answered"
        cells.markdown(_italic(f"Called `{record.tool}` of the MCP server `{record.server}`; it {said}:\n\n")
                       + fence(record.text[:NOTEBOOK_MCP_CHARS]))  # fmt: skip
        return
    else:
        line = f"Tool `{record.tool}`"
    reason = (record.text.strip().splitlines() or ["it failed"])[0] if failed else ""
    cells.markdown(_italic(f"{line}" + (f" failed: {reason}" if failed else ".")))


def transcript_to_notebook(events: list[ChatEvent], *, title: str = "") -> NotebookNode:
    """The conversation as a notebook: the chat as Markdown, every Python or shell step as a code cell.

    Args:
        events: The conversation's events, oldest first.
        title: The conversation's title (a heading and the notebook's metadata).

    Returns:
        A valid nbformat v4 notebook for the ``python3`` kernel; shell steps are ``%%bash`` cells.

    """
    cells = _Cells()
    if title:
        cells.markdown(f"# {title}")
    for index, event in enumerate(events):
        if event.kind == "user":
            following = events[index + 1] if index + 1 < len(events) else None
            direct = following is not None and following.kind == "tool" and following.source == "direct"
            text = "*(ran the step below directly)*" if direct else event.text
            cells.markdown("\n".join(f"> {line}".rstrip() for line in f"**You:** {text}".splitlines()))
        elif event.kind == "assistant" and event.text.strip():
            cells.markdown(link_answer(event.text, None).markdown)  # sandbox links point nowhere outside the app
        elif event.kind == "notice" and event.text.strip() and not is_session_notice(event):
            cells.markdown(_italic(event.text))
        elif event.kind == "tool" and event.tool is not None:
            if event.tool.tool in ("execute_code", "execute_command"):
                _run_step(event.tool, cells)
            else:
                _other_step(event.tool, cells)
    metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {**LANGUAGE_INFO, "version": platform.python_version()},
        "code_interpreter": {"title": title, "exported": datetime.now(UTC).isoformat(timespec="seconds")},
    }
    return new_notebook(cells=cells.cells, metadata=metadata)


def notebook_bytes(nb: NotebookNode) -> bytes:
    """The notebook as ``.ipynb`` bytes, after checking it against the nbformat schema.

    Raises:
        nbformat.ValidationError: When the notebook is not valid.

    """
    nbformat.validate(nb)
    return nbformat.writes(nb, version=nbformat.NO_CONVERT).encode("utf-8")


def export_everything(events: list[ChatEvent], workspace: Workspace, target: BinaryIO, *, title: str = "") -> None:
    """Write one ZIP holding ``conversation.ipynb`` and every workspace file under ``workspace/``.

    Workspace files are streamed a piece at a time, so memory does not grow with their size.

    Args:
        events: The conversation's events.
        workspace: Its workspace (a file deleted between listing and reading is left out).
        target: Where the ZIP is written (a file open for writing).
        title: The conversation's title.

    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(NOTEBOOK_NAME, notebook_bytes(transcript_to_notebook(events, title=title)))
        add_workspace(archive, workspace, "workspace/")
