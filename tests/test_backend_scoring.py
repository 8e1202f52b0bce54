"""TransformersBackend scoring on tiny random Llama and GPT-2 models (DESIGN.md section 1, "Score")."""

# ruff: noqa: F811  (fixtures imported from tiny_models are used as arguments)

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import (  # noqa: F401  (fixtures)
    ARCHS,
    tiny_backend,
    tiny_gpt2_backend,
    tiny_llama_backend,
    tiny_model,
    tiny_model_dir,
)

from sdscm.backends.base import ScoreRequest, ScoringBackend
from sdscm.backends.batching import (
    ScoredSequence,
    full_token_logprobs,
    gathered_token_logprobs,
    head_is_linear,
    pack_batches,
    unique_sequences,
)
from sdscm.backends.transformers_backend import TransformersBackend
from sdscm.errors import BackendError
from sdscm.spec.schema import ModelSection

REQUESTS = [
    ScoreRequest("She is 45. The tumor is ", ("grade 1", "grade 2", "grade 3")),
    ScoreRequest("The day is ", ("sunny", "rainy", "snowy")),
    ScoreRequest("", ("Ann", "Bob")),
    ScoreRequest(
        "A 52-year-old woman presents at the oncology clinic. They go to the gym. "
        "Their marathon time is ",
        ("under 4 hours", "4 to 5 hours", "over 5 hours"),
    ),
    ScoreRequest("Café crème\n", ("東京は晴れです", "🎉")),
    ScoreRequest("It is", (" rainy outside.", "x")),
]


def reference_score(model, tokenizer, start_id: int, context: str, continuation: str) -> tuple[float, int]:
    """Straightforward teacher forcing: one unpadded sequence, full logits, float64 sum."""
    head = context.rstrip()
    ws = context[len(head):]
    ctx = [start_id] + tokenizer(head, add_special_tokens=False)["input_ids"]
    cont = tokenizer(ws + continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    total = sum(float(logp[len(ctx) + j - 1, t]) for j, t in enumerate(cont))
    return total, len(cont)


def flat(results) -> np.ndarray:
    return np.concatenate([r.logprob_sum for r in results])


@pytest.mark.parametrize("arch", ARCHS)
def test_score_equals_full_logits_reference(arch: str) -> None:
    """Each continuation's score is the sum of its token log-probs, each at its own position,
    and its token count is its number of tokens (reference: plain full-logits forward)."""
    backend = tiny_backend(arch)
    ref_model, tokenizer = tiny_model(arch)
    results = backend.score(REQUESTS)
    for req, res in zip(REQUESTS, results):
        assert res.logprob_sum.dtype == np.float64 and res.num_tokens.dtype == np.int64
        for k, cont in enumerate(req.continuations):
            want, n = reference_score(ref_model, tokenizer, backend.start_id, req.context, cont)
            assert res.num_tokens[k] == n
            assert res.logprob_sum[k] == pytest.approx(want, abs=1e-4)
            assert res.logprob_sum[k] < 0


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_equals_one_at_a_time(arch: str) -> None:
    """Scoring all requests in one call equals scoring each alone (padding never matters)."""
    backend = tiny_backend(arch)
    together = backend.score(REQUESTS)
    alone = [backend.score([r])[0] for r in REQUESTS]
    np.testing.assert_allclose(flat(together), flat(alone), atol=1e-4, rtol=0)
    single = [backend.score([ScoreRequest(r.context, (c,))])[0].logprob_sum[0]
              for r in REQUESTS for c in r.continuations]
    np.testing.assert_allclose(flat(together), single, atol=1e-4, rtol=0)


def test_invariant_to_batch_budget_and_order() -> None:
    """Results do not depend on max_batch_tokens (1 sequence per batch vs all in one) or on
    the order of the requests."""
    big = tiny_backend("llama", max_batch_tokens=1_000_000).score(REQUESTS)
    small = tiny_backend("llama", max_batch_tokens=1).score(REQUESTS)
    mid = tiny_backend("llama", max_batch_tokens=40).score(REQUESTS)
    np.testing.assert_allclose(flat(big), flat(small), atol=1e-4, rtol=0)
    np.testing.assert_allclose(flat(big), flat(mid), atol=1e-4, rtol=0)
    order = list(range(len(REQUESTS)))
    random.Random(0).shuffle(order)
    shuffled = tiny_backend("llama").score([REQUESTS[i] for i in order])
    for pos, i in enumerate(order):
        np.testing.assert_allclose(shuffled[pos].logprob_sum, big[i].logprob_sum, atol=1e-4, rtol=0)


def test_duplicates_are_scored_once_and_agree(tiny_llama_backend) -> None:
    """Identical (context, continuation) pairs become one sequence and get identical results."""
    reqs = [REQUESTS[0], REQUESTS[1], REQUESTS[0], ScoreRequest("She is 45. The tumor is", (" grade 2",))]
    encoded = tiny_llama_backend.encode(reqs)
    seqs, where = unique_sequences(encoded)
    assert len(seqs) == 3 + 3 and where[2] == where[0]
    assert where[3] == [where[0][1]]  # the same text split the same way
    res = tiny_llama_backend.score(reqs)
    np.testing.assert_array_equal(res[0].logprob_sum, res[2].logprob_sum)
    # the same token sequence inside another request: the same score (within float32 rounding,
    # as the shared-prefix path may run it in another batch row)
    assert res[3].logprob_sum[0] == pytest.approx(res[0].logprob_sum[1], abs=1e-5)


def test_empty_inputs(tiny_gpt2_backend) -> None:
    """No requests give no results; a request without continuations gives empty arrays."""
    assert tiny_gpt2_backend.score([]) == []
    (res,) = tiny_gpt2_backend.score([ScoreRequest("context", ())])
    assert res.logprob_sum.shape == (0,) and res.num_tokens.shape == (0,)


@pytest.mark.parametrize("arch", ARCHS)
def test_gathered_head_equals_full_logits(arch: str) -> None:
    """The LM head applied only at scored positions gives the full-logits log-probs, on a
    right-padded batch, for Llama (untied head) and GPT-2 (tied head)."""
    model, _ = tiny_model(arch)
    assert head_is_linear(model)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, model.config.vocab_size, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    rows = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    cols = torch.tensor([0, 5, 10, 3, 5, 0, 1, 2])
    targets = torch.randint(0, model.config.vocab_size, (8,), generator=g)
    with torch.inference_mode():
        fast = gathered_token_logprobs(model, ids, mask, rows, cols, targets)
        full = full_token_logprobs(model, ids, mask, rows, cols, targets)
    assert fast.dtype == torch.float32
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=0)
    assert fast.std() > 0.1  # the tiny models' log-probs really vary


