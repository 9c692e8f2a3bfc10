"""Code in the sandbox attacks the host's side: links planted and swapped while the host works on a path.

A thread in the kernel flips a folder ``d`` between a real folder and a link to ``/`` (or to a folder outside
every sandbox) as fast as it can, while each host-side operation runs a few hundred times on ``d/<victim>``.
Before the one door (``core/sandbox/local/files.py``) a read leaked a host file within 21-52 tries and a write
or remove hit one within 1-91. Victims must stay intact and their content must never come back, every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.errors import InterpreterError
from core.files.changes import ChangeTracker
from core.sandbox.local.snapshot import FOLDER, MANIFEST
from tests.conftest import make_zip
from tests.hostile import World

TRIES = 300
SECRET = b"HOST-SECRET-7f3a"

# The folder and the link trade places atomically (renameat2 with RENAME_EXCHANGE), so ``d`` is a link half
# of the time and never missing.
FLIPPER = """
import ctypes, os, threading
os.makedirs('/sandbox/d/sub', exist_ok=True)
open('/sandbox/d/sub/inside.txt', 'w').write('inside')
if os.path.lexists('/sandbox/d-link'):
    os.unlink('/sandbox/d-link')
os.symlink({target!r}, '/sandbox/d-link')
__flip_stop = threading.Event()
def __flip():
    swap = ctypes.CDLL(None, use_errno=True).renameat2
    while not __flip_stop.is_set():
        swap(-100, b'/sandbox/d', -100, b'/sandbox/d-link', 2)
threading.Thread(target=__flip, daemon=True).start()
"""


@pytest.fixture
def victims(tmp_path: Path) -> Path:
    """A folder outside every sandbox holding a secret file, a file to overwrite and one to delete."""
    folder = tmp_path / "victims"
    folder.mkdir()
    for name in ("secret.txt", "overwrite.txt", "delete.txt"):
        (folder / name).write_bytes(SECRET)
    return folder


@pytest.fixture
def flipping(world: World, victims: Path) -> Iterator[Callable[[str], None]]:
    """Starts the flipping thread in the session's kernel with a link target; stops it at the end."""

    def start(target: str) -> None:
        result = world.session.sandbox.execute(FLIPPER.format(target=target))
        assert result.error is None, result.error

    yield start
    world.session.sandbox.execute("__flip_stop.set()")


def _state(victims: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(victims.iterdir())}


def _attempt(action: Callable[[], object]) -> str:
    """Run one host-side operation; its result or refusal as text (refusals are expected, leaks are not)."""
    try:
        return repr(action())
    except (InterpreterError, OSError) as error:
        return str(error)


def test_reads_lists_and_downloads_never_leak_a_host_file(
    world: World, victims: Path, flipping: Callable[[str], None]
) -> None:
    flipping("/")
    sandbox, files = world.session.sandbox, world.tools["file_operations"]
    secret = f"d{victims}/secret.txt"
    operations = {
        "read": lambda: files(operation="read", paths=[secret]),
        "list": lambda: files(operation="list", paths=[f"d{victims}"]),
        "download": lambda: sandbox.open_file(secret).read(),
        "list_files": lambda: sandbox.list_files(f"d{victims}", recursive=True),
    }
    for name, action in operations.items():
        for _ in range(TRIES):
            shown = _attempt(action)
            assert SECRET.decode() not in shown and "overwrite.txt" not in shown, name
    assert _state(victims) == {name: SECRET for name in ("delete.txt", "overwrite.txt", "secret.txt")}


def test_writes_and_removes_never_touch_a_host_file(
    world: World, victims: Path, flipping: Callable[[str], None]
) -> None:
    flipping("/")
    sandbox, files = world.session.sandbox, world.tools["file_operations"]
    for _ in range(TRIES):
        _attempt(lambda: files(operation="write", content=[{"path": f"d{victims}/overwrite.txt", "text": "pwned"}]))
        _attempt(lambda: files(operation="remove", paths=[f"d{victims}/delete.txt"]))
        _attempt(lambda: sandbox.remove(f"d{victims}"))
        _attempt(lambda: sandbox.write_file(f"d{victims}/new.txt", b"pwned"))
    assert _state(victims) == {name: SECRET for name in ("delete.txt", "overwrite.txt", "secret.txt")}


