"""The one door's cost: sandbox files written and read through ``SandboxFolder`` against plain paths.

Before the one door (``core/sandbox/local/files.py``), the host resolved a path with ``realpath`` and then used the
string; that is raced by sandboxed code that swaps a folder for a link, but it is the speed to keep. The plain
path side below does the same work by path (``realpath`` check, temporary file, rename; ``open`` to read) in the
same run on the same disk. Figures: 1,000 small files written then read, the first 100 against the last 100 (a
folder that grows must not slow each file down), and one 100 MB file. Goal: at most 1.2 times the plain path.
Run alone with ``python -m bench.file_door``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Row, run_main
from core.sandbox.local.files import SandboxFolder

SMALL_FILES = 1000
SMALL_BYTES = 2048
BIG_MB = 100
ROUNDS = 7
"""Rounds of both sides, alternating; the ratio is the median of the rounds' ratios (the disk's speed drifts)."""


def _plain_write(root: Path, path: str, data: bytes) -> None:
    target = Path(os.path.realpath(root / path))
    if not str(target).startswith(str(root)):
        raise ValueError(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".write-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, target)


def _plain_read(root: Path, path: str) -> bytes:
    target = Path(os.path.realpath(root / path))
    if not str(target).startswith(str(root)):
        raise ValueError(path)
    with open(target, "rb") as handle:
        return handle.read()


def _each(count: int, action: Callable[[int], object]) -> list[float]:
    times = []
    for index in range(count):
        started = time.perf_counter()
        action(index)
        times.append(time.perf_counter() - started)
    return times


def _small_files(root: Path, safe: bool) -> tuple[float, float, float]:
    """Seconds for 1,000 writes plus 1,000 reads, and the median write of the first and of the last 100."""
    data = os.urandom(SMALL_BYTES)
    folder = SandboxFolder(root)
    if safe:
        writes = _each(SMALL_FILES, lambda i: folder.write(f"data/part-{i:04d}.bin", data))
        reads = _each(SMALL_FILES, lambda i: folder.read(f"data/part-{i:04d}.bin"))
    else:
        writes = _each(SMALL_FILES, lambda i: _plain_write(root, f"data/part-{i:04d}.bin", data))
        reads = _each(SMALL_FILES, lambda i: _plain_read(root, f"data/part-{i:04d}.bin"))
    return sum(writes) + sum(reads), statistics.median(writes[:100]), statistics.median(writes[-100:])


def _big_file(root: Path, safe: bool) -> float:
    data = os.urandom(BIG_MB * 2**20)
    started = time.perf_counter()
    if safe:
        SandboxFolder(root).write("big.bin", data)
        SandboxFolder(root).read("big.bin")
    else:
        _plain_write(root, "big.bin", data)
        _plain_read(root, "big.bin")
    return time.perf_counter() - started


def bench_file_door(tmp: Path, quick: bool = False) -> list[Row]:
    """1,000 small files and one 100 MB file through the one door and by plain path, alternating."""
    results: dict[tuple[str, bool], list[tuple[float, ...]]] = {}
    for round_number in range(1 if quick else ROUNDS):
        for safe in (False, True):
            root = tmp / f"door-{round_number}-{safe}"
            root.mkdir(parents=True)
            results.setdefault(("small", safe), []).append(_small_files(root, safe))
            results.setdefault(("big", safe), []).append((_big_file(root, safe),))
    small = {safe: statistics.median(r[0] for r in results[("small", safe)]) for safe in (False, True)}
    first = statistics.median(r[1] for r in results[("small", True)])
    last = statistics.median(r[2] for r in results[("small", True)])
    big = {safe: statistics.median(r[0] for r in results[("big", safe)]) for safe in (False, True)}
    ratio = {
        kind: statistics.median(s[0] / p[0] for s, p in zip(results[(kind, True)], results[(kind, False)], strict=True))
        for kind in ("small", "big")
    }
    return [
        Row(
            f"{SMALL_FILES:,} small files written and read through the one door, vs plain paths",
            ratio["small"],
            "x",
            goal=1.2,
            extra=f"medians {small[True]:.2f} s vs {small[False]:.2f} s, {ROUNDS} rounds; a write: "
            f"1st 100 {first * 1e6:.0f} µs, last 100 {last * 1e6:.0f} µs",
        ),
        Row(
            f"one {BIG_MB} MB file written and read through the one door, vs plain paths",
            ratio["big"],
            "x",
            goal=1.2,
            extra=f"medians {big[True]:.2f} s vs {big[False]:.2f} s",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(run_main([bench_file_door], "file_door"))
