"""The sandbox's network: none at all, or the internet without this machine and its neighbours.

``"none"``: bubblewrap gives the sandbox an empty network namespace (only ``lo``).

``"public"`` (the default): each sandbox gets a network namespace of its own, made without root: a holder
process creates a user namespace (the app's user mapped to root) and a network namespace owned by it;
slirp4netns attaches user-mode networking to it with ``--disable-host-loopback``; then, before any sandbox code
runs, routes inside the namespace make these unreachable (IPv4 and IPv6): link-local ranges (the cloud metadata
and ECS credential addresses among them), private ranges, carrier-grade NAT, the host's own addresses and its
default gateways. slirp's own ``10.0.2.0/24`` only answers DNS (``10.0.2.3``, port 53). Sandbox processes enter
the namespace through ``nsenter``; bubblewrap then makes a nested user namespace for the code, which has no
capability over the namespace and so cannot change the routes. ``Settings.sandbox_allowed_networks`` lets an
admin open ranges again (a longer prefix wins, so allowing ``169.254.0.0/16`` still keeps the metadata address).

``"allowlist"``: a network namespace of the same kind, but with nothing in it except its loopback interface
and, listening there on port 3128, the egress proxy (``core/sandbox/local/egress.py``), which reaches only the
domains of ``Settings.sandbox_allowed_domains``. No slirp4netns, so there is no route out at all; programs find
the proxy through ``HTTP_PROXY`` and ``HTTPS_PROXY``.

Where such a namespace cannot be made (no slirp4netns, no user namespaces, no usable ``/dev/net/tun``), a
``"public"`` sandbox gets no network at all and :attr:`PrivateNetwork.warnings` says why and what to install.
See ``docs/network.md``.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import select
import shutil
import subprocess
from collections.abc import Iterable, Mapping

from core.errors import SandboxError
from core.sandbox.local import egress
from core.sandbox.local.allowlist import AllowList
from core.sandbox.local.spawn import spawn

METADATA_ADDRESS = "169.254.169.254"
SLIRP_NETWORK = "10.0.2.0/24"
SLIRP_GATEWAY = "10.0.2.2"
SLIRP_DNS = "10.0.2.3"
TAP = "tap0"
START_TIMEOUT = 10.0

# Blocked in "public" mode. An allowed network with the same prefix replaces a block, a longer one wins by routing's
# longest match; the single addresses are listed on their own so that allowing a whole range (169.254.0.0/16,
# say) still keeps them out.
BLOCKED_NETWORKS = (
    "169.254.0.0/16",  # IPv4 link-local
    "169.254.169.254/32",  # cloud metadata (AWS, GCP, Azure, ...)
    "169.254.170.2/32",  # AWS ECS task credentials
    "10.0.0.0/8",  # private ranges (slirp's own 10.0.2.0/24 is handled by rules, see _namespace_commands)
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # carrier-grade NAT (also Tailscale)
    "fe80::/10",  # IPv6 link-local
    "fc00::/7",  # IPv6 unique local
    "fd00:ec2::254/128",  # AWS metadata over IPv6
)


def host_addresses() -> list[str]:
    """Every IP address of the host's interfaces except loopback and link-local ones."""
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


def host_gateways() -> list[str]:
    """The gateways of the host's default routes (IPv4 and IPv6)."""
    gateways = []
    for family in ("-4", "-6"):
        try:
            command = ["ip", "-j", family, "route", "show", "default"]
            out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        gateways += [route["gateway"] for route in json.loads(out or "[]") if route.get("gateway")]
    return gateways


def blocked_networks(allowed: Iterable[str] = ()) -> list[str]:
    """The networks made unreachable inside the sandbox's namespace, minus those allowed with the same prefix.

    Args:
        allowed: Networks the admin allows (``Settings.sandbox_allowed_networks``).

    Returns:
        The blocked networks in CIDR notation: the fixed ranges, the host's addresses and default gateways.

    """
    exact = {ipaddress.ip_network(network, strict=False) for network in allowed}
    blocked: list[str] = []
    for item in [*BLOCKED_NETWORKS, *host_addresses(), *host_gateways()]:
        network = ipaddress.ip_network(item.split("%")[0], strict=False)
        if network not in exact and str(network) not in blocked:
            blocked.append(str(network))
    return blocked


