"""Admin packages: extra pip requirements for every sandbox, installed once into a shared read-only layer.

The setting ``sandbox_packages`` names requirements (``yfinance statsmodels==0.14.4``). They are installed once
per set of requirements, package index and Python (the layer's key is a hash of them) into
``<data_dir>/packages/<key>/``, a ``pip install --prefix`` tree: pip sees the app's virtualenv, so what it already
holds (numpy, pandas, ...) is not installed again. The install runs in a sandbox of its own (bubblewrap, the
public network, the usual limits), never in the app's process. Every sandbox started afterwards mounts the layer
read-only at :data:`LAYER_MOUNT` and finds it on ``PYTHONPATH`` after its session's own packages, so a
per-session ``pip install`` still wins and stays in that session.

The first sandbox that needs the layer waits for the install (the kernel pool, started with the app, usually
does that waiting). A failed install (the registry cannot be reached, say) is reported in plain words and tried
again after :data:`RETRY_SECONDS`; meanwhile sandboxes start without the layer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement

from core.errors import InterpreterError

if TYPE_CHECKING:
    from core.config import Settings
    from core.types import ExecutionResult

LAYER_MOUNT = "/opt/packages"
INSTALL_TIMEOUT = 1800.0
RETRY_SECONDS = 300.0
LAYER_FILE = "layer.json"
NETWORK_ERRORS = {
    "Connection refused": "the connection was refused",
    "Name or service not known": "its name could not be resolved",
    "Temporary failure in name resolution": "its name could not be resolved",
    "Network is unreachable": "the network is unreachable",
    "timed out": "it did not answer in time",
    "NewConnectionError": "no connection could be made",
    "ProxyError": "the proxy refused the connection",
    "SSLError": "the secure connection failed",
}
State = Literal["off", "installing", "ready", "failed"]


@dataclass(frozen=True)
class LayerState:
    """Where the admin packages stand.

    Attributes:
        state: ``off`` (none configured), ``installing``, ``ready`` or ``failed``.
        requirements: The requirements, as configured.
        message: For ``failed``: what went wrong and what happens now, in plain words.
        prefix: For ``ready``: the layer's folder on the host.
        site: For ``ready``: its ``site-packages`` folder, relative to ``prefix``.
        installed: For ``ready``: the distributions the layer added (``name version``); the rest of what the
            requirements need was already in the app's environment.

    """

    state: State
    requirements: tuple[str, ...] = ()
    message: str = ""
    prefix: Path | None = None
    site: str = ""
    installed: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """One line for the sandbox's environment box."""
        wanted = " ".join(self.requirements)
        if self.state == "ready":
            added = ", ".join(self.installed) or "nothing new: the app's environment had them"
            return f"Admin packages for every sandbox: {wanted} (installed: {added})"
        if self.state == "installing":
            return f"Admin packages for every sandbox: {wanted} (being installed)"
        if self.state == "failed":
            return f"Admin packages for every sandbox: {wanted} (not installed)"
        return "Admin packages: none (setting INTERPRETER_SANDBOX_PACKAGES)"


def parse_requirements(text: str) -> tuple[str, ...]:
    """The requirements of the setting: separated by spaces, commas between them are not allowed.

    Raises:
        InterpreterError: For an item that is not a requirement (or is a pip option), naming it.

    """
    items = tuple(text.split())
    for item in items:
        if item.startswith("-"):
            raise InterpreterError(
                f"INTERPRETER_SANDBOX_PACKAGES holds {item!r}, a pip option; only package requirements are allowed "
                "(set the index with INTERPRETER_PACKAGE_INDEX_URL)."
            )
        try:
            Requirement(item)
        except InvalidRequirement as error:
            raise InterpreterError(f"INTERPRETER_SANDBOX_PACKAGES: {item!r} is not a requirement ({error}).") from None
    return items


def layer_key(requirements: tuple[str, ...], index_url: str) -> str:
    """The layer's name: a hash of the requirements, the index and the Python that runs the sandboxes."""
    identity = json.dumps([list(requirements), index_url, sys.version, os.path.realpath(sys.prefix)])
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def explain_failure(result: ExecutionResult, requirements: tuple[str, ...], index_url: str) -> str:
    """Why pip could not install the requirements, in plain words, and what happens now."""
    output = f"{result.stdout}\n{result.stderr}"
    after = (
        f" Sandboxes start without {' '.join(requirements)}; the install is tried again when a sandbox starts "
        f"{RETRY_SECONDS / 60:.0f} minutes from now or later."
    )
    if result.stopped is not None:
        return (
            f"Installing the admin packages took longer than {INSTALL_TIMEOUT / 60:.0f} minutes and was stopped."
            + after
        )
    for marker, reason in NETWORK_ERRORS.items():
        if marker in output:
            return f"The package registry ({index_url or 'PyPI'}) could not be reached: {reason}." + after
    for line in output.splitlines():
        if "No matching distribution found for" in line:
            missing = line.split("found for", 1)[1].strip()
            return (
                f"pip found no release of {missing} for this Python ({sys.version.split()[0]}); check the name and "
                "version in INTERPRETER_SANDBOX_PACKAGES." + after
            )
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR")]
    detail = errors[-1] if errors else (output.strip().splitlines() or ["no output"])[-1]
    return f"pip could not install the admin packages: {detail[:300]}" + after


