"""Plain-text renderings of results and file lists: what the model reads after each tool call."""

from __future__ import annotations

import json
import time
from typing import Any

from core.sandbox.tasks import CommandTask
from core.types import (
    IMAGE_JPEG,
    IMAGE_PNG,
    PLOTLY_JSON,
    TABLE_JSON,
    ExecutionResult,
    FileInfo,
    RichOutput,
    guess_mime_type,
)

MAX_IMAGES_FOR_MODEL = 5
MAX_IMAGE_BYTES_FOR_MODEL = 3_750_000  # Bedrock's limit for one image block
IMAGE_FORMATS = {IMAGE_PNG: "png", IMAGE_JPEG: "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _describe_output(output: RichOutput) -> str:
    if output.mime_type == "text/plain":
        return f"[result]\n{output.text}"
    if output.is_image:
        return f"[image {output.mime_type}, {len(output.data):,} bytes: shown to the user and attached]"
    if output.mime_type == TABLE_JSON:
        return f"[table shown to the user]\n{output.text}"
    if output.mime_type == PLOTLY_JSON:
        return "[interactive Plotly chart shown to the user]"
    body = output.text or str(output.data)[:2000]
    return f"[{output.mime_type} shown to the user]\n{body}"


def describe_execution(result: ExecutionResult) -> str:
    """The text the model receives for one code run or shell command."""
    parts = []
    if result.stdout:
        parts.append(f"[stdout]\n{result.stdout.rstrip()}")
    if result.stderr:
        parts.append(f"[stderr]\n{result.stderr.rstrip()}")
    parts.extend(_describe_output(o) for o in result.rich_outputs)
    if result.error is not None:
        parts.append(f"[error] {result.error.name}: {result.error.value}\n{result.error.traceback}".rstrip())
    if result.exit_code is not None:
        parts.append(f"[exit code] {result.exit_code}")
    parts.extend(f"[note] {note}" for note in result.notes)
    if not parts:
        parts.append("(no output; use print() to show values)")
    return "\n\n".join(parts)


def image_blocks(result: ExecutionResult) -> list[dict[str, Any]]:
    """Strands image content blocks for the images a run displayed, so a vision model sees its charts."""
    blocks = []
    for output in result.outputs:
        image_format = IMAGE_FORMATS.get(output.mime_type)
        if image_format and isinstance(output.data, bytes) and len(output.data) <= MAX_IMAGE_BYTES_FOR_MODEL:
            blocks.append({"image": {"format": image_format, "source": {"bytes": output.data}}})
    return blocks[:MAX_IMAGES_FOR_MODEL]


def _human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size //= 1024
    return str(size)


def describe_file_list(files: list[FileInfo], *, prefix: str, title: str = "") -> str:
    """One line per file: name, type, size and modification time."""
    if not files:
        return f"{title}\n(empty)".strip()
    lines = [title] if title else []
    for info in files:
        kind = "dir " if info.is_dir else "file"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
        size = "" if info.is_dir else _human_size(info.size)
        lines.append(
            f"{kind}  {prefix}{info.path}{'/' if info.is_dir else ''}  {size}  {info.mime_type}  {when}".rstrip()
        )
    return "\n".join(lines)


def text_or_binary(name: str, data: bytes, limit: int, *, images: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Text files as text (cut at ``limit`` characters); binary files described, images attached."""
    mime = guess_mime_type(name)
    image_format = IMAGE_FORMATS.get(mime)
    if images and image_format and len(data) <= MAX_IMAGE_BYTES_FOR_MODEL:
        block = {"image": {"format": image_format, "source": {"bytes": data}}}
        return f"{name}: {mime} image, {len(data):,} bytes (attached).", [block]
    if b"\x00" not in data[:8192]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            if len(text) > limit:
                omitted = len(text) - limit
                text = f"{text[:limit]}\n\n[... {omitted:,} more characters not shown ...]"
            return f"{name}:\n{text}", []
    return (
        f"{name}: binary file ({mime}, {len(data):,} bytes), not shown as text. Process it with execute_code, "
        "or save it with ci_push_to_workspace so the user can download it.",
        [],
    )


def to_json(value: Any) -> str:
    """Compact JSON for logs and exports."""
    return json.dumps(value, ensure_ascii=False, default=str)


def describe_started(task: CommandTask) -> str:
    """What the model reads when a background command started."""
    return (
        f"Started in the background as task {task.task_id!r}; it keeps running after this call. "
        f'Check it with command_task(task_id="{task.task_id}") (wait_seconds=N waits up to N s for it to end, '
        f'showing its output to the user), stop it with command_task(task_id="{task.task_id}", action="stop").'
    )


def describe_task(task: CommandTask) -> str:
    """What the model reads about a background command: its state, then its output so far."""
    head = f"[task] {task.describe()}"
    if task.running:
        head += "\n[note] Still running. Check again later, or stop it with action='stop'."
    quiet = task.running and not (task.result.stdout or task.result.stderr or task.result.notes)
    return f"{head}\n\n{'(no output yet)' if quiet else describe_execution(task.result)}"


def describe_tasks(tasks: list[CommandTask]) -> str:
    """The background commands of a session, one line each."""
    if not tasks:
        return "No background commands in this session. Start one with execute_command(background=true)."
    return "Background commands:\n" + "\n".join(task.describe() for task in tasks)
