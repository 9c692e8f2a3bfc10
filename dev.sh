#!/usr/bin/env bash
# One command for everything, on a fresh Debian/Ubuntu machine with Python 3.11+:
#   ./dev.sh app    install what is missing, then start the app (local sandbox and workspace, no AWS needed)
#   ./dev.sh test   install what is missing, then run the whole test suite (lint, types, tests)
#   ./dev.sh test-real-model   opt-in: build llama.cpp once (cached), then drive the app with a small real model
# Extra arguments go to streamlit (app) or pytest (test).
set -euo pipefail
cd "$(dirname "$0")"

# R (execute_code language="r"): R itself, its Jupyter kernel and ggplot2 for charts.
APP_PACKAGES=(bubblewrap slirp4netns iproute2 util-linux r-base-core r-cran-irkernel r-cran-ggplot2)
TEST_PACKAGES=(chromium)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_debian_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
      say "Missing Debian packages: ${missing[*]}"
      echo "    Install them with:  sudo apt-get install -y ${missing[*]}"
      echo "    Continuing without them (the app says when isolation is reduced)."
      return 0
    fi
  fi
  say "Installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    # stderr silenced: pyenv's shims exist for versions it has not installed, and say so on every probe.
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is needed (sudo apt-get install python3)." >&2
  exit 1
}

setup_python() {
  if [ ! -x .venv/bin/python ]; then
    local python; python=$(find_python)
    say "Creating .venv with $python"
    "$python" -m venv .venv || { install_debian_packages python3-venv && "$python" -m venv .venv; }
  fi
  # The stamp also names the recipe, so a change to it below reinstalls once.
  local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-bytecode"
  if [ ! -e "$stamp" ]; then
    say "Installing Python packages into .venv"
    local extras=".[test,openai,anthropic,ollama]"
    # uv (from PyPI) installs the same packages in seconds where pip takes minutes; pip remains the way back.
    # pip itself is brought up to date too: sandboxes run it, and a current pip trusts the system's certificates.
    # Bytecode is compiled now (pip does it by default, uv only when asked): sandboxes see .venv read-only, so
    # without it every kernel compiled IPython again as it started.
    if ! { .venv/bin/python -m pip install -q uv &&
      .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python --upgrade pip -e "$extras"; }; then
      say "uv could not install the packages; using pip"
      .venv/bin/python -m pip install -q --upgrade pip
      .venv/bin/python -m pip install -q -e "$extras"
    fi
    rm -f .venv/.installed-* && touch "$stamp"
  fi
}

# The port streamlit will listen on: the last --server.port among the arguments (streamlit takes the last), else
# the default given first.
announced_port() {
  local port="$1"; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --server.port=*) port="${1#--server.port=}" ;;
      --server.port) [ $# -gt 1 ] && port="$2" && shift ;;
    esac
    shift
  done
  echo "$port"
}

case "${1:-}" in
  app)
    shift
    install_debian_packages "${APP_PACKAGES[@]}"
    setup_python
    # Loopback only unless INTERPRETER_ADDRESS says otherwise; on another address without a login the app
    # refuses to start unless INTERPRETER_ALLOW_ANONYMOUS=true (see "Security" in the README).
    address="${INTERPRETER_ADDRESS:-127.0.0.1}"
    port=$(announced_port "${INTERPRETER_PORT:-8501}" "$@")
    say "Starting the app on http://${address}:${port}"
    exec .venv/bin/streamlit run app.py --server.headless true --server.address "$address" \
      --server.port "${INTERPRETER_PORT:-8501}" --server.maxUploadSize "${INTERPRETER_MAX_UPLOAD_MB:-200}" \
      --browser.gatherUsageStats false "$@"
    ;;
  test)
    shift
    install_debian_packages "${APP_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    # The network tests also run a sandbox as an ordinary user, whose slirp4netns opens /dev/net/tun: Debian makes
    # it 0666, but some container hosts create it 0600 (root only). Put back Debian's mode when we can.
    if [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
      chmod 0666 /dev/net/tun
    fi
    setup_python
    say "ruff"
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    say "mypy"
    .venv/bin/mypy core components pages app.py
    say "pytest"
    exec .venv/bin/pytest -q "$@"
    ;;
  test-real-model)
    # Opt-in, not in CI: a real language model (llama.cpp's llama-server with Gemma 3 270M) drives the app.
    # The first run builds llama-server (12-13 minutes on 2 cores), cached under ~/.cache; then the tests and the
    # benchmark (bench/real_model.json) run. Extra arguments go to pytest.
    shift
    install_debian_packages "${APP_PACKAGES[@]}" "${TEST_PACKAGES[@]}" cmake ninja-build g++
    setup_python
    paths=$(tests/real_model/install.sh)
    export INTERPRETER_TEST_LLAMA_SERVER; INTERPRETER_TEST_LLAMA_SERVER=$(sed -n 's/^LLAMA_SERVER=//p' <<<"$paths")
    export INTERPRETER_TEST_LLAMA_MODEL; INTERPRETER_TEST_LLAMA_MODEL=$(sed -n 's/^LLAMA_MODEL=//p' <<<"$paths")
    say "llama-server: $INTERPRETER_TEST_LLAMA_SERVER"
    say "model: $INTERPRETER_TEST_LLAMA_MODEL"
    say "chat template: tests/real_model/gemma-tools.jinja"
    say "pytest tests/real_model"
    .venv/bin/pytest -q tests/real_model "$@"
    say "benchmark"
    exec .venv/bin/python -m bench.real_model --json bench/real_model.json
    ;;
  *)
    echo "usage: ./dev.sh app | ./dev.sh test | ./dev.sh test-real-model" >&2
    exit 2
    ;;
esac
