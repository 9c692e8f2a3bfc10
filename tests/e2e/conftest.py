"""Shared by the browser tests: a real ``streamlit run`` of the app on loopback, and Debian's Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
ANALYSIS = """import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
sales = pd.read_csv('sales/2024.csv')
monthly = sales.groupby('month', sort=False)['revenue'].sum()
print(f"Best month: {monthly.idxmax()} ({monthly.max()})")
monthly.plot.bar(title='Revenue by month')
plt.savefig('chart.png')
monthly.reset_index()"""
STEPS = [
    {"tool": "execute_code", "input": {"code": ANALYSIS, "output_filename": "chart.png"}},
    {"text": "March was the best month, with 340 in revenue. The chart is saved as chart.png."},
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the Streamlit server exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the Streamlit server did not become healthy within 60 s")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("e2e")
    script = folder / "steps.json"
    script.write_text(json.dumps(STEPS))
    data_dir = folder / "data"
    env = dict(
        os.environ,
        INTERPRETER_DATA_DIR=str(data_dir),
        INTERPRETER_MODEL_PROVIDER="scripted",
        INTERPRETER_SCRIPTED_MODEL_FILE=str(script),
        INTERPRETER_KERNEL_POOL_SIZE="0",
    )
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
        yield url, data_dir
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, for the tests of one module."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=30_000)  # a busy 2-core machine can take more than the default 5 s
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