def test_logit_transform_in_config_falls_back_to_full_logits() -> None:
    """A config with logit soft-capping/scaling disables the gathered head; scores still follow
    the model's own logits."""
    model, tok = tiny_model("llama")
    model.config.final_logit_softcapping = 30.0  # Llama ignores it; the backend must not
    backend = TransformersBackend(model_obj=model, tokenizer_obj=tok, device="cpu")
    assert not backend.uses_gathered_head
    np.testing.assert_allclose(flat(backend.score(REQUESTS)), flat(tiny_backend("llama").score(REQUESTS)), atol=1e-4)


def test_unusual_head_detected_by_probe() -> None:
    """A model whose forward rescales logits beyond its LM head fails the probe, and the backend
    then scores with the model's own (rescaled) logits."""
    from transformers import LlamaForCausalLM

    class ScaledLlama(LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 0.5
            return out

    base, tok = tiny_model("llama")
    model = ScaledLlama(base.config)
    model.load_state_dict(base.state_dict())
    backend = TransformersBackend(model_obj=model.eval(), tokenizer_obj=tok, device="cpu")
    assert not backend.uses_gathered_head
    got = backend.score([REQUESTS[0]])[0].logprob_sum[1]
    want, _ = reference_score(model, tok, backend.start_id, REQUESTS[0].context, "grade 2")
    assert got == pytest.approx(want, abs=1e-4)


def test_bfloat16_is_close_to_float32() -> None:
    """bf16 runs (log_softmax in float32) and stays close to fp32 (loose tolerance)."""
    fp32 = tiny_backend("llama")
    bf16 = tiny_backend("llama", dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert bf16.fingerprint != fp32.fingerprint
    a, b = flat(fp32.score(REQUESTS)), flat(bf16.score(REQUESTS))
    assert np.all(np.isfinite(b))
    np.testing.assert_allclose(b, a, rtol=0.1, atol=0.5)


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("arch", ARCHS)
def test_bfloat16_uses_fp32_matmuls_only_without_native_bf16(monkeypatch, native: bool, arch) -> None:
    """Without bf16 instructions every Linear/Conv1D runs bf16 products on fp32 units; weights stay bf16.

    Either way the shared-prefix path stays on in bf16 (its probe tolerates bf16 rounding).
    """
    import warnings
    import sdscm.backends.bf16_cpu as bf16_cpu
    from sdscm.backends.bf16_cpu import Fp32AccumulatingLinear

    monkeypatch.setattr(bf16_cpu, "cpu_has_native_bf16", lambda: native)
    backend = tiny_backend(arch, dtype="bfloat16")
    fp32 = tiny_backend(arch, dtype="float32")
    assert fp32.matmul == "native"
    assert all(p.dtype == torch.bfloat16 for p in backend.model.parameters())
    swapped = [m for m in backend.model.modules() if type(m).__name__.startswith("Fp32Accumulating")]
    assert (backend.matmul == "native") == native
    assert (len(swapped) == 0) == native
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the shared-prefix path passes its probe
        assert backend.uses_prefix_cache
    if not native:
        assert isinstance(backend.model.get_output_embeddings(), Fp32AccumulatingLinear)
        scores = flat(backend.score(REQUESTS))
        assert np.all(np.isfinite(scores))
        np.testing.assert_allclose(scores, flat(fp32.score(REQUESTS)), rtol=0.1, atol=0.5)


def test_fp32_accumulating_product_is_a_bf16_product() -> None:
    """It equals a bf16 matmul with exact products and fp32 sums, rounded once to bf16: within one
    bf16 rounding step of torch's own bf16 kernel (which differs only in the order of its sums)."""
    from transformers.pytorch_utils import Conv1D

    from sdscm.backends.bf16_cpu import use_fp32_matmuls

    torch.manual_seed(0)
    x = torch.randn(64, 96).to(torch.bfloat16)
    linear = torch.nn.Linear(96, 80).to(torch.bfloat16)
    conv = Conv1D(80, 96).to(torch.bfloat16)
    torch.nn.init.normal_(conv.bias)
    with torch.inference_mode():
        native = [linear(x), conv(x)]
        exact = [(x.double() @ linear.weight.double().T + linear.bias.double()),
                 (x.double() @ conv.weight.double() + conv.bias.double())]
        # bound on the fp32 summation error (products are exact): (k + 1) * 2^-24 * sum of |terms|
        sum_error = [(97 * 2.0**-24) * (x.double().abs() @ linear.weight.double().abs().T + linear.bias.double().abs()),
                     (97 * 2.0**-24) * (x.double().abs() @ conv.weight.double().abs() + conv.bias.double().abs())]
        holder = torch.nn.Sequential(linear, conv)
        assert use_fp32_matmuls(holder) == 2
        emulated = [linear(x), conv(x)]
    for got, want, ref, err in zip(emulated, exact, native, sum_error):
        assert got.dtype == torch.bfloat16
        # one rounding of the fp32 sum: within half a bf16 step (of the result's binade) plus the sum error
        step = torch.finfo(torch.bfloat16).eps * (want.abs() + err)
        assert torch.all((got.double() - want).abs() <= 0.5 * step + err)
        # torch's native bf16 kernel lands on the same or a neighbouring bf16 value
        assert torch.all((got.double() - ref.double()).abs() <= step + 2 * err)


def test_pack_batches_respects_budget() -> None:
    """Every sequence lands in exactly one batch, longest first; padded size <= budget unless
    a single sequence is longer than the budget."""
    rng = random.Random(1)
    lengths = [rng.randint(1, 50) for _ in range(200)]
    for budget in (1, 30, 64, 500, 10_000):
        batches = pack_batches(lengths, budget)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for b in batches:
            width = max(lengths[i] for i in b)
            assert len(b) * width <= budget or len(b) == 1
            assert lengths[b[0]] == width


def test_default_start_token_is_bos_else_eos(tiny_llama_backend, tiny_gpt2_backend) -> None:
    """Without start_token: the tokenizer's BOS (Llama tokenizer has `<s>`), else its EOS
    (GPT-2 tokenizer here has only `<|endoftext|>`); every sequence starts with it."""
    assert tiny_llama_backend.start_token == "<s>"
    assert tiny_llama_backend.start_id == tiny_llama_backend.tokenizer.bos_token_id
    assert tiny_gpt2_backend.start_token == "<|endoftext|>"
    assert tiny_gpt2_backend.start_id == tiny_gpt2_backend.tokenizer.eos_token_id == 0
    ctx, _ = tiny_llama_backend.encode([ScoreRequest("a", ("b",))])[0]
    assert ctx[0] == tiny_llama_backend.start_id


def test_explicit_start_token_changes_scores() -> None:
    """An explicit start_token is used (and enters the fingerprint)."""
    bos = tiny_backend("llama")
    eos = tiny_backend("llama", start_token="<|endoftext|>")
    assert eos.start_id == 0
    assert eos.fingerprint != bos.fingerprint
    assert not np.allclose(flat(eos.score(REQUESTS)), flat(bos.score(REQUESTS)))


@pytest.mark.parametrize("bad", ["<|no-such-token|>", "two words"])
def test_bad_start_token_is_a_backend_error(bad: str) -> None:
    """A start token that is not one vocabulary token is a BackendError naming it."""
    with pytest.raises(BackendError, match="start_token"):
        tiny_backend("llama", start_token=bad)


def test_load_from_saved_local_folder(tiny_model_dir: Path) -> None:
    """Any local save_pretrained() folder loads offline and scores like the in-memory model;
    its fingerprint is stable across loads."""
    a = TransformersBackend(str(tiny_model_dir), device="cpu")
    b = TransformersBackend.from_section(ModelSection(name=str(tiny_model_dir), device="cpu", max_batch_tokens=64))
    assert isinstance(a, ScoringBackend) and a.capability == "exact"
    assert b.max_batch_tokens == 64
    assert a.fingerprint == b.fingerprint and a.fingerprint.startswith("transformers:sha256:")
    np.testing.assert_allclose(flat(a.score(REQUESTS)), flat(tiny_backend("llama").score(REQUESTS)), atol=1e-5)


def test_fingerprint_tracks_weights() -> None:
    """Same weights give the same fingerprint; changed weights a different one."""
    a, b = tiny_backend("gpt2"), tiny_backend("gpt2")
    assert a.fingerprint == b.fingerprint
    model, tok = tiny_model("gpt2", seed=99)
    c = TransformersBackend(model_obj=model, tokenizer_obj=tok, device="cpu")
    assert c.fingerprint != a.fingerprint


@pytest.mark.parametrize("name", ["./no/such/folder", "/no/such/abs/folder", "no-such-org/no-such-model-sdscm"])
def test_missing_model_is_a_backend_error(name: str) -> None:
    """A folder that does not exist or a name not available offline is a BackendError, not a
    hub traceback."""
    with pytest.raises(BackendError, match="does not exist|not available"):
        TransformersBackend(name, device="cpu")


def test_importing_leaves_hf_hub_offline_alone() -> None:
    """Importing sdscm or its transformers backend neither sets HF_HUB_OFFLINE for the user's process
    nor depends on it (only the `sdscm` command sets it, for its own process)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    code = ("import os, sdscm, sdscm.backends.transformers_backend, sdscm.benchmark, sdscm.audit; "
            "print(os.environ.get('HF_HUB_OFFLINE'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


@pytest.mark.parametrize("env_value", ["0", "1", None])
def test_loading_passes_local_files_only_explicitly(env_value, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader asks transformers for local files only, whatever HF_HUB_OFFLINE says; a download
    happens only when the caller passes local_files_only=False."""
    import transformers

    if env_value is None:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", env_value)
    seen: list[object] = []

    def fake_from_pretrained(name, **kwargs):
        seen.append(kwargs.get("local_files_only"))
        raise OSError("not in the local cache")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_from_pretrained)
    with pytest.raises(BackendError, match="not available offline"):
        TransformersBackend("no-such-org/no-such-model-sdscm", device="cpu")
    with pytest.raises(BackendError, match="not available locally or from the hub"):
        TransformersBackend("no-such-org/no-such-model-sdscm", device="cpu", local_files_only=False)
    assert seen == [True, False]


def test_too_long_sequence_is_a_backend_error(tiny_gpt2_backend) -> None:
    """A sequence longer than the model's maximum length is a clear BackendError."""
    with pytest.raises(BackendError, match="maximum"):
        tiny_gpt2_backend.score([ScoreRequest("word " * 300, ("end",))])


def test_bad_options_are_backend_errors() -> None:
    """Invalid dtype, budget and device values are BackendErrors."""
    with pytest.raises(BackendError, match="dtype"):
        tiny_backend("llama", dtype="float16")
    with pytest.raises(BackendError, match="max_batch_tokens"):
        tiny_backend("llama", max_batch_tokens=0)
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="cuda"):
            tiny_backend("llama", device="cuda")


def test_scored_sequence_positions() -> None:
    """A sequence's scored part is everything after its context (the start token included in it)."""
    s = ScoredSequence((0, 5, 6, 7, 8), 3)
    assert s.n_scored == 2


def test_model_obj_needs_its_tokenizer() -> None:
    """model_obj without tokenizer_obj (or the reverse) is a BackendError."""
    model, tok = tiny_model("gpt2")
    with pytest.raises(BackendError, match="together"):
        TransformersBackend(model_obj=model, device="cpu")
    with pytest.raises(BackendError, match="together"):
        TransformersBackend(tokenizer_obj=tok, device="cpu")


def test_folder_that_is_not_a_model_is_a_backend_error(tmp_path: Path) -> None:
    """An existing folder transformers cannot load gives a BackendError naming the folder."""
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BackendError, match="could not load the model in folder"):
        TransformersBackend(str(tmp_path), device="cpu")
