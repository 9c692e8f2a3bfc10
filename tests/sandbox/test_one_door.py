"""Only the one door (``core/sandbox/local/files.py``) touches files by path in a sandbox's folders.

Every other call that opens, lists, writes, renames or removes by path is counted per module and must be in
:data:`HOST_ONLY`, which says why the folders that module touches are out of the sandbox's reach. A new call
fails this test: route it through ``SandboxFolder`` (or a helper of that module), or add it here with its reason.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOOR = "core/sandbox/local/files.py"
OS_CALLS = {"open", "remove", "unlink", "rename", "replace", "walk", "scandir", "listdir", "rmdir", "mkdir", "makedirs"}
SHUTIL_CALLS = {"rmtree", "copy", "copy2", "copyfile", "copytree", "move"}
PATH_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "unlink", "rmdir", "mkdir", "iterdir", "rglob"}
INSIDE = ("core/sandbox/local/snapshot_code.py", "core/files/preview_worker.py", "core/sandbox/agentcore/")
"""Code that runs inside a sandbox (the kernel's snapshot code, the preview worker) or an AgentCore microVM."""

# Module -> file calls by path it makes, each in a folder the sandbox cannot write.
HOST_ONLY = {
    "core/chat/transcript.py": 2,  # a conversation's transcript, in the session folder beside the sandbox's
    "core/files/downloads.py": 4,  # the server's downloads folder (its files, made and removed by the server)
    "core/files/objects.py": 5,  # conversation storage in the data folder
    "core/files/uploads.py": 5,  # ZIP staging beside the sandbox (mkdtemp), and the folder itself
    "core/mcp/config.py": 1,  # the operator's MCP servers file (INTERPRETER_MCP_SERVERS)
    "core/mcp/connection.py": 1,  # /dev/null for a stdio server's stderr
    "core/models/choice.py": 5,  # the Settings page's model.json
    "core/models/scripted.py": 1,  # the scripted model's steps file, named by the operator
    "core/sandbox/local/certificates.py": 3,  # the operator's CA file, the system's; the bundle in the runtime folder
    "core/sandbox/local/isolation.py": 4,  # session folders' creation; identity files in the host-only runtime
    "core/sandbox/local/jobs.py": 1,  # /proc/<pid>/task/<pid>/children of a background command's bubblewrap
    "core/sandbox/local/kernel.py": 4,  # fresh files in the host-only runtime folder (O_EXCL | O_NOFOLLOW)
    "core/sandbox/local/limits.py": 27,  # cgroup files
    "core/sandbox/local/network.py": 1,  # the host's /etc/resolv.conf
    "core/sandbox/local/packages.py": 5,  # the admin packages' layer (read-only in every sandbox)
    "core/sandbox/local/pool.py": 5,  # the pool's own folders, renamed whole (their contents go through the door)
    "core/sandbox/local/ports.py": 1,  # /proc/<pid>/ns/net of the sandbox's processes (procfs, not its folders)
    "core/sandbox/local/r_kernel.py": 2,  # /proc and /proc/<pid>/stat (procfs), to find the R process to interrupt
    "core/sandbox/local/sandbox.py": 1,  # the session's cgroup pids.events
    "core/sandbox/local/snapshot.py": 5,  # the session's variables/ folder and its marker, beside the sandbox's
    "core/web/privacy.py": 1,  # the data folder itself
    "core/workspace/local.py": 8,  # the workspace folder, never bound into a sandbox
}


def _file_calls(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            count += 1
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else ""
            if (
                (owner == "os" and func.attr in OS_CALLS)
                or (owner == "shutil" and func.attr in SHUTIL_CALLS)
                or (owner not in ("os", "shutil") and func.attr in PATH_METHODS)
            ):
                count += 1
    return count


def test_only_the_one_door_touches_sandbox_folders_by_path() -> None:
    found: Counter[str] = Counter()
    for path in sorted([ROOT / "app.py", *(ROOT / "core").rglob("*.py"), *(ROOT / "components").rglob("*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name == DOOR or name.startswith(INSIDE):
            continue
        calls = _file_calls(ast.parse(path.read_text()))
        if calls:
            found[name] = calls
    unexpected = {name: count for name, count in found.items() if count > HOST_ONLY.get(name, 0)}
    assert not unexpected, (
        f"New file calls by path outside {DOOR}: {unexpected}. Go through SandboxFolder, or add the module to "
        "HOST_ONLY with the reason its folders are out of the sandbox's reach."
    )
