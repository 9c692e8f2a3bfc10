"""Previews of untrusted files, read in a helper process so that a crafted file cannot harm the server.

Tables (CSV, TSV, XLSX, Parquet, JSON), Office documents, PDF pages and large pictures are parsed by
``core/files/preview_worker.py`` in a process of its own, never in the server: under bubblewrap where it works (no
network, no host files but the system's, the app's Python and its ``core`` package, all read-only, a private
``/tmp``), always with a clean environment, an address-space limit (:data:`MEMORY_MB`), a CPU-time limit
(:data:`CPU_SECONDS`) and a wall-clock timeout (:data:`TIMEOUT_SECONDS`). The file goes in on stdin; the answer
comes back as JSON and is checked field by field (``core/files/preview_answers.py``). A helper reads one file and
exits; :data:`POOL_SIZE` helpers wait ready, their libraries loaded. Answers are kept by content (a bounded cache),
so a rerun of the page does not read the file again.

A file that is too slow, too hungry or damaged raises :class:`PreviewFailed` ("Could not preview this file: ...");
an unreadable one raises the reader's own :class:`~core.files.documents.DocumentPreviewError` or
:class:`~core.errors.TablePreviewError`, as when the readers ran in the server.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import TablePreviewError
from core.files import preview_answers as answers
from core.files.documents import DocumentPreview, DocumentPreviewError, Picture, SlidesPreview, WorkbookPreview
from core.files.pdf_preview import PdfPage
from core.sandbox.local.isolation import bubblewrap_works, python_prefixes, system_mounts

MB = 1024 * 1024
MEMORY_MB = 1024
"""The helper's address-space limit (an idle helper with its libraries loaded reserves about 400 MB of it)."""
CPU_SECONDS = 10
TIMEOUT_SECONDS = 15.0
POOL_SIZE = 1
MAX_RUNNING = 4
"""Helpers reading at the same time; more previews wait (up to the timeout) for one to finish."""
MAX_ANSWER_BYTES = 64 * MB
CACHE_BYTES = 64 * MB
FAILURE_SECONDS = 300.0
"""How long a file that could not be previewed is not tried again (a page rerun must not wait out each timeout)."""
HELPER_UID = 65534
ROOT = Path(__file__).resolve().parents[2]
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime")
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}
WORKER_CODE = f"sys.path.insert(0, {str(ROOT)!r})\nfrom core.files.preview_worker import main\nos._exit(main())\n"

TOO_SLOW = "Could not preview this file: reading it took too long (over {seconds:g} seconds); download it instead."
TOO_MUCH_CPU = (
    "Could not preview this file: reading it took too long (over {seconds:g} seconds of processor time); "
    "download it instead."
)
TOO_HUNGRY = "Could not preview this file: reading it took too much memory (over {mb:,} MB); download it instead."
DAMAGED = "Could not preview this file: it seems damaged (the reader stopped unexpectedly); download it instead."
TOO_LARGE = "Could not preview this file: its preview came out too large; download it instead."
BUSY = "Could not preview this file: the server is busy with other previews; try again in a moment."


class PreviewFailed(DocumentPreviewError):
    """The helper reading a file was stopped or broke down: too slow, too much memory, or a damaged file."""


def helper_command(code: str, *, memory_mb: int = MEMORY_MB, cpu_seconds: int = CPU_SECONDS) -> list[str]:
    """The command line of one helper: Python running ``code`` under its limits, in bubblewrap where it works.

    Args:
        code: The program (the preview worker; tests pass their own to probe the isolation).
        memory_mb: The address-space limit.
        cpu_seconds: The CPU-time limit (SIGXCPU then, SIGKILL one second later).

    Returns:
        The argv to start on the host, with :data:`ENVIRONMENT` as its whole environment.

    """
    limits = (
        "import os, resource as r, sys\n"
        f"r.setrlimit(r.RLIMIT_AS, ({memory_mb * MB}, {memory_mb * MB}))\n"
        f"r.setrlimit(r.RLIMIT_CPU, ({cpu_seconds}, {cpu_seconds + 1}))\n"
        f"r.setrlimit(r.RLIMIT_FSIZE, ({16 * MB}, {16 * MB}))\n"
        "r.setrlimit(r.RLIMIT_CORE, (0, 0))\n"
    )
    argv = [sys.executable, "-I", "-B", "-c", limits + code]
    return [*_bwrap_args(), "--", *argv] if bubblewrap_works() else argv


