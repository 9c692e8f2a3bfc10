# The code-interpreter chat app in one image: Streamlit, the Strands agent and the local sandbox
# (Jupyter kernels under bubblewrap, user-mode networking by slirp4netns).
#
#   docker compose up --build          (compose.yaml sets the options bubblewrap needs; see the README)
#
# Debian 12, like the machines the project is developed and tested on.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# What the sandbox runs on the host side (all of it works without root; see docs/network.md):
#   bubblewrap   namespaces and the read-only view of the system (bwrap)
#   slirp4netns  the sandbox's own network: the internet, but not this container's services
#   iproute2     `ip`, to make link-local, metadata, private and the container's own addresses unreachable there
#   util-linux   prlimit (per-process limits), unshare and nsenter (the network's user and network namespaces)
#   tini         a real init as PID 1: forwards signals and reaps the kernels' orphaned processes
# Not pinned: Debian 12's security updates should come in with each rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        bubblewrap slirp4netns iproute2 util-linux tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The virtualenv must be a real, fixed path: every sandbox bind-mounts it read-only as the sandbox's Python
# (with its numpy, pandas, matplotlib, Deno, ...), so it may not live under /tmp or a home folder, which the
# sandbox replaces with its own. The app's source folder (/app, where .env would be) stays invisible inside.
ENV VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH
RUN python -m venv /app/.venv

# The dependencies first, read from pyproject.toml, in their own layer: editing the code does not reinstall
# them. The optional model clients (OpenAI-compatible, Anthropic, Ollama) are included, as `./dev.sh app` does.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = p['optional-dependencies']; \
print('\n'.join(p['dependencies'] + extras['openai'] + extras['anthropic'] + extras['ollama']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (.dockerignore keeps out .venv, data, .env, .git and caches).
COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

# The app's own user: an ordinary one, with a home for Streamlit's files. It can read /app (owned by root) but
# not change it.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/app --shell /usr/sbin/nologin app

# Conversations, sandboxes, workspaces and the Settings page's model.json: mount a volume here. A new named
# volume takes this folder's owner, so the app can write it; a bind mount must be writable by uid 10001.
ENV INTERPRETER_DATA_DIR=/data
RUN mkdir -p /data && chown app:app /data && chmod 700 /data
VOLUME /data

# Streamlit's own upload limit; keep it equal to INTERPRETER_MAX_UPLOAD_MB if you change that
# (`./dev.sh app` passes one to the other; here both are plain environment variables).
ENV STREAMLIT_SERVER_MAX_UPLOAD_SIZE=200

EXPOSE 8501

# Streamlit answers "ok" on /_stcore/health once the server is up (slim has no curl: Python's urllib does).
# Served under a sub-path (STREAMLIT_SERVER_BASE_URL_PATH=x), the endpoint is /x/_stcore/health: the check
# follows that variable (not a --server.baseUrlPath flag given on the command line).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; p = os.environ.get('STREAMLIT_SERVER_BASE_URL_PATH', '').strip('/'); urllib.request.urlopen('http://127.0.0.1:8501/' + (p + '/' if p else '') + '_stcore/health', timeout=4)"]

# Runs as the ordinary user app (uid 10001), with no capabilities: each sandbox's network namespace is made in a
# user namespace of its own (unshare --user --net, slirp4netns), and bubblewrap nests the sandbox's user
# namespace in it, so nothing needs root. The code the agent writes runs as uid 1000 inside that nested user
# namespace, with every capability dropped, a read-only system and only its session's folders writable.
# Per-session cgroups need a writable, delegated cgroup, which an ordinary user in a container does not have:
# the side panel then lists the rlimits in force instead.
#
# It listens on 0.0.0.0 inside the container (port publishing needs that), so without a login the app refuses to
# start unless INTERPRETER_ALLOW_ANONYMOUS=true: compose.yaml sets it together with publishing the port on the
# host's loopback only (127.0.0.1:8501). To serve other machines, configure a login (.streamlit/secrets.toml),
# publish the port as you need, and list the host name people use in INTERPRETER_ALLOWED_HOSTS.
USER app
ENTRYPOINT ["tini", "--"]
CMD ["streamlit", "run", "app.py", "--server.headless", "true", "--server.port", "8501", \
     "--server.address", "0.0.0.0", "--browser.gatherUsageStats", "false"]