def _namespace_commands(allowed: Iterable[str], ipv6: bool) -> list[str]:
    """The ``ip -batch`` lines that fence the namespace in."""
    lines = []
    for blocked in blocked_networks(allowed):
        if ipv6 or ":" not in blocked:
            lines.append(f"route add unreachable {blocked}")
    slirp = ipaddress.IPv4Network(SLIRP_NETWORK)
    for item in allowed:
        network = ipaddress.ip_network(item, strict=False)
        # slirp4netns runs without IPv6 here, so there is no IPv6 route to open; the default route and slirp's own
        # network exist already. "onlink": the gateway itself lies in a blocked range.
        if isinstance(network, ipaddress.IPv4Network) and network.prefixlen and not network.subnet_of(slirp):
            lines.append(f"route add {network} via {SLIRP_GATEWAY} dev {TAP} onlink")
    # slirp sends every port of 10.0.2.3 to the host's resolver, and the rest of 10.0.2.0/24 to the host's
    # loopback (refused with --disable-host-loopback): DNS only, and nothing else there.
    lines += [
        f"rule add pref 100 to {SLIRP_DNS}/32 ipproto udp dport 53 lookup main",
        f"rule add pref 101 to {SLIRP_DNS}/32 ipproto tcp dport 53 lookup main",
        f"rule add pref 102 to {SLIRP_NETWORK} unreachable",
    ]
    return lines


class _Namespace:
    """A user and network namespace held open by a process, with slirp4netns attached."""

    def __init__(self) -> None:
        self.holder: subprocess.Popen[bytes] | None = None
        self.slirp: subprocess.Popen[bytes] | None = None
        self._exit_w: int | None = None

    def open(self, with_slirp: bool = True) -> None:
        """Create the namespaces and wait for slirp4netns to configure ``tap0`` (when ``with_slirp``).

        Raises:
            SandboxError: If either cannot be made; the message says what failed.

        """
        # The holder says "ready" once it runs inside the new namespaces, then waits for our end of its stdin to
        # close (also when the app dies).
        holder = ["unshare", "--user", "--map-root-user", "--net", "--", "sh", "-c", "echo ready; read _"]
        self.holder = spawn(holder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.holder.stdout is not None
        if not _readable(self.holder.stdout.fileno()) or self.holder.stdout.readline() != b"ready\n":
            error = _stderr_of(self.holder)
            self.close()
            raise SandboxError(f"'unshare --user --net' failed: {error or 'no answer'}")
        if not with_slirp:
            return
        pid = self.holder.pid
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        slirp = ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-seccomp"]
        if os.geteuid() == 0:
            slirp.append("--enable-sandbox")  # drops its capabilities; as an ordinary user it cannot set it up
        slirp += ["--ready-fd", str(ready_w), "--exit-fd", str(exit_r), f"--userns-path=/proc/{pid}/ns/user"]
        slirp += ["--netns-type=path", f"/proc/{pid}/ns/net", TAP]
        try:
            self.slirp = spawn(slirp, pass_fds=(ready_w, exit_r), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            os.close(ready_w)
            os.close(exit_r)
        ready = os.read(ready_r, 1) if _readable(ready_r) else b""
        os.close(ready_r)
        if ready != b"1":
            error = _stderr_of(self.slirp)
            self.close()
            raise SandboxError(f"slirp4netns did not come up: {error or 'no answer'}")

    def fence(self, allowed: Iterable[str]) -> None:
        """Set the routes and rules that keep sandbox code away from this machine and its networks.

        Raises:
            SandboxError: If ``ip`` refuses one (the message is its own).

        """
        ipv6 = os.path.exists("/proc/sys/net/ipv6")
        # No IPv6 on tap0 (slirp4netns forwards none here), so no link-local route out of the namespace either;
        # where /proc/sys is read-only (a container), the route alone goes.
        disable = f"echo 1 2>/dev/null > /proc/sys/net/ipv6/conf/{TAP}/disable_ipv6"
        script = f"{{ {disable} || ip route del fe80::/64 dev {TAP}; }} && " if ipv6 else ""
        command = [*self.enter(), "sh", "-c", script + "exec ip -batch -"]
        batch = "\n".join(_namespace_commands(allowed, ipv6)) + "\n"
        done = subprocess.run(command, input=batch, capture_output=True, text=True, timeout=START_TIMEOUT)
        if done.returncode != 0:
            raise SandboxError(done.stderr.strip() or f"ip exited with {done.returncode}")

    def enter(self) -> list[str]:
        """The command prefix that runs a program as root of the user namespace, inside the network namespace."""
        assert self.holder is not None
        pid = self.holder.pid
        return ["nsenter", f"--user=/proc/{pid}/ns/user", f"--net=/proc/{pid}/ns/net", "--preserve-credentials", "--"]

    def close(self) -> None:
        """Stop slirp4netns and the holder."""
        if self._exit_w is not None:
            with contextlib.suppress(OSError):
                os.close(self._exit_w)
            self._exit_w = None
        for process in (self.slirp, self.holder):
            if process is None:
                continue
            if process.stdin:
                process.stdin.close()
            process.kill()
            process.wait(timeout=5)
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()
        self.slirp = self.holder = None


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], START_TIMEOUT)[0])


