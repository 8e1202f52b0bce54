"""The probe against a real server with shifted echo log-probs: llama-cpp-python's (its issue #1983).

Runs with `make test-served` when `scripts/serve-llamacpp.sh install` has built it (17+ minutes of
compiling llama.cpp, so it is not part of the target's set-up); skipped otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from sdscm.backends.factory import build_backend
from sdscm.errors import BackendError
from sdscm.spec.load import load_spec, with_model_overrides

from served.test_vllm import record
from served.vllm_server import ROOT, _free_port

INSTALLED = (ROOT / os.environ.get("LLAMACPP_VENV", ".venv-llamacpp") / ".llamacpp-installed").exists()


@pytest.mark.skipif(not INSTALLED, reason="llama-cpp-python not built: run scripts/serve-llamacpp.sh install")
def test_probe_refuses_llama_cpp_python(results_file, tmp_path) -> None:
    """Its echoed prompt log-probs are shifted by a position: the backend refuses it, naming that."""
    port = _free_port()
    log = tmp_path / "llamacpp.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "serve-llamacpp.sh"), "serve", str(port)], cwd=ROOT,
                                env={**os.environ, "SDSCM_PYTHON": sys.executable}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() - started < 300, "llama-cpp-python did not start"
            time.sleep(1)
        spec = with_model_overrides(load_spec(ROOT / "examples" / "toy_confounder.yaml"), backend="served",
                                    base_url=f"http://127.0.0.1:{port}/v1", served_model="smollm2")
        backend = build_backend(spec.model, cache=False)
        with pytest.raises(BackendError, match="not self-consistent") as err:
            backend.connect()
        record(results_file, check="llama_cpp_python_refused", start_s=time.monotonic() - started,
               error=str(err.value))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