def test_push_to_workspace_and_step_files_never_carry_a_host_file(
    world: World, victims: Path, flipping: Callable[[str], None]
) -> None:
    flipping("/")
    push = world.tools["ci_push_to_workspace"]
    for _ in range(TRIES // 3):
        _attempt(lambda: push(paths=[f"d{victims}/secret.txt"]))
        tracker = ChangeTracker(world.session.sandbox)
        for path in tracker.changed():  # the flipper may swap ``d`` between the listing and the read: a refusal
            shown = _attempt(lambda: world.session.sandbox.read_file(path))  # noqa: B023 (called at once)
            assert SECRET.decode() not in shown, path
    for info in world.session.workspace.list():
        assert world.session.workspace.read(info.path) != SECRET, info.path
    assert _state(victims)["secret.txt"] == SECRET


def test_unpacking_uploads_never_writes_through_a_swapped_link(
    world: World, victims: Path, flipping: Callable[[str], None]
) -> None:
    flipping(str(victims))
    planted = make_zip({"d/planted.txt": b"pwned", "d/sub/deeper.txt": b"pwned"})
    for _ in range(TRIES // 3):
        _attempt(lambda: world.session.preload("plant.zip", planted))
        _attempt(lambda: world.session.preload("planted.txt", b"pwned"))
    assert _state(victims) == {name: SECRET for name in ("delete.txt", "overwrite.txt", "secret.txt")}


def test_disk_usage_and_the_people_quota_never_walk_out_of_the_sandbox(
    world: World, victims: Path, flipping: Callable[[str], None]
) -> None:
    flipping("/")
    for _ in range(TRIES // 10):  # a walk of / would take seconds and count gigabytes
        assert world.session.sandbox.disk_usage() < 10 * 1024 * 1024
    assert _state(victims)["secret.txt"] == SECRET


def test_saved_variables_never_follow_links_planted_in_tmp(world: World, victims: Path) -> None:
    """The kernel writes its variables to /tmp: links planted there at every name the host reads or removes."""
    (victims / MANIFEST).write_text('{"kept": ["HOST_SECRET_NAME"], "lost": {}}')
    sandbox = world.session.sandbox
    planted = f"""
import os, threading
def plant():
    while True:
        for name in os.listdir('/tmp'):
            if name.startswith('.ci-'):
                try:
                    os.rename('/tmp/' + name, '/tmp/x' + name); os.symlink({str(victims)!r}, '/tmp/' + name)
                except OSError:
                    pass
threading.Thread(target=plant, daemon=True).start()
value = 42
"""
    assert sandbox.execute(planted).error is None
    sandbox.sleep()
    waiting = sandbox.variables.waiting()
    assert waiting is None or "HOST_SECRET_NAME" not in waiting.kept
    report = sandbox.restore_variables()
    assert report is None or "HOST_SECRET_NAME" not in report.kept
    assert sorted(path.name for path in victims.iterdir()) == sorted(
        ["delete.txt", "overwrite.txt", "secret.txt", MANIFEST]
    )
    assert (
        not (world.session.folder / FOLDER / "python" / "secret.txt").exists()
        or (world.session.folder / FOLDER / "python").is_symlink()
    )


def test_a_kernel_that_replaces_its_runtime_files_and_crashes_harms_nothing(world: World, victims: Path) -> None:
    sandbox = world.session.sandbox
    attack = f"""
import os
for folder in ('/run/kernel', '/run'):
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        for suffix in ('', '-kernel.json', '-client.json', '.log', '-kernel.log'):
            try:
                os.symlink({str(victims / "overwrite.txt")!r}, path + suffix + '.x')
                os.replace(path + suffix + '.x', path + suffix)
            except OSError:
                pass
os._exit(1)
"""
    for _ in range(3):
        sandbox.execute(attack)
        assert sandbox.execute("print(6 * 7)").stdout.strip() == "42"
    assert _state(victims) == {name: SECRET for name in ("delete.txt", "overwrite.txt", "secret.txt")}
    writable = sandbox.execute(
        "import os\nprint(sorted(p for p in ('/run/kernel-connection.json', '/etc/passwd', '/etc/resolv.conf') "
        "if os.access(p, os.W_OK)))"
    )
    assert writable.stdout.strip() == "[]"
