"""Loading a causal LM and its tokenizer for scoring: device, dtype, files, start token.

Everything is loaded from local files unless the caller asks otherwise (``local_files_only``,
passed to transformers explicitly); GGUF files are converted once into the cache
(:mod:`sdscm.backends.default_model`). Every failure is a BackendError that names the fix.

No code from model files ever runs: a folder whose config or tokenizer config has an ``auto_map``
(custom Python classes shipped with the weights) is refused before transformers sees it, and every
``from_pretrained`` call passes ``trust_remote_code=False`` (so transformers never asks on a
terminal whether to run it). Weights come from safetensors, or from pickle ``.bin`` files only
through torch's weights-only loader (``weights_only=True``, passed explicitly), which rebuilds
tensors without running code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import json

import torch

from sdscm.backends.default_model import cached_gguf_model, quiet_transformers
from sdscm.backends.tokenization import start_token_id  # noqa: F401 - re-exported (torch-free home)
from sdscm.errors import BackendError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise BackendError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
    elif dtype in DTYPES:
        return DTYPES[dtype]
    raise BackendError(f"unsupported dtype {dtype!r}: use 'float32' or 'bfloat16'")


def _model_dir(model: str) -> Path | None:
    """The local folder holding `model`'s files (a path, or a name in the local HF cache)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    try:
        from transformers.utils import cached_file

        found = cached_file(model, "config.json", local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure just means "no folder"
        return None
    return Path(found).parent if found else None


#: keyword arguments of every from_pretrained call: never run code shipped with a model.
SAFE_LOADING: dict[str, Any] = {"trust_remote_code": False}
#: and for model weights: pickle files only through torch's weights-only unpickler.
SAFE_WEIGHTS: dict[str, Any] = {**SAFE_LOADING, "weights_only": True}

_CODE_CONFIGS = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")


def refuse_custom_code(folder: Path, model: str) -> None:
    """BackendError when one of `folder`'s configs asks for custom code (an `auto_map`)."""
    for name in _CODE_CONFIGS:
        config = folder / name
        if not config.is_file():
            continue
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # an unreadable config fails later, in transformers, with its own message
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        if auto_map:
            targets = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
            shown = ", ".join(sorted({str(t) for t in targets}))[:200]
            raise BackendError(
                f"model folder {model!r} asks to run custom code ({name} has an `auto_map` to "
                f"{shown}); sdscm refuses custom code from model files: use a model whose "
                "architecture transformers ships (remove `auto_map` and any .py files from the folder)"
            )


def _refused_pickle(exc: BaseException) -> bool:
    """Whether `exc` (or its cause) is torch's weights-only unpickler refusing a checkpoint."""
    import pickle

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, pickle.UnpicklingError) or str(seen).startswith("Weights only load failed"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def load_model(model: str, dtype: torch.dtype, local_files_only: bool = True) -> tuple[Any, Any, Path | None]:
    """Load (model, tokenizer, folder); BackendError with a fix when that is impossible.

    `local_files_only` (default) never touches the network: a folder, or a name already in the local
    Hugging Face cache. It is passed to transformers explicitly; the process environment is neither
    read nor changed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise BackendError(f"model file {model!r} does not exist")
        path = cached_gguf_model(path)
        model = str(path)
    looks_like_path = path.is_absolute() or model.startswith((".", "~"))
    if looks_like_path and not path.exists():
        raise BackendError(f"model folder {model!r} does not exist")
    if path.exists():
        model = str(path)
    folder = path if path.is_dir() else _model_dir(model)
    if folder is not None:
        refuse_custom_code(folder, model)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_files_only, **SAFE_LOADING)
            lm = AutoModelForCausalLM.from_pretrained(
                model, dtype=dtype, local_files_only=local_files_only, **SAFE_WEIGHTS
            )
    except BackendError:
        raise
    except Exception as exc:  # every loading failure becomes one clear message
        if _refused_pickle(exc):
            raise BackendError(
                f"model folder {model!r}: its pickle weights (.bin) hold more than tensors, so torch's "
                "weights-only loader refused them; sdscm never runs code from model files: use a copy "
                "of the model with safetensors weights from a source you trust"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if path.is_dir():
            raise BackendError(f"could not load the model in folder {model!r}: {first}") from exc
        where = "offline (sdscm loads local files only)" if local_files_only else "locally or from the hub"
        raise BackendError(
            f"model {model!r} is not available {where}: pass a local folder that "
            f"transformers can load, or download the model once (e.g. `hf download {model}`) "
            f"and use its name or folder ({first})"
        ) from exc
    return lm, tokenizer, _model_dir(model)
