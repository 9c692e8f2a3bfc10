"""The sandbox's network: none at all, or the internet without the host.

``"none"``: bubblewrap gives the sandbox an empty network namespace (only ``lo``).
``"public"``: a network namespace with user-mode networking by slirp4netns, started with
``--disable-host-loopback``; inside it routes to the cloud metadata address and to every address of the
host are marked unreachable, so sandbox code reaches the internet but not the Streamlit server or any
other service of the host. This needs root (to enter the namespace); elsewhere the sandbox shares the host's
network and a warning says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from core.errors import SandboxError
from core.sandbox.local.spawn import spawn

METADATA_ADDRESS = "169.254.169.254"
SLIRP_DNS = "10.0.2.3"


def host_addresses() -> list[str]:
    """Every IP address of the host's interfaces except loopback ones."""
    try:
        out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    addresses = []
    for link in json.loads(out or "[]"):
        for info in link.get("addr_info", []):
            local = info.get("local", "")
            if local and not local.startswith(("127.", "::1", "fe80:")):
                addresses.append(local)
    return addresses


class PrivateNetwork:
    """The network of one sandbox.

    Args:
        mode: ``"none"`` or ``"public"``.
        enabled: Whether the sandbox runs under bubblewrap (without it there is no namespace to set up).

    """

    def __init__(self, mode: str, *, enabled: bool) -> None:
        self.mode = mode
        self.enabled = enabled
        self.namespaced = enabled and mode == "public" and os.geteuid() == 0 and bool(shutil.which("slirp4netns"))
        self.warnings: list[str] = []
        if mode == "public" and not self.namespaced:
            self.warnings.append(
                "The sandbox shares the host's network: code in it can reach services on this machine. "
                "Run the app as root with slirp4netns installed, or set INTERPRETER_SANDBOX_NETWORK=none."
            )
        if mode == "none" and not enabled:
            self.warnings.append("Network 'none' needs bubblewrap; without it the sandbox can use the network.")
        self._holder: subprocess.Popen[bytes] | None = None
        self._slirp: subprocess.Popen[bytes] | None = None

    @property
    def unshare_with_bwrap(self) -> bool:
        """Whether bubblewrap itself should create an empty network namespace."""
        return self.mode == "none"

    def resolv_conf(self) -> str:
        """The ``/etc/resolv.conf`` the sandbox sees."""
        if self.mode == "none":
            return "# This sandbox has no network (INTERPRETER_SANDBOX_NETWORK=none).\n"
        if self.namespaced:
            return f"nameserver {SLIRP_DNS}\n"
        with contextlib.suppress(OSError):
            return Path("/etc/resolv.conf").read_text()
        return ""

    def describe(self) -> str:
        """The network setup in a few words."""
        if self.mode == "none":
            return "none (no network at all)" if self.enabled else "host network (isolation reduced)"
        if self.namespaced:
            return "public (internet only: host services and the cloud metadata address are blocked)"
        return "public (shares the host's network)"

    def start(self) -> None:
        """Create the namespace and its user-mode network (only for a namespaced public network)."""
        if not self.namespaced or self._holder is not None:
            return
        # The holder keeps the namespace alive and exits when our end of its stdin closes (also if we crash).
        self._holder = spawn(["unshare", "--net", "--", "sh", "-c", "read _"], stdin=subprocess.PIPE)
        netns = f"/proc/{self._holder.pid}/ns/net"
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        slirp = ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback"]
        slirp += ["--ready-fd", str(ready_w), "--exit-fd", str(exit_r), "--netns-type=path", netns, "tap0"]
        self._wait_for_namespace(netns)
        self._slirp = spawn(slirp, pass_fds=(ready_w, exit_r), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(ready_w)
        os.close(exit_r)
        ready = os.read(ready_r, 1)
        os.close(ready_r)
        if ready != b"1":
            self.close()
            raise SandboxError("Could not start the sandbox's network (slirp4netns did not come up).")
        for address in [METADATA_ADDRESS, *host_addresses()]:
            prefix = "128" if ":" in address else "32"
            route = ["nsenter", f"--net={netns}", "ip", "route", "add", "unreachable", f"{address}/{prefix}"]
            subprocess.run(route, capture_output=True, timeout=10)

    def _wait_for_namespace(self, netns: str) -> None:
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if os.readlink(netns) != own:
                    return
            if self._holder is not None and self._holder.poll() is not None:
                break
            time.sleep(0.002)
        raise SandboxError("Could not create the sandbox's network namespace ('unshare --net' failed).")

    def prefix(self) -> list[str]:
        """A command prefix that enters the namespace (empty when bubblewrap handles the network)."""
        if self._holder is None:
            return []
        return ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net", "--"]

    def close(self) -> None:
        """Stop slirp4netns and release the namespace."""
        if self._slirp is not None:
            with contextlib.suppress(OSError):
                os.close(self._exit_w)
            self._slirp.terminate()
            self._slirp.wait(timeout=5)
            self._slirp = None
        if self._holder is not None:
            if self._holder.stdin:
                self._holder.stdin.close()
            self._holder.kill()
            self._holder.wait(timeout=5)
            self._holder = None
