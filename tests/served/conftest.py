"""Tests against a real vLLM server (CPU build), run by `make test-served`, not by the default suite.

The server is started from the repository's own script (scripts/serve-vllm-cpu.sh, which creates
its virtual environment on first use) on a free loopback port, serving the packaged SmolLM2 in
fp32, and stopped at the end. Only collected when SDSCM_SERVED_TESTS=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from served.vllm_server import ROOT, VLLMServer

if os.environ.get("SDSCM_SERVED_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory):
    log = Path(os.environ.get("SDSCM_SERVED_LOG", tmp_path_factory.mktemp("vllm") / "server.log"))
    server = VLLMServer(log)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def results_file() -> Path:
    """Where the measured numbers go (JSON lines), for the closing note."""
    path = Path(os.environ.get("SDSCM_SERVED_RESULTS", ROOT / "out" / "served-results.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