def _site_folder(prefix: Path) -> str:
    for pattern in ("lib/python*/site-packages", "local/lib/python*/dist-packages", "lib/python*/dist-packages"):
        for found in sorted(prefix.glob(pattern)):
            return str(found.relative_to(prefix))
    return f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def _installed(site: Path) -> tuple[str, ...]:
    names = {f"{dist.metadata['Name']} {dist.version}" for dist in metadata.distributions(path=[str(site)])}
    return tuple(sorted(names, key=str.lower))


class PackageLayer:
    """The admin packages of one data folder and one set of requirements (one per process: see :func:`layer_for`).

    Args:
        settings: The app settings (requirements, index, data folder, isolation).

    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index_url = settings.package_index_url
        self._failed_at = float("-inf")
        self._lock = threading.Lock()
        try:
            self.requirements = parse_requirements(settings.sandbox_packages)
        except InterpreterError as error:  # a bad setting: sandboxes start without the layer and say why
            self.requirements = tuple(settings.sandbox_packages.split())
            self._failed_at = float("inf")
            self._state = LayerState("failed", self.requirements, str(error))
        else:
            self._state = LayerState("off" if not self.requirements else "installing", self.requirements)
        self.folder = settings.data_dir.resolve() / "packages" / layer_key(self.requirements, self.index_url)

    def state(self) -> LayerState:
        """Where the layer stands now (never waits)."""
        return self._state

    def ensure(self) -> LayerState:
        """The ready layer, installing it first if needed (one install at a time; others wait for it)."""
        if self._state.state in ("off", "ready"):
            return self._state
        with self._lock:
            if self._state.state == "ready" or not time.monotonic() - self._failed_at >= RETRY_SECONDS:
                return self._state
            self._state = self._load() or self._install()
            if self._state.state == "failed":
                self._failed_at = time.monotonic()
            return self._state

    def _load(self) -> LayerState | None:
        """The layer an earlier run installed, if it is complete."""
        try:
            saved = json.loads((self.folder / LAYER_FILE).read_text())
        except (OSError, ValueError):
            return None
        return LayerState("ready", self.requirements, "", self.folder, saved["site"], tuple(saved["installed"]))

    def _install(self) -> LayerState:
        from core.sandbox.local.sandbox import (
            LocalSandbox,  # the installer is a sandbox (no import circle at load time)
        )

        self._state = LayerState("installing", self.requirements)
        staging = self.folder.parent / f".staging-{self.folder.name}-{secrets.token_hex(4)}"
        installer_settings = self.settings.model_copy(update={"sandbox_packages": "", "sandbox_network": "public"})
        installer = LocalSandbox(installer_settings, staging)
        try:
            installer.write_file("requirements.txt", "\n".join(self.requirements).encode() + b"\n")
            result = installer.run_command(self._pip_command(installer.isolation.root_in_sandbox), INSTALL_TIMEOUT)
        finally:
            installer.close()
        try:
            if not result.ok:
                return LayerState(
                    "failed", self.requirements, explain_failure(result, self.requirements, self.index_url)
                )
            return self._publish(installer.root / "prefix")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _pip_command(self, root: str) -> str:
        index = f" --index-url {shlex.quote(self.index_url)}" if self.index_url else ""
        return (
            f"env -u PIP_TARGET {shlex.quote(sys.executable)} -m pip install --prefix {shlex.quote(root + '/prefix')} "
            f"--no-input --disable-pip-version-check --no-warn-script-location --retries 1 --timeout 15{index} "
            f"-r {shlex.quote(root + '/requirements.txt')}"
        )

    def _publish(self, prefix: Path) -> LayerState:
        """Move a finished install into place (atomically) and describe it."""
        prefix.mkdir(parents=True, exist_ok=True)  # everything was already in the app's environment
        site = _site_folder(prefix)
        installed = _installed(prefix / site)
        (prefix / LAYER_FILE).write_text(
            json.dumps({"requirements": self.requirements, "site": site, "installed": installed})
        )
        with contextlib.suppress(OSError):  # another process published the same layer first: that one is used
            os.rename(prefix, self.folder)
        return self._load() or LayerState("failed", self.requirements, "The installed layer could not be kept.")


_LAYERS: dict[tuple[str, str, str], PackageLayer] = {}
_LAYERS_LOCK = threading.Lock()


def layer_for(settings: Settings) -> PackageLayer:
    """The process-wide layer of these settings' requirements (the same object for every sandbox)."""
    key = (str(settings.data_dir.resolve()), settings.sandbox_packages, settings.package_index_url)
    with _LAYERS_LOCK:
        if key not in _LAYERS:
            _LAYERS[key] = PackageLayer(settings)
        return _LAYERS[key]