def _bwrap_args() -> list[str]:
    args = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    args += ["--uid", str(HELPER_UID), "--gid", str(HELPER_UID)]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
    args += system_mounts(ETC_ENTRIES)
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for prefix in [*python_prefixes(), str(ROOT / "core")]:  # after /tmp: a checkout may live below it
        args += ["--ro-bind", prefix, prefix]
    args += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for name, value in ENVIRONMENT.items():
        args += ["--setenv", name, value]
    return args


def _spawn(code: str, memory_mb: int, cpu_seconds: int) -> subprocess.Popen[bytes]:
    command = helper_command(code, memory_mb=memory_mb, cpu_seconds=cpu_seconds)
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=ENVIRONMENT,
        cwd="/",
        start_new_session=True,
    )


class _Pool:
    """Helpers started ahead, each waiting (libraries loaded) for the one file it will read.

    They are started by a thread of the pool's own: bubblewrap's ``--die-with-parent`` kills a helper when the
    *thread* that started it ends, and Streamlit runs each page script in a thread that ends with the run.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[subprocess.Popen[bytes]] = []
        self._wanted = threading.Event()
        self._starter: threading.Thread | None = None

    def take(self) -> subprocess.Popen[bytes]:
        """A waiting helper, or a new one when none waits (see :meth:`refill`)."""
        with self._lock:
            ready = [helper for helper in self._idle if helper.poll() is None]
            self._idle = ready[1:]
        return ready[0] if ready else _spawn(WORKER_CODE, MEMORY_MB, CPU_SECONDS)

    def refill(self) -> None:
        """Have :data:`POOL_SIZE` helpers wait (started after a preview: loading libraries slows the one in hand)."""
        with self._lock:
            if self._starter is None or not self._starter.is_alive():
                self._starter = threading.Thread(target=self._start_helpers, name="preview-helpers", daemon=True)
                self._starter.start()
        self._wanted.set()

    def _start_helpers(self) -> None:
        while self._wanted.wait():
            self._wanted.clear()
            with self._lock:
                self._idle = [helper for helper in self._idle if helper.poll() is None]
                missing = POOL_SIZE - len(self._idle)
            for _ in range(max(0, missing)):
                helper = _spawn(WORKER_CODE, MEMORY_MB, CPU_SECONDS)
                with self._lock:
                    self._idle.append(helper)

    def close(self) -> None:
        """Stop the waiting helpers."""
        with self._lock:
            idle, self._idle = self._idle, []
        for helper in idle:
            _stop(helper)


_POOL = _Pool()
_RUNNING = threading.BoundedSemaphore(MAX_RUNNING)
atexit.register(_POOL.close)


def _stop(helper: subprocess.Popen[bytes]) -> None:
    """Kill a helper's process group if it still runs (never after it was reaped: its id may be reused)."""
    if helper.poll() is None:
        try:
            os.killpg(helper.pid, signal.SIGKILL)
        except OSError:
            helper.kill()
    helper.wait()
    if helper.stdout is not None:
        helper.stdout.close()


def _feed(helper: subprocess.Popen[bytes], payload: bytes) -> None:
    assert helper.stdin is not None
    try:
        helper.stdin.write(payload)
    except (OSError, ValueError):  # the helper ended (or was stopped) before it read everything
        pass
    finally:
        with contextlib.suppress(OSError, ValueError):
            helper.stdin.close()


