"""Hostile model files: no code from a model folder ever runs, whatever a terminal answers."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import yaml

import sdscm

EVIL_CODE = """
from pathlib import Path
Path({marker!r}).write_text("custom code ran")
from transformers import LlamaConfig, LlamaForCausalLM
class EvilConfig(LlamaConfig):
    model_type = "evil_llama"
class EvilForCausalLM(LlamaForCausalLM):
    config_class = EvilConfig
"""


def evil_model_folder(tmp_path: Path, marker: Path) -> Path:
    """A tiny random Llama whose config.json maps the Auto classes to custom code writing `marker`."""
    from tiny_models import save_tiny_model

    folder = save_tiny_model(tmp_path / "evil-model", "llama")
    for module in ("modeling_evil", "configuration_evil"):
        (folder / f"{module}.py").write_text(EVIL_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evil_llama"  # unknown to transformers: only the custom code could load it
    config["auto_map"] = {
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def run_on_terminal(args: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Run `python -m sdscm.cli.app ARGS` on a pseudo-terminal that answers `y` to every prompt."""
    env = dict(os.environ, PYTHONPATH=str(Path(sdscm.__file__).parents[1]), HF_HUB_OFFLINE="1",
               OMP_WAIT_POLICY="PASSIVE", COLUMNS="200", TERM="dumb")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sdscm.cli.app", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    os.write(master, b"y\n")  # an answer already waiting, should anything read the terminal early
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if b"[y/N]" in chunk or b"?" in chunk:
                    os.write(master, b"y\n")
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return rc, out.decode(errors="replace")


def test_custom_code_in_a_model_folder_never_runs(tmp_path: Path) -> None:
    """`model: {name: FOLDER}` with an `auto_map` to custom code: refused, nothing imported, exit 1."""
    marker = tmp_path / "PWNED"
    folder = evil_model_folder(tmp_path, marker)
    spec = {
        "name": "evil",
        "model": {"name": str(folder)},
        "variables": [
            {"name": "weather", "values": ["sunny", "rainy"], "phrasings": ["The day is {value}."]},
            {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather"],
             "phrasings": ["They go to {value}."]},
        ],
    }
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    rc, output = run_on_terminal(["sample", str(path), "-n", "3", "--cache", str(tmp_path / "cache"),
                                  "--out", str(tmp_path / "units.parquet")])
    assert not marker.exists(), output
    assert rc == 1, output
    assert "Traceback" not in output
    assert str(folder) in output and "refuses custom code" in output, output
    assert not (tmp_path / "units.parquet").exists()


def test_load_model_refuses_auto_map_before_transformers(tmp_path: Path) -> None:
    """The Python API refuses the same folder with a BackendError naming it (no terminal involved)."""
    import pytest
    import torch

    from sdscm.backends.loading import load_model
    from sdscm.errors import BackendError

    marker = tmp_path / "PWNED"
    folder = evil_model_folder(tmp_path, marker)
    with pytest.raises(BackendError, match="refuses custom code") as info:
        load_model(str(folder), torch.float32)
    assert str(folder) in str(info.value) and "config.json" in str(info.value)
    assert not marker.exists()


class _Evil:
    """Unpickling this calls Path.write_text: what a malicious pickle checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pickle code ran"))


def test_pickle_weights_go_through_the_weights_only_loader(tmp_path: Path) -> None:
    """A folder with only a pickle `pytorch_model.bin` that runs code when unpickled: BackendError, nothing ran."""
    import pytest
    import torch

    from sdscm.backends.loading import load_model
    from sdscm.errors import BackendError
    from tiny_models import save_tiny_model

    marker = tmp_path / "PWNED"
    folder = save_tiny_model(tmp_path / "pickle-model", "llama")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    torch.save({"model.embed_tokens.weight": _Evil(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(BackendError, match="weights-only loader refused them") as info:
        load_model(str(folder), torch.float32)
    assert str(folder) in str(info.value) and "safetensors" in str(info.value)
    assert not marker.exists()


def test_plain_tensor_pickle_weights_still_load(tmp_path: Path) -> None:
    """A `.bin` holding only tensors passes torch's weights-only loader: older checkpoints keep working."""
    import torch

    from sdscm.backends.loading import load_model
    from tiny_models import save_tiny_model, tiny_model

    folder = save_tiny_model(tmp_path / "bin-model", "llama")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    reference, _ = tiny_model("llama")
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")
    lm, _, _ = load_model(str(folder), torch.float32)
    assert torch.equal(lm.model.embed_tokens.weight, reference.model.embed_tokens.weight)
