"""The identity of a loaded model for the score cache: a hash of everything that changes its scores.

Weights (file hashes, memoised on disk for large files; or the in-memory state dict), architecture,
config, tokenizer, start token, dtype and, where it applies, the bf16 matrix-product mode.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from sdscm.backends.disk_cache import file_sha256

_TOKENIZER_FILES = {
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_VOLATILE_CONFIG_KEYS = {"transformers_version", "dtype", "torch_dtype", "use_cache"}


def _config_digest(config: Any) -> str:
    data = {
        k: v
        for k, v in config.to_dict().items()
        if not k.startswith("_") and k not in _VOLATILE_CONFIG_KEYS
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _weight_files(folder: Path) -> list[Path]:
    """The weight files transformers would load from `folder` (safetensors preferred)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() or p.is_symlink())
    safetensors = [p for p in files if p.name.endswith(".safetensors")]
    if safetensors:
        return safetensors
    return [p for p in files if p.name.endswith(_WEIGHT_SUFFIXES)]


def _state_dict_digest(model: Any) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _tokenizer_digest(tokenizer: Any, folder: Path | None = None) -> str:
    """Hash of the tokenizer files in `folder` if any, else of the vocabulary (token -> id)."""
    files = sorted(p for p in folder.iterdir() if p.name in _TOKENIZER_FILES) if folder else []
    if files:
        return "files:" + ",".join(f"{p.name}={file_sha256(p)}" for p in files)
    by_id: dict[int, list[str]] = {}
    for token, tid in tokenizer.get_vocab().items():
        by_id.setdefault(tid, []).append(token)
    text = "\x00".join(str(tid) + "\x01" + "\x02".join(sorted(by_id[tid])) for tid in sorted(by_id))
    return "vocab:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def model_fingerprint(model: Any, tokenizer: Any, folder: Path | None, start_id: int, dtype: torch.dtype,
                      matmul: str = "native", batch_invariant: bool = False) -> str:
    """`transformers:sha256:<hex>` over weights, architecture, config, tokenizer, start id, dtype."""
    files = _weight_files(folder) if folder is not None else []
    if files:
        weights = "files:" + ",".join(f"{p.name}={file_sha256(p)}" for p in files)
    else:
        weights = "state:" + _state_dict_digest(model)
    parts: dict[str, Any] = {
        "weights": weights,
        "architecture": type(model).__name__,
        "config": _config_digest(model.config),
        "tokenizer": _tokenizer_digest(tokenizer, folder),
        "start_id": start_id,
        "dtype": str(dtype).removeprefix("torch."),
    }
    if matmul != "native":  # kept out otherwise, so existing fingerprints do not change
        parts["matmul"] = matmul
    if batch_invariant:  # other kernels, other bits: its scores must not share cache entries
        parts["scoring"] = "batch-invariant"
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return f"transformers:sha256:{digest}"
