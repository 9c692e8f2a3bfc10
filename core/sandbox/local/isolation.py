"""How sandbox processes are isolated: bubblewrap, a private network, a clean environment, limits.

Every process a local sandbox starts (the Python kernel, a shell command, a Deno run) is built by
:meth:`Isolation.command`. With bubblewrap the process sees the system read-only, its session's
folders read-write (the sandbox root at ``/sandbox``, a home and a ``/tmp`` of its own), nothing
of other sessions, of the app's folder or of the host's home, and none of the host's environment.
Without bubblewrap (``isolation="none"``, or ``"auto"`` where it cannot run) processes get the
clean environment and the limits only, and :class:`IsolationReport` says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from core.errors import SandboxError
from core.sandbox.local.allowlist import parse_headers
from core.sandbox.local.certificates import CA_BUNDLE_INSIDE, CA_VARIABLES, write_ca_bundle
from core.sandbox.local.limits import ResourceLimits
from core.sandbox.local.network import PrivateNetwork
from core.sandbox.local.packages import LAYER_MOUNT, LayerState, layer_for
from core.sandbox.local.r_install import r_missing
from core.text import spoken_duration

SANDBOX_ROOT = "/sandbox"
SANDBOX_HOME = "/home/sandbox"
SANDBOX_TMP = "/tmp"
RUNTIME_DIR = "/run/kernel"
SANDBOX_UID = 1000

# Only what programs need from /etc: no shadow files, no private keys, no host secrets (pip's configuration may
# hold a private index's credentials, so it stays out).
ETC_ENTRIES = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "fonts",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "protocols",
    "R",
    "services",
    "ssl/certs",
    "ssl/openssl.cnf",
    "timezone",
)


@dataclass(frozen=True)
class IsolationReport:
    """What protects the host and other sessions from this sandbox, in plain words.

    Attributes:
        mechanism: ``"bubblewrap"`` or ``"reduced"`` (limits and a clean environment only).
        network: How the network is set up.
        limits: Each limit in force and what enforces it.
        warnings: What is weaker than the defaults promise, for the UI to show.
        packages: The admin packages every sandbox sees (see ``core/sandbox/local/packages.py``).
        persists: What the sandbox keeps between calls (variables, files, packages, processes), for the tool
            descriptions and the side panel.

    """

    mechanism: str
    network: str
    limits: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    packages: str = ""
    persists: str = ""

    @property
    def reduced(self) -> bool:
        """Whether isolation is weaker than bubblewrap gives (an AgentCore microVM is not weaker)."""
        return self.mechanism not in ("bubblewrap", "agentcore")


@dataclass(frozen=True)
class Bind:
    """A host path one sandboxed process sees at ``inside``."""

    host: Path
    inside: str
    writable: bool

    def args(self) -> list[str]:
        """The bubblewrap arguments that make it so."""
        return ["--bind" if self.writable else "--ro-bind", str(self.host), self.inside]


@dataclass(frozen=True)
class SessionDirs:
    """The host folders of one session's sandbox."""

    root: Path
    home: Path
    tmp: Path
    runtime: Path

    def create(self) -> None:
        """Create the folders that do not exist yet."""
        for folder in (self.root, self.home, self.tmp, self.runtime):
            folder.mkdir(parents=True, exist_ok=True)


def system_mounts(etc_entries: tuple[str, ...]) -> list[str]:
    """Bubblewrap arguments for a read-only view of the system: ``/usr``, ``/lib*``, ``/bin`` and ``etc_entries``."""
    args: list[str] = []
    for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for entry in etc_entries:
        path = Path("/etc") / entry
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


@functools.cache
def bubblewrap_works() -> bool:
    """Whether bubblewrap is installed and can create the namespaces the sandbox needs."""
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_LOGIN_CONFIGURED = threading.Event()


