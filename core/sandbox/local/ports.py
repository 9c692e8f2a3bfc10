"""Servers that sandbox code runs: which TCP ports listen inside the sandbox, and connections to them.

A sandbox has network namespaces of its own (one shared by its processes with ``public`` networking, one per
bubblewrap process with ``none``), and a server inside listens on its own loopback: the host cannot reach it by
address, and must not, since a port number on the host's loopback is some other service. So for each namespace
of the sandbox's processes a small helper process (:data:`DOOR_CODE`, plain Python) enters that namespace with
``setns`` and, asked by the app over a socket pair, lists the ports listening there (its own
``/proc/self/net/tcp``) or connects to ``127.0.0.1:PORT`` (or ``[::1]:PORT``) and hands the connected socket back
(``SCM_RIGHTS``). A socket keeps the namespace it was made in, so the app then talks to the server over it.

Only a port number, checked to be 1 to 65535, crosses from the caller; the namespace is the sandbox's, found from
the processes in its cgroup (a process id is trusted only while it is still in that cgroup after its namespace
was opened), never the host's own. Nothing under the sandbox's folders is touched. The helper runs as the app's
user in the host's mount and process namespaces, which sandbox code cannot see.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator

from core.errors import SandboxError

DOOR_CODE = r"""
import ctypes, fcntl, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
net, channel = int(sys.argv[1]), socket.socket(fileno=int(sys.argv[2]))
def setns(fd, kind):
    if libc.setns(fd, kind) != 0:
        raise OSError(ctypes.get_errno(), "setns")
try:
    setns(net, 0x40000000)
except PermissionError:  # an ordinary user: first the user namespace that owns it (NS_GET_USERNS)
    setns(fcntl.ioctl(net, 0xB701), 0x10000000)
    setns(net, 0x40000000)
os.close(net)
LOOPBACK = ("00000000", "0100007F", "0" * 32, "0" * 24 + "01000000", "0000000000000000FFFF00000100007F")
def listening():
    ports = set()
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/self/net/" + name) as table:
                for line in list(table)[1:]:
                    fields = line.split()
                    address, port = fields[1].rsplit(":", 1)
                    if fields[3] == "0A" and (address in LOOPBACK or address.endswith("7F")):
                        ports.add(int(port, 16))
        except OSError:
            pass
    return sorted(ports)
def connect(port):
    reason = "refused"
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            try:
                sock.connect((host, port))
            except OSError as error:
                reason = error.strerror or type(error).__name__
                continue
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", sock.fileno()))]
            channel.sendmsg([b"ok"], rights)
            return
    channel.send(b"no " + reason.encode())
channel.send(b"ready")
while True:
    request = channel.recv(16)
    if not request:
        break
    if request == b"L":
        channel.send(",".join(map(str, listening())).encode())
    elif len(request) == 3 and request[:1] == b"C":
        connect(struct.unpack("!H", request[1:])[0])
"""
"""The helper that runs inside one network namespace (argv: the namespace's fd, the socket pair's fd)."""

TIMEOUT = 10.0
MAX_NAMESPACES = 8
"""The most network namespaces of one sandbox that get a helper: code could make many (``unshare -rn``), and each
helper is a process of the app's; the sandbox's first processes (its kernels, its commands) come first."""


class PortClosed(SandboxError):
    """Nothing in the sandbox listens on the port (any more)."""


def valid_port(port: object) -> int:
    """The port number itself when it is an int from 1 to 65535, else :class:`ValueError`."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"Not a TCP port: {port!r}")
    return port


