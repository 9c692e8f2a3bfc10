"""Server memory while people upload and download large files, in a real ``streamlit run`` driven by Chromium.

Uploads ``UPLOADS`` files of ``FILE_MB`` MB (random bytes) one after the other through the side panel's uploader,
then saves a ``FILE_MB`` MB file to the workspace and downloads "Download all" and "Download everything".
The Streamlit process's resident memory is sampled every 20 ms: its peak during each transfer and what stays
after it, above what it used before the first upload. Run alone with ``python -m bench.transfers``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench.common import CHROMIUM, CHROMIUM_FLAGS, Row, progress, run_main, streamlit_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

FILE_MB = 100
UPLOADS = 3
TIMEOUT_MS = 180_000
MB = 2**20


class MemoryWatch:
    """Samples a process's resident memory in a thread; reports peaks and levels above a baseline."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.now()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def now(self) -> float:
        """Resident memory now, in MB."""
        return float(self.process.memory_info().rss) / MB

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    @contextmanager
    def during(self, results: dict[str, float], name: str) -> Iterator[None]:
        """Record the peak during the block and the level after it (both above the baseline, MB)."""
        self.peak = self.now()
        yield
        time.sleep(2)  # let the server finish and free what it will
        results[f"{name}_peak_mb"] = self.peak - self.baseline
        results[f"{name}_after_mb"] = self.now() - self.baseline

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def _random_file(folder: Path, name: str) -> Path:
    path = folder / name
    with path.open("wb") as out:
        for _ in range(FILE_MB):
            out.write(os.urandom(MB))
    return path


def _upload(page: Page, path: Path) -> None:
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(path))
    page.get_by_text(f"{path.name}: 1 file in the sandbox").wait_for(timeout=TIMEOUT_MS)


def _download(page: Page, click: Callable[[], None]) -> int:
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        click()
    return Path(download.value.path()).stat().st_size


def _save_big_file_to_workspace(page: Page) -> None:
    code = f"import os\nwith open('big.bin', 'wb') as f:\n    f.write(os.urandom({FILE_MB} * 2**20))"
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(f"```python\n{code}\n```")
    box.press("Enter")
    step = page.locator("[data-testid=stChatMessage]").filter(has_text="Files this step created or changed (1)")
    step.get_by_role("button", name="Save big.bin to the workspace").first.click(timeout=TIMEOUT_MS)
    page.get_by_text("Saved to the workspace: code-interpreter/big.bin").wait_for(timeout=TIMEOUT_MS)


def measure(url: str, pid: int, folder: Path) -> dict[str, float]:
    """Drive the uploads and downloads; the memory figures (MB above the server's level before them)."""
    from playwright.sync_api import sync_playwright

    files = [_random_file(folder, f"upload-{n}.bin") for n in range(1, UPLOADS + 1)]
    results: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_test_id("stChatInputTextArea").wait_for()
        time.sleep(2)
        watch = MemoryWatch(pid)
        try:
            for number, path in enumerate(files, 1):
                progress(f"  upload {number} of {UPLOADS} ({FILE_MB} MB) ...")
                with watch.during(results, f"upload_{number}"):
                    _upload(page, path)
            _save_big_file_to_workspace(page)
            sidebar = page.locator("[data-testid=stSidebar]")
            sidebar.get_by_role("tab", name="Workspace").click()
            progress("  Download all ...")
            with watch.during(results, "download_all"):
                results["download_all_bytes"] = _download(page, sidebar.get_by_role("link", name="Download all").click)
            progress("  Download everything ...")
            with watch.during(results, "everything"):
                click = sidebar.get_by_role("link", name="Download everything (.zip)").click
                results["everything_bytes"] = _download(page, click)
        finally:
            watch.stop()
            browser.close()
    return results


def bench_transfers(tmp: Path, quick: bool = False) -> list[Row]:
    """Start the app without a model and measure its memory through uploads and downloads."""
    env = dict(os.environ, INTERPRETER_MODEL_PROVIDER="none", INTERPRETER_DATA_DIR=str(tmp / "transfers-data"))
    with streamlit_server(env, tmp / "transfers-server.log") as (url, server):
        found: dict[str, Any] = measure(url, server.pid, tmp)
    last = f"upload_{UPLOADS}"
    return [
        Row(f"transfers: server memory held after {UPLOADS} uploads of {FILE_MB} MB", found[f"{last}_after_mb"],
            "MB", goal=FILE_MB / 4, extra=f"after the first {found['upload_1_after_mb']:.0f} MB", detail=found),
        Row(f"transfers: server memory peak during upload {UPLOADS} ({FILE_MB} MB)", found[f"{last}_peak_mb"],
            "MB", goal=FILE_MB * 1.5, extra=f"first upload {found['upload_1_peak_mb']:.0f} MB (Streamlit's one copy)"),
        Row(f"transfers: server memory peak during Download all ({FILE_MB} MB workspace)",
            found["download_all_peak_mb"], "MB", goal=FILE_MB / 4,
            extra=f"{found['download_all_bytes'] / MB:.0f} MB ZIP, {found['download_all_after_mb']:.0f} MB after"),
        Row("transfers: server memory peak during Download everything", found["everything_peak_mb"], "MB",
            goal=FILE_MB / 4, extra=f"{found['everything_after_mb']:.0f} MB after"),
    ]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(run_main([bench_transfers], "transfers"))