def isolation_refusal(settings: Settings, *, login: bool) -> str:
    """Why the app must not run sandboxes for other people here (``""`` when it may).

    With a login (or ``INTERPRETER_ALLOW_ANONYMOUS``) the app serves people other than its operator; then
    ``INTERPRETER_ISOLATION=auto`` does not fall back to reduced isolation where bubblewrap cannot run.

    Args:
        settings: The isolation mode and ``allow_anonymous``.
        login: Whether a login is configured.

    """
    if settings.sandbox_backend != "local" or settings.isolation != "auto" or not (login or settings.allow_anonymous):
        return ""
    if bubblewrap_works():
        return ""
    served = "has a login" if login else "allows anonymous access"
    return (
        f"Sandboxes do not start: this app {served}, so it serves other people, and bubblewrap cannot run "
        "here, so their code could read this machine's files and keys. Install bubblewrap "
        "('sudo apt-get install bubblewrap') and allow unprivileged user namespaces (sysctl "
        "user.max_user_namespaces above 0, and on Debian kernel.unprivileged_userns_clone=1), then restart "
        "the app; or set INTERPRETER_ISOLATION=none to accept reduced isolation on purpose."
    )


def note_login_configured(configured: bool) -> None:
    """Tell the local sandbox whether people log in to this app; the app calls this once when it starts.

    With a login (or ``INTERPRETER_ALLOW_ANONYMOUS``) the app serves people other than its operator, so
    ``INTERPRETER_ISOLATION=auto`` refuses to start sandboxes where bubblewrap cannot run instead of falling back
    to reduced isolation.

    Args:
        configured: Whether a login is configured (``[auth]`` in Streamlit's secrets).

    """
    if configured:
        _LOGIN_CONFIGURED.set()
    else:
        _LOGIN_CONFIGURED.clear()


def python_prefixes() -> list[str]:
    """Folders the app's Python needs, outside /usr: the virtualenv and the interpreter it came from."""
    prefixes = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    return sorted(p for p in prefixes if not p.startswith("/usr/"))


