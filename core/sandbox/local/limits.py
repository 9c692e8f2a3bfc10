"""Resource limits of one sandbox: a cgroup for memory and processes where the host offers one, rlimits always.

The strongest mechanism the host offers is used and :meth:`ResourceLimits.describe` says which:
a cgroup v2 or v1 ``memory`` and ``pids`` controller (writable when the app runs as root, or inside a
delegated systemd scope) limits the whole session; ``prlimit`` caps the address space of the Python kernel
and of shell commands (a ``MemoryError`` instead of a kill), the size of one file and core dumps.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

from core.config import Settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
MB = 1024 * 1024
CPU_PERIOD_US = 100_000
# The address-space cap sits this far above the memory limit: an idle Python with numpy and pandas loaded
# already reserves about 1.1 GB of address space (thread stacks, BLAS buffers) that it never touches.
ADDRESS_SPACE_HEADROOM = 1536 * MB
# How long a finished run may take to be gone from the cgroup (it is usually a few milliseconds).
EXIT_SECONDS = 2.0
# Moves the starting shell into each cgroup named before "--", then becomes the real command.
JOIN_CGROUPS = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _own_cgroup_v2() -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return CGROUP_ROOT / line[3:].lstrip("/")
    return None


V2_CONTROLLERS = ("memory", "pids", "cpu")
APP_LEAF = "code-interpreter-app"


@functools.cache
def delegated_v2_parent() -> Path | None:
    """The cgroup v2 folder under which sandbox cgroups get memory, pids and cpu limits, or ``None``.

    cgroup v2 hands controllers down only from a cgroup that holds no processes itself, and the app's own
    cgroup holds the app (in a container: every process of it). So, once per process, the app's processes move
    into a leaf ``code-interpreter-app`` and the controllers are switched on for the children; sandboxes become
    the leaf's siblings. Nothing changes when that is not allowed: the sandboxes then use rlimits only.
    """
    own = _own_cgroup_v2()
    if own is None or not (CGROUP_ROOT / "cgroup.controllers").exists():
        return None
    parent = own.parent if own.name == APP_LEAF else own
    try:
        if not set(V2_CONTROLLERS) <= set((parent / "cgroup.controllers").read_text().split()):
            return None
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not set(V2_CONTROLLERS) <= enabled:
            leaf = parent / APP_LEAF
            leaf.mkdir(exist_ok=True)
            for pid in (parent / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):  # a process may have ended meanwhile
                    (leaf / "cgroup.procs").write_text(pid)
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in V2_CONTROLLERS))
        return parent
    except OSError:
        return None


class ResourceLimits:
    """Creates, applies and removes the limits of one sandbox.

    Args:
        settings: Supplies ``memory_limit_mb``, ``max_processes`` and ``max_file_mb``.
        sandbox_id: Unique name of the sandbox; the cgroup is called ``code-interpreter-<id>``.

    """

    def __init__(self, settings: Settings, sandbox_id: str) -> None:
        self.memory_bytes = settings.memory_limit_mb * MB
        self.max_processes = settings.max_processes
        self.max_file_bytes = settings.max_file_mb * MB
        self.cpu_limit = settings.cpu_limit
        self.name = f"code-interpreter-{sandbox_id}"
        self.version, self.groups = self._plan_cgroups()
        self.warnings: list[str] = []
        if not self.groups:
            self.warnings.append(
                "Memory is limited per process only: the app cannot write a cgroup here, so each process's "
                "memory is capped but not the whole session's, nor its number of processes. A cgroup the app "
                "may write (a container with its own cgroup, or a systemd scope with delegation, see "
                "docs/docker.md) limits the whole session."
            )

    def _plan_cgroups(self) -> tuple[str, dict[str, Path]]:
        if _writable(CGROUP_ROOT / "memory") and _writable(CGROUP_ROOT / "pids"):
            groups = {"memory": CGROUP_ROOT / "memory" / self.name, "pids": CGROUP_ROOT / "pids" / self.name}
            for controller in ("cpu", "cpuacct"):
                if _writable(CGROUP_ROOT / controller):
                    groups[controller] = CGROUP_ROOT / controller / self.name
            return "v1", groups
        parent = delegated_v2_parent()
        if parent is not None:
            return "v2", {"unified": parent / self.name}
        return "none", {}

    def create(self) -> None:
        """Create the cgroup(s) and write the limits; fall back to rlimits only when the host refuses."""
        try:
            if self.version == "v1":
                memory, pids = self.groups["memory"], self.groups["pids"]
                memory.mkdir(exist_ok=True)
                pids.mkdir(exist_ok=True)
                (memory / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
                (pids / "pids.max").write_text(str(self.max_processes))
                if "cpuacct" in self.groups:
                    self.groups["cpuacct"].mkdir(exist_ok=True)
                if "cpu" in self.groups:
                    self.groups["cpu"].mkdir(exist_ok=True)
                    (self.groups["cpu"] / "cpu.cfs_quota_us").write_text(str(int(self.cpu_limit * CPU_PERIOD_US)))
            elif self.version == "v2":
                group = self.groups["unified"]
                group.mkdir(exist_ok=True)
                (group / "memory.max").write_text(str(self.memory_bytes))
                (group / "memory.swap.max").write_text("0")
                (group / "pids.max").write_text(str(self.max_processes))
                (group / "cpu.max").write_text(f"{int(self.cpu_limit * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        except OSError as exc:
            self.warnings.append(
                f"Only per-process limits apply: the session's cgroup could not be set up ({exc.strerror})."
            )
            self.version, self.groups = "none", {}

    def cgroup_prefix(self) -> list[str]:
        """A command prefix that moves the process into the cgroup(s) before it starts."""
        if not self.groups:
            return []
        return [
            "/bin/sh",
            "-c",
            JOIN_CGROUPS,
            "sh",
            *(str(g / "cgroup.procs") for g in self.groups.values()),
            "--",
        ]

    def rlimit_prefix(self, *, memory_rlimit: bool = True) -> list[str]:
        """A ``prlimit`` prefix for per-process limits (address space, file size, core dumps)."""
        args = ["prlimit", f"--fsize={self.max_file_bytes}", "--core=0", "--nofile=4096"]
        if memory_rlimit:
            args.append(f"--as={self.memory_bytes + ADDRESS_SPACE_HEADROOM}")
        if "pids" not in self.groups and "unified" not in self.groups and os.geteuid() != 0:
            args.append(f"--nproc={self.max_processes}")
        return [*args, "--"]

    def process_ids(self) -> set[int]:
        """The processes in the session's cgroup now (none where no cgroup tells)."""
        group = self.groups.get("pids") or self.groups.get("unified")
        with contextlib.suppress(OSError, ValueError):
            return {int(pid) for pid in (group / "cgroup.procs").read_text().split()} if group else set()
        return set()

    def wait_until_gone(
        self, earlier: set[int], timeout: float = EXIT_SECONDS, others: Callable[[], set[int]] | None = None
    ) -> bool:
        """Wait until the cgroup holds no process but ``earlier`` ones; False if some were still there at the end.

        ``others`` names processes that do not belong to the run either (a background command's, which come and go).

        A sandboxed run's processes die after its first process has ended (bubblewrap stops the others as it
        exits), and until they are gone they may still be refused a fork or killed for memory. Once they are, the
        cgroup's event counters tell the whole story of the run.
        """
        deadline = time.monotonic() + timeout
        while (self.process_ids() - earlier) - (others() if others is not None else set()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def memory_used(self) -> int | None:
        """Bytes of memory the whole sandbox uses now, where a cgroup tells."""
        name = {"v1": ("memory", "memory.usage_in_bytes"), "v2": ("unified", "memory.current")}.get(self.version)
        if name is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            return int((self.groups[name[0]] / name[1]).read_text())
        return None

    def cpu_seconds(self) -> float | None:
        """CPU time the whole sandbox used so far, where a cgroup tells."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            if self.version == "v1" and "cpuacct" in self.groups:
                return int((self.groups["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
            if self.version == "v2":
                for line in (self.groups["unified"] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        return None

    def cpu_throttled(self) -> int:
        """How many scheduling periods the sandbox was held back by its CPU limit so far."""
        name = {"v1": ("cpu", "cpu.stat"), "v2": ("unified", "cpu.stat")}.get(self.version)
        if name is None or name[0] not in self.groups:
            return 0
        with contextlib.suppress(OSError, ValueError):
            for line in (self.groups[name[0]] / name[1]).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "nr_throttled":
                    return int(value)
        return 0

    def oom_kills(self) -> int:
        """How many times the kernel's OOM killer struck inside this sandbox so far."""
        files = {"v1": ("memory", "memory.oom_control"), "v2": ("unified", "memory.events")}.get(self.version)
        if files is None:
            return 0
        with contextlib.suppress(OSError):
            for line in (self.groups[files[0]] / files[1]).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def describe(self) -> list[str]:
        """Each limit in force in plain words, then what enforces them."""
        mb = self.memory_bytes // MB
        if self.groups:
            lines = [
                f"memory: at most {mb:,} MB for the whole session",
                f"processes: at most {self.max_processes:,} at a time",
            ]
            if "cpu" in self.groups or self.version == "v2":
                lines.append(f"CPU: at most {self.cpu_limit:g} core{'s' if self.cpu_limit > 1 else ''}")
        else:
            lines = [f"memory: at most {mb:,} MB per process"]
            if os.geteuid() != 0:
                lines.append(f"processes: at most {self.max_processes:,} (counted for all sandboxes together)")
        lines.append(f"file size: at most {self.max_file_bytes // MB:,} MB per file")
        if self.groups:
            lines.append(f"how: a Linux control group (cgroup {self.version}) and limits on each process")
        else:
            headroom = ADDRESS_SPACE_HEADROOM // MB
            lines.append(
                f"how: Linux limits on each process (each may reserve {headroom:,} MB more address space than "
                "this, which Python does without using it)"
            )
        return lines

    def remove(self) -> None:
        """Kill what still runs in the cgroup(s), then remove them."""
        for group in self.groups.values():
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    pids = (group / "cgroup.procs").read_text().split()
                except OSError:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), 9)
                with contextlib.suppress(OSError):
                    group.rmdir()
                    break
                time.sleep(0.02)
