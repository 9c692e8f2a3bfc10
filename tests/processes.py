"""Reading the host's process table from /proc (no psutil), for tests that check what runs and what leaked."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    """One process as /proc shows it."""

    pid: int
    ppid: int
    state: str
    start_ticks: int
    argv: tuple[str, ...]
    cgroups: str

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    @property
    def running(self) -> bool:
        """Alive (a zombie has finished and only waits for its parent to collect its exit status)."""
        return self.state not in ("Z", "X")


def _read(pid: int) -> Process | None:
    base = Path("/proc") / str(pid)
    try:
        stat = (base / "stat").read_text()
        argv = tuple(a.decode(errors="replace") for a in (base / "cmdline").read_bytes().split(b"\0") if a)
        cgroups = (base / "cgroup").read_text()
    except OSError:  # it ended while we looked
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return Process(pid, int(fields[1]), fields[0], int(fields[19]), argv, cgroups)


def process_table() -> dict[int, Process]:
    """Every process visible now."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (process := _read(int(name))) is not None:
            table[process.pid] = process
    return table


def descendants(pid: int, table: dict[int, Process] | None = None) -> list[Process]:
    """The children of ``pid``, their children, and so on."""
    table = table if table is not None else process_table()
    children: dict[int, list[Process]] = {}
    for process in table.values():
        children.setdefault(process.ppid, []).append(process)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


def clock_ticks_now() -> int:
    """The current time in the unit of a process's start time (clock ticks since boot)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


def open_fds() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


def memory_kb(key: str = "VmRSS") -> int:
    """A memory figure of this process from /proc/self/status, in kB (VmRSS, VmHWM, ...)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak_memory() -> bool:
    """Make VmHWM start again from the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