def _exchange(helper: subprocess.Popen[bytes], payload: bytes, deadline: float) -> bytes | None:
    """Send the request and read the answer; ``None`` when the deadline passes first.

    Raises:
        PreviewFailed: When the answer grows past :data:`MAX_ANSWER_BYTES`.

    """
    assert helper.stdout is not None
    threading.Thread(target=_feed, args=(helper, payload), daemon=True).start()
    output = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(helper.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not selector.select(remaining):
                continue
            chunk = os.read(helper.stdout.fileno(), MB)
            output += chunk
            if len(output) > MAX_ANSWER_BYTES:
                raise PreviewFailed(TOO_LARGE)
            if not chunk or b"\n" in chunk:  # one line of JSON: complete without waiting for the helper to end
                return bytes(output)


def _parsed(output: bytes) -> dict[str, Any] | None:
    """The answer in the helper's output, or ``None`` when it has none."""
    try:
        answer = json.loads(output.split(b"\n", 1)[0])
    except ValueError:
        return None
    usable = isinstance(answer, dict) and (
        "result" in answer or isinstance(answer.get("error"), str) or answer.get("failure") == "memory"
    )
    return answer if usable else None


def _verdict(answer: dict[str, Any] | None, status: int | None, limits: tuple[float, int, int]) -> dict[str, Any]:
    """The helper's answer, or :class:`PreviewFailed` saying in plain words why there is none."""
    _, memory_mb, cpu_seconds = limits
    if answer is not None and answer.get("failure") == "memory":
        raise PreviewFailed(TOO_HUNGRY.format(mb=memory_mb))
    if answer is not None:
        return answer
    status = status or 0
    killed_by = -status if status < 0 else status - 128 if status > 128 else 0  # bubblewrap says 128 + signal
    if killed_by in (signal.SIGXCPU, signal.SIGKILL):  # SIGKILL: the hard CPU limit, a second after SIGXCPU
        raise PreviewFailed(TOO_MUCH_CPU.format(seconds=cpu_seconds))
    raise PreviewFailed(DAMAGED)


def _ended(helper: subprocess.Popen[bytes], deadline: float) -> bool:
    try:
        helper.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _run(request: dict[str, Any], data: bytes, code: str, limits: tuple[float, int, int]) -> tuple[dict[str, Any], int]:
    """The answer of a fresh helper and its size in bytes (see :func:`run_helper`)."""
    timeout, memory_mb, cpu_seconds = limits
    deadline = time.monotonic() + timeout
    if not _RUNNING.acquire(timeout=timeout):
        raise PreviewFailed(BUSY)
    try:
        pooled = code == WORKER_CODE and (memory_mb, cpu_seconds) == (MEMORY_MB, CPU_SECONDS)
        helper = _POOL.take() if pooled else _spawn(code, memory_mb, cpu_seconds)
        payload = json.dumps({**request, "size": len(data)}).encode() + b"\n" + data
        output: bytes | None = None
        try:
            output = _exchange(helper, payload, deadline)
            answer = _parsed(output) if output is not None else None
            status = None  # how a helper that gave no answer ended
            if output is not None and answer is None:
                status = helper.returncode if _ended(helper, deadline) else None
                output = output if status is not None else None
        finally:
            _stop(helper)  # a helper that answered is not waited for: it has nothing left to do
            if pooled:
                _POOL.refill()
    finally:
        _RUNNING.release()
    if output is None:
        raise PreviewFailed(TOO_SLOW.format(seconds=timeout))
    return _verdict(answer, status, limits), len(output)


def run_helper(
    request: dict[str, Any],
    data: bytes,
    *,
    code: str = WORKER_CODE,
    timeout: float = TIMEOUT_SECONDS,
    memory_mb: int = MEMORY_MB,
    cpu_seconds: int = CPU_SECONDS,
) -> dict[str, Any]:
    """Have a fresh helper answer one request about one file (no cache).

    Args:
        request: The request line (``op``, ``name``, ``sheet``, ``page``); ``size`` is added.
        data: The file's bytes.
        code: The helper's program: the preview worker, or a test's probe that prints a JSON answer.
        timeout: Seconds from the request to the answer before the helper is stopped.
        memory_mb: The helper's address-space limit.
        cpu_seconds: The helper's CPU-time limit.

    Returns:
        The answer: ``{"result": ...}`` or ``{"error": ..., "kind": ...}`` (see ``core/files/preview_worker.py``).

    Raises:
        PreviewFailed: When the helper took too long or too much memory, broke down or answered nonsense.

    """
    return _run(request, data, code, (timeout, memory_mb, cpu_seconds))[0]


# -- answers by content ---------------------------------------------------------------------------------------

_CACHE: collections.OrderedDict[bytes, tuple[float, int, dict[str, Any] | str]] = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def _remember(key: bytes, value: dict[str, Any] | str, size: int, expires: float) -> None:
    if size > CACHE_BYTES // 4:
        return
    with _CACHE_LOCK:
        _CACHE[key] = (expires, size, value)
        while sum(entry[1] for entry in _CACHE.values()) > CACHE_BYTES:
            _CACHE.popitem(last=False)


def forget_answers() -> None:
    """Empty the cache of answers (a benchmark's every run is then a first preview)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _recall(key: bytes) -> dict[str, Any] | str | None:
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is None or entry[0] < time.monotonic():
            _CACHE.pop(key, None)
            return None
        _CACHE.move_to_end(key)
        return entry[2]


def _result(request: dict[str, Any], data: bytes) -> Any:
    """The ``result`` of the answer to ``request`` (cached by content), or the error it stands for."""
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode() + b"\0" + data).digest()
    answer = _recall(key)
    if answer is None:
        try:
            answer, size = _run(request, data, WORKER_CODE, (TIMEOUT_SECONDS, MEMORY_MB, CPU_SECONDS))
        except PreviewFailed as failure:
            if str(failure) != BUSY:
                _remember(key, str(failure), 0, time.monotonic() + FAILURE_SECONDS)
            raise
        _remember(key, answer, size, float("inf"))
    if isinstance(answer, str):
        raise PreviewFailed(answer)
    if "error" in answer:
        error = TablePreviewError if answer.get("kind") == "table" else DocumentPreviewError
        raise error(str(answer["error"])[:500])
    return answer["result"]


def _decoded(decode: Any, request: dict[str, Any], data: bytes) -> Any:
    result = _result(request, data)
    try:
        return decode(result)
    except Exception as error:  # whatever an answer that is not what was asked for breaks
        raise PreviewFailed(DAMAGED) from error


def read_table(name: str, data: bytes) -> tuple[str, pd.DataFrame | None]:
    """A table file read as :func:`core.files.archive.load_table` reads it, in a helper.

    Returns:
        ``("table", frame)``; for a ``.json`` file that is no table, ``("plotly", None)`` or ``("text", None)``.

    Raises:
        TablePreviewError: When the bytes cannot be read as a table, saying why (:class:`PreviewFailed` included).

    """
    return _decoded(answers.decode_table, {"op": "table", "name": name}, data)  # type: ignore[no-any-return]


def read_workbook(data: bytes, sheet: int = 0) -> WorkbookPreview:
    """One sheet of a workbook, as :func:`core.files.documents.read_workbook` reads it, in a helper."""
    return _decoded(answers.decode_workbook, {"op": "workbook", "sheet": sheet}, data)  # type: ignore[no-any-return]


def read_document(data: bytes) -> DocumentPreview:
    """A Word document, as :func:`core.files.documents.read_document` reads it, in a helper."""
    return _decoded(answers.decode_document, {"op": "document"}, data)  # type: ignore[no-any-return]


def read_slides(data: bytes) -> SlidesPreview:
    """A presentation, as :func:`core.files.documents.read_slides` reads it, in a helper."""
    return _decoded(answers.decode_slides, {"op": "slides"}, data)  # type: ignore[no-any-return]


def read_pdf_page(data: bytes, index: int) -> PdfPage:
    """A PDF's page count and page ``index`` as a PNG (see :func:`core.files.pdf_preview.render_pdf_preview`)."""
    return _decoded(answers.decode_pdf, {"op": "pdf", "page": index}, data)  # type: ignore[no-any-return]


def reduce_picture(data: bytes) -> Picture:
    """A picture made smaller (at most 1,200 pixels wide; JPEG, or PNG when it has transparency), in a helper."""
    return _decoded(answers.decode_picture, {"op": "image"}, data)  # type: ignore[no-any-return]