class NamespaceDoor:
    """The helper process inside one network namespace.

    Args:
        net_fd: An open descriptor of the namespace (``/proc/PID/ns/net``); the helper gets its own copy.

    """

    def __init__(self, net_fd: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._channel = ours
        self._lock = threading.Lock()
        argv = [sys.executable, "-I", "-S", "-c", DOOR_CODE, str(net_fd), str(theirs.fileno())]
        try:
            self.process = subprocess.Popen(argv, pass_fds=(net_fd, theirs.fileno()), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        ours.settimeout(TIMEOUT)
        try:
            ready = ours.recv(16)
        except OSError:
            ready = b""
        if ready != b"ready":
            self.close()
            raise SandboxError("Could not enter the sandbox's network namespace.")

    def ports(self) -> list[int]:
        """The TCP ports listening on the namespace's loopback (or all addresses), sorted."""
        with self._lock:
            self._channel.send(b"L")
            answer = self._channel.recv(65536).decode()
        return [int(port) for port in answer.split(",") if port]

    def connect(self, port: int) -> socket.socket:
        """A socket connected to ``port`` on the namespace's loopback.

        Raises:
            PortClosed: When nothing listens there.

        """
        request = b"C" + struct.pack("!H", valid_port(port))
        with self._lock:
            self._channel.send(request)
            message, ancillary, _flags, _address = self._channel.recvmsg(256, socket.CMSG_SPACE(4))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and message == b"ok":
                connected = socket.socket(fileno=struct.unpack("i", data[:4])[0])
                connected.settimeout(None)  # the helper's timeout made it non-blocking
                return connected
        raise PortClosed(f"Nothing in the sandbox listens on port {port} ({message[3:].decode(errors='replace')}).")

    @property
    def alive(self) -> bool:
        """Whether the helper still runs."""
        return self.process.poll() is None

    def close(self) -> None:
        """End the helper (closing its socket ends its loop; a kill makes sure)."""
        with contextlib.suppress(OSError):
            self._channel.close()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _own_namespace() -> int:
    return os.stat("/proc/self/ns/net").st_ino


class SandboxPorts:
    """The listening ports of one sandbox's servers, and connections to them.

    Args:
        process_ids: The host ids of the sandbox's processes now (its cgroup's); a process found there is used
            only if it is still there once its namespace is open.

    """

    def __init__(self, process_ids: Callable[[], set[int]]) -> None:
        self.process_ids = process_ids
        self.plumbing: set[int] = set()  # ports the sandbox's kernels bound while starting: no server's
        self.starting: set[int] | None = None  # while a kernel starts: the ports that listened before it began
        self._doors: dict[int, NamespaceDoor] = {}
        self._lock = threading.Lock()
        self.closed = False

    def _open_namespaces(self) -> dict[int, int]:
        """Descriptors of the sandbox's network namespaces other than the app's own, by inode (caller closes)."""
        own, opened, inodes = _own_namespace(), dict[int, int](), set[int]()
        for pid in sorted(self.process_ids()):
            try:
                fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            inode = os.fstat(fd).st_ino
            if inode in inodes or inode == own or len(inodes) >= MAX_NAMESPACES:
                os.close(fd)
                continue
            inodes.add(inode)
            opened[pid] = fd
        still = self.process_ids()  # a pid that left (and maybe went to another process) is not trusted
        found: dict[int, int] = {}
        for pid, fd in opened.items():
            inode = os.fstat(fd).st_ino
            if inode == own or inode in found or pid not in still:
                os.close(fd)
            else:
                found[inode] = fd
        return found

    def _refresh(self) -> list[NamespaceDoor]:
        """The doors of the namespaces the sandbox has now (new ones opened, those gone closed)."""
        if self.closed:
            return []
        spaces = self._open_namespaces()
        try:
            for inode in [inode for inode in self._doors if inode not in spaces or not self._doors[inode].alive]:
                self._doors.pop(inode).close()
            for inode, fd in spaces.items():
                if inode not in self._doors:
                    self._doors[inode] = NamespaceDoor(fd)
        finally:
            for fd in spaces.values():
                os.close(fd)
        return [self._doors[inode] for inode in sorted(self._doors)]

    def listening(self) -> list[int]:
        """The TCP ports the sandbox's servers listen on, sorted (empty when it has no namespace of its own)."""
        ports = self.bound()
        starting = self.starting
        if starting is not None:  # a port that appears now may be the kernel's own: not yet known
            ports &= starting
        return sorted(ports - self.plumbing)

    def bound(self) -> set[int]:
        """Every TCP port something in the sandbox listens on, the kernels' own included."""
        with self._lock:
            doors = self._refresh()
        ports: set[int] = set()
        for door in doors:
            with contextlib.suppress(OSError):
                ports.update(door.ports())
        return ports

    def connect(self, port: int) -> socket.socket:
        """A socket connected to the sandbox's server on ``port`` (the first namespace where one listens).

        Raises:
            ValueError: If ``port`` is no TCP port number.
            PortClosed: When nothing in the sandbox listens there.

        """
        valid_port(port)
        with self._lock:
            known = [] if self.closed else [door for door in self._doors.values() if door.alive]
        for door in known:  # the namespaces seen last time first: no look at the sandbox's processes
            with contextlib.suppress(OSError, SandboxError):
                return door.connect(port)
        with self._lock:
            doors = [door for door in self._refresh() if door not in known]
        for door in doors:
            with contextlib.suppress(OSError, SandboxError):
                return door.connect(port)
        raise PortClosed(f"Nothing in the sandbox listens on port {port}.")

    def close(self) -> None:
        """End every helper."""
        with self._lock:
            self.closed = True
            for door in self._doors.values():
                door.close()
            self._doors.clear()


@contextlib.contextmanager
def kernel_starting(sandbox: object) -> Iterator[None]:
    """Around a kernel's start: the ports that appear meanwhile are the kernel's own, never offered as a preview.

    ipykernel listens on a loopback port of its own (besides the sockets it is given); without this, every
    sandbox that ran Python would seem to serve an app. While the kernel starts, only the ports that listened
    before count: a side panel that looks meanwhile must not offer (or later call stopped) the kernel's port.
    """
    ports = sandbox_ports(sandbox)
    before = set(_listening(ports))
    if ports is not None:
        ports.starting = before
    try:
        yield
    finally:
        if ports is not None:
            with contextlib.suppress(OSError):
                ports.plumbing.update(ports.bound() - before)
            ports.starting = None


def _listening(ports: SandboxPorts | None) -> list[int]:
    try:
        return ports.listening() if ports is not None else []
    except OSError:
        return []


def sandbox_ports(sandbox: object) -> SandboxPorts | None:
    """The ports object of a local sandbox (made once per sandbox), or None for a sandbox without one (AgentCore).

    Args:
        sandbox: A session's sandbox.

    """
    limits = getattr(getattr(sandbox, "isolation", None), "limits", None)
    if getattr(sandbox, "closed", False):
        _forget(id(sandbox))
        return None
    if limits is None or not getattr(getattr(sandbox, "isolation", None), "use_bwrap", False):
        return None  # without bubblewrap the sandbox shares the host's network: no namespace of its own
    with _PORTS_LOCK:
        ports = _PORTS.get(id(sandbox))
        if ports is None or ports.closed:
            ports = SandboxPorts(limits.process_ids)
            _PORTS[id(sandbox)] = ports
            weakref.finalize(sandbox, _forget, id(sandbox))
        return ports


_PORTS: dict[int, SandboxPorts] = {}
_PORTS_LOCK = threading.Lock()


def close_ports(sandbox: object) -> None:
    """End the helpers of a sandbox that closes (its namespaces go with its processes)."""
    _forget(id(sandbox))


def _forget(key: int) -> None:
    with _PORTS_LOCK:
        ports = _PORTS.pop(key, None)
    if ports is not None:
        ports.close()
