"""Code the host runs inside a sandbox's kernels: the Python prelude, the pool's warm-up, Deno's relay."""

# Runs once in every new kernel: matplotlib figures become PNG outputs where Jupyter would show them (at
# plt.show(), display(figure), a figure as the cell's value, and what is left open at the cell's end), whatever
# the backend; pandas tables also go out as table JSON; the usual libraries are imported ahead of time (into
# sys.modules only, so the user's namespace stays empty).
PRELUDE = r"""
def __ci_setup():
    import base64, importlib.machinery, io, sys, warnings
    from IPython import get_ipython
    from IPython.display import publish_display_data
    warnings.filterwarnings("ignore", message=".*non-interactive.*")

    displayed = set()  # figures shown by display() in this cell: not shown again at its end

    def png_of(figure):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()

    def png_of_displayed(figure):
        displayed.add(id(figure))
        return png_of(figure)

    def flush_figures(*_args, **_kwargs):
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        for number in plt.get_fignums():
            figure = plt.figure(number)
            if id(figure) in displayed:
                plt.close(figure)
                continue
            try:
                png = base64.b64encode(png_of(figure)).decode()
            except Exception as exc:
                print(f"Could not render figure {number}: {exc}", file=sys.stderr)
                continue
            finally:
                plt.close(figure)
            publish_display_data({"image/png": png, "text/plain": repr(figure)})

    def patch_pyplot(pyplot):
        pyplot.show = flush_figures
        get_ipython().display_formatter.formatters["image/png"].for_type_by_name(
            "matplotlib.figure", "Figure", png_of_displayed
        )

    class PyplotHook:
        def find_spec(self, name, path, target=None):
            if name != "matplotlib.pyplot":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                load = spec.loader.exec_module
                def exec_module(module):
                    load(module)
                    patch_pyplot(module)
                spec.loader.exec_module = exec_module
            return spec

    if "matplotlib.pyplot" in sys.modules:
        patch_pyplot(sys.modules["matplotlib.pyplot"])
    else:
        sys.meta_path.insert(0, PyplotHook())
    get_ipython().events.register("post_execute", flush_figures)
    get_ipython().events.register("post_execute", displayed.clear)
    for module in ("numpy", "pandas"):  # matplotlib.pyplot would add 23 MB to every idle session
        try:
            __import__(module)
        except ImportError:
            pass
    if "pandas" in sys.modules:
        sys.modules["pandas"].set_option("display.html.table_schema", True)
        sys.modules["pandas"].set_option("display.max_rows", 100)

__ci_setup()
del __ci_setup
"""

# Runs in pooled kernels only: the first chart of a conversation then takes a fraction of a second instead of
# the import (and, in a new home folder, matplotlib's font cache). It costs each pooled kernel's memory.
WARM_PRELUDE = r"""
def __ci_warm():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot
        matplotlib.pyplot.figure()
        matplotlib.pyplot.close("all")
    except ImportError:
        pass

__ci_warm()
del __ci_warm
"""


# Runs inside the sandbox: starts Deno's kernel on free TCP ports and relays the Unix sockets named in the
# IPC connection file to them. It exits with the kernel.
DENO_RELAY = r"""
import asyncio, json, os, socket, subprocess, sys

connection_file, deno, heap_mb = sys.argv[1:4]
info = json.load(open(connection_file))
channels = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


tcp = dict(info, transport="tcp", ip="127.0.0.1", **{name: free_port() for name in channels})
tcp_file = os.path.join(os.path.dirname(info["ip"]), "deno-tcp.json")  # the connection file is read-only
with open(tcp_file, "w") as handle:
    json.dump(tcp, handle)
environment = dict(os.environ, DENO_V8_FLAGS=f"--max-old-space-size={heap_mb}")
kernel = subprocess.Popen([deno, "jupyter", "--kernel", "--conn", tcp_file], env=environment)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def handler(port):
    async def handle(unix_reader, unix_writer):
        for _ in range(200):
            try:
                tcp_reader, tcp_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            unix_writer.close()
            return
        await asyncio.gather(pipe(unix_reader, tcp_writer), pipe(tcp_reader, unix_writer))

    return handle


async def main():
    for name in channels:
        await asyncio.start_unix_server(handler(tcp[name]), path=f"{info['ip']}-{info[name]}")
    while kernel.poll() is None:
        await asyncio.sleep(0.2)
    os._exit(kernel.returncode if kernel.returncode >= 0 else 128 - kernel.returncode)


asyncio.run(main())
"""
