"""The code that saves and restores Python variables, run inside the kernel (see :mod:`core.sandbox.local.snapshot`).

It runs silently in the user's kernel, so it defines one function with a ``__ci_`` name, calls it and deletes it:
the user's namespace is left as it was. Paths are the sandbox's own (``/tmp/...`` under bubblewrap).
"""

from __future__ import annotations

# Runs in the kernel (silently): pickles every user variable into ``folder`` and writes the manifest.
SAVE_CODE = r"""
def __ci_save_variables(folder, per_variable, total):
    import io, json, os, re, socket, types
    import cloudpickle

    class TooBig(Exception):
        pass

    class Capped:
        def __init__(self, handle, cap):
            self.handle, self.cap, self.size = handle, cap, 0

        def write(self, data):
            self.size += memoryview(data).nbytes
            if self.size > self.cap:
                raise TooBig()
            return self.handle.write(data)

    def unfit(value):
        if isinstance(value, (io.BytesIO, io.StringIO)):
            return ""
        if isinstance(value, io.IOBase):
            return "an open file"
        if isinstance(value, socket.socket):
            return "a network connection (socket)"
        if isinstance(value, (types.GeneratorType, types.AsyncGeneratorType)):
            return "a generator, which cannot go on in another process"
        if isinstance(value, types.CoroutineType):
            return "a coroutine"
        return ""

    known = [
        ("TextIOWrapper|Buffered|FileIO|pickle files", "it holds an open file"),
        ("socket|SSL", "it holds a network connection"),
        ("generator", "it holds a generator"),
        ("lock", "it holds a thread lock"),
    ]

    def explain(exc):
        text = f"{type(exc).__name__}: {exc}"
        for pattern, reason in known:
            if re.search(pattern, text):
                return reason
        return f"it cannot be saved: {text[:150]}"

    shell = get_ipython()
    hidden = set(shell.user_ns_hidden)
    os.makedirs(folder, mode=0o700)
    saved, aliases, modules, lost, seen, used = [], {}, {}, {}, {}, 0
    for name, value in list(shell.user_ns.items()):
        if name.startswith("_") or name in hidden:
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        if id(value) in seen:
            aliases[name] = seen[id(value)]
            continue
        reason = unfit(value)
        if reason:
            lost[name] = reason
            continue
        path, cap = os.path.join(folder, f"{len(saved)}.pickle"), max(min(per_variable, total - used), 0)
        try:
            with open(path, "wb") as handle:
                writer = Capped(handle, cap)
                cloudpickle.dump(value, writer, protocol=5)
        except TooBig:
            limit = per_variable // 2**20
            lost[name] = (f"larger than {limit:,} MB, the most kept per variable" if cap == per_variable
                          else "saving it would pass your disk quota")
        except Exception as exc:
            lost[name] = explain(exc)
        else:
            saved.append([name, os.path.basename(path)])
            seen[id(value)] = name
            used += writer.size
            continue
        if os.path.exists(path):
            os.remove(path)
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump({"saved": saved, "aliases": aliases, "modules": modules, "lost": lost}, handle)

__ci_save_variables({folder!r}, {per_variable!r}, {total!r})
del __ci_save_variables
"""

# Runs in the new kernel (silently): imports the modules again, loads the pickles, writes what came back.
RESTORE_CODE = r"""
def __ci_restore_variables(folder):
    import importlib, json, os, pickle, types

    namespace = get_ipython().user_ns

    def rebind(function):
        new = types.FunctionType(
            function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
        )
        new.__kwdefaults__, new.__qualname__ = function.__kwdefaults__, function.__qualname__
        new.__dict__.update(function.__dict__)
        new.__annotations__, new.__doc__ = function.__annotations__, function.__doc__
        return new

    def ours(value):
        return getattr(value, "__module__", None) == "__main__"

    def rebind_class(cls):
        for attribute, member in list(vars(cls).items()):
            if isinstance(member, types.FunctionType) and ours(member):
                setattr(cls, attribute, rebind(member))

    def settle(value):
        if isinstance(value, types.FunctionType) and ours(value):
            return rebind(value)
        for cls in (value, type(value)):
            if isinstance(cls, type) and ours(cls):
                rebind_class(cls)
        return value

    with open(os.path.join(folder, "manifest.json")) as handle:
        manifest = json.load(handle)
    kept, lost = [], dict(manifest.get("lost", {}))
    for name, module in manifest.get("modules", {}).items():
        try:
            namespace[name] = importlib.import_module(module)
            kept.append(name)
        except Exception as exc:
            lost[name] = f"the module {module} could not be imported again: {type(exc).__name__}"
    for name, file in manifest.get("saved", []):
        try:
            with open(os.path.join(folder, file), "rb") as handle:
                namespace[name] = settle(pickle.load(handle))
            kept.append(name)
        except Exception as exc:
            lost[name] = f"it could not be loaded again: {type(exc).__name__}: {str(exc)[:150]}"
    for name, target in manifest.get("aliases", {}).items():
        if target in kept:
            namespace[name] = namespace[target]
            kept.append(name)
        else:
            lost[name] = f"it was the same object as {target}, which could not be kept"
    with open(os.path.join(folder, "restored.json"), "w") as handle:
        json.dump({"kept": kept, "lost": lost}, handle)

__ci_restore_variables({folder!r})
del __ci_restore_variables
"""


def save_code(folder: str, per_variable: int, total: int) -> str:
    """The code that saves the kernel's variables into ``folder`` (a path as the sandbox sees it)."""
    return (
        SAVE_CODE.replace("{folder!r}", repr(folder))
        .replace("{per_variable!r}", repr(int(per_variable)))
        .replace("{total!r}", repr(int(total)))
    )


def restore_code(folder: str) -> str:
    """The code that loads the variables saved in ``folder`` (a path as the sandbox sees it)."""
    return RESTORE_CODE.replace("{folder!r}", repr(folder))
