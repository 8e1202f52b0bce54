#!/usr/bin/env bash
# llama-cpp-python's OpenAI-compatible server: a real server whose echoed prompt log-probs are
# shifted by one position (its issue #1983), which the served backend's probe must refuse.
#
#   scripts/serve-llamacpp.sh install            # create .venv-llamacpp (builds llama.cpp from source: 17+ min)
#   scripts/serve-llamacpp.sh serve [PORT]       # serve the packaged SmolLM2 GGUF on 127.0.0.1:PORT (default 8012)
#
# Environment: LLAMACPP_VENV, SDSCM_PYTHON (python with sdscm, to find the packaged GGUF),
# LLAMACPP_MODEL (another .gguf), LLAMACPP_SERVED_NAME (default smollm2).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LLAMACPP_VENV:-.venv-llamacpp}"
STAMP="$VENV/.llamacpp-installed"
SDSCM_PYTHON="${SDSCM_PYTHON:-.venv/bin/python}"

install() {
    if [ -f "$STAMP" ]; then return 0; fi
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
        "$VENV/bin/python" -m pip install --quiet "llama-cpp-python[server]==0.3.36"
    touch "$STAMP"
}

serve() {
    local port="${1:-8012}"
    install
    local model="${LLAMACPP_MODEL:-}"
    if [ -z "$model" ]; then
        model="$(PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$SDSCM_PYTHON" -c \
            'from sdscm.backends.default_model import default_gguf_path; print(default_gguf_path())')"
    fi
    exec "$VENV/bin/python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
        --model_alias "${LLAMACPP_SERVED_NAME:-smollm2}" --logits_all true --n_ctx 2048 --n_threads 1
}

case "${1:-serve}" in
    install) install ;;
    serve) shift || true; serve "$@" ;;
    *) echo "usage: $0 install | serve [PORT]" >&2; exit 2 ;;
esac