class Isolation:
    """Builds the command lines of one session's sandbox processes.

    Args:
        settings: The app settings (network, limits, isolation mode).
        dirs: The session's folders.
        sandbox_id: A unique name used for the session's cgroup.

    """

    def __init__(self, settings: Settings, dirs: SessionDirs, sandbox_id: str) -> None:
        self.settings = settings
        self.dirs = dirs
        self.use_bwrap = self._choose_bwrap(settings)
        self.limits = ResourceLimits(settings, sandbox_id)
        self.network = PrivateNetwork(
            settings.sandbox_network,
            enabled=self.use_bwrap,
            allowed=settings.sandbox_allowed_networks,
            domains=settings.sandbox_allowed_domains,
            headers=self._domain_headers(settings),
        )
        self.resolv_conf = dirs.runtime / "resolv.conf"
        self.resolv_conf.write_text(self.network.resolv_conf())
        self._write_identity_files()
        self.ca_bundle = write_ca_bundle(settings.ca_bundle, dirs.runtime) if settings.ca_bundle else None
        self.binds: list[Bind] = []
        """Host paths every sandbox process sees (the CA bundle; a test adds an emulated mount)."""
        if self.ca_bundle is not None:
            self.binds.append(Bind(self.ca_bundle, CA_BUNDLE_INSIDE, writable=False))
        self.layer = layer_for(settings)
        self.layer.ensure()

    @staticmethod
    def _domain_headers(settings: Settings) -> dict[str, dict[str, str]]:
        """The secret headers per host; a wrong setting stops the sandbox with a message that shows no value.

        (Checked here, not in :class:`Settings`: pydantic's errors quote the value they refuse.)
        """
        try:
            return parse_headers(settings.sandbox_domain_headers.get_secret_value())
        except ValueError as exc:
            raise SandboxError(f"INTERPRETER_SANDBOX_DOMAIN_HEADERS: {exc}.") from None

    @staticmethod
    def _choose_bwrap(settings: Settings) -> bool:
        if settings.isolation == "none":
            return False
        works = bubblewrap_works()
        if settings.isolation == "bubblewrap" and not works:
            raise SandboxError(
                "INTERPRETER_ISOLATION is 'bubblewrap' but bubblewrap cannot run here. Install it with "
                "'sudo apt-get install bubblewrap' (and allow unprivileged user namespaces), or set "
                "INTERPRETER_ISOLATION=auto to run with reduced isolation."
            )
        refusal = isolation_refusal(settings, login=_LOGIN_CONFIGURED.is_set())
        if refusal:
            raise SandboxError(refusal)
        return works

    @property
    def packages(self) -> LayerState:
        """The admin packages' layer as it stands now (processes started once it is ready see it)."""
        return self.layer.state()

    @property
    def root_in_sandbox(self) -> str:
        """The sandbox root as the sandboxed code sees it."""
        return SANDBOX_ROOT if self.use_bwrap else str(self.dirs.root)

    def kernel_binds(self, sockets: Path, connection_file: Path) -> tuple[tuple[Bind, ...], str, str]:
        """How a kernel sees its own sockets folder (writable) and connection file (read-only).

        The runtime folder itself stays out of the sandbox's reach: the host writes the connection files and
        the kernel's log there, and sandboxed code could otherwise swap them for links.

        Returns:
            The binds, the sockets folder inside, and the connection file inside.

        """
        if not self.use_bwrap:
            return (), str(sockets), str(connection_file)
        inner_file = f"{RUNTIME_DIR}-connection.json"
        binds = (Bind(sockets, RUNTIME_DIR, writable=True), Bind(connection_file, inner_file, writable=False))
        return binds, RUNTIME_DIR, inner_file

    def environment(self) -> dict[str, str]:
        """The whole environment of sandbox processes: nothing is inherited from the host."""
        home = SANDBOX_HOME if self.use_bwrap else str(self.dirs.home)
        tmp = SANDBOX_TMP if self.use_bwrap else str(self.dirs.tmp)
        packages = f"{home}/.packages"
        venv_bin = os.path.join(sys.prefix, "bin")
        layer = self._layer_in_sandbox()
        layer_site, layer_bin = (f":{layer}/{self.packages.site}", f"{layer}/bin:") if layer else ("", "")
        env = {
            "PATH": f"{packages}/bin:{layer_bin}{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": tmp,
            "USER": "sandbox",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": packages + layer_site,
            "PIP_TARGET": packages,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_WARN_SCRIPT_LOCATION": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{home}/.cache/matplotlib",
            "PLOTLY_RENDERER": "plotly_mimetype",
            "DENO_DIR": f"{home}/.cache/deno",
            "DENO_NO_UPDATE_CHECK": "1",
            "R_LIBS_USER": f"{home}/.R/library",
            "NO_COLOR": "1",
            "SANDBOX_ROOT": self.root_in_sandbox,
        }
        if self.network.offline or self.settings.sandbox_network == "none":
            env.update({"PIP_RETRIES": "0", "PIP_TIMEOUT": "3"})
        env.update(self.network.environment())
        if self.ca_bundle is not None:
            env.update(dict.fromkeys(CA_VARIABLES, CA_BUNDLE_INSIDE if self.use_bwrap else str(self.ca_bundle)))
        return env

    def _layer_in_sandbox(self) -> str:
        """Where sandbox processes see the admin packages' layer (``""`` when there is none ready)."""
        prefix = self.packages.prefix
        if prefix is None:
            return ""
        return LAYER_MOUNT if self.use_bwrap else str(prefix)

    def command(self, argv: list[str], *, memory_rlimit: bool = True, binds: tuple[Bind, ...] = ()) -> list[str]:
        """Wrap a command so that it runs inside this session's sandbox.

        Args:
            argv: The program and its arguments, as seen inside the sandbox.
            memory_rlimit: Whether to cap the address space (off for Deno, whose V8 reserves a huge one).
            binds: Host paths this process alone sees, each at its place inside (a kernel's sockets and
                connection file).

        Returns:
            The full command line to start on the host.

        """
        inner = self.limits.rlimit_prefix(memory_rlimit=memory_rlimit) + argv
        if not self.use_bwrap:
            return self.limits.cgroup_prefix() + inner
        extra = [arg for bind in binds for arg in bind.args()]
        return self.limits.cgroup_prefix() + self.network.prefix() + self._bwrap_args(extra) + ["--", *inner]

    def cwd(self) -> Path | None:
        """The working folder to start processes in (only needed without bubblewrap)."""
        return None if self.use_bwrap else self.dirs.root

    def _bwrap_args(self, extra: list[str]) -> list[str]:
        args = [
            "bwrap",
            "--unshare-user",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        if self.network.unshare_with_bwrap:
            args.append("--unshare-net")
        args += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
        args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        if os.geteuid() == 0 or self.network.root_inside:  # root, of the host or of the network's user namespace
            args += ["--cap-drop", "ALL"]
        args += system_mounts(ETC_ENTRIES)
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--bind", str(self.dirs.root), SANDBOX_ROOT]
        args += ["--bind", str(self.dirs.home), SANDBOX_HOME]
        args += ["--bind", str(self.dirs.tmp), SANDBOX_TMP]
        # After /tmp and /home: the app's virtualenv may live below either (a checkout in /tmp, say).
        for prefix in python_prefixes():
            args += ["--ro-bind", prefix, prefix]
        if self.packages.prefix is not None:
            args += ["--ro-bind", str(self.packages.prefix), LAYER_MOUNT]
        args += ["--ro-bind", str(self.resolv_conf), "/etc/resolv.conf"]
        args += ["--ro-bind", str(self.dirs.runtime / "passwd"), "/etc/passwd"]
        args += ["--ro-bind", str(self.dirs.runtime / "group"), "/etc/group"]
        args += [arg for bind in self.binds for arg in bind.args()]
        args += extra
        args += ["--remount-ro", "/", "--chdir", SANDBOX_ROOT, "--clearenv"]
        for name, value in self.environment().items():
            args += ["--setenv", name, value]
        return args

    def _write_identity_files(self) -> None:
        passwd = self.dirs.runtime / "passwd"
        passwd.write_text(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{SANDBOX_HOME}:/bin/bash\n")
        (self.dirs.runtime / "group").write_text(f"sandbox:x:{SANDBOX_UID}:\n")

    def report(self) -> IsolationReport:
        """Describe what isolates this sandbox, for the UI and the README's promises."""
        warnings = list(self.limits.warnings) + list(self.network.warnings)
        if not self.use_bwrap:
            warnings.insert(
                0,
                "Reduced isolation: bubblewrap is not available, so sandbox code can read the host's files "
                "and reach its network. Install bubblewrap (sudo apt-get install bubblewrap) for full isolation.",
            )
        if self.packages.state == "failed":
            warnings.append(self.packages.message)
        return IsolationReport(
            mechanism="bubblewrap" if self.use_bwrap else "reduced",
            network=self.network.describe(),
            limits=self.limits.describe(),
            warnings=warnings,
            packages=self.packages.describe(),
            persists=self.persistence(),
        )

    def persistence(self) -> str:
        """What a local sandbox keeps between calls, said plainly (tool descriptions, the side panel)."""
        idle = self.settings.idle_timeout
        r = "" if r_missing() else " and R ones"
        lost = "JavaScript's" if not r else "JavaScript's and R's"
        return (
            f"Kept between calls: Python variables, and JavaScript/TypeScript ones (one Deno kernel for both){r}, "
            f"until the session sleeps after {spoken_duration(idle)} without use or its kernel restarts; Python's are "
            "then saved and "
            f"restored (those too large or not picklable are not), {lost} are lost. Files in the sandbox folder "
            "and packages installed with pip stay with the conversation. Processes a command leaves in the "
            "background end when that command ends (execute_command with background=true keeps one running)."
        )

    def start(self) -> None:
        """Set up what must exist before the first process (cgroup, network namespace)."""
        self.limits.create()
        self.network.start()

    def close(self) -> None:
        """Tear down the cgroup and the network namespace."""
        self.network.close()
        self.limits.remove()
