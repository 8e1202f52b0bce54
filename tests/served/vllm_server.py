"""The vLLM CPU server as a child process for tests/served (started by scripts/serve-vllm-cpu.sh)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SERVED_NAME = "smollm2"
START_TIMEOUT_S = float(os.environ.get("SDSCM_SERVED_START_TIMEOUT", "900"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """The vLLM CPU server as a child process that tests can kill and start again (same port)."""

    def __init__(self, log: Path):
        self.port = _free_port()
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.start_seconds: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: bool = True) -> None:
        env = {**os.environ, "SDSCM_PYTHON": sys.executable, "VLLM_SERVED_NAME": SERVED_NAME}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["bash", str(ROOT / "scripts" / "serve-vllm-cpu.sh"), "serve", str(self.port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT_S:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.proc.returncode}; see {self.log}")
            try:
                if requests.get(f"{self.url}/models", timeout=5).status_code == 200:
                    self.start_seconds.append(time.monotonic() - started)
                    return
            except requests.RequestException:
                pass
            time.sleep(2)
        raise RuntimeError(f"vLLM did not answer within {START_TIMEOUT_S:.0f} s; see {self.log}")

    def kill(self) -> None:
        """Stop the server and its engine processes (their own process group, started here)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.proc = None
