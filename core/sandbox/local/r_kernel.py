"""R in a local sandbox: IRkernel (Debian's ``r-cran-irkernel``), started inside the same bubblewrap sandbox as Python.

IRkernel speaks Jupyter over IPC sockets like ipykernel, so the host reaches it the same way. It takes no
``interrupt_request`` message, only SIGINT: the host sends that signal to the R process itself (found below the
sandbox's first process), which bubblewrap would not forward. The prelude makes base graphics and ggplot2
charts PNG outputs and data frames (and matrices) table JSON, as pandas' tables are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from typing import TYPE_CHECKING

from core.sandbox.local.kernel import JupyterKernel

if TYPE_CHECKING:
    from core.sandbox.local.isolation import Isolation

R_PROCESS_NAME = "R"
"""``/proc/<pid>/comm`` of R's binary (``/usr/bin/R`` is a shell script that execs it)."""

R_PRELUDE = r"""
local({
  table_mime <- "application/vnd.dataresource+json"
  field_type <- function(column) {
    if (is.logical(column)) "boolean"
    else if (is.integer(column) && !is.factor(column)) "integer"
    else if (is.numeric(column)) "number"
    else if (inherits(column, "Date")) "date"
    else if (inherits(column, "POSIXt")) "datetime"
    else "string"
  }
  table_json <- function(obj, ...) {
    if (!is.data.frame(obj) && !(is.matrix(obj) && length(dim(obj)) == 2L)) return(NULL)
    frame <- as.data.frame(utils::head(obj, 100L), stringsAsFactors = FALSE)
    names(frame) <- make.unique(ifelse(nzchar(names(frame)), names(frame), "V"))
    key <- if ("index" %in% names(frame)) "row" else "index"
    automatic <- is.integer(attr(obj, "row.names")) || is.null(rownames(obj))
    rows <- if (automatic) seq_len(nrow(frame)) else row.names(frame)
    frame <- cbind(stats::setNames(data.frame(rows, stringsAsFactors = FALSE), key), frame)
    fields <- lapply(names(frame), function(name) list(name = name, type = field_type(frame[[name]])))
    jsonlite::toJSON(
      list(schema = list(fields = fields, primaryKey = I(key)), data = frame),
      dataframe = "rows", na = "null", digits = NA, auto_unbox = TRUE, POSIXt = "ISO8601", factor = "string"
    )
  }
  mimes <- repr::mime2repr
  mimes[[table_mime]] <- table_json
  utils::assignInNamespace("mime2repr", mimes, "repr")
  options(
    jupyter.display_mimetypes = c("text/plain", table_mime, "image/png", "application/vnd.plotly.v1+json"),
    jupyter.plot_mimetypes = c("text/plain", "image/png"),
    repr.plot.width = 7, repr.plot.height = 5, repr.plot.res = 100,
    width = 120, warn = 1
  )
  library_path <- Sys.getenv("R_LIBS_USER")
  if (nzchar(library_path)) {
    dir.create(library_path, recursive = TRUE, showWarnings = FALSE)
    .libPaths(c(library_path, .libPaths()))
  }
  if (identical(unname(getOption("repos")["CRAN"]), "@CRAN@")) {
    options(repos = c(CRAN = "https://cloud.r-project.org"))
  }
})
"""


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's name and parent, from ``/proc/<pid>/stat`` (the host's procfs, not the sandbox's folders)."""
    with (
        contextlib.suppress(OSError, ValueError, IndexError),
        open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle,
    ):
        stat = handle.read()
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        return name, int(rest.split()[1])
    return None


def _descends_from(pid: int, root: int) -> bool:
    """Whether ``pid`` is ``root`` or one of its descendants now."""
    for _ in range(64):
        if pid == root:
            return True
        info = _stat(pid)
        if info is None or info[1] <= 1:
            return False
        pid = info[1]
    return False


def r_processes(root: int) -> list[int]:
    """The R processes among ``root`` and its descendants."""
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        info = _stat(int(name)) if name.isdigit() else None
        if info is not None:
            tree.setdefault(info[1], []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        info = _stat(pid)
        if info is not None and info[0] == R_PROCESS_NAME:
            found.append(pid)
    return found


def signal_r(root: int, number: int = signal.SIGINT) -> int:
    """Send a signal to the R processes below ``root``; returns how many got it.

    Each process is held by a pidfd before it is checked again (still R, still below ``root``), so a process id
    reused in between is never signalled.
    """
    sent = 0
    for pid in r_processes(root):
        try:
            handle = os.pidfd_open(pid)
        except OSError:
            continue  # gone already
        try:
            info = _stat(pid)
            if info is not None and info[0] == R_PROCESS_NAME and _descends_from(pid, root):
                signal.pidfd_send_signal(handle, number)
                sent += 1
        except OSError:
            pass
        finally:
            os.close(handle)
    return sent


class RKernel(JupyterKernel):
    """R (IRkernel): variables persist between runs; charts, data frames and errors are captured."""

    label = "R"
    socket_prefix = "r"
    prelude = R_PRELUDE

    def __init__(self, isolation: Isolation, output_limit: int, cancel: threading.Event | None = None) -> None:
        super().__init__(isolation, output_limit, cancel)
        self.r = shutil.which("R") or "R"

    def _argv(self, connection_file: str) -> list[str]:
        return [self.r, "--no-echo", "--no-save", "--no-restore", "-e", "IRkernel::main()", "--args", connection_file]

    def interrupt(self) -> None:
        """Send SIGINT to the R process (IRkernel stops the running code and keeps its variables)."""
        if self.client is None or self.process is None or not self.alive or self.interrupt_requested:
            return  # once per run, as for the other kernels
        self.interrupt_requested = True
        signal_r(self.process.pid)