def _stderr_of(process: subprocess.Popen[bytes] | None) -> str:
    """The last line a failed helper wrote to stderr (after it exited)."""
    if process is None or process.stderr is None:
        return ""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=2)
    if process.poll() is None:
        return ""
    lines = process.stderr.read().decode(errors="replace").strip().splitlines()
    telling = [line for line in lines if not line.startswith(("child failed", "parent failed", "sent ", "received "))]
    return (telling or lines or [""])[-1]


@functools.cache
def private_network_problem(slirp: bool = True) -> str | None:
    """Why no private network can be made for sandboxes here, or ``None`` when it can (checked once, for real).

    Args:
        slirp: Whether the network needs slirp4netns (``public``) or only a namespace with the proxy
            (``allowlist``).

    """
    programs = (("slirp4netns", "slirp4netns"),) if slirp else ()
    for program, package in (*programs, ("unshare", "util-linux"), ("nsenter", "util-linux")):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian package {package})"
    if shutil.which("ip") is None:
        return "ip is not installed (Debian package iproute2)"
    namespace = _Namespace()
    try:
        namespace.open(slirp)
        if slirp:
            namespace.fence(())
        else:
            egress.listen_inside(namespace.enter()).close()
        if shutil.which("bwrap"):  # the sandbox's own user namespace is nested in the network's
            nested = ["bwrap", "--unshare-all", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc"]
            done = subprocess.run([*namespace.enter(), *nested, "true"], capture_output=True, text=True, timeout=20)
            if done.returncode != 0:
                return f"bubblewrap cannot run inside the network's user namespace: {done.stderr.strip()}"
    except (SandboxError, OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    finally:
        namespace.close()
    return None


class PrivateNetwork:
    """The network of one sandbox.

    Args:
        mode: ``"none"``, ``"allowlist"`` or ``"public"``.
        enabled: Whether the sandbox runs under bubblewrap (without it there is no namespace to set up).
        allowed: Networks (CIDR) sandbox code may reach although they lie in a blocked range.
        domains: With ``"allowlist"``: the hosts the proxy lets sandbox code reach.
        headers: With ``"allowlist"``: secret headers per host, added by the proxy (never seen by sandbox code).

    """

    def __init__(
        self,
        mode: str,
        *,
        enabled: bool,
        allowed: Iterable[str] = (),
        domains: Iterable[str] = (),
        headers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.mode = mode
        self.enabled = enabled
        self.allowed = list(allowed)
        self.domains = list(domains)
        self._headers = dict(headers or {})
        self.warnings: list[str] = []
        namespaced = enabled and mode in ("public", "allowlist")
        self.problem = None
        if namespaced:
            self.problem = private_network_problem() if mode == "public" else private_network_problem(slirp=False)
        self.namespaced = namespaced and self.problem is None
        self.gate: egress.EgressGate | None = None
        if self.problem and mode == "allowlist":
            self.warnings.append(
                f"The sandbox has no network: not even the allowed domains, as a private network cannot be made "
                f"here ({self.problem}). Install util-linux and iproute2 (sudo apt-get install util-linux iproute2) "
                "and allow unprivileged user namespaces (sysctl user.max_user_namespaces above 0; on Debian also "
                "kernel.unprivileged_userns_clone=1, on Ubuntu 23.10 and newer "
                "kernel.apparmor_restrict_unprivileged_userns=0); then restart the app."
            )
        elif self.problem:
            self.warnings.append(
                f"The sandbox has no network: not even the internet, as a private network cannot be made here "
                f"({self.problem}). "
                "To give sandboxes the internet but not this machine's services (no root needed), install "
                "slirp4netns, util-linux and iproute2 (sudo apt-get install slirp4netns util-linux iproute2), allow "
                "unprivileged user namespaces (sysctl user.max_user_namespaces above 0; on Debian also "
                "kernel.unprivileged_userns_clone=1, on Ubuntu 23.10 and newer "
                "kernel.apparmor_restrict_unprivileged_userns=0) and make /dev/net/tun readable and writable by "
                "everyone (mode 0666, Debian's default); then restart the app. Set INTERPRETER_SANDBOX_NETWORK=none "
                "to choose no network on purpose."
            )
        if mode in ("none", "allowlist") and not enabled:
            self.warnings.append(
                f"The sandbox can use the network: the setting INTERPRETER_SANDBOX_NETWORK={mode} takes effect only "
                "with bubblewrap, which is not in use. Install bubblewrap (sudo apt-get install bubblewrap)."
            )
        self._namespace = _Namespace()

    @property
    def _holder(self) -> subprocess.Popen[bytes] | None:
        return self._namespace.holder

    @property
    def _slirp(self) -> subprocess.Popen[bytes] | None:
        return self._namespace.slirp

    @property
    def offline(self) -> bool:
        """Whether sandbox code has no network at all (asked for, or because no private one can be made)."""
        return self.enabled and (self.mode == "none" or self.problem is not None)

    @property
    def unshare_with_bwrap(self) -> bool:
        """Whether bubblewrap itself should create an empty network namespace."""
        return self.offline

    @property
    def root_inside(self) -> bool:
        """Whether bubblewrap starts as root of a user namespace (and so must drop its capabilities itself)."""
        return self.namespaced

    def resolv_conf(self) -> str:
        """The ``/etc/resolv.conf`` the sandbox sees."""
        if self.offline:
            return "# This sandbox has no network.\n"
        if self.namespaced and self.mode == "allowlist":
            return "# No DNS here: the egress proxy (HTTP_PROXY, HTTPS_PROXY) resolves names.\n"
        if self.namespaced:
            return f"nameserver {SLIRP_DNS}\n"
        with contextlib.suppress(OSError), open("/etc/resolv.conf") as stream:
            return stream.read()
        return ""

    def describe(self) -> str:
        """The network setup in a few words."""
        if self.mode == "none":
            return "none (no network at all)" if self.enabled else "host network (isolation reduced)"
        if self.mode == "allowlist" and self.namespaced:
            return f"allow-list (only {', '.join(self.domains) or 'nothing'}, over HTTP and HTTPS through a proxy)"
        if self.mode == "allowlist" and not self.problem:
            return "allow-list not in force (shares the host's network: isolation reduced)"
        if self.problem:
            return "none (a private network cannot be made here, see the warning)"
        if not self.namespaced:
            return "public (shares the host's network: isolation reduced)"
        text = "public (internet only: host services, link-local, cloud metadata and private addresses are blocked)"
        return text + (f"; allowed by the admin: {', '.join(self.allowed)}" if self.allowed else "")

    def start(self) -> None:
        """Create the namespace, its user-mode network and its routes (only for a namespaced public network).

        Raises:
            SandboxError: If the namespace or its routes cannot be set up.

        """
        if not self.namespaced or self._namespace.holder is not None:
            return
        try:
            self._namespace.open(with_slirp=self.mode == "public")
        except SandboxError as exc:
            raise SandboxError(f"Could not start the sandbox's network: {exc}") from exc
        try:
            if self.mode == "public":
                self._namespace.fence(self.allowed)
            else:
                listener = egress.listen_inside(self._namespace.enter())
                rules = AllowList(self.domains, self.allowed, blocked_networks(self.allowed), self._headers)
                self.gate = egress.egress_proxy().open_gate(listener, rules)
        except SandboxError as exc:
            self.close()
            raise SandboxError(f"Could not fence in the sandbox's network: {exc}") from exc

    def prefix(self) -> list[str]:
        """A command prefix that enters the namespace (empty when bubblewrap handles the network)."""
        return self._namespace.enter() if self._namespace.holder is not None else []

    def environment(self) -> dict[str, str]:
        """The variables that send programs' HTTP and HTTPS through the egress proxy (only with ``"allowlist"``)."""
        return dict(egress.PROXY_ENVIRONMENT) if self.gate is not None else {}

    def blocked(self) -> list[str]:
        """The hosts the egress proxy refused since the last call (empty without an allow-list)."""
        return self.gate.take_blocked() if self.gate is not None else []

    def close(self) -> None:
        """Stop the proxy's gate and slirp4netns, and release the namespace."""
        if self.gate is not None:
            self.gate.close()
            self.gate = None
        self._namespace.close()
