"""Tiny random causal LMs built offline in milliseconds, for real-model tests without downloads.

Two architectures: a 2-layer Llama (untied LM head, tokenizer with a BOS token) and a 2-layer
GPT-2 (tied head, tokenizer with only `<|endoftext|>`, so the start token falls back to EOS).
Both share a byte-level BPE tokenizer trained on a fixed small corpus (unicode included), so every
string is encodable. Weights come from a fixed torch seed and a larger-than-usual init scale, so
log-probs vary between tokens and batching bugs would show.

Fixtures (import them into a conftest or test module): `tiny_llama`, `tiny_gpt2`
((model, tokenizer) pairs, fresh per test), `tiny_llama_backend`, `tiny_gpt2_backend`
(float32 CPU TransformersBackend on them), and `tiny_model_dir` (a saved Llama folder, per session).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

Arch = Literal["llama", "gpt2"]
ARCHS: tuple[Arch, ...] = ("llama", "gpt2")
EOS = "<|endoftext|>"
BOS = "<s>"
SEED = 1234

CORPUS = [
    "She is 45. The tumor is grade 2. He is 60 and the tumor is grade 3.",
    "The day is sunny. It is rainy outside. They go to the gym. Today they chose a run.",
    "Their marathon time is under 4 hours, 4 to 5 hours, or over 5 hours.",
    "A 52-year-old woman presents at the oncology clinic with a palpable mass.",
    "Café crème, naïve façade, Zürich, São Paulo, señor, Ærø.",
    "東京は晴れです。北京下雨了。서울은 맑음.",
    "Emoji: 🎉 🚀 😀 👍🏽 — and dashes – too.",
    "\tTabs\tand\nnewlines\n\nand   several   spaces.",
]


@functools.cache
def _tokenizer_json(with_bos: bool) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [EOS] + ([BOS] if with_bos else [])
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(with_bos: bool = True) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` (~400 tokens); `<|endoftext|>` is id 0."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    kwargs: dict[str, Any] = {"eos_token": EOS}
    if with_bos:
        kwargs["bos_token"] = BOS
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_tokenizer_json(with_bos)), **kwargs)


def tiny_model(arch: Arch = "llama", seed: int = SEED) -> tuple[Any, Any]:
    """(model, tokenizer) of a 2-layer random causal LM; same seed, same weights."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer(with_bos=arch == "llama")
    vocab = len(tokenizer)
    torch.manual_seed(seed)
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            initializer_range=0.3,
            tie_word_embeddings=False,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        model = LlamaForCausalLM(config)
    elif arch == "gpt2":
        config = GPT2Config(
            vocab_size=vocab,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=256,
            initializer_range=0.3,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        model = GPT2LMHeadModel(config)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}")
    return model.eval(), tokenizer


def save_tiny_model(path: str | os.PathLike[str], arch: Arch = "llama") -> Path:
    """Save a tiny model and its tokenizer with save_pretrained() into `path`; return the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    model, tokenizer = tiny_model(arch)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_backend(arch: Arch = "llama", **kwargs: Any) -> Any:
    """A CPU TransformersBackend on a fresh tiny model (keyword arguments go to the backend)."""
    from sdscm.backends.transformers_backend import TransformersBackend

    model, tokenizer = tiny_model(arch)
    kwargs.setdefault("device", "cpu")
    return TransformersBackend(model_obj=model, tokenizer_obj=tokenizer, **kwargs)


@pytest.fixture
def tiny_llama() -> tuple[Any, Any]:
    """(model, tokenizer) of the tiny Llama."""
    return tiny_model("llama")


@pytest.fixture
def tiny_gpt2() -> tuple[Any, Any]:
    """(model, tokenizer) of the tiny GPT-2."""
    return tiny_model("gpt2")


@pytest.fixture
def tiny_llama_backend() -> Any:
    """float32 CPU TransformersBackend on the tiny Llama (start token `<s>`, its BOS)."""
    return tiny_backend("llama")


@pytest.fixture
def tiny_gpt2_backend() -> Any:
    """float32 CPU TransformersBackend on the tiny GPT-2 (start token `<|endoftext|>`, its EOS)."""
    return tiny_backend("gpt2")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a save_pretrained() tiny Llama and its tokenizer."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")
