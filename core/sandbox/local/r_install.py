"""Whether this machine can run R in its sandboxes: R itself and its Jupyter kernel, IRkernel."""

from __future__ import annotations

import functools
import shutil
import subprocess

R_PACKAGES_HINT = "sudo apt-get install --no-install-recommends r-base-core r-cran-irkernel r-cran-ggplot2"


@functools.cache
def r_missing() -> str:
    """Why R cannot run here, in plain words (``""`` when R and IRkernel are installed)."""
    r = shutil.which("R")
    if r is None:
        return (
            "R is not installed on this server, so language='r' cannot run. "
            f"The operator can add it with: {R_PACKAGES_HINT}"
        )
    probe = [r, "--no-echo", "--vanilla", "-e", 'cat(nzchar(system.file(package = "IRkernel")))']
    try:
        answer = subprocess.run(probe, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        answer = ""
    if answer.strip() != "TRUE":
        return (
            "R is installed on this server but its Jupyter kernel (IRkernel) is not, so language='r' cannot run. "
            f"The operator can add it with: {R_PACKAGES_HINT}"
        )
    return ""
